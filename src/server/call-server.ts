// The call server: a stateful proxy (RFC 3261 §16) with a registrar (§10), digest authentication
// (§22), a dial plan and SIP trunks, and call detail records. It is the transaction user of one
// TransactionLayer over one TransportLayer.
//
// What happens to a request:
//   refused by the guard                   dropped silently (banned source, flood, scanner)
//   ACK with no transaction (a 2xx's ACK)  forwarded statelessly along its Route / Request-URI
//   malformed or unprocessable             400 / 416 / 420 with the reason (validateRequest)
//   Max-Forwards 0 / our own loop           483 / 482
//   CANCEL                                  200, and every branch of the INVITE it matches cancelled
//   in a dialog (To tag)                    loose routing: our Route popped, sent to the next Route
//                                           or the Request-URI (a registered contact goes to the
//                                           address it registered from)
//   REGISTER for our domain                 401 challenge, then the registrar (the To user must be
//                                           the authenticated user, else 403); a wrong answer 403
//   anything else                           from a local user: 407 challenge, then From must be the
//                                           authenticated user (403); then the dial plan: local
//                                           user (fork to every binding; 404 unknown, 480 none;
//                                           480 for both to an anonymous caller),
//                                           trunk (failover to the next peer on 503/408/timeout),
//                                           reject with a code
import { randomBytes } from 'node:crypto';
import {
  createResponse,
  newBranch,
  parseAuthValue,
  parseUri,
  SipParseError,
  validateRequest,
  type SipRequest,
  type SipResponse,
  type SipUri,
} from '../sip/index.ts';
import {
  TransactionLayer,
  type ServerTransaction,
  type TransactionTimers,
} from '../transaction/index.ts';
import {
  TransportLayer,
  defaultPort,
  formatEndpoint,
  isSecureProtocol,
  protocolForUri,
  responseDestination,
  type Endpoint,
  type InboundMessage,
  type SendDone,
  type TransportProtocol,
} from '../transport/index.ts';
import type { Stores } from '../store/open-stores.ts';
import type { ServerConfig } from './config.ts';
import type { TrunkPeerState } from './console-model.ts';
import { DialPlan, type DialRule } from './dial-plan.ts';
import { printable, silentLogger, type Logger } from './server-log.ts';
import { DigestAuthenticator } from './digest-authenticator.ts';
import { DigestKeyRing } from './digest-key-ring.ts';
import { AuthPolicy } from './auth-policy.ts';
import { ClusterMember } from './cluster-member.ts';
import { LocalIdentity } from './local-identity.ts';
import { TrunkRouter } from './trunk-router.ts';
import { ServerMetrics } from './metrics.ts';
import { ProxyBranchSet, type BranchObserver, type ForwardTarget } from './proxy-branch-set.ts';
import { ProxyDialogs, ROUTE_TOKEN_PARAM, type DialogSide } from './proxy-dialogs.ts';
import { LocationService, addressOfRecord, type BindingChange } from './location-service.ts';
import { CallLog, aorOf, type CallHandle, type CallInfo } from './call-log.ts';
import { TracedTransportLayer, type WireTap } from './traced-transport.ts';
import type { CdrCause } from '../store/stores.ts';
import { TrunkRegistration } from './trunk-registration.ts';
import { ChurnMap } from './churn-map.ts';
import { MediaRelayError, type MediaRelay } from './media-relay.ts';
import { MediaRelayProxy } from './media-relay-proxy.ts';
import { SdpParseError } from '../media/index.ts';
import { ADMIT, DROP, OverloadControl, type OverloadVerdict } from './overload.ts';

/** Defences consulted by the server (src/server/security-guard.ts implements them). */
export interface RequestGuard {
  /** Every request, first: false drops it silently (banned source, flood, scanner). */
  admit(req: SipRequest, inbound: InboundMessage): boolean;
  /** A digest authentication failed (wrong password, unknown user, replay, forged nonce). */
  authFailed(source: Endpoint, user: string | undefined): void;
  authSucceeded(source: Endpoint, user: string): void;
}

export interface CallServerOptions {
  config: ServerConfig;
  /** The node's stores (src/store/open-stores.ts): users, locations, CDRs, security, nodes. */
  stores: Stores;
  timers?: Partial<TransactionTimers>;
  /** Timer C in ms (default: config proxy.ringTimeoutSeconds). */
  timerC?: number;
  /** Where the server says what it does (src/server/server-log.ts); silent when absent. */
  logger?: Logger;
  guard?: RequestGuard;
  /** PEM key and certificate for tls/wss listeners (read by the caller from config.tls). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** The media relay (config media.mode: relay): SDP is rewritten so RTP flows through it. */
  relay?: MediaRelay;
  /** Sees every SIP message on the wire, received or sent (HEP out: hep-sender.ts). */
  wireTap?: WireTap;
}

const SUPPORTED_METHODS =
  'INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, REFER, MESSAGE';
/** Receive and send buffer of each UDP socket the server listens on. */
export const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

/** How often expired bindings are deleted. */
const PURGE_INTERVAL_MS = 30_000;

/** How long one digest nonce key signs new nonces. */
const DIGEST_KEY_ROTATE_MS = 3600 * 1000;
/** The Record-Route token secret: kept as long as stored dialogs may need it. */
const ROUTE_SECRET_ROTATE_MS = 3650 * 24 * 3600 * 1000;

const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** How a stateless send (a 2xx's ACK) ends is not heard: there is no one to tell (§16.11). */
const UNHEARD: SendDone = { sendSucceeded() {}, sendFailed() {} };

/** The cause of a call attempt the server refused itself, by the status it answered. */
function refusalCause(status: number): CdrCause {
  if (status === 403) return 'forbidden';
  if (status === 404) return 'no-route';
  if (status === 480) return 'not-registered';
  if (status === 488 || status === 503) return 'media-unavailable';
  return 'failed';
}

/** How a dial-plan rule matches, for the log. */
function describeMatch(match: DialRule['match']): string {
  if ('prefix' in match) return `prefix ${match.prefix}`;
  if ('pattern' in match) return `pattern ${match.pattern}`;
  return `regex ${match.regex}`;
}

/** A To tag for a response made here. */
function localTag(): string {
  return randomBytes(6).toString('hex');
}

/** Where a URI points: its transport, host and port (numeric hosts and explicit ports only, plus node's resolver). */
export function uriDestination(uri: SipUri): Endpoint {
  const param = uri.params.transport;
  const sips = uri.scheme.toLowerCase() === 'sips';
  const named = param ? protocolForUri(param, sips) : undefined;
  // A sips: URI is reached over TLS whatever else it names (§26.2.2); sip: defaults to UDP.
  const protocol: TransportProtocol =
    named && (!sips || isSecureProtocol(named)) ? named : sips ? 'tls' : 'udp';
  const address = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  return { protocol, address, port: uri.port ?? defaultPort(protocol) };
}

export class CallServer {
  readonly transport: TransportLayer;
  readonly layer: TransactionLayer;
  readonly metrics = new ServerMetrics();
  readonly calls: CallLog;
  /** The media relay's SIP side, when media is relayed. */
  readonly media: MediaRelayProxy | undefined;
  readonly auth: DigestAuthenticator;
  /** The dialogs we record-routed: the only ones in-dialog requests may follow. */
  readonly dialogs: ProxyDialogs;
  private readonly locations: LocationService;
  private readonly digestKeys: DigestKeyRing;
  /** Who may do what: our users' digest credentials, trunks by credentials. */
  private readonly policy: AuthPolicy;
  /** Our domain and addresses. */
  private readonly identity: LocalIdentity;
  /** This node among the cluster's (heartbeats, flows held by other nodes). */
  private readonly cluster: ClusterMember;
  /** The dial plan's trunk action: trunks, their peers, failover. */
  private readonly trunks: TrunkRouter;
  private readonly dialPlan: DialPlan;
  private readonly branchSets = new ChurnMap<ServerTransaction, ProxyBranchSet>();
  /** What routing learnt of an INVITE attempt before it was refused (for its CDR). */
  private readonly attempts = new WeakMap<ServerTransaction, Omit<CallInfo, 'initial'>>();
  private readonly domain: string;
  /** Outbound registrations of trunks toward their providers, by trunk name. */
  readonly trunkRegistrations = new Map<string, TrunkRegistration>();
  private readonly log: Logger;
  private purge?: NodeJS.Timeout;
  /** New requests wait while the event loop has no idle time (src/server/overload.ts). */
  readonly overload: OverloadControl;

  constructor(private readonly opts: CallServerOptions) {
    const { config, stores } = opts;
    this.log = opts.logger ?? silentLogger();
    this.overload = new OverloadControl(config.overload, {
      started: (utilization) =>
        this.log.warn(
          { event: 'overload.start', utilization: Math.round(utilization * 1000) / 1000 },
          `overloaded (event loop ${(utilization * 100).toFixed(0)} % busy): new requests are refused until it catches up`,
        ),
      ended: (ms, dropped, rejected) =>
        this.log.warn(
          { event: 'overload.end', durationMs: Math.round(ms), dropped, rejected },
          `overload over after ${(ms / 1000).toFixed(1)} s: ${dropped} new request(s) dropped, ${rejected} answered 503`,
        ),
    });
    const trustedMaddr = new Set(
      config.security.trustedSources.map((t) => t.toLowerCase().replace(/^\[(.*)\]/, '$1')),
    );
    this.domain = config.domain.toLowerCase();
    // A large UDP receive buffer absorbs bursts while the event loop is busy (a GC pause, a CDR
    // commit): without it, responses arriving in a burst are dropped by the kernel and calls
    // fail with 408 after Timer B. The kernel caps it at net.core.rmem_max.
    const transport = new TracedTransportLayer({
      udpBufferSize: UDP_BUFFER_BYTES,
      firstMessageTimeout: config.transport.firstMessageTimeoutSeconds * 1000,
      messageTimeout: config.transport.messageTimeoutSeconds * 1000,
      idleTimeout: config.transport.idleTimeoutSeconds * 1000,
      writeTimeout: config.transport.writeTimeoutSeconds * 1000,
      maxWriteBacklog: config.transport.maxWriteBacklogBytes,
      maxConnectionsPerSource: config.transport.maxConnectionsPerSource,
      maxConnections: config.transport.maxConnections,
      // A Via maddr is honoured only when it names us or a source the operator trusts (its own
      // SBCs): otherwise a request could make our response go to a third host (reflection).
      trustMaddr: (d) => trustedMaddr.has(d.address) || trustedMaddr.has(`${d.address}:${d.port}`),
    });
    transport.tap = opts.wireTap;
    this.transport = transport;
    // A proxy holds 64*T1 of settled transactions: they keep only what their state machines need.
    this.layer = new TransactionLayer(this.transport, opts.timers, { retain: 'minimum' });
    this.transport.onMalformed(() => this.metrics.malformed++);
    this.locations = new LocationService(stores.locations, config.registrar, Date.now, (change) =>
      this.registrationLog(change),
    );
    // Nonces are signed with keys every node shares (rotated hourly) and their counts are kept
    // in the security store: a challenge from one node is answered at another, once.
    this.digestKeys = new DigestKeyRing(stores.security, {
      rotateMs: DIGEST_KEY_ROTATE_MS,
      nonceTtlMs: config.auth.nonceTtlSeconds * 1000,
      onError: (err: unknown) =>
        this.log.warn({ event: 'store.error', error: String(err) }, `digest keys: ${String(err)}`),
    });
    const ring = this.digestKeys;
    this.auth = new DigestAuthenticator({
      realm: config.auth.realm ?? config.domain,
      algorithms: config.auth.algorithms,
      nonceTtlSeconds: config.auth.nonceTtlSeconds,
      keys: () => ring.keys(),
      refreshKeys: () => ring.refresh(),
      replay: (nonce, nc, ttlMs) => stores.security.useNonce(nonce, nc, ttlMs),
    });
    this.dialPlan = new DialPlan(config.dialplan);
    this.media = opts.relay ? new MediaRelayProxy(opts.relay) : undefined;
    this.calls = new CallLog(stores.cdrs, stores.node, this.media, this.log);
    if (stores.shared) {
      const node = stores.node;
      const warn = (err: Error) =>
        this.log.warn(
          { event: 'cluster.error', error: err.message },
          `node registry: ${err.message}`,
        );
      this.calls.tracker = {
        callStarted: (callId, key) => void stores.nodes.callStarted(node, callId, key).catch(warn),
        callEnded: (callId) => void stores.nodes.callEnded(node, callId).catch(warn),
      };
    }
    this.dialogs = new ProxyDialogs(randomBytes(32), stores.cdrs);
    this.identity = new LocalIdentity(this.domain, this.transport);
    this.policy = new AuthPolicy({
      auth: this.auth,
      users: stores.users,
      domain: this.domain,
      trunks: config.trunks,
      allowAnonymous: config.inbound.allowAnonymous,
      metrics: this.metrics,
      log: this.log,
      ...(opts.guard ? { guard: opts.guard } : {}),
    });
    this.cluster = new ClusterMember(stores, config.cluster, this.log);
    this.trunks = new TrunkRouter(config.trunks, this.log);
    this.layer.onRequest((req, tx, inbound) => this.onRequest(req, tx, inbound));
    this.layer.onStrayResponse((res, inbound) => this.onStrayResponse(res, inbound));
  }

  async start(): Promise<Endpoint[]> {
    const { security } = this.opts.stores;
    await this.digestKeys.start();
    this.dialogs.useSecret(
      (await security.secrets('record-route', ROUTE_SECRET_ROTATE_MS, 1))[0]!.key,
      this.opts.stores.shared ? this.opts.stores.node : '',
    );
    await this.cluster.prepare();
    const interrupted = await this.calls.recover();
    if (interrupted > 0)
      this.log.warn(
        { event: 'cdr.recovered', calls: interrupted },
        `${interrupted} answered call(s) had no end when the server last stopped: CDR cause server-restart`,
      );
    for (const l of this.opts.config.listen) {
      const secure = isSecureProtocol(l.transport);
      const bound = await this.transport.listen({
        protocol: l.transport,
        address: l.address,
        port: l.port,
        ...(secure && this.opts.tls ? { tls: this.opts.tls } : {}),
      });
      this.identity.listeners.push(bound);
      this.log.info(
        { event: 'listening', transport: bound.protocol, address: bound.address, port: bound.port },
        `SIP listening on ${formatEndpoint(bound)}`,
      );
    }
    for (const t of this.opts.config.trunks) {
      if (!t.register) continue;
      const peer = t.peers[0]!;
      const contact =
        this.identity.listeners.find((l) => l.protocol === peer.transport) ??
        this.identity.listeners[0]!;
      const reg = new TrunkRegistration(this.layer, {
        name: t.name,
        aor: t.register.aor,
        expires: t.register.expires,
        peer: { protocol: peer.transport, address: peer.host, port: peer.port },
        contact,
        ...(t.auth ? { auth: { username: t.auth.username, password: t.auth.password } } : {}),
        logger: this.log,
      });
      this.trunkRegistrations.set(t.name, reg);
      reg.start();
    }
    // Expired bindings are deleted (and logged) every 30 s; lookups already skip them.
    this.purge = setInterval(() => void this.purgeExpired(), PURGE_INTERVAL_MS);
    this.purge.unref();
    this.overload.start();
    await this.cluster.start(this.identity.listeners);
    return this.identity.listeners;
  }

  private async purgeExpired(): Promise<void> {
    try {
      for (const b of await this.opts.stores.locations.purgeExpired(Date.now()))
        this.registrationLog({
          action: 'removed',
          aor: b.aor,
          contact: b.contact,
          source: formatEndpoint(b.target),
          reason: 'expired',
        });
    } catch (err) {
      this.log.warn(
        { event: 'store.error', error: (err as Error).message },
        `purging expired bindings: ${(err as Error).message}`,
      );
    }
  }

  private registrationLog(change: BindingChange): void {
    this.log.info(
      { event: 'registration', ...change },
      `registration ${change.action}: ${printable(change.aor)} at ${printable(change.contact)}${change.action === 'removed' ? ` (${change.reason})` : ` for ${change.expires} s`}`,
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.purge);
    this.overload.stop();
    this.cluster.stop();
    this.digestKeys.stop();
    for (const r of this.trunkRegistrations.values()) r.stop();
    this.layer.close();
    await this.transport.close();
  }

  get activeCalls(): number {
    return this.calls.activeCount;
  }

  // ---- requests ---------------------------------------------------------------------------

  private onRequest(
    req: SipRequest,
    tx: ServerTransaction | undefined,
    inbound: InboundMessage,
  ): void {
    if (this.opts.guard && !this.opts.guard.admit(req, inbound)) {
      tx?.terminate(); // dropped silently: no answer, no state kept
      return;
    }
    // Overload: something new waits, work in progress goes on (src/server/overload.ts).
    if (tx !== undefined && req.to.tag === undefined && req.method !== 'CANCEL') {
      const verdict = this.overload.verdict(inbound.local.protocol === 'udp');
      if (verdict !== ADMIT) {
        this.shed(req, tx, verdict);
        return;
      }
    }
    this.metrics.countRequest(req.method);
    if (!tx) {
      // An ACK is never answered: one that cannot be routed (or read) is dropped.
      try {
        this.forwardAck(req, inbound)?.catch(() => {});
      } catch {
        /* dropped */
      }
      return;
    }
    let routed: Promise<void> | void;
    try {
      routed = this.route(req, tx, inbound);
    } catch (err) {
      this.failed(req, tx, err);
      return;
    }
    if (routed) routed.catch((err: unknown) => this.failed(req, tx, err));
  }

  /**
   * A new request refused while overloaded: dropped (UDP: its retransmission comes after T1) or
   * answered 503 with Retry-After. Neither writes a CDR: it would be more work for a server
   * that has too much; the counts are on /metrics and in the episode's log line.
   */
  private shed(req: SipRequest, tx: ServerTransaction, verdict: OverloadVerdict): void {
    if (verdict === DROP) {
      tx.terminate(); // no answer, no state kept: the retransmission is looked at afresh
      return;
    }
    const res = createResponse(req, 503, 'Service Unavailable (overloaded)');
    res.set('Retry-After', String(this.overload.options.retryAfterSeconds));
    this.stamp(res); // not respond(): no CDR
    tx.respond(res);
  }

  /**
   * A request whose handling threw: a header that parses lazily was malformed (400 naming it),
   * or a store did not answer (500, logged). The server never crashes on one.
   */
  private failed(req: SipRequest, tx: ServerTransaction, err: unknown): void {
    if (this.answered(tx)) return;
    if (err instanceof SipParseError) {
      this.metrics.malformed++;
      this.respond(tx, createResponse(req, 400, `Bad Request: ${err.message}`.slice(0, 150)));
      return;
    }
    const message = (err as Error).message ?? String(err);
    this.log.error(
      { event: 'request.error', method: req.method, callId: req.callId, error: message },
      `${req.method} ${req.callId.slice(0, 40)} failed: ${message}`,
    );
    const res = createResponse(req, 500, 'Server Internal Error');
    res.set('Retry-After', '5');
    this.respond(tx, res);
  }

  /** The transaction has had its final answer (a CANCEL may answer an INVITE meanwhile). */
  private answered(tx: ServerTransaction): boolean {
    // By state, not by lastResponse: a finished transaction keeps its response as bytes only.
    return tx.state !== 'trying' && tx.state !== 'proceeding';
  }

  private route(
    req: SipRequest,
    tx: ServerTransaction,
    inbound: InboundMessage,
  ): Promise<void> | void {
    const problem = validateRequest(req, { proxy: true });
    if (problem) {
      if (problem.status === 400) this.metrics.malformed++;
      const res = createResponse(req, problem.status, problem.reason);
      if (problem.unsupported) res.set('Unsupported', problem.unsupported.join(', '));
      this.respond(tx, res);
      return;
    }
    const mf = req.maxForwards;
    if (mf !== undefined && mf <= 0) {
      if (req.method === 'OPTIONS' && this.isUs(req.requestUri))
        this.respond(tx, this.optionsOk(req));
      else this.respond(tx, createResponse(req, 483, 'Too Many Hops'));
      return;
    }
    if (this.isLoop(req)) {
      this.respond(tx, createResponse(req, 482, 'Loop Detected'));
      return;
    }
    if (req.method === 'CANCEL') {
      this.onCancel(req, tx);
      return;
    }
    // REGISTER is never part of a dialog (§10.2): a To tag on it changes nothing.
    if (req.method === 'REGISTER') return this.onRegister(req, tx, inbound);
    if (req.to.tag !== undefined) return this.routeInDialog(req, tx, inbound);
    if (req.method === 'OPTIONS' && this.isUs(req.requestUri) && !req.requestUri.user) {
      this.respond(tx, this.optionsOk(req));
      return;
    }
    if (this.routeToFlow(req, tx, inbound)) return;
    return this.routeInitial(req, tx, inbound);
  }

  private optionsOk(req: SipRequest): SipResponse {
    const res = createResponse(req, 200, 'OK');
    res.set('Allow', SUPPORTED_METHODS);
    res.set('Accept', 'application/sdp');
    return res;
  }

  /**
   * Sends a response made here. A final failure to an initial INVITE (not a challenge) is a
   * refused call attempt: its CDR is written first, with `cause` (else one the status implies).
   */
  private respond(tx: ServerTransaction, res: SipResponse, cause?: CdrCause): void {
    if (this.answered(tx)) return; // answered meanwhile (a CANCEL while a store was asked)
    this.stamp(res);
    const req = tx.request;
    if (
      req.method === 'INVITE' &&
      res.status >= 300 &&
      res.status !== 401 &&
      res.status !== 407 &&
      req.to.tag === undefined
    ) {
      const written = this.calls.rejected(req, res, cause ?? refusalCause(res.status), {
        initial: true,
        ...(this.attempts.get(tx) ?? {}),
      });
      this.attempts.delete(tx);
      // The refusal's CDR is committed before the answer leaves.
      void written.then(() => tx.respond(res));
      return;
    }
    tx.respond(res);
  }

  /**
   * A response made here, before it goes: counted, with a To tag if it is final (§8.2.6.2; the
   * registrar's too) and our Server header.
   */
  private stamp(res: SipResponse): void {
    this.metrics.countResponse(res.status);
    if (res.status > 100 && res.to.tag === undefined)
      res.set('To', `${res.get('To')};tag=${localTag()}`);
    if (!res.has('Server')) res.set('Server', 'trapezoid');
  }

  private onCancel(req: SipRequest, tx: ServerTransaction): void {
    const invite = tx.invite;
    if (!invite) {
      // An INVITE already answered with a 2xx, which the layer holds as a settled row: the
      // CANCEL has no effect (§9.2), but it did match.
      if (tx.inviteAnswered) this.respond(tx, createResponse(req, 200, 'OK'));
      else this.respond(tx, createResponse(req, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    this.respond(tx, createResponse(req, 200, 'OK'));
    const set = this.branchSets.get(invite);
    if (set) set.cancel();
    else if (!this.answered(invite)) {
      this.respond(invite, createResponse(invite.request, 487, 'Request Terminated'));
    }
  }

  /** With security.tlsOnly, our users must come over TLS (or secure WebSocket). */
  private refuseCleartext(tx: ServerTransaction, inbound: InboundMessage): boolean {
    const p = inbound.source.protocol;
    if (!this.opts.config.security.tlsOnly || isSecureProtocol(p)) return false;
    this.respond(tx, createResponse(tx.request, 403, 'Forbidden (TLS required: use sips)'));
    return true;
  }

  private async onRegister(
    req: SipRequest,
    tx: ServerTransaction,
    inbound: InboundMessage,
  ): Promise<void> {
    if (!this.isUs(req.requestUri)) {
      this.respond(tx, createResponse(req, 404, 'Not Found (domain not served here)'));
      return;
    }
    if (this.refuseCleartext(tx, inbound)) return;
    const decided = await this.policy.user(req, inbound.source, 'WWW-Authenticate');
    if (!decided.ok) {
      this.respond(tx, decided.response, decided.cause);
      return;
    }
    const user = decided.who;
    const toUser = req.to.uri.user;
    if (toUser !== user) {
      this.respond(tx, createResponse(req, 403, 'Forbidden (may only register your own address)'));
      return;
    }
    // sip:1000@domain and sips:1000@domain are one user: one address-of-record (RFC 5630 §4.1);
    // what sips asks for is enforced when a call is routed (routeInitial).
    const aor = addressOfRecord({ ...req.to.uri, scheme: 'sip', host: this.domain });
    const res = await this.locations.register(req, aor, {
      target: inbound.source,
      flow: {
        node: this.opts.stores.node,
        ...(inbound.connectionId !== undefined ? { connectionId: inbound.connectionId } : {}),
      },
    });
    this.respond(tx, res);
  }

  private async routeInitial(
    req: SipRequest,
    tx: ServerTransaction,
    inbound: InboundMessage,
  ): Promise<void> {
    // A preloaded Route naming us (a phone's outbound proxy setting) is ours to remove (§16.4).
    const routes = req.route;
    if (routes.length > 0 && this.isUs(routes[0]!.uri)) req.removeFirst('Route');
    let fromTrunk = this.trunks.fromSource(inbound.source);
    const fromLocal = this.isOurHost(req.from.uri.host);
    if (!fromTrunk && !fromLocal) {
      const identified = await this.policy.trunk(req, inbound.source);
      if (!identified.ok) {
        this.respond(tx, identified.response, identified.cause); // a challenge or a refusal
        return;
      }
      fromTrunk = identified.who;
    }
    let caller: string | undefined;
    if (!fromTrunk && fromLocal) {
      if (this.refuseCleartext(tx, inbound)) return;
      const decided = await this.policy.user(req, inbound.source, 'Proxy-Authenticate');
      if (!decided.ok) {
        this.respond(tx, decided.response, decided.cause);
        return;
      }
      caller = decided.who;
      if (req.from.uri.user !== caller) {
        this.respond(
          tx,
          createResponse(req, 403, 'Forbidden (From is not the authenticated user)'),
        );
        return;
      }
    }
    const ruri = req.requestUri;
    const callerAor = caller !== undefined ? `${caller}@${this.domain}` : aorOf(req.from.uri);
    this.attempts.set(tx, { caller: callerAor, callee: aorOf(ruri), dialled: ruri.user ?? '' });
    if (!this.isUs(ruri)) {
      // Toward another domain: only for our own authenticated users (no open relay).
      if (caller === undefined) {
        this.routeLog(req, callerAor, aorOf(ruri), { action: 'relay-refused' });
        this.respond(tx, createResponse(req, 403, 'Forbidden (relaying not allowed)'));
        return;
      }
      this.routeLog(req, callerAor, aorOf(ruri), {
        action: 'domain',
        targets: [formatEndpoint(uriDestination(ruri))],
      });
      this.forward(req, tx, inbound, [{ uri: req.uri, destination: uriDestination(ruri) }], {
        callerAor,
        calleeAor: aorOf(ruri),
      });
      return;
    }
    const dialled = ruri.user ?? '';
    const route = this.dialPlan.route(dialled);
    const action = route?.route ?? { action: 'local' as const };
    const number = route?.number ?? dialled;
    const attempt: Omit<CallInfo, 'initial'> = {
      caller: callerAor,
      callee: `${number}@${this.domain}`,
      dialled,
    };
    if (fromTrunk) attempt.trunk = fromTrunk.name;
    this.attempts.set(tx, attempt);
    // The routing decision's log line, and what it says, only at info (not for every call).
    const logged = this.log.isLevelEnabled('info');
    const routeFields: { rule?: string; trunkIn?: string } = {};
    if (logged) {
      if (route)
        routeFields.rule =
          route.rule.name ?? `#${route.ruleIndex + 1} ${describeMatch(route.rule.match)}`;
      if (fromTrunk) routeFields.trunkIn = fromTrunk.name;
    }
    if (action.action === 'reject') {
      if (logged)
        this.routeLog(req, callerAor, `${number}@${this.domain}`, {
          ...routeFields,
          action: 'reject',
          status: action.code,
        });
      this.respond(tx, createResponse(req, action.code, action.reason), 'rejected-by-dialplan');
      return;
    }
    if (action.action === 'trunk') {
      if (caller === undefined && !fromTrunk?.transit) {
        // Only our authenticated users (or a trunk allowed transit) may reach a trunk: no toll fraud.
        this.respond(
          tx,
          createResponse(req, 403, 'Forbidden (trunk calls need an authenticated local user)'),
        );
        return;
      }
      const plan = this.trunks.plan(action.trunk, number, req.callId);
      if (logged)
        this.routeLog(req, callerAor, plan.callee, {
          ...routeFields,
          action: 'trunk',
          trunk: plan.trunk.name,
          targets: [plan.firstPeer],
        });
      this.forward(req, tx, inbound, [plan.first], {
        trunk: plan.trunk.name,
        dialled,
        callerAor,
        calleeAor: plan.callee,
        caller: caller ?? fromTrunk?.name,
        trunkIn: fromTrunk?.name,
        failover: plan.failover,
        onFinal: plan.onFinal,
      });
      return;
    }
    // A local user. To an anonymous caller (neither one of our users nor a trunk) an unknown user
    // and a user with no binding look alike (480), so extensions cannot be enumerated by INVITE.
    // (The bindings are looked up either way: the same work, the same time.)
    const [user, bindings] = await Promise.all([
      this.opts.stores.users.getUser(number, this.domain),
      this.locations.lookup(`sip:${number}@${this.domain}`),
    ]);
    const known = user !== undefined;
    await this.cluster.learnHolders(bindings);
    const callee = `${number}@${this.domain}`;
    if (!known && (caller !== undefined || fromTrunk)) {
      if (logged)
        this.routeLog(req, callerAor, callee, { ...routeFields, action: 'local', targets: [] });
      this.respond(tx, createResponse(req, 404, 'Not Found'));
      return;
    }
    // A sips: Request-URI asks for TLS all the way (RFC 3261 §26.2.2): only TLS/WSS bindings.
    const usable = bindings.filter(
      (b) =>
        (ruri.scheme !== 'sips' || isSecureProtocol(b.target.protocol)) &&
        this.cluster.reachable(b),
    );
    if (!known || usable.length === 0) {
      if (logged)
        this.routeLog(req, callerAor, callee, { ...routeFields, action: 'local', targets: [] });
      this.respond(tx, createResponse(req, 480, 'Temporarily Unavailable'));
      return;
    }
    // Bindings come highest q first: the first maxBranches are forked to (a cap on the fan-out
    // one INVITE can cause).
    const targets = usable
      .slice(0, this.opts.config.proxy.maxBranches)
      .map((b) => this.cluster.target(b));
    if (logged)
      this.routeLog(req, callerAor, callee, {
        ...routeFields,
        action: 'local',
        targets: targets.map((t) => formatEndpoint(t.destination)),
      });
    this.forward(req, tx, inbound, targets, {
      dialled,
      caller,
      trunkIn: fromTrunk?.name,
      callerAor,
      calleeAor: `${number}@${this.domain}`,
    });
  }

  /**
   * An initial request another node of the cluster routed to a connection we hold (see
   * bindingTarget): our Route with a valid flow token. It was authenticated and routed there,
   * and its CDR is written there: here it is only carried to the connection (record-routed,
   * so the dialog's requests take the same way). False when it is not such a request.
   */
  private routeToFlow(req: SipRequest, tx: ServerTransaction, inbound: InboundMessage): boolean {
    const top = req.route[0]?.uri;
    if (!top || !this.isUs(top)) return false;
    const flow = this.cluster.flowRoute(req);
    if (flow.kind === 'none') return false;
    if (flow.kind === 'forged') {
      this.respond(tx, createResponse(req, 403, 'Forbidden (flow token not issued here)'));
      return true;
    }
    req.removeFirst('Route');
    const id = flow.connectionId;
    const connection = this.transport.connection(id);
    if (!connection) {
      // RFC 5626 §5.3: the flow is gone; the phone will register again.
      this.respond(tx, createResponse(req, 430, 'Flow Failed'));
      return true;
    }
    this.forward(
      req,
      tx,
      inbound,
      [{ uri: req.uri, destination: connection.remote, connectionId: id }],
      {
        relayOnly: true,
      },
    );
    return true;
  }

  /**
   * One line per initial request routed: the routing decision (dial-plan rule, action, trunk,
   * targets). Its outcome follows as `call.end` (src/server/call-log.ts).
   */
  private routeLog(
    req: SipRequest,
    caller: string,
    callee: string,
    decision: {
      action: 'local' | 'trunk' | 'domain' | 'reject' | 'relay-refused';
      rule?: string;
      trunk?: string;
      trunkIn?: string;
      targets?: string[];
      status?: number;
    },
  ): void {
    if (!this.log.isLevelEnabled('info')) return; // built only when it is written
    const where =
      decision.action === 'trunk'
        ? `trunk ${decision.trunk} via ${decision.targets?.join(', ')}`
        : decision.action === 'reject'
          ? `rejected ${decision.status}`
          : decision.action === 'relay-refused'
            ? 'refused (relaying not allowed)'
            : decision.targets && decision.targets.length > 0
              ? `${decision.action} to ${decision.targets.join(', ')}`
              : `${decision.action}: no binding`;
    this.log.info(
      { event: 'call', method: req.method, callId: req.callId, caller, callee, ...decision },
      `${req.method} ${printable(caller)} -> ${printable(callee)}: ${where}${decision.rule ? ` (rule ${decision.rule})` : ''}`,
    );
  }

  private routeInDialog(
    req: SipRequest,
    tx: ServerTransaction,
    inbound: InboundMessage,
  ): Promise<void> | void {
    const loading = this.loadDialog(req);
    if (loading === undefined) return this.routeInDialogNow(req, tx, inbound);
    return loading.then(() => this.routeInDialogNow(req, tx, inbound));
  }

  /**
   * What a restarted server reads back before it routes an in-dialog request: a BYE's open CDR
   * and the dialog's record. Undefined when both are in memory (every call this process carried):
   * the request is then routed at once, without waiting for a turn of the event loop.
   */
  private loadDialog(req: SipRequest): Promise<void> | undefined {
    const call = req.method === 'BYE' ? this.calls.preload(req.callId) : undefined;
    if (call !== undefined) return call.then(() => this.dialogs.preload(req.callId));
    return this.dialogs.preload(req.callId);
  }

  private routeInDialogNow(req: SipRequest, tx: ServerTransaction, inbound: InboundMessage): void {
    const decided = this.dialogRoute(req);
    if (this.answered(tx)) return;
    if (!decided.ok) {
      this.respond(tx, createResponse(req, decided.status, decided.reason));
      return;
    }
    this.forward(req, tx, inbound, [decided.target], { byCaller: decided.byCaller });
  }

  /**
   * Where an in-dialog request (or a 2xx's ACK) goes, or why it may not: only along a dialog this
   * server record-routed, to that dialog's other side (src/server/proxy-dialogs.ts). Pops our own
   * Route (§16.4) on the way. The dialog is in memory if it is anywhere (loadDialog first).
   */
  private dialogRoute(
    req: SipRequest,
  ):
    | { ok: true; target: ForwardTarget; byCaller: boolean }
    | { ok: false; status: 403 | 481; reason: string } {
    const routes = req.route;
    let viaOurRoute = false;
    if (routes.length > 0 && this.isUs(routes[0]!.uri)) {
      if (!this.dialogs.validToken(routes[0]!.uri, req)) {
        return { ok: false, status: 403, reason: 'Forbidden (Route not issued by this server)' };
      }
      viaOurRoute = true;
      req.removeFirst('Route');
      routes.shift();
    }
    const ruri = req.requestUri;
    const next = routes.length > 0 ? routes[0]!.uri : ruri;
    const addressedToUs = routes.length === 0 && this.isUs(ruri);
    const decided = this.dialogs.route(req, next, viaOurRoute, addressedToUs);
    if (!decided.ok) return decided;
    const side = decided.toward;
    // The side's own address when we reach it directly over UDP (a NATed phone), or over the
    // connection its messages came on while that is open; else where the hop URI points.
    const open =
      side.connectionId !== undefined && this.transport.connection(side.connectionId) !== undefined;
    // (The request's own next hop, when it named one, was checked to be that same hop.)
    const destination =
      side.endpoint.protocol === 'udp' || open || side.hop === ''
        ? side.endpoint
        : uriDestination(parseUri(side.hop));
    return {
      ok: true,
      byCaller: decided.towardCallee,
      target: {
        uri: req.uri,
        destination,
        ...(open ? { connectionId: side.connectionId! } : {}),
      },
    };
  }

  /** Each trunk's peers in order, with how the last INVITE sent to each ended (the console). */
  trunkPeers(): { name: string; peers: TrunkPeerState[] }[] {
    return this.trunks.peers();
  }

  private forward(
    req: SipRequest,
    tx: ServerTransaction,
    inbound: InboundMessage,
    targets: ForwardTarget[],
    call: {
      dialled?: string;
      caller?: string;
      trunk?: string;
      trunkIn?: string;
      failover?: (res: SipResponse | undefined) => ForwardTarget[] | undefined;
      /** Caller and callee as user@domain, for the CDR. */
      callerAor?: string;
      calleeAor?: string;
      /** An in-dialog request sent by the dialog's caller (a BYE: who hung up). */
      byCaller?: boolean;
      /** The final response about to go upstream. */
      onFinal?: (res: SipResponse) => void;
      /**
       * Carried for another cluster node (routeToFlow): record-routed, but no CDR and no media
       * relay here (that node writes the CDR and relays the media).
       */
      relayOnly?: boolean;
    },
  ): void {
    if (this.answered(tx)) return; // cancelled while the routing awaited a store
    const template = req.clone();
    template.set('Max-Forwards', String((req.maxForwards ?? 70) - 1));
    this.stripOwnCredentials(template);
    const isInitial = req.to.tag === undefined;
    const creating = isInitial && DIALOG_CREATING.has(req.method);
    if (creating) {
      const caller: Omit<DialogSide, 'hop' | 'hopIsContact'> = { endpoint: inbound.source };
      if (inbound.connectionId !== undefined) caller.connectionId = inbound.connectionId;
      if (call.callerAor) caller.aor = `sip:${call.callerAor}`;
      const token = this.dialogs.begin(req, caller);
      template.prepend(
        'Record-Route',
        `<${this.identity.ownUri(inbound.local)};lr;${ROUTE_TOKEN_PARAM}=${token}>`,
      );
    }
    // A target refresh (§12.2): the side that sends it is reached at its new Contact from now on.
    const refresh = !isInitial && (req.method === 'INVITE' || req.method === 'UPDATE');
    const senderIsCallee = refresh && this.dialogs.sentByCallee(req);
    if (refresh) this.dialogs.refresh(req, senderIsCallee);
    const loop = this.identity.loopHash(req);
    // What the handlers below need of the inbound request (they outlive it: not the whole).
    const local = inbound.local;
    const record = call.relayOnly
      ? undefined
      : this.calls.observe(req, inbound, {
          initial: isInitial && req.method === 'INVITE',
          dialled: call.dialled,
          trunk: call.trunk ?? call.trunkIn,
          caller: call.callerAor,
          callee: call.calleeAor,
          byCaller: call.byCaller,
        });
    if (this.media && !call.relayOnly && !this.relayRequest(template, req, tx)) return;
    // From here the branch set answers, and the call log has what the attempt's CDR needs: the
    // entry would otherwise stay as long as the transaction (64*T1 after the answer).
    this.attempts.delete(tx);
    const set = new ProxyBranchSet(
      this.layer,
      tx,
      template,
      (branch, target) => this.identity.ownVia(target.destination, branch),
      () => `z9hG4bK${loop}.${newBranch().slice(7)}`,
      {
        failover: call.failover,
        beforeFinal: (res) => {
          this.metrics.countResponse(res.status);
          call.onFinal?.(res);
          // An answer's CDR carries the dialog's route (one commit): a restarted server routes
          // its BYE.
          const answered = creating && res.status >= 200 && res.status < 300;
          const written = record?.onFinal(
            req,
            res,
            answered ? this.dialogs.record(req.callId, res.to.tag) : undefined,
          );
          if (creating && res.status >= 300) this.dialogs.failed(req.callId);
          const ended = (res.status >= 200 && res.status < 300) || res.status === 481;
          if (req.method === 'BYE' && ended) this.dialogs.end(req.callId);
          return written;
        },
        observer: this.branchObserver(creating, refresh, !senderIsCallee, record, local),
        onDone: () => this.branchSets.delete(tx),
        beforeUpstream: this.media && !call.relayOnly ? this.relayUpstream : undefined,
      },
      this.opts.timerC ?? this.opts.config.proxy.ringTimeoutSeconds * 1000,
    );
    this.branchSets.set(tx, set);
    set.start(targets);
  }

  /**
   * What a branch set tells the dialogs and the call log of each message. Made here, not inside
   * forward(), and an object rather than a closure: a client transaction keeps it up to 64*T1,
   * so it must not keep the request and its call alive, and it is held per call.
   * `refreshFromCaller`: a target refresh sent by the caller (its 2xx moves the callee's side).
   */
  private branchObserver(
    creating: boolean,
    refresh: boolean,
    refreshFromCaller: boolean,
    record: CallHandle | undefined,
    local: Endpoint,
  ): BranchObserver {
    const flags =
      (creating ? CREATING : 0) | (refresh ? REFRESH : 0) | (refreshFromCaller ? FROM_CALLER : 0);
    return new DialogObserver(this.dialogs, flags, this.calls, record?.callId, local);
  }

  /**
   * Removes the credentials meant for our realm (§22.3: consumed by the proxy that checks them):
   * the digest response must not travel past the first hop, where it could be cracked offline.
   * Credentials for other realms (a proxy further on) stay.
   */
  private stripOwnCredentials(req: SipRequest): void {
    const realm = this.auth.realm;
    for (const header of ['Proxy-Authorization', 'Authorization'] as const) {
      const values = req.getAll(header);
      if (values.length === 0) continue;
      const keep = values.filter((v) => {
        try {
          return !parseAuthValue(v, header).some((c) => (c.params.realm ?? '') === realm);
        } catch {
          return false; // unreadable credentials are nobody's: dropped
        }
      });
      if (keep.length === values.length) continue;
      req.remove(header);
      for (const v of keep) req.append(header, v);
    }
  }

  /** A 2xx's ACK: forwarded statelessly along the dialog's route. */
  private forwardAck(req: SipRequest, inbound: InboundMessage): Promise<void> | void {
    if (req.method !== 'ACK' || req.to.tag === undefined) return;
    const loading = this.dialogs.preload(req.callId);
    if (loading === undefined) return this.forwardAckNow(req, inbound);
    return loading.then(() => this.forwardAckNow(req, inbound));
  }

  private forwardAckNow(req: SipRequest, inbound: InboundMessage): void {
    const decided = this.dialogRoute(req);
    if (!decided.ok) return; // an ACK is never answered: one off any dialog of ours is dropped
    const next = decided.target;
    const ack = req.clone();
    this.stripOwnCredentials(ack);
    ack.set('Max-Forwards', String((req.maxForwards ?? 70) - 1));
    ack.uri = next.uri;
    ack.prependVia(this.identity.ownVia(next.destination, newBranch()));
    if (this.media) {
      // A late offer's answer: the ACK cannot be refused, so a failure only loses the relay.
      try {
        this.media.request(ack);
      } catch (err) {
        this.log.warn(
          { event: 'media.error', callId: req.callId, error: (err as Error).message },
          `media relay: ACK of ${req.callId} forwarded unchanged: ${(err as Error).message}`,
        );
      }
    }
    // Prepared once: the call log keeps the bytes that go.
    const prepared = this.layer.prepareStateless(ack, next.destination);
    this.calls.observeAck(req, inbound, ack, next.destination, prepared.buffer);
    const opts = next.connectionId !== undefined ? { connectionId: next.connectionId } : {};
    this.layer.transport.sendPreparedTo(prepared, opts, UNHEARD);
  }

  /** A 2xx retransmitted after the client transaction ended: passed upstream statelessly (§16.7). */
  private onStrayResponse(res: SipResponse, inbound?: InboundMessage): void {
    if (res.viaCount < 2 || !this.isOurVia(res.topVia)) return;
    const out = res.clone();
    out.removeFirst('Via');
    const send = () => {
      if (this.media) this.relayResponse(out);
      this.layer.sendStateless(out).catch(() => {});
    };
    if (inbound && out.cseq.method === 'INVITE' && out.status >= 200 && out.status < 300)
      void this.adoptAnswer(out, inbound).then(send, send);
    else send();
  }

  /**
   * A 2xx to an INVITE that this process never forwarded: one a previous process forwarded
   * before it died (the callee retransmits its 2xx until the ACK). If our Record-Route in it is
   * genuine, the dialog is taken over (so its ACK and BYE are routed) and the answered call gets
   * its CDR before the 2xx goes on.
   */
  private async adoptAnswer(res: SipResponse, inbound: InboundMessage): Promise<void> {
    const top = res.via[0];
    const caller = top ? responseDestination(top) : undefined;
    if (!caller) return;
    const dialog = this.dialogs.adopt(res, caller, {
      endpoint: inbound.source,
      ...(inbound.connectionId !== undefined ? { connectionId: inbound.connectionId } : {}),
    });
    if (dialog) await this.calls.adoptAnswer(res, dialog);
  }

  // ---- media relay -----------------------------------------------------------------------

  /**
   * Points the SDP of a request going downstream at the relay. False after having answered it:
   * 503 when the relay has no ports left, 488 when the body is not SDP.
   */
  private relayRequest(template: SipRequest, req: SipRequest, tx: ServerTransaction): boolean {
    try {
      this.media!.request(template);
      return true;
    } catch (err) {
      let res: SipResponse;
      if (err instanceof MediaRelayError) {
        res = createResponse(req, 503, 'Service Unavailable (media relay: no free ports)');
        res.set('Retry-After', '5');
        this.log.warn(
          { event: 'media.error', callId: req.callId, error: err.message },
          `media relay: ${req.method} ${req.callId} refused: ${err.message}`,
        );
      } else if (err instanceof SdpParseError) {
        res = createResponse(req, 488, `Not Acceptable Here (SDP: ${err.message})`.slice(0, 150));
      } else throw err;
      this.respond(tx, res, 'media-unavailable'); // the attempt's CDR is completed there
      return false;
    }
  }

  /** relayResponse for branch sets, made once (not a closure over a forward()'s scope). */
  private readonly relayUpstream = (res: SipResponse): void => this.relayResponse(res);

  /** Points the SDP of an 18x/2xx going upstream at the relay; it goes unchanged on failure. */
  private relayResponse(res: SipResponse): void {
    try {
      this.media!.response(res);
    } catch (err) {
      this.log.warn(
        { event: 'media.error', callId: res.callId, error: (err as Error).message },
        `media relay: ${res.status} of ${res.callId} forwarded unchanged: ${(err as Error).message}`,
      );
    }
  }

  // ---- who we are (src/server/local-identity.ts) --------------------------------------------

  private isOurHost(host: string): boolean {
    return this.identity.isOurHost(host);
  }

  private isUs(uri: SipUri): boolean {
    return this.identity.isUs(uri);
  }

  private isOurVia(via: { host: string; port?: number; transport: string }): boolean {
    return this.identity.isOurVia(via);
  }

  private isLoop(req: SipRequest): boolean {
    return this.identity.isLoop(req);
  }

  describe(): string {
    return this.identity.listeners.map(formatEndpoint).join(', ');
  }
}

const CREATING = 1;
const REFRESH = 2;
const FROM_CALLER = 4;

/**
 * See CallServer.branchObserver: tells the dialogs of answers, and the call log of everything.
 * It names its call by Call-ID and tells the log itself, as the log's own handle would: a
 * finished set keeps its observer up to 64*T1, and a handle kept beside it would be one more
 * object per call held that long.
 */
class DialogObserver implements BranchObserver {
  constructor(
    private readonly dialogs: ProxyDialogs,
    /** CREATING (the request creates a dialog), REFRESH (a target refresh), FROM_CALLER. */
    private readonly flags: number,
    private readonly calls: CallLog,
    /** The call the log keeps, if it keeps one. */
    private readonly callId: string | undefined,
    private readonly local: Endpoint,
  ) {}

  onMessage(
    direction: 'downstream' | 'from-downstream' | 'upstream',
    message: SipRequest | SipResponse,
    peer: Endpoint,
    target?: ForwardTarget,
    sent?: Buffer,
  ): void {
    if (direction === 'from-downstream' && !('method' in message)) {
      const flags = this.flags;
      if (flags & CREATING) this.dialogs.response(message, peer, target?.connectionId);
      else if (flags & REFRESH && message.status >= 200 && message.status < 300)
        this.dialogs.refresh(message, (flags & FROM_CALLER) !== 0);
    }
    if (this.callId !== undefined)
      this.calls.handleMessage(this.callId, direction, message, peer, this.local, sent);
  }
}
