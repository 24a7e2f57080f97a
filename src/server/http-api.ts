// The call server's HTTP API on 127.0.0.1 (JSON) and its Prometheus metrics.
//   GET /api/registrations   live bindings
//   GET /api/calls           active and recent calls, each with its messages (enough for a ladder)
//   GET /api/cdrs[?limit=N]  call detail records, newest first
//   GET /api/bans            sources banned now: address, reason, attacked user, until, drops
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
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { CallServer } from './call-server.ts';
import type { Store } from '../store/store.ts';
import type { SecurityCounters } from './metrics.ts';

/** Who may use the API (config `http`). */
export interface HttpAccess {
  /** Required as `Authorization: Bearer <token>` on every request when set. */
  token?: string;
  /** Host names allowed besides localhost and IP literals; `.example.com` = it and below. */
  hosts?: readonly string[];
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

  constructor(
    private readonly callServer: CallServer,
    private readonly store: Store,
    private readonly extra: {
      bans?: () => unknown[];
      security?: () => SecurityCounters;
      access?: HttpAccess;
    } = {},
  ) {
    const token = extra.access?.token;
    if (token !== undefined) this.tokenDigest = digest(token);
    this.hosts = (extra.access?.hosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, ''));
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
      const send = (status: number, type: string, body: string, headers = {}) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
        res.end(body);
      };
      const refusal = this.refuse(req);
      if (refusal) {
        return send(refusal.status, 'text/plain', `${refusal.reason}\n`, refusal.headers);
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const json = (value: unknown) =>
        send(200, 'application/json', JSON.stringify(value, null, 2));
      if (req.method !== 'GET') return send(405, 'text/plain', 'only GET\n');
      switch (url.pathname) {
        case '/api/registrations':
          return json(this.store.allBindings(Date.now()));
        case '/api/calls':
          return json(this.callServer.calls.list());
        case '/api/cdrs': {
          const limit = Math.min(
            10_000,
            Math.max(1, Number(url.searchParams.get('limit') ?? 100) || 100),
          );
          return json(this.store.listCdrs({ limit }));
        }
        case '/api/media':
          return json(this.callServer.media?.relay.allStats() ?? []);
        case '/api/bans':
          return json(this.extra.bans?.() ?? []);
        case '/metrics':
          return send(
            200,
            'text/plain; version=0.0.4',
            this.callServer.metrics.render({
              activeCalls: this.callServer.activeCalls,
              bindings: this.store.allBindings(Date.now()).length,
              bans: this.extra.bans?.().length,
              security: this.extra.security?.(),
              relay: this.relayCounters(),
            }),
          );
        default:
          return send(
            404,
            'text/plain',
            'not found: try /api/registrations, /api/calls, /api/cdrs, /api/media, /api/bans, /metrics\n',
          );
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  /** Why a request may not be answered (wrong Host, missing or wrong token), or undefined. */
  private refuse(
    req: IncomingMessage,
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
    if (!this.tokenDigest) return undefined;
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
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections?.();
  }
}

/** SHA-256 of a token: equal-length buffers for timingSafeEqual, whatever the lengths sent. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
