// The call server's HTTP API on 127.0.0.1 (JSON), its Prometheus metrics and the live console.
//   GET /                    the live console (web/, built by `npm run build:web`), its /assets/*
//   GET /api/events          server-sent events for the console (live-feed.ts, console-model.ts)
//   GET /api/registrations   live bindings
//   GET /api/calls           active and recent calls, each with its messages (enough for a ladder)
//   GET /api/calls/{id}      one of them; /api/calls/{id}/pcap its capture (pcapng);
//                            /api/calls/{id}/events its messages as they come (SSE)
//   GET /api/cdrs            call detail records, newest first; ?number= &user= &status= (486,
//                            4xx) &cause= &trunk= &since= &until= (ms or ISO 8601) &limit=
//                            &format=csv
//   GET /api/bans            sources banned now: address, reason, attacked user, until, drops
//   DELETE /api/bans/{addr}  lifts a ban (an action: needs the token, see below)
//   GET /api/trunks          trunks: their peers' last outcomes (failover), outbound registration
//   GET /api/media           media relay sessions in progress, per stream and direction
//   GET /metrics             Prometheus text format
//
// Who may ask (checked before anything else, in this order):
//   Host    the Host header must name this API: localhost, an IP literal, the address it listens
//           on, or one of `http.hosts`. Anything else gets 421: a web page whose name an attacker
//           re-points at 127.0.0.1 (DNS rebinding) carries the attacker's name in Host, and so is
//           refused. An IP literal cannot be rebound, hence allowed.
//   token   with `http.token` set, every request carries `Authorization: Bearer <token>`, else
//           401. The API listens beyond loopback (any address outside 127.0.0.0/8 and ::1;
//           0.0.0.0 and :: included) only with a token: `listen` refuses otherwise.
//           With `http.readWithoutToken`, GET requests need no token (a read-only console for a
//           team); actions still do.
//   actions  (DELETE, POST) need the token in the Authorization header, always: with no token
//           configured there are none (403). A browser sends that header cross-origin only after
//           a CORS preflight this API never grants, so another site cannot act through a
//           logged-in operator's browser.
//   The console's own files (/, /assets/*) hold no data: they load without the token, and the
//   page asks for it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CallServer } from './call-server.ts';
import type { Stores } from '../store/open-stores.ts';
import type { BindingRecord, CdrRecord } from '../store/store.ts';
import type { Binding } from '../store/stores.ts';
import { formatEndpoint } from '../transport/index.ts';
import type { SecurityCounters } from './metrics.ts';
import type { Ban } from './ban-list.ts';
import type { CallCapture } from './call-capture.ts';
import {
  cdrCsv,
  cdrMatches,
  summarize,
  type CallDetail,
  type CdrQuery,
  type MetricsSample,
  type TrunkState,
} from './console-model.ts';
import { LiveFeed } from './live-feed.ts';
import { memoryTargetStats } from './memory-target.ts';

/** Where `npm run build:web` puts the console (web/vite.config.ts): dist/web beside src/ or dist/. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));
const CONSOLE_DIR_BUILT = fileURLToPath(new URL('../web/', import.meta.url));

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/** The console's pages: its own scripts and styles only, no framing (clickjacking of unban). */
const CONSOLE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Registrations listed by /api/registrations and the console at most. */
const REGISTRATIONS_LISTED = 10_000;

/** A binding as /api/registrations and the console show it. */
function bindingView(b: Binding): BindingRecord {
  return {
    aor: b.aor,
    contact: b.contact,
    target: formatEndpoint(b.target),
    q: b.q,
    expiresAt: b.expiresAt,
    callId: b.callId,
    cseq: b.cseq,
    ...(b.userAgent !== undefined ? { userAgent: b.userAgent } : {}),
    ...(b.flow.connectionId !== undefined ? { connectionId: b.flow.connectionId } : {}),
    node: b.flow.node,
  };
}

/** CDRs searched: the newest this many rows (the store lists newest first). */
const CDR_SEARCH_WINDOW = 10_000;

/** Who may use the API (config `http`). */
export interface HttpAccess {
  /** Required as `Authorization: Bearer <token>` on every request when set. */
  token?: string;
  /** Host names allowed besides localhost and IP literals; `.example.com` = it and below. */
  hosts?: readonly string[];
  /** GET requests (the console, read only) need no token; actions still do. */
  readWithoutToken?: boolean;
}

/**
 * Whether an address to listen on stays on this machine: 127.0.0.0/8, ::1 (also as
 * ::ffff:127.x.y.z) and the name localhost. Wildcards (0.0.0.0, ::) and every other address or
 * name listen beyond loopback.
 */
export function isLoopbackAddress(address: string): boolean {
  let a = address.trim().toLowerCase();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (a === 'localhost') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) a = mapped[1]!;
  if (isIP(a) === 4) return a.startsWith('127.');
  if (isIP(a) === 6) return a === '::1' || a === '0:0:0:0:0:0:0:1';
  return false;
}

/** The host name of a Host header (lower case, IPv6 without brackets), or undefined if malformed. */
export function hostHeaderName(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  let name: string;
  let rest: string;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    name = h.slice(1, end);
    rest = h.slice(end + 1);
    if (isIP(name) !== 6) return undefined;
  } else {
    const colon = h.indexOf(':');
    name = colon < 0 ? h : h.slice(0, colon);
    rest = colon < 0 ? '' : h.slice(colon);
  }
  if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
  if (name.endsWith('.')) name = name.slice(0, -1); // the root label: "localhost." = "localhost"
  return name || undefined;
}

export class HttpApi {
  private server?: Server;
  private readonly tokenDigest?: Buffer;
  private readonly hosts: string[];
  private boundAddress = '';
  /** The console's live feed (GET /api/events): the call log's tap hands it calls and messages. */
  readonly feed: LiveFeed;
  private readonly consoleDir: string;

  constructor(
    private readonly callServer: CallServer,
    private readonly stores: Stores,
    private readonly extra: {
      bans?: () => Ban[];
      /** Lifts a ban (on every node); true when there was one. */
      unban?: (address: string) => boolean | Promise<boolean>;
      security?: () => SecurityCounters;
      access?: HttpAccess;
      /** The per-call capture ring, for /api/calls/{id}/pcap. */
      capture?: CallCapture;
      /** The built console (default: dist/web of this checkout or package). */
      consoleDir?: string;
    } = {},
  ) {
    const token = extra.access?.token;
    if (token !== undefined) this.tokenDigest = digest(token);
    this.hosts = (extra.access?.hosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, ''));
    this.consoleDir =
      extra.consoleDir ?? (existsSync(CONSOLE_DIR_BUILT) ? CONSOLE_DIR_BUILT : CONSOLE_DIR);
    this.feed = new LiveFeed({
      calls: () => this.callServer.calls.list(),
      hasCapture: (id) => this.extra.capture?.has(id) ?? false,
      bindings: () => this.registrations,
      bans: () => this.extra.bans?.() ?? [],
      trunks: () => this.trunks(),
      media: () => this.callServer.media?.relay.allStats() ?? [],
      metrics: () => this.metricsSample(),
    });
  }

  /** Whether requests must carry the bearer token. */
  get tokenRequired(): boolean {
    return this.tokenDigest !== undefined;
  }

  /** Listens; refuses an address beyond loopback without a token (it would be an open door). */
  async listen(address: string, port: number): Promise<AddressInfo> {
    if (!isLoopbackAddress(address) && !this.tokenRequired) {
      throw new Error(
        `the HTTP API on ${address} would listen beyond loopback without a token: set http.token (or listen on 127.0.0.1)`,
      );
    }
    this.boundAddress = address.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(503, { 'content-type': 'text/plain' });
        res.end(`store unavailable: ${err.message}\n`);
      });
    });
    // The console's registrations and the metrics' count, read from the store once a second.
    await this.refreshRegistrations().catch(() => {});
    this.refresh = setInterval(() => void this.refreshRegistrations().catch(() => {}), 1000);
    this.refresh.unref();
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  /** The live bindings as the API shows them, newest read (see refreshRegistrations). */
  private registrations: BindingRecord[] = [];
  private refresh?: NodeJS.Timeout;

  private async refreshRegistrations(): Promise<BindingRecord[]> {
    const all = await this.stores.locations.all(Date.now(), REGISTRATIONS_LISTED);
    this.registrations = all.map(bindingView);
    return this.registrations;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string | Buffer, headers = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const action = req.method !== 'GET' && req.method !== 'HEAD';
    const asset =
      !action && (path === '/' || path === '/index.html' || path.startsWith('/assets/'));
    const refusal = this.refuse(req, { action, asset });
    if (refusal) {
      return send(refusal.status, 'text/plain', `${refusal.reason}\n`, refusal.headers);
    }
    const json = (value: unknown) => send(200, 'application/json', JSON.stringify(value, null, 2));
    if (asset) return this.serveConsole(path, res);
    if (req.method === 'DELETE') {
      const ban = /^\/api\/bans\/([^/]+)$/.exec(path);
      if (ban && this.extra.unban) {
        const address = decodeURIComponent(ban[1]!);
        return (await this.extra.unban(address))
          ? json({ unbanned: address })
          : send(404, 'text/plain', `no ban on ${address.slice(0, 100)}\n`);
      }
      return send(404, 'text/plain', 'not found: DELETE /api/bans/{address}\n');
    }
    if (action) return send(405, 'text/plain', 'only GET, and DELETE /api/bans/{address}\n');
    const call = /^\/api\/calls\/([^/]+)(\/pcap|\/events)?$/.exec(path);
    if (call) {
      const id = decodeURIComponent(call[1]!);
      if (call[2] === '/pcap') {
        const file = this.extra.capture?.pcapng(id);
        if (!file) return send(404, 'text/plain', `no capture of call ${id.slice(0, 200)}\n`);
        const name = `call-${id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)}.pcapng`;
        return send(200, 'application/vnd.tcpdump.pcap', file, {
          'content-disposition': `attachment; filename="${name}"`,
        });
      }
      const found = this.callServer.calls.list().find((c) => c.callId === id);
      if (!found) return send(404, 'text/plain', `no call ${id.slice(0, 200)}\n`);
      if (call[2] === '/events') return this.feed.subscribeCall(res, found);
      const detail: CallDetail = {
        ...summarize(found, this.extra.capture?.has(id) ?? false),
        messages: found.messages,
      };
      return json(detail);
    }
    switch (path) {
      case '/api/events':
        return this.feed.subscribe(res, this.tokenDigest !== undefined && this.tokenValid(req));
      case '/api/registrations':
        return json(await this.refreshRegistrations());
      case '/api/calls':
        return json(this.callServer.calls.list());
      case '/api/cdrs': {
        const q = cdrQuery(url.searchParams);
        const limit = q.limit ?? 100;
        const filtered = Object.keys(q).some((k) => k !== 'limit');
        const rows: CdrRecord[] = filtered
          ? (await this.stores.cdrs.listCdrs({ limit: CDR_SEARCH_WINDOW }))
              .filter((r) => cdrMatches(r, q))
              .slice(0, limit)
          : await this.stores.cdrs.listCdrs({ limit });
        if (url.searchParams.get('format') === 'csv') {
          return send(200, 'text/csv; charset=utf-8', cdrCsv(rows), {
            'content-disposition': 'attachment; filename="cdrs.csv"',
          });
        }
        return json(rows);
      }
      case '/api/media':
        return json(this.callServer.media?.relay.allStats() ?? []);
      case '/api/bans':
        return json(this.extra.bans?.() ?? []);
      case '/api/trunks':
        return json(this.trunks());
      case '/metrics':
        return send(
          200,
          'text/plain; version=0.0.4',
          this.callServer.metrics.render({
            activeCalls: this.callServer.activeCalls,
            bindings: (await this.refreshRegistrations()).length,
            bans: this.extra.bans?.().length,
            security: this.extra.security?.(),
            relay: this.relayCounters(),
            memory: memoryTargetStats(),
            overload: this.callServer.overload.stats,
          }),
        );
      default:
        return send(
          404,
          'text/plain',
          'not found: try /, /api/registrations, /api/calls, /api/cdrs, /api/media, /api/bans, /api/trunks, /metrics\n',
        );
    }
  }

  /** The console's files: index.html at /, the bundle under /assets/ (names only, no paths). */
  private serveConsole(path: string, res: ServerResponse): void {
    const name = path === '/' ? 'index.html' : path.slice(1);
    if (!/^(index\.html|assets\/[A-Za-z0-9_.-]+)$/.test(name) || name.includes('..')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(join(this.consoleDir, name));
    } catch {
      res.writeHead(name === 'index.html' ? 503 : 404, { 'content-type': 'text/plain' });
      res.end(
        name === 'index.html'
          ? 'the console is not built: run `npm run build:web` (the API answers under /api/)\n'
          : 'not found\n',
      );
      return;
    }
    res.writeHead(200, {
      'content-type': STATIC_TYPES[extname(name)] ?? 'application/octet-stream',
      // Bundle names carry a content hash: they never change; the page itself is always asked for.
      'cache-control': name === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
      ...CONSOLE_HEADERS,
    });
    res.end(body);
  }

  private trunks(): TrunkState[] {
    return this.callServer.trunkPeers().map(({ name, peers }) => {
      const r = this.callServer.trunkRegistrations.get(name);
      return {
        name,
        peers,
        ...(r
          ? { registration: { state: r.state, lastStatus: r.lastStatus, granted: r.granted } }
          : {}),
      };
    });
  }

  private metricsSample(): MetricsSample {
    const m = this.callServer.metrics;
    return {
      ts: Date.now(),
      activeCalls: this.callServer.activeCalls,
      registrations: this.registrations.length,
      invites: m.requests.get('INVITE') ?? 0,
      responses: Object.fromEntries(m.responses),
    };
  }

  /** Whether the request carries the configured token. */
  private tokenValid(req: IncomingMessage): boolean {
    if (!this.tokenDigest) return false;
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(req.headers.authorization ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), this.tokenDigest);
  }

  /**
   * Why a request may not be answered (wrong Host, missing or wrong token, an action without a
   * token configured), or undefined.
   */
  private refuse(
    req: IncomingMessage,
    kind: { action: boolean; asset: boolean } = { action: false, asset: false },
  ): { status: number; reason: string; headers?: Record<string, string> } | undefined {
    const host = req.headers.host;
    const name = host === undefined ? undefined : hostHeaderName(host);
    if (name === undefined || !this.hostAllowed(name)) {
      return {
        status: 421,
        reason:
          host === undefined
            ? 'Misdirected Request: no Host header'
            : `Misdirected Request: Host "${host.slice(0, 100)}" is not a name of this API (localhost, an IP address, or one of http.hosts)`,
      };
    }
    if (!this.tokenDigest) {
      if (!kind.action) return undefined;
      return {
        status: 403,
        reason: 'Forbidden: actions need http.token set in the config (and sent as a Bearer token)',
      };
    }
    if (kind.asset) return undefined;
    if (!kind.action && this.extra.access?.readWithoutToken && !req.headers.authorization)
      return undefined;
    const challenge = 'Bearer realm="trapezoid"';
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(req.headers.authorization ?? '');
    if (!m) {
      return {
        status: 401,
        reason: 'Unauthorized: send Authorization: Bearer <http.token>',
        headers: { 'www-authenticate': challenge },
      };
    }
    if (!timingSafeEqual(digest(m[1]!), this.tokenDigest)) {
      return {
        status: 401,
        reason: 'Unauthorized: wrong token',
        headers: { 'www-authenticate': `${challenge}, error="invalid_token"` },
      };
    }
    return undefined;
  }

  private hostAllowed(name: string): boolean {
    if (name === 'localhost' || isIP(name) !== 0 || name === this.boundAddress) return true;
    return this.hosts.some((h) =>
      h.startsWith('.') ? name === h.slice(1) || name.endsWith(h) : name === h,
    );
  }

  private relayCounters() {
    const relay = this.callServer.media?.relay;
    if (!relay) return undefined;
    const t = relay.totals();
    return {
      sessions: relay.sessionCount,
      packets: t.packets,
      rtcpPackets: t.rtcpPackets,
      dropped: t.dropped,
      invalid: t.invalid,
      portPairsFree: relay.portPairsFree,
      bindFailures: relay.bindFailures,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.refresh);
    this.feed.close();
    const s = this.server;
    if (!s) return;
    // close() waits for every connection to end: a browser's keep-alive connection or an event
    // stream would hold it open, so they are closed at once.
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }
}

/** A time given as milliseconds since the epoch or ISO 8601 text, or undefined. */
function timeParam(v: string | null): number | undefined {
  if (!v) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return Number.isFinite(n) ? n : undefined;
}

/** The CDR search of GET /api/cdrs from its query string (empty values ignored). */
export function cdrQuery(p: URLSearchParams): CdrQuery {
  const q: CdrQuery = {};
  const text = (k: 'number' | 'user' | 'status' | 'cause' | 'trunk') => {
    const v = p.get(k)?.trim();
    if (v) q[k] = v.slice(0, 200);
  };
  text('number');
  text('user');
  text('status');
  text('cause');
  text('trunk');
  const since = timeParam(p.get('since'));
  const until = timeParam(p.get('until'));
  if (since !== undefined) q.since = since;
  if (until !== undefined) q.until = until;
  const limit = p.get('limit');
  if (limit !== null) q.limit = Math.min(10_000, Math.max(1, Number(limit) || 100));
  return q;
}

/** SHA-256 of a token: equal-length buffers for timingSafeEqual, whatever the lengths sent. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
