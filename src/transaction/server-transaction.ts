// What both server transactions share (RFC 3261 §17.2): the request, where it came from, the
// last response (resent to absorb retransmissions), the timers, and ending exactly once.
//
// Memory: a transaction in Completed or Confirmed only absorbs retransmissions, which needs its
// key, where responses go and the bytes of the last response. On entering those states it lets
// go of the parsed request, the inbound record and the parsed last response (`shed()`); should a
// TU still read `request`, `inbound` or `lastResponse`, they are parsed again from bytes kept
// for that (the request as it stood, the response as sent), once. A layer that retains the
// minimum (transaction-context.ts `retain`) keeps neither: only the bytes it may resend (none in
// Accepted), and reading `request` or `inbound` then throws. There, a transaction that settles
// with nothing left for it to tell the TU (no hook set) is handed to the layer as a row of its
// settled table (settled-table.ts) and the object is let go: it stays in the state it reached
// and can still send the TU's 2xx retransmissions, but the layer answers for its key from then
// on and it is never terminated.
import { parseMessage } from '../sip/index.ts';
import type { SipRequest, SipResponse } from '../sip/index.ts';
import { responseDestination } from '../transport/index.ts';
import type { Endpoint, InboundMessage, SendDone } from '../transport/index.ts';
import type { TransactionContext } from './transaction-context.ts';
import { ChunkBytes, keepBytes, keepInChunk, keptBuffer, notKept } from './own-bytes.ts';
import type { KeptBytes } from './own-bytes.ts';
import { isLegacyKey } from './transaction-key.ts';
import { ACCEPTED, COMPLETED, type ResponseRoute } from './settled-table.ts';

/** See ServerTransaction.held. */
interface Held {
  request: SipRequest | undefined;
  inbound: InboundMessage | undefined;
  source: Endpoint;
  receivedAt: number;
  /** The request's bytes as it stood when shed (to parse it again if asked). */
  requestBytes: KeptBytes | undefined;
  /** The last response, parsed, while kept (see lastBytes). */
  response: SipResponse | undefined;
}

/**
 * What few transactions set: a CANCEL's INVITE, the TU's hooks, Timer G's interval. One object
 * made when first set, not five fields in every transaction (64*T1 of them are held).
 */
interface Extras {
  invite?: ServerTransaction;
  onTimeout?: (tx: ServerTransaction) => void;
  onTransportError?: (error: Error, tx: ServerTransaction) => void;
  onTerminated?: (tx: ServerTransaction) => void;
  interval?: number;
  timerH?: NodeJS.Timeout;
  inviteAnswered?: boolean;
}

export type ServerState =
  'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export abstract class ServerTransaction implements SendDone {
  /** The matching key (§17.2.3). */
  readonly id: string;
  readonly method: string;
  state: ServerState;
  protected readonly context: TransactionContext;
  /**
   * The state's one timer that may be cleared: the 100 Trying, then Timer G (INVITE); the end of
   * a request never answered (non-INVITE). Timer H, the only one that runs beside another, is
   * in `extras`.
   */
  protected timer: NodeJS.Timeout | undefined;
  private extras: Extras | undefined;
  /** §18.2.2 destination when the request's connection is gone (or for UDP). */
  private target?: Endpoint;
  private readonly local: Endpoint;
  private readonly connectionId: string | undefined;
  /**
   * What is held of the request: all of it until the transaction settles, then (retain
   * 'messages') its bytes and where it came from, or (retain 'minimum') nothing. One object, so
   * that a settled transaction is that much smaller (64*T1 of them are held).
   */
  private held: Held | undefined;
  /**
   * The bytes of the last response as sent (what a retransmission resends; the parsed response
   * is in `held` while kept): a 1xx's as the Buffer sent (it is replaced soon), a final
   * response's kept (own-bytes.ts): in a shared chunk when the layer retains the minimum (its
   * settled transactions live a bounded time).
   */
  private lastBytes: Buffer | KeptBytes | ChunkBytes | undefined;

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
    this.held = {
      request,
      inbound,
      source: inbound.source,
      receivedAt: inbound.receivedAt,
      requestBytes: undefined,
      response: undefined,
    };
    this.local = inbound.local;
    this.connectionId = inbound.connectionId;
    this.state = initialState;
  }

  /** For a CANCEL: the INVITE server transaction it matches (§9.2), if any. */
  get invite(): ServerTransaction | undefined {
    return this.extras?.invite;
  }
  set invite(tx: ServerTransaction | undefined) {
    (this.extras ??= {}).invite = tx;
  }

  /**
   * For a CANCEL whose INVITE transaction the layer holds as a settled row (a 2xx was sent, the
   * object let go): `invite` is undefined, and this is true (the CANCEL has no effect, §9.2).
   */
  get inviteAnswered(): boolean {
    return this.extras?.inviteAnswered === true;
  }
  set inviteAnswered(answered: boolean) {
    (this.extras ??= {}).inviteAnswered = answered;
  }

  /** Timer H fired: the ACK for a non-2xx final response never came. */
  get onTimeout(): ((tx: ServerTransaction) => void) | undefined {
    return this.extras?.onTimeout;
  }
  set onTimeout(hook: ((tx: ServerTransaction) => void) | undefined) {
    (this.extras ??= {}).onTimeout = hook;
  }

  /** A response could not be sent: the transaction has ended. */
  get onTransportError(): ((error: Error, tx: ServerTransaction) => void) | undefined {
    return this.extras?.onTransportError;
  }
  set onTransportError(hook: ((error: Error, tx: ServerTransaction) => void) | undefined) {
    (this.extras ??= {}).onTransportError = hook;
  }

  get onTerminated(): ((tx: ServerTransaction) => void) | undefined {
    return this.extras?.onTerminated;
  }
  set onTerminated(hook: ((tx: ServerTransaction) => void) | undefined) {
    (this.extras ??= {}).onTerminated = hook;
  }

  /** Whether the request came over a reliable transport (its timers differ, §17.2). */
  get reliable(): boolean {
    return this.context.transport.isReliable(this.local.protocol);
  }

  /** Timer H (INVITE, Completed): waits for the ACK beside Timer G. */
  protected get timerH(): NodeJS.Timeout | undefined {
    return this.extras?.timerH;
  }
  protected set timerH(timer: NodeJS.Timeout | undefined) {
    if (timer !== undefined || this.extras !== undefined) (this.extras ??= {}).timerH = timer;
  }

  /** Timer G's current interval (T1 doubling to T2). */
  protected get interval(): number {
    return this.extras?.interval ?? this.context.timers.T1;
  }
  protected set interval(ms: number) {
    (this.extras ??= {}).interval = ms;
  }

  /** The request (see the top of the file for what a settled transaction keeps). */
  get request(): SipRequest {
    const held = this.held;
    if (held === undefined) throw notKept(this.method, this.state);
    return (held.request ??= parseMessage(keptBuffer(held.requestBytes!)) as SipRequest);
  }

  /** Source and connection of the request: responses go back there (§18.2.2). */
  get inbound(): InboundMessage {
    const held = this.held;
    if (held === undefined) throw notKept(this.method, this.state);
    let inbound = held.inbound;
    if (inbound === undefined) {
      inbound = {
        message: this.request,
        source: held.source,
        local: this.local,
        receivedAt: held.receivedAt,
      };
      if (this.connectionId !== undefined) inbound.connectionId = this.connectionId;
      held.inbound = inbound;
    }
    return inbound;
  }

  /** The last response passed to the transport (1xx included). */
  get lastResponse(): SipResponse | undefined {
    const held = this.held;
    if (held?.response !== undefined) return held.response;
    if (this.lastBytes === undefined) return undefined;
    // Kept parsed while the request is held; a transaction that keeps nothing parses it again.
    const response = parseMessage(this.lastBuffer()!) as SipResponse;
    if (held !== undefined) held.response = response;
    return response;
  }

  set lastResponse(response: SipResponse | undefined) {
    if (this.held !== undefined) this.held.response = response;
    this.lastBytes = undefined; // made when it is sent
  }

  /**
   * Where responses go, as the layer's shared object for that place and connection (what a TU
   * keeps to send a late 2xx upstream without holding the transaction).
   */
  responseRoute(): ResponseRoute {
    return this.context.route(this.resolveTarget(), this.local, this.connectionId);
  }

  /** Called by the layer once the TU has seen the request. */
  abstract started(): void;

  /**
   * Sends a response from the TU; see the state machines for what each status does. Returns the
   * bytes sent (shared: do not change them), or undefined when this state sends nothing.
   */
  abstract respond(response: SipResponse): Buffer | undefined;

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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const timerH = this.timerH;
    if (timerH) {
      clearTimeout(timerH);
      this.timerH = undefined;
    }
  }

  /**
   * Passes a response to the transport: the request's connection, else its Via (§18.2.2). The
   * bytes of the last response are kept for retransmissions.
   */
  protected send(response: SipResponse): Buffer {
    const bytes = response.toBuffer();
    if (response === this.held?.response) {
      // A 1xx is replaced soon, and bytes shed() drops need no copy, nor do bytes a row of the
      // layer's settled table is about to copy (settle()).
      if (response.status < 200 || this.acceptedKeepsNone() || this.rowable())
        this.lastBytes = bytes;
      else
        this.lastBytes = this.context.retain === 'minimum' ? keepInChunk(bytes) : keepBytes(bytes);
    }
    this.transmit(bytes);
    return bytes;
  }

  /** The bytes of the last response as a Buffer (a final response's are kept: see lastBytes). */
  private lastBuffer(): Buffer | undefined {
    const last = this.lastBytes;
    if (typeof last === 'string') return keptBuffer(last);
    return last instanceof ChunkBytes ? last.buffer : last;
  }

  /** Resends the last response (a request retransmission, or Timer G). */
  protected resend(): void {
    if (this.lastBytes === undefined) {
      const response = this.held?.response;
      if (response === undefined) return;
      this.send(response);
    } else this.transmit(this.lastBuffer()!);
    this.context.stats.retransmissions++;
  }

  /**
   * Accepted, Completed or Confirmed: only retransmission absorption (and, in Accepted, the TU's
   * 2xx retransmissions) is left, so the parsed request, the inbound record and the parsed last
   * response go; their bytes stay (see the top of the file).
   */
  protected shed(): void {
    const held = this.held;
    const request = held?.request;
    if (this.lastBytes === undefined || held === undefined || request === undefined) return;
    this.resolveTarget();
    if (this.context.retain === 'minimum') {
      this.held = undefined;
      if (this.acceptedKeepsNone()) this.lastBytes = undefined;
    } else {
      held.requestBytes = keepBytes(request.toBuffer());
      held.request = undefined;
      held.inbound = undefined;
      held.response = undefined;
    }
  }

  /**
   * Accepted (INVITE) or Completed (non-INVITE) with the end timer `ms` (L or J): handed to the
   * layer's settled table when it can be (see rowable), else the timer starts and the parsed
   * messages go (shed). Call after sending the final response.
   */
  protected settle(ms: number): void {
    if (this.rowable()) {
      const kind = this.state === 'accepted' ? ACCEPTED : COMPLETED;
      const last = this.lastBytes;
      const bytes = kind === COMPLETED && last instanceof Buffer ? last : undefined;
      if (this.context.settle(this.id, kind, this.responseRoute(), bytes)) {
        this.held = undefined;
        this.lastBytes = undefined;
        this.extras = undefined; // a CANCEL's INVITE: nothing reads it any more
        return;
      }
      // Too long for a row: kept as a transaction after all, its bytes its own.
      if (bytes !== undefined) this.lastBytes = keepInChunk(bytes);
    }
    this.context.endAfter(this, ms);
    this.shed();
  }

  /**
   * Whether, once settled, this transaction can be a row of the layer's table: retain
   * 'minimum', an RFC 3261 key (an RFC 2543 ACK is matched on the To tag sent, which a row does
   * not keep), no hook to call at its end, and in Completed (non-INVITE) an unreliable
   * transport (over a reliable one it ends at once).
   */
  private rowable(): boolean {
    if (this.context.retain !== 'minimum' || isLegacyKey(this.id)) return false;
    const extras = this.extras;
    if (
      extras !== undefined &&
      (extras.onTerminated !== undefined ||
        extras.onTimeout !== undefined ||
        extras.onTransportError !== undefined)
    )
      return false;
    if (this.state === 'accepted') return true;
    return this.state === 'completed' && this.method !== 'INVITE' && !this.reliable;
  }

  /**
   * With 'minimum', Accepted resends nothing of its own (the TU's 2xx retransmissions come with
   * their bytes); an RFC 2543 peer's ACK is matched on the To tag sent, so its bytes stay.
   */
  private acceptedKeepsNone(): boolean {
    return this.context.retain === 'minimum' && this.state === 'accepted' && !isLegacyKey(this.id);
  }

  private resolveTarget(): Endpoint {
    let target = this.target;
    if (target === undefined) {
      const source = this.held!.source;
      const via = this.request.firstVia;
      // One object per place a response goes (a trunk's peer answers many calls), not per call.
      target = this.context.endpoint((via && responseDestination(via, source.protocol)) || source);
      this.target = target;
    }
    return target;
  }

  private transmit(buffer: Buffer): void {
    this.context.transport.sendResponseBytesTo(
      buffer,
      this.resolveTarget(),
      { connectionId: this.connectionId, local: this.local },
      this,
    );
  }

  /** @internal SendDone: a response left (nothing to do). */
  sendSucceeded(): void {}

  /** @internal SendDone: a response could not be sent. */
  sendFailed(error: Error): void {
    this.transportError(error);
  }

  /** §17.2.4: a transport failure is reported to the TU and ends the transaction. */
  protected transportError(error: Error): void {
    if (this.state === 'terminated') return;
    this.context.stats.transportErrors++;
    this.onTransportError?.(error, this);
    this.terminate();
  }
}
