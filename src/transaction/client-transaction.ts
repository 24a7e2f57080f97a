// What both client transactions share (RFC 3261 §17.1): the request sent, where it went, the
// TU's handlers, the timers, and ending exactly once.
//
// Memory: the request's bytes are needed only while it may be retransmitted (Calling, Trying,
// Proceeding) and are let go after the first final response. Completed only absorbs
// retransmitted responses until its timer ends it: no handler but onTerminated can be called any
// more, so the others are let go (a TU's handlers often hold its whole per-request state), and
// so are the parsed request and last response; should a TU still read `request` or
// `lastResponse`, they are parsed again, once, from their bytes kept for that (a layer that
// retains the minimum, transaction-context.ts `retain`, keeps neither: `request` then throws and
// `lastResponse` is undefined). Accepted keeps the handlers: every 2xx goes to the TU's onFinal
// (RFC 6026), until the TU hands over lighter ones (setHandlers).
import { parseMessage } from '../sip/index.ts';
import type { SipRequest, SipResponse } from '../sip/index.ts';
import type {
  Endpoint,
  InboundMessage,
  PreparedMessage,
  SendDone,
  SendOptions,
} from '../transport/index.ts';
import type { TransactionContext } from './transaction-context.ts';
import { keepBytes, keptBuffer, notKept, type KeptBytes } from './own-bytes.ts';

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

/**
 * What a TU hands an Accepted INVITE client transaction over to (handOver): the later 2xx
 * (retransmissions, another fork's answer) until Timer M, with the transaction's key.
 */
export interface LateAnswerHandler {
  onLateFinal(response: SipResponse, key: string): void;
}

const NO_HANDLERS: ClientHandlers = Object.freeze({});

/**
 * The request and last response while kept, else their bytes (see the top of the file). One
 * object, dropped once nothing is kept (retain 'minimum', settled): four fields fewer in each of
 * the 64*T1 of settled transactions a proxy holds.
 */
interface Held {
  request: SipRequest | undefined;
  requestBytes: KeptBytes | undefined;
  response: SipResponse | undefined;
  responseBytes: KeptBytes | undefined;
}

/** No options: a send not tied to a connection. */
const NO_SEND_OPTIONS: SendOptions = Object.freeze({});

export abstract class ClientTransaction implements SendDone {
  /** The table key (branch and method: see `id`). */
  readonly key: string;
  readonly method: string;
  /**
   * As routed (a UDP destination becomes TCP for a large request, §18.1.1). Once settled, the
   * layer's shared object for that place (layer.endpoint()).
   */
  destination: Endpoint;
  state: ClientState;
  /** The stream connection used, once known. */
  connectionId?: string;
  protected readonly context: TransactionContext;
  protected handlers: ClientHandlers;
  /** The request's bytes while it may be retransmitted (see the top of the file). */
  protected prepared: PreparedMessage | undefined;
  protected retransmitTimer?: NodeJS.Timeout;
  protected timeoutTimer?: NodeJS.Timeout;
  /** Current retransmission interval (Timer A or E). */
  protected interval: number;
  /** See Held. */
  private held: Held | undefined;
  /** The number of its end timer's entry (Timer M, D or K), once started. */
  protected endEntry: number | undefined;

  constructor(
    context: TransactionContext,
    init: {
      key: string;
      request: SipRequest;
      prepared: PreparedMessage;
      handlers: ClientHandlers;
      connectionId?: string;
      initialState: ClientState;
    },
  ) {
    this.context = context;
    this.key = init.key;
    this.method = init.request.method;
    this.held = {
      request: init.request,
      requestBytes: undefined,
      response: undefined,
      responseBytes: undefined,
    };
    this.prepared = init.prepared;
    this.destination = init.prepared.endpoint;
    this.handlers = init.handlers;
    if (init.connectionId !== undefined) this.connectionId = init.connectionId;
    this.state = init.initialState;
    this.interval = context.timers.T1;
  }

  /** Whether the request went over a reliable transport (its timers differ, §17.1). */
  get reliable(): boolean {
    return this.context.transport.isReliable(this.destination.protocol);
  }

  /** The branch: the key without its method (one string kept per transaction, not two). */
  get id(): string {
    return this.key.slice(0, this.key.length - this.method.length - 1);
  }

  /** The request as sent (with our Via). */
  get request(): SipRequest {
    const held = this.held;
    let request = held?.request;
    if (request === undefined) {
      if (held?.requestBytes === undefined) throw notKept(this.method, this.state);
      request = held.request = parseMessage(keptBuffer(held.requestBytes)) as SipRequest;
    }
    return request;
  }

  /** The last response received (1xx included). */
  get lastResponse(): SipResponse | undefined {
    const held = this.held;
    if (held === undefined) return undefined;
    if (held.response === undefined && held.responseBytes !== undefined) {
      held.response = parseMessage(keptBuffer(held.responseBytes)) as SipResponse;
    }
    return held.response;
  }

  set lastResponse(response: SipResponse | undefined) {
    const held = this.held;
    if (held === undefined) return; // settled, keeping nothing: no response is read again
    held.response = response;
    held.responseBytes = undefined;
  }

  /**
   * Replaces the TU's handlers: a TU done with its per-request state hands over lighter ones
   * (a proxy, once its final response went upstream, keeps only what passes a later 2xx on).
   * Ignored once the transaction ended.
   */
  setHandlers(handlers: ClientHandlers): void {
    if (this.state !== 'terminated') this.handlers = handlers;
  }

  /**
   * The TU is done with this Accepted INVITE transaction: every later 2xx goes to
   * `handler.onLateFinal` until Timer M, and nothing else is told. A layer that retains the
   * minimum keeps it as a row of its settled table from then on (the object is let go, and
   * stays as it is); otherwise the handler becomes its onFinal. Ignored in any other state.
   */
  handOver(handler: LateAnswerHandler): void {
    if (this.state !== 'accepted') return;
    if (this.context.settleClient(this, handler)) {
      this.handlers = NO_HANDLERS;
      this.held = undefined;
      this.prepared = undefined;
      return;
    }
    const key = this.key;
    this.handlers = { onFinal: (response) => handler.onLateFinal(response, key) };
  }

  /** The end timer's entry, for the layer taking the transaction over (settleClient). */
  get endTimerEntry(): number | undefined {
    return this.endEntry;
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
    const handlers = this.handlers;
    // No handler is called after this: an end-timer entry that still points here holds none.
    this.handlers = NO_HANDLERS;
    this.prepared = undefined;
    handlers.onTerminated?.(this);
  }

  protected clearTimers(): void {
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.retransmitTimer = this.timeoutTimer = undefined;
  }

  /**
   * A final response came: the request will not be sent again, and in Completed only
   * onTerminated is left to call (see the top of the file).
   */
  protected settle(): void {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (this.state === 'accepted') {
      // RFC 6026 Accepted: later 2xx still go to the TU (the handlers stay), but nothing reads
      // the request or the first 2xx again: their bytes stay for the getters, if asked.
      this.shedMessages(prepared?.buffer);
      return;
    }
    if (this.state !== 'completed') return;
    const onTerminated = this.handlers.onTerminated;
    this.handlers = onTerminated ? { onTerminated } : NO_HANDLERS;
    this.shedMessages(prepared?.buffer);
  }

  /** The parsed request and response go; their bytes stay (parsed again only if asked). */
  private shedMessages(sent: Buffer | undefined): void {
    this.destination = this.context.endpoint(this.destination);
    const held = this.held;
    if (held === undefined) return;
    // Nothing in Accepted or Completed resends the request or a response: with 'minimum' both go.
    if (this.context.retain === 'minimum') {
      this.held = undefined;
      return;
    }
    const request = held.request;
    if (request !== undefined) {
      held.requestBytes = keepBytes(sent ?? request.toBuffer());
      held.request = undefined;
    }
    const response = held.response;
    if (response !== undefined) {
      held.responseBytes = keepBytes(response.toBuffer());
      held.response = undefined;
    }
  }

  /**
   * The request's bytes as they were sent, while it may be sent again (undefined once a final
   * response settled it). Shared: do not change them.
   */
  get sentBytes(): Buffer | undefined {
    return this.prepared?.buffer;
  }

  /** Passes the request (again) to the transport, which tells this transaction how it went. */
  protected sendRequest(): void {
    const prepared = this.prepared;
    if (prepared === undefined) return;
    this.context.transport.sendPreparedTo(prepared, this.sendOptions(), this);
  }

  /** Sends go on the connection the first one used, once there is one. */
  protected sendOptions(): SendOptions {
    const connectionId = this.connectionId;
    return connectionId !== undefined ? { connectionId } : NO_SEND_OPTIONS;
  }

  /** @internal SendDone: a send of this transaction left (on `connectionId`, if a stream). */
  sendSucceeded(_endpoint: Endpoint, connectionId: string | undefined): void {
    if (connectionId !== undefined) this.connectionId = connectionId;
  }

  /** @internal SendDone: a send of this transaction failed. */
  sendFailed(error: Error): void {
    this.transportError(error);
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
