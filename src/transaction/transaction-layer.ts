// The transaction layer (RFC 3261 §17): creates client transactions for the TU's requests,
// matches responses to them (§17.1.3), creates server transactions for new requests and
// matches retransmissions, ACKs and CANCELs to them (§17.2.3, §9.2).
import { createResponse, formatVia, newBranch, ownString, SipRequest } from '../sip/index.ts';
import type { SipMessage, SipResponse } from '../sip/index.ts';
import type {
  Endpoint,
  InboundMessage,
  PreparedMessage,
  SendResult,
  Transport,
} from '../transport/index.ts';
import { DEFAULT_TIMERS, EndTimerQueue } from './timers.ts';
import type { Endable, TransactionTimers } from './timers.ts';
import type { TransactionContext, TransactionStats } from './transaction-context.ts';
import type { ClientHandlers, ClientTransaction } from './client-transaction.ts';
import { InviteClientTransaction } from './invite-client-transaction.ts';
import { NonInviteClientTransaction } from './non-invite-client-transaction.ts';
import type { ServerTransaction } from './server-transaction.ts';
import { InviteServerTransaction } from './invite-server-transaction.ts';
import { NonInviteServerTransaction } from './non-invite-server-transaction.ts';
import { clientKey, isLegacyKey, responseKey, serverKey } from './transaction-key.ts';

export type RequestListener = (
  request: SipRequest,
  tx: ServerTransaction | undefined,
  inbound: InboundMessage,
) => void;
export type ResponseListener = (response: SipResponse, inbound: InboundMessage) => void;

const NO_HANDLERS: ClientHandlers = Object.freeze({});

/** How many distinct places endpoint() shares objects for. */
const MAX_ENDPOINTS = 4096;

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
    transport.onMessage((inbound) => this.receive(inbound));
  }

  /** Live transactions, client and server. */
  get size(): number {
    return this.clients.size + this.servers.size;
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
  }

  // ---- TransactionContext -------------------------------------------------------------------

  endAfter(tx: Endable, ms: number): void {
    let queue = this.endTimers.get(ms);
    if (queue === undefined) {
      queue = new EndTimerQueue(ms);
      this.endTimers.set(ms, queue);
    }
    queue.add(tx);
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
    else this.strayListener?.(response, inbound);
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
    const own = ownString(key); // kept up to 64*T1 (see sendRequest)
    const tx =
      request.method === 'INVITE'
        ? new InviteServerTransaction(this, own, request, inbound)
        : new NonInviteServerTransaction(this, own, request, inbound);
    if (request.method === 'CANCEL') tx.invite = this.findInviteServer(request);
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
