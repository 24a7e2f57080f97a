// What both client transactions share (RFC 3261 §17.1): the request sent, where it went, the
// TU's handlers, the timers, and ending exactly once.
import type { SipRequest, SipResponse } from '../sip/index.ts';
import type { Endpoint, InboundMessage, PreparedMessage, SendResult } from '../transport/index.ts';
import type { TransactionContext } from './transaction-context.ts';

export type ClientState =
  'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/** The TU's side of a client transaction. */
export interface ClientHandlers {
  /** Every provisional response (100 included). */
  onProvisional?(response: SipResponse, tx: ClientTransaction): void;
  /**
   * The first final response; for an INVITE also every further 2xx seen in the Accepted state
   * (retransmissions and forked answers, RFC 6026): the TU ACKs each 2xx it gets.
   */
  onFinal?(response: SipResponse, tx: ClientTransaction): void;
  /** Timer B or F fired: no final response. */
  onTimeout?(tx: ClientTransaction): void;
  /** The transport could not send the request: the transaction has ended. */
  onTransportError?(error: Error, tx: ClientTransaction): void;
  /** Always last, once. */
  onTerminated?(tx: ClientTransaction): void;
}

export abstract class ClientTransaction {
  /** The branch. */
  readonly id: string;
  /** The table key (branch and method). */
  readonly key: string;
  readonly method: string;
  readonly request: SipRequest;
  /** As routed (a UDP destination becomes TCP for a large request, §18.1.1). */
  readonly destination: Endpoint;
  readonly reliable: boolean;
  state: ClientState;
  lastResponse?: SipResponse;
  /** The stream connection used, once known. */
  connectionId?: string;
  protected readonly context: TransactionContext;
  protected readonly handlers: ClientHandlers;
  protected readonly prepared: PreparedMessage;
  protected retransmitTimer?: NodeJS.Timeout;
  protected timeoutTimer?: NodeJS.Timeout;
  protected endTimer?: NodeJS.Timeout;
  /** Current retransmission interval (Timer A or E). */
  protected interval: number;

  constructor(
    context: TransactionContext,
    init: {
      id: string;
      key: string;
      request: SipRequest;
      prepared: PreparedMessage;
      handlers: ClientHandlers;
      connectionId?: string;
      initialState: ClientState;
    },
  ) {
    this.context = context;
    this.id = init.id;
    this.key = init.key;
    this.method = init.request.method;
    this.request = init.request;
    this.prepared = init.prepared;
    this.destination = init.prepared.endpoint;
    this.reliable = context.transport.isReliable(this.destination.protocol);
    this.handlers = init.handlers;
    if (init.connectionId !== undefined) this.connectionId = init.connectionId;
    this.state = init.initialState;
    this.interval = context.timers.T1;
  }

  /** Sends the request and starts the timers of the initial state. */
  abstract start(): void;

  /** A response matched to this transaction (§17.1.3). */
  abstract receive(response: SipResponse, inbound: InboundMessage): void;

  /** Ends now: timers cleared, removed from the table, `onTerminated` called. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.clearTimers();
    this.context.clientEnded(this);
    this.handlers.onTerminated?.(this);
  }

  protected clearTimers(): void {
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.endTimer) clearTimeout(this.endTimer);
    this.retransmitTimer = this.timeoutTimer = this.endTimer = undefined;
  }

  /** Passes the request (again) to the transport. */
  protected sendRequest(): void {
    const opts = this.connectionId !== undefined ? { connectionId: this.connectionId } : {};
    this.context.transport.sendPrepared(this.prepared, opts).then(
      (result: SendResult) => this.sent(result),
      (err: Error) => this.transportError(err),
    );
  }

  protected sent(result: SendResult): void {
    if (result.connectionId !== undefined) this.connectionId = result.connectionId;
  }

  /** §17.1.4: a transport failure is reported to the TU and ends the transaction. */
  transportError(error: Error): void {
    if (this.state === 'terminated') return;
    this.context.stats.transportErrors++;
    this.handlers.onTransportError?.(error, this);
    this.terminate();
  }

  protected timedOut(): void {
    if (this.state === 'terminated') return;
    this.context.stats.timeouts++;
    this.handlers.onTimeout?.(this);
    this.terminate();
  }
}
