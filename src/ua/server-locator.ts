// Locating SIP servers (RFC 3263 §4): from a SIP or SIPS URI to an ordered list of
// (transport, address, port) to try.
//
//   numeric host            -> that address; port from the URI or the transport's default
//   explicit port           -> A/AAAA of the host, that port
//   transport= param        -> SRV _sip._<proto>.host (or _sips._tcp), else A/AAAA
//   otherwise               -> NAPTR host (SIP+D2U, SIP+D2T, SIPS+D2T, SIP+D2W, SIPS+D2W),
//                              each replacement's SRV, in NAPTR order/preference;
//                              no NAPTR: SRV for each transport we support; no SRV: A/AAAA
//
// SRV records are tried by priority, and within one priority in the weighted random order of
// RFC 2782. NAPTR, SRV, A and AAAA queries go to DNS through node:dns, so a test (or a user) can
// point them at any DNS server with `servers: ['127.0.0.1:5353']`. A host with no address
// records in DNS (or no DNS server to ask) is then looked up like any other program does it, with
// the system resolver (getaddrinfo: /etc/hosts, then DNS): `localhost`, a name in /etc/hosts.
// A DNS server that cannot be reached counts as one with no records, so the fallback still runs.
import { promises as dns, type NaptrRecord, type SrvRecord } from 'node:dns';
import { isIP } from 'node:net';
import {
  defaultPort,
  isSecureProtocol,
  PROTOCOL_NAMES,
  PROTOCOLS,
  protocolForNaptr,
  protocolForUri,
} from '../transport/index.ts';
import type { TransportProtocol } from '../transport/index.ts';

export { defaultPort };

/** A transport, as the transport layer's protocol table names it. */
export type TransportName = TransportProtocol;

export interface ServerTarget {
  transport: TransportName;
  /** IP address to send to (no brackets). */
  address: string;
  port: number;
  /** The host name the address came from (for TLS server name and logs). */
  host: string;
}

/** What the locator needs of a URI (a subset of the message layer's SipUri). */
export interface LocatableUri {
  scheme: string;
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

export interface ServerLocatorOptions {
  /** DNS servers ('ip' or 'ip:port'); the system's when absent. */
  servers?: string[];
  /** Transports this UA can use, most preferred first. */
  transports?: TransportName[];
  /** Per-query timeout in ms (default 2000) and tries (default 2). */
  timeout?: number;
  tries?: number;
  /** Random source in [0,1) for the SRV weight draw (tests make it fixed). */
  random?: () => number;
  /** Address lookup when DNS has no A/AAAA records: the system resolver (dns.lookup) by default. */
  lookup?: SystemLookup;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Transport named by the URI's transport parameter (RFC 3263 §4.1), secured for sips. */
export function uriTransport(uri: LocatableUri): TransportName | undefined {
  const p = uri.params.transport;
  if (typeof p !== 'string') return undefined;
  return protocolForUri(p, uri.scheme.toLowerCase() === 'sips');
}

interface Srv {
  priority: number;
  weight: number;
  port: number;
  name: string;
}

/** RFC 2782 ordering: ascending priority; within a priority, weighted random draws. */
export function orderSrv<T extends Srv>(records: readonly T[], random: () => number): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) {
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: T[] = [];
  for (const prio of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero-weight records first, as RFC 2782 says, so they are chosen only when the draw is 0.
    const pool = [...(byPriority.get(prio) ?? [])].sort(
      (a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1),
    );
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0);
      const draw = random() * (total + 1);
      let running = 0;
      let index = pool.length - 1;
      for (let i = 0; i < pool.length; i++) {
        running += pool[i].weight;
        if (running >= draw) {
          index = i;
          break;
        }
      }
      out.push(pool[index]);
      pool.splice(index, 1);
    }
  }
  return out;
}

function isNoData(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'ENONAME' || code === 'ESERVFAIL';
}

/** No answer at all: no DNS server reachable (none configured, refused, timed out). */
function isNoServer(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ECONNREFUSED' || code === 'ETIMEOUT' || code === 'EREFUSED';
}

/** What one locate() learnt of DNS: once no server answers, the other queries are skipped. */
interface DnsState {
  unreachable: boolean;
}

/** The system resolver (getaddrinfo: /etc/hosts, then DNS); the lookup function in tests. */
export type SystemLookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

const systemLookup: SystemLookup = (host) => dns.lookup(host, { all: true });

export class ServerLocator {
  private readonly resolver: dns.Resolver;
  private readonly transports: TransportName[];
  private readonly random: () => number;
  private readonly lookup: SystemLookup;

  constructor(options: ServerLocatorOptions = {}) {
    this.resolver = new dns.Resolver({
      timeout: options.timeout ?? 2000,
      tries: options.tries ?? 2,
    });
    if (options.servers) this.resolver.setServers(options.servers);
    this.transports = options.transports ?? [...PROTOCOL_NAMES];
    this.random = options.random ?? Math.random;
    this.lookup = options.lookup ?? systemLookup;
  }

  /** Ordered targets for a URI; empty when nothing resolves. */
  async locate(uri: LocatableUri): Promise<ServerTarget[]> {
    const secure = uri.scheme.toLowerCase() === 'sips';
    const host = stripBrackets(uri.host);
    const explicit = uriTransport(uri);
    const fallback: TransportName = explicit ?? (secure ? 'tls' : 'udp');
    const state: DnsState = { unreachable: false };

    // §4.1/§4.2: a numeric address needs no lookup at all.
    if (isIP(host)) {
      return [
        { transport: fallback, address: host, port: uri.port ?? defaultPort(fallback), host },
      ];
    }
    // An explicit port: only the address records.
    if (uri.port !== undefined) return this.addresses(state, host, fallback, uri.port);
    // An explicit transport: SRV for it, else the address records.
    if (explicit) {
      const viaSrv = await this.srvTargets(
        state,
        `${PROTOCOLS[explicit].srvService}.${host}`,
        explicit,
      );
      return viaSrv.length > 0
        ? viaSrv
        : this.addresses(state, host, explicit, defaultPort(explicit));
    }

    const viaNaptr = await this.naptrTargets(state, host, secure);
    if (viaNaptr.length > 0) return viaNaptr;

    // No NAPTR: SRV for each transport we support, in our order of preference.
    const out: ServerTarget[] = [];
    for (const t of this.transports) {
      if (secure && !isSecureProtocol(t)) continue;
      out.push(...(await this.srvTargets(state, `${PROTOCOLS[t].srvService}.${host}`, t)));
    }
    if (out.length > 0) return out;
    return this.addresses(state, host, fallback, defaultPort(fallback));
  }

  /**
   * One DNS query: its records, or none when DNS has none or cannot be reached. After one query
   * found no DNS server, the others of this lookup are not sent (each would wait as long).
   */
  private async query<T>(state: DnsState, ask: () => Promise<T[]>): Promise<T[]> {
    if (state.unreachable) return [];
    try {
      return await ask();
    } catch (err) {
      if (isNoServer(err)) state.unreachable = true;
      if (isNoData(err) || isNoServer(err)) return [];
      throw err;
    }
  }

  private async naptrTargets(
    state: DnsState,
    host: string,
    secure: boolean,
  ): Promise<ServerTarget[]> {
    const records: NaptrRecord[] = await this.query(state, () => this.resolver.resolveNaptr(host));
    const usable = records
      .filter((r) => r.flags.toLowerCase() === 's')
      .map((r) => ({ r, transport: protocolForNaptr(r.service) }))
      .filter(
        (u): u is { r: NaptrRecord; transport: TransportName } =>
          u.transport !== undefined && this.transports.includes(u.transport),
      )
      .filter(({ transport }) => !secure || isSecureProtocol(transport))
      .sort((a, b) => a.r.order - b.r.order || a.r.preference - b.r.preference);
    const out: ServerTarget[] = [];
    for (const { r, transport } of usable) {
      out.push(...(await this.srvTargets(state, r.replacement, transport)));
    }
    return out;
  }

  private async srvTargets(
    state: DnsState,
    name: string,
    transport: TransportName,
  ): Promise<ServerTarget[]> {
    const records: SrvRecord[] = await this.query(state, () => this.resolver.resolveSrv(name));
    const out: ServerTarget[] = [];
    for (const srv of orderSrv(records, this.random)) {
      out.push(...(await this.addresses(state, srv.name, transport, srv.port)));
    }
    return out;
  }

  /**
   * A, then AAAA records of `host` in DNS; when DNS has neither (or cannot be reached), the
   * system resolver's addresses (/etc/hosts, `localhost`), IPv4 first.
   */
  private async addresses(
    state: DnsState,
    host: string,
    transport: TransportName,
    port: number,
  ): Promise<ServerTarget[]> {
    if (isIP(host)) return [{ transport, address: host, port, host }];
    let found: string[] = [
      ...(await this.query(state, () => this.resolver.resolve4(host))),
      ...(await this.query(state, () => this.resolver.resolve6(host))),
    ];
    if (found.length === 0) {
      try {
        const all = await this.lookup(host);
        found = [...all.filter((a) => a.family === 4), ...all.filter((a) => a.family !== 4)].map(
          (a) => a.address,
        );
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (!isNoData(err) && code !== 'EAI_AGAIN' && code !== 'EAI_FAIL') throw err;
      }
    }
    return found.map((address) => ({ transport, address, port, host }));
  }
}
