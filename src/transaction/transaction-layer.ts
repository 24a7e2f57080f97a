// The transaction layer (RFC 3261 §17): creates client transactions for the TU's requests,
// matches responses to them (§17.1.3), creates server transactions for new requests and
// matches retransmissions, ACKs and CANCELs to them (§17.2.3, §9.2).
import { createResponse, formatVia, newBranch, ownString, SipRequest } from '../sip/index.ts';
import type { SipMessage, SipResponse } from '../sip/index.ts';
import type {
  Endpoint,
  InboundMessage,
  PreparedMessage,
  SendDone,
  SendResult,
  Transport,
} from '../transport/index.ts';
import { DEFAULT_TIMERS, EndTimerQueue, startTimer, TIMEOUT_FACTOR } from './timers.ts';
import type { Endable, TransactionTimers } from './timers.ts';
import type { TransactionContext, TransactionStats } from './transaction-context.ts';
import type { ClientHandlers, ClientTransaction, LateAnswerHandler } from './client-transaction.ts';
import { InviteClientTransaction } from './invite-client-transaction.ts';
import { NonInviteClientTransaction } from './non-invite-client-transaction.ts';
import type { ServerTransaction } from './server-transaction.ts';
import { InviteServerTransaction } from './invite-server-transaction.ts';
import { NonInviteServerTransaction } from './non-invite-server-transaction.ts';
import { clientKey, isLegacyKey, responseKey, serverKey } from './transaction-key.ts';
import { ACCEPTED, NO_ROW, SettledTable } from './settled-table.ts';
import type { ResponseRoute, SettledKind } from './settled-table.ts';

export type RequestListener = (
  request: SipRequest,
  tx: ServerTransaction | undefined,
  inbound: InboundMessage,
) => void;
export type ResponseListener = (response: SipResponse, inbound: InboundMessage) => void;

const NO_HANDLERS: ClientHandlers = Object.freeze({});

/** How many distinct places endpoint() shares objects for. */
const MAX_ENDPOINTS = 4096;
/** How many routes route() shares for one place (one per connection from there, say). */
const MAX_ROUTES_PER_TARGET = 64;

function expireSettled(layer: TransactionLayer): void {
  layer.expireSettled();
}

export class TransactionLayer implements TransactionContext {
  readonly transport: Transport;
  readonly timers: Readonly<TransactionTimers>;
  readonly stats: TransactionStats = {
    clientCreated: 0,
    serverCreated: 0,
    retransmissions: 0,
    absorbed: 0,
    timeouts: 0,
    transportErrors: 0,
  };
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  /** End timers by duration (64*T1, T4, Timer D): a queue each. */
  private readonly endTimers = new Map<number, EndTimerQueue>();
  /** See endpoint(). */
  private readonly endpoints = new Map<string, Endpoint>();
  /** See route(): by the (shared) place responses go. */
  private readonly routes = new Map<Endpoint, ResponseRoute[]>();
  /** Settled server transactions as rows (retain 'minimum'; settled-table.ts). */
  private readonly settled: SettledTable | undefined;
  /** Accepted INVITE client transactions handed over by their TU, as rows (the same). */
  private readonly settledClients: SettledTable | undefined;
  private settledTimer: NodeJS.Timeout | undefined;
  private requestListener?: RequestListener;
  private strayListener?: ResponseListener;
  private closed = false;

  readonly retain: 'messages' | 'minimum';

  constructor(
    transport: Transport,
    timers: Partial<TransactionTimers> = {},
    options: { retain?: 'messages' | 'minimum' } = {},
  ) {
    this.transport = transport;
    this.timers = Object.freeze({ ...DEFAULT_TIMERS, ...timers });
    this.retain = options.retain ?? 'messages';
    if (this.retain === 'minimum') {
      this.settled = new SettledTable(TIMEOUT_FACTOR * this.timers.T1);
      this.settledClients = new SettledTable(TIMEOUT_FACTOR * this.timers.T1);
    }
    transport.onMessage((inbound) => this.receive(inbound));
  }

  /** Live transactions, client and server (settled ones held as rows included). */
  get size(): number {
    return this.clients.size + this.servers.size + this.settledSize;
  }

  /** Settled transactions held as rows of the settled tables (a part of `size`). */
  get settledSize(): number {
    return (this.settled?.size ?? 0) + (this.settledClients?.size ?? 0);
  }

  /** The TU's entry for requests (one listener; a later call replaces it). */
  onRequest(listener: RequestListener): void {
    this.requestListener = listener;
  }

  /** Responses no client transaction matches (2xx retransmissions, forks, stateless proxying). */
  onStrayResponse(listener: ResponseListener): void {
    this.strayListener = listener;
  }

  /**
   * Starts a client transaction: adds a top Via (with a new branch) if the request has none,
   * routes and sends it, and runs the INVITE or non-INVITE state machine.
   */
  sendRequest(
    request: SipRequest,
    destination: Endpoint,
    handlers: ClientHandlers = NO_HANDLERS,
    opts: { connectionId?: string } = {},
  ): ClientTransaction {
    if (this.closed) throw new Error('transaction layer closed');
    if (request.method === 'ACK') {
      throw new Error('ACK is not sent through a client transaction: use sendStateless');
    }
    this.ensureVia(request, destination);
    const branch = request.firstVia?.branch;
    if (!branch) throw new Error('the top Via of the request has no branch');
    // Kept up to 64*T1: strings of their own, not slices of the request's Via (ownString).
    const key = ownString(clientKey(branch, request.method));
    if (this.clients.has(key)) {
      throw new Error(`a client transaction for branch ${branch} ${request.method} exists`);
    }
    const prepared = this.transport.prepare(request, destination);
    const init = {
      key,
      request,
      prepared,
      handlers,
      connectionId: opts.connectionId,
      initialState: request.method === 'INVITE' ? ('calling' as const) : ('trying' as const),
    };
    const tx =
      request.method === 'INVITE'
        ? new InviteClientTransaction(this, init)
        : new NonInviteClientTransaction(this, init);
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  /**
   * Sends outside any transaction: the ACK for a 2xx (a top Via with a new branch is added if
   * missing), a 2xx retransmission, a proxy's stateless forward. A response without destination
   * goes by its Via (§18.2.2).
   */
  sendStateless(
    message: SipMessage,
    destination?: Endpoint,
    opts: { connectionId?: string } = {},
  ): Promise<SendResult> {
    if (message instanceof SipRequest) {
      if (!destination) return Promise.reject(new Error('a request needs a destination'));
      return this.transport.sendPrepared(this.prepareStateless(message, destination), opts);
    }
    if (destination) return this.transport.send(message, destination, opts);
    return this.transport.sendResponse(message as SipResponse, opts);
  }

  /**
   * sendStateless for a request whose bytes the caller keeps too (a proxy's call log): the top
   * Via is added if missing and the request is prepared once; send it with
   * `transport.sendPrepared(prepared)`.
   */
  prepareStateless(request: SipRequest, destination: Endpoint): PreparedMessage {
    this.ensureVia(request, destination);
    return this.transport.prepare(request, destination);
  }

  /** The client transaction with this branch and method, while it lives. */
  findClient(branch: string, method: string): ClientTransaction | undefined {
    return this.clients.get(clientKey(branch, method));
  }

  /** The INVITE server transaction a CANCEL (or any request with its branch) would match. */
  findInviteServer(request: SipRequest): ServerTransaction | undefined {
    const key = serverKey(request, 'INVITE');
    return key === undefined ? undefined : this.servers.get(key);
  }

  /** Ends every transaction and clears every timer. The transport stays open. */
  close(): void {
    this.closed = true;
    for (const tx of [...this.clients.values()]) tx.terminate();
    for (const tx of [...this.servers.values()]) tx.terminate();
    for (const queue of this.endTimers.values()) queue.clear();
    this.settled?.clear();
    this.settledClients?.clear();
    if (this.settledTimer !== undefined) clearTimeout(this.settledTimer);
    this.settledTimer = undefined;
  }

  /** Ends the settled rows whose time has come (Timers J, L and M), then waits for the next. */
  expireSettled(): void {
    this.settledTimer = undefined;
    // Node's timers run on the loop's clock, which may trail performance.now() a little.
    const now = performance.now();
    this.settled?.expire(now + 1);
    this.settledClients?.expire(now + 1);
    this.armSettled(now);
  }

  private armSettled(now: number): void {
    if (this.settledTimer !== undefined) return;
    const a = this.settled?.nextDue;
    const b = this.settledClients?.nextDue;
    const next = a === undefined ? b : b === undefined ? a : Math.min(a, b);
    if (next !== undefined) {
      this.settledTimer = startTimer(expireSettled, Math.max(1, next - now), this);
    }
  }

  /**
   * Sends bytes on a route (a TU's late 2xx for a transaction it let go, say). A failure is
   * counted in `stats.transportErrors`; nothing else is told.
   */
  sendOnRoute(route: ResponseRoute, bytes: Buffer): void {
    this.transport.sendResponseBytesTo(bytes, route.target, route, this.routeSends);
  }

  /** How sends on a route end: a failure is only counted. */
  private readonly routeSends: SendDone = {
    sendSucceeded: () => {},
    sendFailed: () => {
      this.stats.transportErrors++;
    },
  };

  // ---- TransactionContext -------------------------------------------------------------------

  endAfter(tx: Endable, ms: number): number {
    let queue = this.endTimers.get(ms);
    if (queue === undefined) {
      queue = new EndTimerQueue(ms);
      this.endTimers.set(ms, queue);
    }
    return queue.add(tx);
  }

  endpoint(e: Endpoint): Endpoint {
    const key = `${e.protocol} ${e.address} ${e.port}`;
    const known = this.endpoints.get(key);
    if (known !== undefined) return known;
    // Bounded: past this many places, start again (they are a cache, not a record).
    if (this.endpoints.size >= MAX_ENDPOINTS) this.endpoints.clear();
    const own: Endpoint = { protocol: e.protocol, address: ownString(e.address), port: e.port };
    this.endpoints.set(ownString(key), own);
    return own;
  }

  route(target: Endpoint, local: Endpoint, connectionId: string | undefined): ResponseRoute {
    let list = this.routes.get(target);
    if (list === undefined) {
      if (this.routes.size >= MAX_ENDPOINTS) this.routes.clear();
      list = [];
      this.routes.set(target, list);
    }
    for (const r of list) {
      const l = r.local;
      if (
        r.connectionId === connectionId &&
        (l === local ||
          (l.protocol === local.protocol && l.address === local.address && l.port === local.port))
      )
        return r;
    }
    const route: ResponseRoute = { target, local, connectionId };
    if (list.length >= MAX_ROUTES_PER_TARGET) list.shift();
    list.push(route);
    return route;
  }

  settle(key: string, kind: SettledKind, route: ResponseRoute, response?: Buffer): boolean {
    const settled = this.settled;
    if (settled === undefined || this.closed) return false;
    if (!settled.add(key, kind, route, response)) return false;
    this.servers.delete(key);
    this.armSettled(performance.now());
    return true;
  }

  settleClient(tx: ClientTransaction, handler: LateAnswerHandler): boolean {
    const table = this.settledClients;
    const entry = tx.endTimerEntry;
    if (table === undefined || this.closed || entry === undefined) return false;
    const queue = this.endTimers.get(table.ms); // Timer M's
    const due = queue?.dueOf(entry);
    if (queue === undefined || due === undefined) return false;
    if (!table.add(tx.key, ACCEPTED, handler, undefined, due)) return false;
    queue.forget(entry);
    if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
    this.armSettled(performance.now());
    return true;
  }

  clientEnded(tx: ClientTransaction): void {
    if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
  }

  serverEnded(tx: ServerTransaction): void {
    if (this.servers.get(tx.id) === tx) this.servers.delete(tx.id);
  }

  ackToTU(ack: SipRequest, inbound: InboundMessage): void {
    this.requestListener?.(ack, undefined, inbound);
  }

  // ---- inbound ------------------------------------------------------------------------------

  private receive(inbound: InboundMessage): void {
    if (this.closed) return;
    const message = inbound.message;
    if (message instanceof SipRequest) this.receiveRequest(message, inbound);
    else this.receiveResponse(message, inbound);
  }

  private receiveResponse(response: SipResponse, inbound: InboundMessage): void {
    const key = responseKey(response);
    const tx = key === undefined ? undefined : this.clients.get(key);
    if (tx) tx.receive(response, inbound);
    else if (key === undefined || !this.lateAnswer(key, response)) {
      this.strayListener?.(response, inbound);
    }
  }

  /**
   * A response for an Accepted INVITE client transaction held as a row: a 2xx goes to the
   * handler it was handed over to; anything else is dropped, as the transaction would.
   */
  private lateAnswer(key: string, response: SipResponse): boolean {
    const table = this.settledClients;
    if (table === undefined) return false;
    const row = table.find(key);
    if (row === NO_ROW) return false;
    if (response.status >= 200 && response.status < 300) {
      table.handler<LateAnswerHandler>(row).onLateFinal(response, key);
    }
    return true;
  }

  private receiveRequest(request: SipRequest, inbound: InboundMessage): void {
    const key = serverKey(request);
    if (key === undefined) return; // no Via: the parser should not let this through
    const existing = this.servers.get(key);
    if (request.method === 'ACK') {
      if (existing instanceof InviteServerTransaction && this.ackMatches(key, request, existing)) {
        existing.receiveAck(request, inbound);
      } else {
        this.requestListener?.(request, undefined, inbound);
      }
      return;
    }
    if (existing) {
      existing.receiveRetransmission(request, inbound);
      return;
    }
    const settled = this.settled;
    const row = settled === undefined ? NO_ROW : settled.find(key);
    if (settled !== undefined && row !== NO_ROW) {
      this.absorbSettled(settled, row);
      return;
    }
    const own = ownString(key); // kept up to 64*T1 (see sendRequest)
    const tx =
      request.method === 'INVITE'
        ? new InviteServerTransaction(this, own, request, inbound)
        : new NonInviteServerTransaction(this, own, request, inbound);
    if (request.method === 'CANCEL') {
      const invite = this.findInviteServer(request);
      if (invite !== undefined) tx.invite = invite;
      else if (settled !== undefined) {
        // An INVITE answered with a 2xx and held as a row: the CANCEL finds it, too late.
        const inviteKey = serverKey(request, 'INVITE');
        if (inviteKey !== undefined && settled.find(inviteKey) !== NO_ROW) {
          tx.inviteAnswered = true;
        }
      }
    }
    this.servers.set(own, tx);
    this.stats.serverCreated++;
    try {
      this.requestListener?.(request, tx, inbound);
    } catch (err) {
      // A TU that throws before its final answer would leave the transaction waiting forever
      // (an INVITE server transaction has no timer in Proceeding): answer 500 for it.
      if (tx.state === 'trying' || tx.state === 'proceeding') {
        tx.respond(createResponse(request, 500, 'Server Internal Error'));
      }
      throw err;
    } finally {
      tx.started(); // its timers run even if the TU threw
    }
  }

  /**
   * A retransmitted request for a settled row: Accepted (INVITE) absorbs it; Completed
   * (non-INVITE) resends its response, as its transaction would. (An ACK never gets here: an
   * Accepted transaction passes it to the TU, as does no transaction at all.)
   */
  private absorbSettled(settled: SettledTable, row: number): void {
    this.stats.absorbed++;
    const response = settled.response(row);
    if (response === undefined) return;
    this.stats.retransmissions++;
    this.sendOnRoute(settled.route(row), response);
  }

  /** §17.2.3 for RFC 2543 peers: the ACK's To tag must be the tag of the response sent. */
  private ackMatches(key: string, ack: SipRequest, tx: ServerTransaction): boolean {
    if (!isLegacyKey(key)) return true;
    const sentTag = tx.lastResponse?.to.tag;
    return sentTag === undefined || ack.to.tag === sentTag;
  }

  private ensureVia(request: SipRequest, destination: Endpoint): void {
    if (request.has('Via')) return;
    const sentBy = this.transport.viaFor(destination.protocol, destination.address);
    request.prepend(
      'Via',
      formatVia({
        protocol: 'SIP/2.0',
        transport: sentBy.transport,
        host: sentBy.host,
        port: sentBy.port,
        params: {},
        branch: newBranch(),
        // RFC 3581 §3: ask for rport here rather than have the transport re-parse the Via.
        rport: this.transport.asksRport ? null : undefined,
      }),
    );
  }
}
