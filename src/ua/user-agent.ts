// The user agent: a promise-based front over the UAC and UAS cores (RFC 3261 §8), dialogs and
// registration. It owns a TransportLayer and a TransactionLayer, answers OPTIONS, routes
// in-dialog requests to their call, and sends every request through the outbound proxy when
// one is configured (as a loose route, §8.1.2).
//
//   const ua = new UserAgent({ uri: 'sip:1000@example.com', password: 'secret', server: 'udp:127.0.0.1:5060' });
//   await ua.start();
//   await ua.register();
//   const call = await ua.invite('sip:1001@example.com');   // rejects with CallFailedError
//   call.on('ended', (end) => console.log(end.status, end.by));
//   await call.bye();
//   ua.on('invite', (incoming) => incoming.accept());
import { EventEmitter } from 'node:events';
import {
  createResponse,
  newCallId,
  newTag,
  parseUri,
  SipParseError,
  SipRequest,
  type SipResponse,
  type SipUri,
} from '../sip/index.ts';
import {
  TransactionLayer,
  type ServerTransaction,
  type TransactionTimers,
} from '../transaction/index.ts';
import {
  defaultPort,
  hostForHeader,
  isSecureProtocol,
  PROTOCOL_NAMES,
  safeReason,
  TransportLayer,
  uriScheme,
  uriTransportParam,
  type Endpoint,
  type InboundMessage,
  type TransportOptions,
} from '../transport/index.ts';
import { Call, type CallContext, type SessionBody } from './call.ts';
import { DigestClient } from './digest-client.ts';
import { IncomingCall } from './incoming-call.ts';
import { Registration, type RegistrationContext } from './registration.ts';
import { ServerLocator, type TransportName } from './server-locator.ts';
import { UacCore, type UacResult } from './uac-core.ts';

export interface UserAgentOptions {
  /** Our address-of-record, e.g. 'sip:1000@example.com'. */
  uri: string;
  /** Digest user name (default: the user part of `uri`) and password. */
  username?: string;
  password?: string;
  displayName?: string;
  /**
   * Outbound proxy / registrar every request goes through: 'udp:127.0.0.1:5060', 'tcp:host:port',
   * 'host[:port]' or a SIP URI. None: requests go where their URI says (RFC 3263).
   */
  server?: string;
  /** Transport for the server and for URIs that name none; default the server's, else UDP. */
  transport?: TransportName;
  /** Where to listen: 'udp:127.0.0.1:5060' (port 0 = any). Default 127.0.0.1, any port. */
  listen?: string;
  /** Requested registration expiry in seconds (default 600). */
  registerExpires?: number;
  /** DNS servers for RFC 3263 lookups ('ip' or 'ip:port'); the system's by default. */
  dnsServers?: string[];
  /** User-Agent header (default 'trapezoid'). */
  userAgent?: string;
  /** Transaction timers (T1, T2, ...) in ms. */
  timers?: Partial<TransactionTimers>;
  /** Key and certificate (PEM) for a 'tls:' or 'wss:' `listen` address. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Outbound TLS / WSS: the CA to trust (e.g. a self-signed server's certificate), or no checks. */
  tlsClient?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
  /** Limits and tuning of the transport layer (message size, connections, UDP buffers...). */
  transportOptions?: TransportOptions;
}

export interface InviteOptions {
  /** Session description to offer (SDP). */
  body?: Buffer | string;
  contentType?: string;
  headers?: [string, string][];
  /** Called with the call before the INVITE leaves: attach listeners, keep it to cancel. */
  onCall?(call: Call): void;
}

export interface UserAgentEvents {
  invite: [IncomingCall];
  registered: [{ expires: number; response: SipResponse }];
  unregistered: [SipResponse];
  registrationFailed: [SipResponse];
  /** Transport-level trouble (never fatal). */
  error: [Error];
}

/** Methods we answer (Allow, §20.5). */
export const ALLOWED_METHODS = [
  'INVITE',
  'ACK',
  'CANCEL',
  'BYE',
  'OPTIONS',
  'UPDATE',
  'INFO',
  'NOTIFY',
];
/** Option tags we support (Require / Supported, §8.2.2.3). */
const SUPPORTED_OPTIONS: string[] = [];

/** 'udp:' ... 'wss:': a transport prefix of the table, in any case. */
const TRANSPORT_PREFIX = new RegExp(`^(${PROTOCOL_NAMES.join('|')}):`, 'i');
const ENDPOINT = new RegExp(
  `^(?:(${PROTOCOL_NAMES.join('|')}):)?(\\[[^\\]]+\\]|[^:]+)(?::(\\d+))?$`,
  'i',
);

/** 'udp:127.0.0.1:5060', 'tcp:[::1]:0', '127.0.0.1:5070', 'udp:0.0.0.0' -> an Endpoint. */
export function parseEndpoint(text: string, fallback: TransportName = 'udp'): Endpoint {
  const m = ENDPOINT.exec(text.trim());
  if (!m) {
    throw new Error(
      `not an endpoint: ${text} (expected [${PROTOCOL_NAMES.join('|')}:]HOST[:PORT])`,
    );
  }
  const protocol = (m[1]?.toLowerCase() as TransportName | undefined) ?? fallback;
  const address = m[2].replace(/^\[|\]$/g, '');
  const port = m[3] !== undefined ? Number(m[3]) : defaultPort(protocol);
  return { protocol, address, port };
}

/** The outbound proxy as a loose-route URI: 'sip:host:port;transport=tcp;lr'. */
function proxyUri(server: string, transport: TransportName | undefined): string {
  if (/^sips?:/i.test(server)) {
    const uri = parseUri(server);
    const params = Object.entries(uri.params)
      .filter(([k]) => k !== 'lr')
      .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`))
      .join('');
    const t =
      uri.params.transport === undefined && transport && transport !== 'udp'
        ? `;transport=${transport}`
        : '';
    return `${uri.scheme}:${hostForHeader(uri.host.replace(/^\[|\]$/g, ''))}${uri.port ? `:${uri.port}` : ''}${params}${t};lr`;
  }
  const explicit = TRANSPORT_PREFIX.test(server);
  const ep = parseEndpoint(server, transport ?? 'udp');
  const hasPort = /:\d+$/.test(server.trim());
  const scheme = uriScheme(ep.protocol);
  const tparam =
    ep.protocol === 'udp' && !explicit && !transport
      ? ''
      : `;transport=${uriTransportParam(ep.protocol)}`;
  return `${scheme}:${hostForHeader(ep.address)}${hasPort ? `:${ep.port}` : ''}${tparam};lr`;
}

/** Why a request's Contact cannot serve as a remote target (a 400 reason), or undefined. */
function contactProblem(req: SipRequest, required: boolean): string | undefined {
  if (!req.has('Contact')) return required ? 'Missing Contact' : undefined;
  try {
    const contacts = req.contact;
    if (contacts.length !== 1 || contacts[0].star) return 'Contact must hold exactly one URI';
    const scheme = contacts[0].uri.scheme.toLowerCase();
    if (scheme !== 'sip' && scheme !== 'sips') return 'Contact must be a SIP or SIPS URI';
  } catch (err) {
    return err instanceof SipParseError ? safeReason(`Bad Contact: ${err.reason}`) : 'Bad Contact';
  }
  return undefined;
}

export class UserAgent extends EventEmitter<UserAgentEvents> {
  readonly aor: SipUri;
  readonly transport: TransportLayer;
  transactions: TransactionLayer | undefined;
  private readonly config: UserAgentOptions;
  private readonly digest: DigestClient | undefined;
  private readonly locator: ServerLocator;
  private readonly proxy: string | undefined;
  private readonly defaultTransport: TransportName;
  private uac: UacCore | undefined;
  private registration: Registration | undefined;
  private readonly calls = new Map<string, Call>();
  private readonly incomingByTx = new WeakMap<ServerTransaction, IncomingCall>();
  private readonly ctx: CallContext & RegistrationContext;
  private started = false;
  /** Contact header value per transport, once started. */
  private readonly contacts = new Map<string, string>();

  constructor(options: UserAgentOptions) {
    super();
    this.config = options;
    this.aor = parseUri(options.uri);
    const username = options.username ?? this.aor.user ?? '';
    this.digest =
      options.password !== undefined ? new DigestClient(username, options.password) : undefined;
    const serverTransport = options.server ? TRANSPORT_PREFIX.exec(options.server)?.[1] : undefined;
    this.defaultTransport =
      options.transport ?? (serverTransport?.toLowerCase() as TransportName | undefined) ?? 'udp';
    this.proxy = options.server ? proxyUri(options.server, options.transport) : undefined;
    this.locator = new ServerLocator({ servers: options.dnsServers });
    this.transport = new TransportLayer({
      // Every Via this agent writes comes from viaFor(): responses naming another are not ours.
      checkSentBy: true,
      ...options.transportOptions,
      ...(options.tlsClient ? { tlsClient: options.tlsClient } : {}),
    });
    this.transport.onError((err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    const uac = () => this.requireStarted();
    const transactions = () => {
      if (!this.transactions) throw new Error('user agent not started');
      return this.transactions;
    };
    this.ctx = {
      get uac() {
        return uac();
      },
      get transactions() {
        return transactions();
      },
      transport: this.transport,
      t1: options.timers?.T1 ?? 500,
      t2: options.timers?.T2 ?? 4000,
      contact: (protocol) => this.contact(protocol),
      commonHeaders: () => [
        ['User-Agent', options.userAgent ?? 'trapezoid'],
        ['Allow', ALLOWED_METHODS.join(', ')],
      ],
      proxyRoute: () => (this.proxy ? [`<${this.proxy}>`] : []),
      track: (call, localTag) => this.calls.set(`${call.callId}\u0000${localTag}`, call),
      untrack: (call, localTag) => {
        const key = `${call.callId}\u0000${localTag}`;
        if (this.calls.get(key) === call) this.calls.delete(key);
      },
    };
  }

  /** Endpoints we listen on (after start). */
  get listening(): readonly Endpoint[] {
    return this.transport.listeners;
  }

  /** Calls in progress. */
  get activeCalls(): Call[] {
    return [...this.calls.values()];
  }

  /**
   * Opens the sockets: UDP and TCP on the same port when it is free (the `listen` port for those
   * two), and for a 'tls:', 'ws:' or 'wss:' `listen` address that listener too (tls and wss need
   * `options.tls`; without it a TLS/WSS user agent is a client only, with port 0).
   */
  async start(): Promise<void> {
    if (this.started) return;
    const listen = parseEndpoint(
      this.config.listen ?? `${this.defaultTransport}:127.0.0.1:0`,
      this.defaultTransport,
    );
    const secure = isSecureProtocol(listen.protocol);
    if (secure && !this.config.tls && listen.port !== 0) {
      throw new Error(
        `listening on ${listen.protocol} needs a key and certificate (UserAgentOptions.tls)`,
      );
    }
    const plain = listen.protocol === 'udp' || listen.protocol === 'tcp';
    const first = await this.transport.listen({
      protocol: listen.protocol === 'tcp' ? 'tcp' : 'udp',
      address: listen.address,
      port: plain ? listen.port : 0,
    });
    const other = first.protocol === 'udp' ? 'tcp' : 'udp';
    try {
      await this.transport.listen({ protocol: other, address: listen.address, port: first.port });
    } catch {
      await this.transport.listen({ protocol: other, address: listen.address, port: 0 });
    }
    if (listen.protocol === 'ws' || (secure && this.config.tls)) {
      await this.transport.listen({
        protocol: listen.protocol,
        address: listen.address,
        port: listen.port,
        tls: this.config.tls,
      });
    }
    this.transactions = new TransactionLayer(this.transport, this.config.timers);
    this.uac = new UacCore({
      transactions: this.transactions,
      locator: this.locator,
      digest: this.digest,
      defaultTransport: this.defaultTransport,
    });
    this.transactions.onRequest((req, tx, inbound) => this.onRequest(req, tx, inbound));
    this.transactions.onStrayResponse((res) => this.onStrayResponse(res));
    this.started = true;
  }

  /** Ends calls without signalling, stops refreshing, closes every socket. */
  async stop(): Promise<void> {
    this.registration?.stop();
    for (const call of [...this.calls.values()]) call.abandon();
    this.transactions?.close();
    await this.transport.close();
    this.started = false;
    this.contacts.clear();
  }

  private requireStarted(): UacCore {
    if (!this.uac) throw new Error('user agent not started: call start() first');
    return this.uac;
  }

  /** Our Contact for a transport: <sip:user@host:port;transport=tcp>. */
  contact(protocol: Endpoint['protocol'] = this.defaultTransport): string {
    let value = this.contacts.get(protocol);
    if (value === undefined) {
      value = this.makeContact(protocol);
      // Listeners only change in start(): until then nothing is cached.
      if (this.started) this.contacts.set(protocol, value);
    }
    return value;
  }

  private makeContact(protocol: Endpoint['protocol']): string {
    const via = this.transport.viaFor(protocol);
    const user = this.aor.user ? `${this.aor.user}@` : '';
    const port = via.port ? `:${via.port}` : '';
    const t = protocol === 'udp' ? '' : `;transport=${uriTransportParam(protocol)}`;
    return `<${uriScheme(protocol)}:${user}${via.host}${port}${t}>`;
  }

  /** 'sip:1001@host', '1001' (in our domain) or 'host:port' -> a request URI. */
  targetUri(target: string): string {
    const text = target.trim();
    let uri: string;
    if (/^(sips?|tel):/i.test(text)) uri = text;
    else if (text.includes('@')) uri = `sip:${text}`;
    else
      uri = `sip:${text}@${hostForHeader(this.aor.host.replace(/^\[|\]$/g, ''))}${this.aor.port ? `:${this.aor.port}` : ''}`;
    // Refused here with the parser's reason rather than sent and failed as "no server found".
    parseUri(uri);
    return uri;
  }

  private fromHeader(tag: string): string {
    const name = this.config.displayName ? `"${this.config.displayName.replace(/"/g, '')}" ` : '';
    return `${name}<${this.config.uri}>;tag=${tag}`;
  }

  /** A request outside any dialog, with our From, a new Call-ID and the proxy route. */
  private outOfDialog(method: string, uri: string, extra: [string, string][] = []): SipRequest {
    const headers: [string, string][] = [
      ['Max-Forwards', '70'],
      ['From', this.fromHeader(newTag())],
      ['To', `<${uri}>`],
      ['Call-ID', newCallId()],
      ['CSeq', `1 ${method}`],
    ];
    for (const r of this.ctx.proxyRoute()) headers.push(['Route', r]);
    headers.push(...extra);
    return new SipRequest(method, uri, headers);
  }

  /**
   * Where a request to `target` would go first (§8.1.2, RFC 3263), in the order tried: the
   * outbound proxy's addresses when there is one, else the target's own. Without `target`, where
   * a REGISTER goes. For telling a user which server could not be reached and why.
   */
  async destinationsFor(target?: string): Promise<Endpoint[]> {
    const uac = this.requireStarted();
    const uri = target !== undefined ? this.targetUri(target) : this.registrarUri();
    return uac.destinations(this.outOfDialog('OPTIONS', uri));
  }

  /** The Request-URI of a REGISTER: our domain (§10.2). */
  private registrarUri(): string {
    return `${this.aor.scheme}:${hostForHeader(this.aor.host.replace(/^\[|\]$/g, ''))}${this.aor.port ? `:${this.aor.port}` : ''}`;
  }

  // ------------------------------------------------------------------ registration

  /** Registers our Contact with the registrar of our domain (through the proxy, if any). */
  async register(expires = this.config.registerExpires ?? 600): Promise<SipResponse> {
    this.requireStarted();
    if (!this.registration) {
      const domain = this.registrarUri();
      const aor = `${this.aor.scheme}:${this.aor.user ? `${this.aor.user}@` : ''}${domain.replace(/^sips?:/, '')}`;
      this.registration = new Registration(this.ctx, aor, domain, expires);
      this.registration.on('registered', (r) => this.emit('registered', r));
      this.registration.on('unregistered', (r) => this.emit('unregistered', r));
      this.registration.on('failed', (r) => this.emit('registrationFailed', r));
    }
    return this.registration.register();
  }

  /** Removes our binding (Expires: 0). */
  async unregister(): Promise<SipResponse | undefined> {
    return this.registration?.unregister();
  }

  get registered(): boolean {
    return this.registration?.registered ?? false;
  }

  // ------------------------------------------------------------------ requests

  /** Calls a target; resolves with the answered call, rejects with CallFailedError. */
  async invite(target: string, opts: InviteOptions = {}): Promise<Call> {
    const uac = this.requireStarted();
    const uri = this.targetUri(target);
    const invite = this.outOfDialog('INVITE', uri);
    const dest = (await uac.destinations(invite).catch(() => []))[0];
    invite.append('Contact', this.contact(dest?.protocol ?? this.defaultTransport));
    for (const [n, v] of this.ctx.commonHeaders()) invite.append(n, v);
    if (opts.headers) for (const [n, v] of opts.headers) invite.append(n, v);
    if (opts.body !== undefined) {
      invite.append('Content-Type', opts.contentType ?? 'application/sdp');
      invite.body = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    }
    const call = new Call(this.ctx, 'outgoing', invite.callId, invite.from.tag ?? '', uri);
    opts.onCall?.(call);
    return call.start(invite);
  }

  /** OPTIONS to a target (a ping); resolves with the final response whatever its status. */
  async options(target: string): Promise<SipResponse> {
    return (await this.request('OPTIONS', target)).response;
  }

  /** Any request outside a dialog (MESSAGE, OPTIONS, ...); challenges answered on the way. */
  async request(method: string, target: string, session?: SessionBody): Promise<UacResult> {
    const uac = this.requireStarted();
    const req = this.outOfDialog(method, this.targetUri(target), this.ctx.commonHeaders());
    if (session) {
      req.set('Content-Type', session.contentType ?? 'text/plain');
      req.body = Buffer.isBuffer(session.body) ? session.body : Buffer.from(session.body);
    }
    return uac.send(req);
  }

  // ------------------------------------------------------------------ UAS core

  private onRequest(
    req: SipRequest,
    tx: ServerTransaction | undefined,
    _inbound: InboundMessage,
  ): void {
    if (req.method === 'ACK') {
      const tag = req.to.tag;
      if (tag) this.calls.get(`${req.callId}\u0000${tag}`)?.receiveRequest(req, undefined);
      return;
    }
    if (!tx) return;
    // §8.2.2.3: extensions the caller requires that we do not support.
    if (req.method !== 'CANCEL') {
      const unsupported = req.require.filter((o) => !SUPPORTED_OPTIONS.includes(o.toLowerCase()));
      if (unsupported.length > 0) {
        const res = createResponse(req, 420);
        res.set('Unsupported', unsupported.join(', '));
        tx.respond(res);
        return;
      }
    }
    // §8.1.1.8: a request that can make a dialog carries exactly one SIP Contact; a target
    // refresh in a dialog may carry one. Checked here, before anything depends on it.
    if (req.method === 'INVITE' || req.method === 'UPDATE') {
      const problem = contactProblem(req, req.method === 'INVITE' && !req.to.tag);
      if (problem) {
        tx.respond(createResponse(req, 400, problem));
        return;
      }
    }
    const toTag = req.to.tag;
    if (toTag) {
      const call = this.calls.get(`${req.callId}\u0000${toTag}`);
      if (call) call.receiveRequest(req, tx);
      else tx.respond(createResponse(req, 481));
      return;
    }
    switch (req.method) {
      case 'INVITE': {
        // Found by a CANCEL until answered; then forgotten, so the call is not kept alive for as
        // long as its transaction lingers (Timer L) once it has ended.
        const call = new IncomingCall(this.ctx, req, tx, () => this.incomingByTx.delete(tx));
        this.incomingByTx.set(tx, call);
        if (this.listenerCount('invite') === 0) call.reject(480);
        else this.emit('invite', call);
        return;
      }
      case 'CANCEL': {
        const invite = tx.invite;
        tx.respond(createResponse(req, invite ? 200 : 481));
        if (invite) this.incomingByTx.get(invite)?.receiveCancel();
        return;
      }
      case 'OPTIONS': {
        const res = createResponse(req, 200, undefined, { toTag: newTag() });
        res.set('Allow', ALLOWED_METHODS.join(', '));
        res.set('Accept', 'application/sdp');
        res.set('User-Agent', this.config.userAgent ?? 'trapezoid');
        tx.respond(res);
        return;
      }
      case 'BYE':
        tx.respond(createResponse(req, 481));
        return;
      default: {
        const res = createResponse(req, 405);
        res.set('Allow', ALLOWED_METHODS.join(', '));
        tx.respond(res);
      }
    }
  }

  /** 2xx to an INVITE after its transaction ended: the call ACKs it again (§13.2.2.4). */
  private onStrayResponse(res: SipResponse): void {
    if (res.cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return;
    const call = this.calls.get(`${res.callId}\u0000${res.from.tag ?? ''}`);
    call?.receive2xx(res);
  }
}
