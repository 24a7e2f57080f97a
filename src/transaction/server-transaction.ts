// What both server transactions share (RFC 3261 §17.2): the request, where it came from, the
// last response (resent to absorb retransmissions), the timers, and ending exactly once.
import type { SipRequest, SipResponse } from '../sip/index.ts';
import { responseDestination } from '../transport/index.ts';
import type { Endpoint, InboundMessage } from '../transport/index.ts';
import type { TransactionContext } from './transaction-context.ts';

export type ServerState =
  'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export abstract class ServerTransaction {
  /** The matching key (§17.2.3). */
  readonly id: string;
  readonly method: string;
  readonly request: SipRequest;
  /** Source and connection of the request: responses go back there (§18.2.2). */
  readonly inbound: InboundMessage;
  readonly reliable: boolean;
  state: ServerState;
  lastResponse?: SipResponse;
  /** For a CANCEL: the INVITE server transaction it matches (§9.2), if any. */
  invite?: ServerTransaction;
  /** Timer H fired: the ACK for a non-2xx final response never came. */
  onTimeout?: (tx: ServerTransaction) => void;
  /** A response could not be sent: the transaction has ended. */
  onTransportError?: (error: Error, tx: ServerTransaction) => void;
  onTerminated?: (tx: ServerTransaction) => void;
  protected readonly context: TransactionContext;
  protected retransmitTimer?: NodeJS.Timeout;
  protected timeoutTimer?: NodeJS.Timeout;
  protected endTimer?: NodeJS.Timeout;
  protected interval: number;
  /** §18.2.2 destination when the request's connection is gone (or for UDP). */
  private target?: Endpoint;

  constructor(
    context: TransactionContext,
    id: string,
    request: SipRequest,
    inbound: InboundMessage,
    initialState: ServerState,
  ) {
    this.context = context;
    this.id = id;
    this.method = request.method;
    this.request = request;
    this.inbound = inbound;
    this.reliable = context.transport.isReliable(inbound.source.protocol);
    this.state = initialState;
    this.interval = context.timers.T1;
  }

  /** Called by the layer once the TU has seen the request. */
  abstract started(): void;

  /** Sends a response from the TU; see the state machines for what each status does. */
  abstract respond(response: SipResponse): void;

  /** A retransmission of the request arrived (§17.2.3 matched it here). */
  abstract receiveRetransmission(request: SipRequest, inbound: InboundMessage): void;

  /** Ends now: timers cleared, removed from the table, `onTerminated` called. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.clearTimers();
    this.context.serverEnded(this);
    this.onTerminated?.(this);
  }

  protected clearTimers(): void {
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.endTimer) clearTimeout(this.endTimer);
    this.retransmitTimer = this.timeoutTimer = this.endTimer = undefined;
  }

  /** Passes a response to the transport: the request's connection, else its Via (§18.2.2). */
  protected send(response: SipResponse): void {
    this.transmit(response.toBuffer());
  }

  /** Resends the last response (a request retransmission, or Timer G). */
  protected resend(): void {
    if (!this.lastResponse) return;
    this.context.stats.retransmissions++;
    this.send(this.lastResponse);
  }

  private transmit(buffer: Buffer): void {
    const inbound = this.inbound;
    if (!this.target) {
      const via = this.request.via[0];
      this.target = (via && responseDestination(via, inbound.source.protocol)) || inbound.source;
    }
    this.context.transport
      .sendResponseBytes(buffer, this.target, {
        connectionId: inbound.connectionId,
        local: inbound.local,
      })
      .catch((err: Error) => this.transportError(err));
  }

  /** §17.2.4: a transport failure is reported to the TU and ends the transaction. */
  protected transportError(error: Error): void {
    if (this.state === 'terminated') return;
    this.context.stats.transportErrors++;
    this.onTransportError?.(error, this);
    this.terminate();
  }
}
