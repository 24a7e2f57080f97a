// The call server's configuration: a YAML file validated with zod. Every error names the field
// (as a dotted path) and what is wrong with it, and, read from a file, its line and column. The
// configuration is strict at every depth: a key the schema does not know (a typo such as
// `media: { mod: relay }`) is an error that suggests the closest valid key, never silently
// ignored. With no file, `validateConfig({})` describes the demo server on 127.0.0.1.
import { readFileSync } from 'node:fs';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { isIP } from 'node:net';
import { SCANNER_USER_AGENTS } from '../sip/index.ts';
import { isSecureProtocol, PROTOCOL_NAMES, type TransportProtocol } from '../transport/index.ts';
import { isLoopbackAddress } from './http-api.ts';
import { SQLITE_CACHE_MB } from '../store/sqlite-schema.ts';
import { DEFAULT_OVERLOAD } from './overload.ts';

/**
 * security.scannerUserAgents' default: the User-Agent substrings of scanning tools that the
 * analyzer's security findings report too (one list, src/sip/scanner-user-agents.ts).
 */
export const DEFAULT_SCANNER_USER_AGENTS: readonly string[] = SCANNER_USER_AGENTS;

/** The levels `--log-level` and `log.level` accept (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const transport = z.enum(PROTOCOL_NAMES as [TransportProtocol, ...TransportProtocol[]]);
const port = z.number().int().min(0).max(65535);

const listenSchema = z.object({
  transport,
  address: z.string().min(1),
  port,
});

const userSchema = z
  .object({
    user: z.string().regex(/^[A-Za-z0-9._+-]+$/, 'a user name is letters, digits and . _ + -'),
    password: z.string().min(1).optional(),
    /** MD5 HA1 (hex) for those who do not want a password in the file. */
    ha1: z
      .string()
      .regex(/^[0-9a-f]{32}$/, 'ha1 is 32 lower-case hex digits (MD5)')
      .optional(),
    ha1Sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    displayName: z.string().optional(),
  })
  .refine((u) => u.password !== undefined || u.ha1 !== undefined, {
    message: 'a user needs a password or an ha1',
  });

const matchSchema = z.union([
  z.object({ prefix: z.string().regex(/^[0-9*#+]*$/, 'a prefix is digits, * # or +') }),
  z.object({ pattern: z.string().startsWith('_', 'an Asterisk pattern starts with "_"') }),
  z.object({
    regex: z.string().refine((s) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression'),
  }),
]);

const routeSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('local') }),
  z.object({ action: z.literal('trunk'), trunk: z.string().min(1) }),
  z.object({
    action: z.literal('reject'),
    code: z.number().int().min(400).max(699),
    reason: z.string().optional(),
  }),
]);

const ruleSchema = z.object({
  name: z.string().optional(),
  match: matchSchema,
  strip: z.number().int().min(0).optional(),
  prefix: z
    .string()
    .regex(/^[0-9*#+]*$/)
    .optional(),
  route: routeSchema,
});

const peerSchema = z.object({
  host: z.string().min(1),
  port: port.default(5060),
  transport: transport.default('udp'),
});

const trunkSchema = z.object({
  name: z.string().min(1),
  /** Tried in order: the second on 503, 408 or a timeout from the first. */
  peers: z.array(peerSchema).min(1),
  /** Digest credentials toward the peer (answering its 401/407). */
  auth: z
    .object({ username: z.string(), password: z.string(), realm: z.string().optional() })
    .optional(),
  /** Register with the peer (a provider) to receive calls. */
  register: z
    .object({ aor: z.string(), expires: z.number().int().min(60).default(3600) })
    .optional(),
  /** Calls from the trunk are accepted only from these addresses (default: the peers' hosts) ... */
  inboundAddresses: z.array(z.string()).optional(),
  /** ... or with these credentials. */
  inboundAuth: z.object({ username: z.string(), password: z.string() }).optional(),
  /** Calls arriving from this trunk may be routed on to other trunks (off by default: no toll fraud). */
  transit: z.boolean().default(false),
  /** Domain used in the Request-URI toward the peer (default: the peer host). */
  domain: z.string().optional(),
});

export const configSchema = z
  .object({
    domain: z.string().min(1).default('demo.trapezoid'),
    listen: z
      .array(listenSchema)
      .min(1)
      .default([
        { transport: 'udp', address: '127.0.0.1', port: 5060 },
        { transport: 'tcp', address: '127.0.0.1', port: 5060 },
      ]),
    /** The SQLite file of the embedded default (store.records: sqlite:<database> when unset). */
    database: z.string().min(1).default('./trapezoid.db'),
    /** Where state is kept (src/store/open-stores.ts); the embedded default needs none of it. */
    store: z
      .object({
        /** Users and CDRs: sqlite:PATH or postgres://user:password@host:port/database. */
        records: z
          .string()
          .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/i, 'sqlite:PATH or postgres://…')
          .optional(),
        /** Bindings, digest nonces, bans and node heartbeats: local, or redis://host:port. */
        live: z
          .string()
          .regex(/^(local|rediss?:\/\/.+)$/i, 'local or redis://host:port')
          .default('local'),
        /** Where CDRs wait while PostgreSQL is down (default ./trapezoid-cdr-spool-<node>.jsonl). */
        spool: z.string().min(1).optional(),
      })
      .default({ live: 'local' }),
    /** This process as one node of a cluster sharing store.records and store.live. */
    cluster: z
      .object({
        /** The node's id, unique in the cluster: its CDRs and the flows it holds carry it. */
        node: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - (at most 64)')
          .default('local'),
        /** How often the node says it is alive. */
        heartbeatSeconds: z.number().positive().max(60).default(2),
        /** A node silent this long is dead: a survivor closes its open calls (cause node-lost). */
        deadAfterSeconds: z.number().positive().max(600).default(6),
      })
      .default({ node: 'local', heartbeatSeconds: 2, deadAfterSeconds: 6 }),
    /** The HTTP API and /metrics (src/server/http-api.ts). */
    http: z
      .object({
        /** Loopback by default. Any other address (0.0.0.0 and :: included) needs `token`. */
        address: z.string().min(1).default('127.0.0.1'),
        port: port.default(8060),
        /**
         * Every request must carry `Authorization: Bearer <token>` (wherever the API listens).
         * Required when `address` is not loopback.
         */
        token: z
          .string()
          .min(16, 'at least 16 characters (e.g. the output of `openssl rand -hex 16`)')
          .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
          .optional(),
        /**
         * Names the API answers to in the Host header, besides localhost and IP literals (a DNS
         * rebinding defence). `.example.com` allows example.com and every name under it.
         */
        hosts: z
          .array(
            z
              .string()
              .regex(
                /^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/,
                'a host name (no port, no scheme), or .domain for a domain and its subdomains',
              ),
          )
          .default([]),
        /**
         * GET requests (the live console, read only) need no token even when one is set; actions
         * (unban) still do. For a console a whole team may watch.
         */
        readWithoutToken: z.boolean().default(false),
      })
      .default({ address: '127.0.0.1', port: 8060, hosts: [], readWithoutToken: false }),
    /**
     * Per-call capture (src/server/call-capture.ts): each call's SIP (and relayed RTP) kept in a bounded ring for
     * GET /api/calls/{id}/pcap and the console's download button.
     */
    capture: z
      .object({
        enabled: z.boolean().default(true),
        /** Calls kept; the oldest go first. */
        maxCalls: z.number().int().min(1).default(1000),
        /**
         * Bytes kept over all calls: SIP and relayed RTP (each kept RTP packet also counts the
         * ~230 bytes its record takes in memory, so headers-only RTP stays within the bound).
         */
        maxBytes: z
          .number()
          .int()
          .min(65536)
          .default(64 * 1024 * 1024),
        /** A call whose last message is older than this is dropped. */
        maxAgeSeconds: z.number().int().min(1).default(3600),
        /**
         * With `media: relay`, what is kept of each relayed RTP packet (both legs: to and from
         * the relay): nothing, its header only (the file keeps the length on the wire), or the
         * whole packet. RTCP is kept whole unless `none`.
         */
        rtp: z.enum(['none', 'headers', 'packets']).default('headers'),
      })
      .default({
        enabled: true,
        maxCalls: 1000,
        maxBytes: 64 * 1024 * 1024,
        maxAgeSeconds: 3600,
        rtp: 'headers',
      }),
    /**
     * HEP out (src/server/hep-sender.ts): every SIP message received or sent, as HEPv3 over UDP to
     * a collector (HOMER, Kamailio sipcapture, sngrep -L), like Kamailio's siptrace.
     */
    hep: z
      .object({
        collector: z
          .string()
          .regex(
            /^udp:(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):\d{1,5}$/,
            'udp:HOST:PORT, e.g. udp:127.0.0.1:9060',
          ),
        /** HEP capture agent id (chunk 12), to tell this server apart at the collector. */
        id: z.number().int().min(0).max(0xffffffff).default(2001),
      })
      .optional(),
    auth: z
      .object({
        realm: z.string().optional(),
        /**
         * Challenges sent, one per algorithm, in this order. MD5 only by default: many deployed
         * phones fail the whole registration when any challenge names an algorithm they lack
         * (baresip 1.0 answers a SHA-256 challenge beside an MD5 one with ENOSYS), and SIPp
         * answers only the first. Fleets that support RFC 8760 set [SHA-256, MD5].
         */
        algorithms: z
          .array(z.enum(['MD5', 'SHA-256']))
          .min(1)
          .default(['MD5']),
        nonceTtlSeconds: z.number().int().min(5).default(300),
      })
      .default({ algorithms: ['MD5'], nonceTtlSeconds: 300 }),
    registrar: z
      .object({
        minExpires: z.number().int().min(1).default(60),
        maxExpires: z.number().int().min(1).default(3600),
        defaultExpires: z.number().int().min(1).default(3600),
        /** Bindings one AOR may hold; beyond it the ones closest to expiry are dropped. */
        maxBindings: z.number().int().min(1).max(100).default(10),
      })
      .default({ minExpires: 60, maxExpires: 3600, defaultExpires: 3600, maxBindings: 10 }),
    proxy: z
      .object({
        /** Branches one request is forked to at most (the first by q when a user has more). */
        maxBranches: z.number().int().min(1).max(100).default(10),
        /**
         * Timer C (RFC 3261 §16.6 step 11): a call still ringing this long with no final answer is
         * cancelled, answered 408 and recorded with cause `timeout`. The RFC asks for more than 3
         * minutes; operators often ring for less (Kamailio's fr_inv_timer is 120 s).
         */
        ringTimeoutSeconds: z.number().int().min(1).max(3600).default(181),
      })
      .default({ maxBranches: 10, ringTimeoutSeconds: 181 }),
    /**
     * Overload control (src/server/overload.ts): while the event loop has no idle time, new
     * requests (no To tag, not CANCEL) are refused before work in progress: for the first
     * `rejectAfterMs` of an episode dropped over UDP (the client retransmits) and taken over TCP,
     * TLS and WebSocket; after that answered 503 with Retry-After. `shedAbove: 0` turns it off.
     */
    overload: z
      .object({
        shedAbove: z.number().min(0).max(1).default(DEFAULT_OVERLOAD.shedAbove),
        sustainMs: z.number().int().min(0).max(60_000).default(DEFAULT_OVERLOAD.sustainMs),
        resumeBelow: z.number().min(0).max(1).default(DEFAULT_OVERLOAD.resumeBelow),
        windowMs: z.number().int().min(10).max(10_000).default(DEFAULT_OVERLOAD.windowMs),
        rejectAfterMs: z.number().int().min(0).max(600_000).default(DEFAULT_OVERLOAD.rejectAfterMs),
        retryAfterSeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(DEFAULT_OVERLOAD.retryAfterSeconds),
      })
      .strict()
      .refine((o) => o.shedAbove === 0 || o.resumeBelow <= o.shedAbove, {
        message: 'resumeBelow must not be above shedAbove',
      })
      .default({ ...DEFAULT_OVERLOAD }),
    /**
     * A soft target for the process's resident memory (src/server/memory-target.ts), held by
     * `trapezoid serve`: near it, full collections come sooner (more CPU), down to a heap 1.25x
     * what is live; past that the heap grows with what is live. 0: V8 sizes the heap alone (it
     * lets it grow to about 4x what is live on a machine with a few GB).
     */
    memory: z
      .object({
        targetMb: z.number().int().min(0).default(256),
        /**
         * V8's allocation-site pretenuring, off by default in `trapezoid serve`
         * (memory-target.ts stopPretenuring): true leaves it as V8 has it.
         */
        pretenuring: z.boolean().default(false),
        /**
         * The SQLite page cache's most, in MB, when the records are in SQLite
         * (src/store/sqlite-schema.ts SQLITE_CACHE_MB).
         */
        sqliteCacheMb: z.number().min(1).max(4096).default(SQLITE_CACHE_MB),
      })
      .strict()
      .default({ targetMb: 256, pretenuring: false, sqliteCacheMb: SQLITE_CACHE_MB }),
    /** The server's log (src/server/server-log.ts): JSON lines on stderr, readable on a TTY. */
    log: z
      .object({
        level: z.enum(LOG_LEVELS).default('info'),
      })
      .default({ level: 'info' }),
    users: z.array(userSchema).default([]),
    dialplan: z.array(ruleSchema).default([]),
    trunks: z.array(trunkSchema).default([]),
    /** Certificate and key (PEM files) for tls listeners. */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** Calls from sources that are neither one of our authenticated users nor a trunk. */
    inbound: z
      .object({
        /**
         * true (default): anyone may call our users, as with a public SIP address. false: such
         * calls are challenged (407), so only trunks with `inboundAuth` credentials get in.
         */
        allowAnonymous: z.boolean().default(true),
      })
      .default({ allowAnonymous: true }),
    security: z
      .object({
        /** Per-source request rate (like Kamailio's pike): over it, the source is banned. */
        rateLimit: z
          .object({
            requests: z.number().int().min(1).default(50),
            perSeconds: z.number().min(0.1).default(2),
            banSeconds: z.number().int().min(1).default(300),
          })
          .default({ requests: 50, perSeconds: 2, banSeconds: 300 }),
        /** Failed authentications from one source, or against one user, before a ban. */
        bruteForce: z
          .object({
            maxFailures: z.number().int().min(1).default(5),
            windowSeconds: z.number().int().min(1).default(60),
            banSeconds: z.number().int().min(1).default(600),
          })
          .default({ maxFailures: 5, windowSeconds: 60, banSeconds: 600 }),
        /** User-Agent substrings (case-insensitive) of scanners: their requests are dropped silently. */
        scannerUserAgents: z.array(z.string().min(1)).default([...DEFAULT_SCANNER_USER_AGENTS]),
        /** Sources never rate-limited or banned ('address' or 'address:port'). */
        trustedSources: z.array(z.string()).default([]),
        /**
         * The server's domain is TLS-only: its users may register and call only over TLS (or
         * WSS); over UDP/TCP they get 403 before any challenge.
         */
        tlsOnly: z.boolean().default(false),
      })
      .default({
        rateLimit: { requests: 50, perSeconds: 2, banSeconds: 300 },
        bruteForce: { maxFailures: 5, windowSeconds: 60, banSeconds: 600 },
        scannerUserAgents: [...DEFAULT_SCANNER_USER_AGENTS],
        trustedSources: [],
        tlsOnly: false,
      }),
    /**
     * Limits on stream connections (tcp, tls, ws, wss), for a server on a public address: see
     * src/transport/README.md. Timeouts in seconds, 0 = none.
     */
    transport: z
      .object({
        /** An inbound connection must bring a complete SIP message (handshake included) by then. */
        firstMessageTimeoutSeconds: z.number().min(0).default(20),
        /** A message begun must be complete by then (64*T1). */
        messageTimeoutSeconds: z.number().min(0).default(32),
        /** An inbound connection with no bytes either way (keep-alives count) is closed after it. */
        idleTimeoutSeconds: z.number().min(0).default(180),
        /** Bytes waiting that long for a peer that does not read close its connection. */
        writeTimeoutSeconds: z.number().min(0).default(10),
        /** Bytes allowed to wait per connection for a peer that does not read. */
        maxWriteBacklogBytes: z.number().int().min(65536).default(1048576),
        /** Inbound connections from one IP address (handshakes and upgrades in progress included). */
        maxConnectionsPerSource: z.number().int().min(1).default(64),
        /** Connections in total. */
        maxConnections: z.number().int().min(1).default(10000),
      })
      .strict()
      .default({
        firstMessageTimeoutSeconds: 20,
        messageTimeoutSeconds: 32,
        idleTimeoutSeconds: 180,
        writeTimeoutSeconds: 10,
        maxWriteBacklogBytes: 1048576,
        maxConnectionsPerSource: 64,
        maxConnections: 10000,
      }),
    media: z
      .object({
        mode: z.enum(['direct', 'relay']).default('direct'),
        ports: z
          .string()
          .regex(/^\d+-\d+$/, 'a port range is FIRST-LAST, e.g. 20000-29999')
          .refine((r) => {
            const [first, last] = r.split('-').map(Number) as [number, number];
            return first >= 1024 && last <= 65535 && last > first;
          }, 'the range must lie in 1024-65535 and hold at least one even/odd pair')
          .default('20000-29999'),
        timeoutSeconds: z.number().int().min(1).default(60),
        /**
         * The relay's address, written into SDP: one the phones can reach. Default: the address
         * of the first listener; needed when that listener is a wildcard (0.0.0.0, ::).
         */
        address: z
          .string()
          .refine((a) => isIP(a) !== 0, 'an IPv4 or IPv6 address (no host name)')
          .refine((a) => a !== '0.0.0.0' && a !== '::', 'a reachable address, not a wildcard')
          .optional(),
      })
      .default({ mode: 'direct', ports: '20000-29999', timeoutSeconds: 60 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const trunkNames = new Set(cfg.trunks.map((t) => t.name));
    cfg.dialplan.forEach((rule, i) => {
      if (rule.route.action === 'trunk' && !trunkNames.has(rule.route.trunk)) {
        ctx.addIssue({
          code: 'custom',
          path: ['dialplan', i, 'route', 'trunk'],
          message: `no trunk named "${rule.route.trunk}" (trunks: ${[...trunkNames].join(', ') || 'none'})`,
        });
      }
    });
    cfg.listen.forEach((l, i) => {
      if (isSecureProtocol(l.transport) && !cfg.tls) {
        ctx.addIssue({
          code: 'custom',
          path: ['listen', i, 'transport'],
          message: `${l.transport} needs tls.cert and tls.key`,
        });
      }
    });
    if (!isLoopbackAddress(cfg.http.address) && cfg.http.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['http', 'token'],
        message: `required: the HTTP API would listen beyond loopback (http.address ${cfg.http.address}) with no token; set http.token, or http.address: 127.0.0.1`,
      });
    }
    if (cfg.media.mode === 'relay' && cfg.media.address === undefined) {
      const first = cfg.listen[0]!.address;
      if (isIP(first) === 0 || first === '0.0.0.0' || first === '::') {
        ctx.addIssue({
          code: 'custom',
          path: ['media', 'address'],
          message: `media relay needs an address the phones can reach (listen[0] is ${first})`,
        });
      }
    }
    if (cfg.cluster.deadAfterSeconds <= cfg.cluster.heartbeatSeconds * 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster', 'deadAfterSeconds'],
        message: `must be more than two heartbeats (cluster.heartbeatSeconds ${cfg.cluster.heartbeatSeconds}): one late heartbeat would declare a live node dead`,
      });
    }
    const seen = new Set<string>();
    cfg.users.forEach((u, i) => {
      if (seen.has(u.user)) {
        ctx.addIssue({
          code: 'custom',
          path: ['users', i, 'user'],
          message: `duplicate user "${u.user}"`,
        });
      }
      seen.add(u.user);
    });
  });

export type ServerConfig = z.infer<typeof configSchema>;

/** The store URLs of a config: `database` stands in for an unset store.records. */
export function storeUrls(config: ServerConfig): { records: string; live: string; spool?: string } {
  return {
    records: config.store.records ?? `sqlite:${config.database}`,
    live: config.store.live,
    ...(config.store.spool !== undefined ? { spool: config.store.spool } : {}),
  };
}

/** The address the media relay binds and writes into SDP (validated by the schema). */
export function mediaRelayAddress(config: ServerConfig): string {
  return config.media.address ?? config.listen[0]!.address;
}

/** One problem in a configuration: where (dotted path, and line/column in a file) and what. */
export interface ConfigIssue {
  /** Dotted path: `trunks[0].peers[1].host`, or `(top level)`. */
  path: string;
  message: string;
  /** 1-based, when the configuration came from a YAML file. */
  line?: number;
  column?: number;
  /** For an unknown key: the closest valid key, if one is close. */
  suggestion?: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  /** The problems as lines: `path: message (line L, column C)`. */
  readonly problems: string[];

  constructor(
    readonly source: string,
    problems: Array<string | ConfigIssue>,
  ) {
    const issues = problems.map((p) => (typeof p === 'string' ? { path: '', message: p } : p));
    const lines = issues.map(formatIssue);
    super(`${source}: ${lines.join('; ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
    this.problems = lines;
  }
}

function formatIssue(i: ConfigIssue): string {
  const where = i.line !== undefined ? ` (line ${i.line}, column ${i.column})` : '';
  return `${i.path ? `${i.path}: ` : ''}${i.message}${where}`;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

/** Where a path lies in the source: line and column (1-based) of the key or of the value. */
type Locate = (
  path: ReadonlyArray<PropertyKey>,
  what: 'key' | 'value',
) => { line: number; column: number } | undefined;

/** Validates an already-parsed config object. */
export function validateConfig(raw: unknown, source = 'config'): ServerConfig {
  return check(raw ?? {}, source, undefined);
}

function check(raw: unknown, source: string, locate: Locate | undefined): ServerConfig {
  // Unknown keys first, found by walking the input beside the schema: strict at every depth,
  // whether or not a section's schema was declared strict.
  const unknown: ConfigIssue[] = [];
  unknownKeys(configSchema, raw, [], unknown, locate);
  const result = configSchema.safeParse(raw);
  if (result.success && unknown.length === 0) return result.data;
  const issues = [...unknown];
  for (const i of result.success ? [] : result.error.issues) {
    if (i.code === 'unrecognized_keys') continue; // reported above, with a suggestion
    issues.push({
      path: formatPath(i.path),
      message: i.message,
      ...locate?.(i.path, 'value'),
    });
  }
  // In the file's order, when positions are known (sort is stable: the rest keep theirs).
  issues.sort(
    (a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0) || 0,
  );
  throw new ConfigError(source, issues);
}

/** Reads and validates a YAML config file. */
export function loadConfig(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read: ${(err as Error).message}`]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      path,
      doc.errors.map((e) => `not valid YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`),
    );
  }
  const locate: Locate = (p, what) => {
    const offset = offsetOf(doc, p, what);
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  return check(doc.toJS() ?? {}, path, locate);
}

// ---- unknown keys ---------------------------------------------------------------------------

/** The parts of zod 4's schema definitions the walk reads. */
interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  values?: unknown[];
  getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType): SchemaDef => schema._zod.def as unknown as SchemaDef;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The object schema under optional/default/pipe wrappers, or undefined. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const def = defOf(schema);
  if (def.type === 'object') return def.shape;
  const inner = def.innerType ?? def.in ?? def.getter?.();
  return inner ? objectShape(inner) : undefined;
}

/** Pushes an issue for every key of `value` that `schema` does not declare, at any depth. */
function unknownKeys(
  schema: z.ZodType,
  value: unknown,
  path: PropertyKey[],
  out: ConfigIssue[],
  locate: Locate | undefined,
): void {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return unknownKeys(def.innerType!, value, path, out, locate);
    case 'pipe':
      return unknownKeys(def.in!, value, path, out, locate);
    case 'lazy':
      return unknownKeys(def.getter!(), value, path, out, locate);
    case 'array':
      if (Array.isArray(value))
        value.forEach((v, i) => unknownKeys(def.element!, v, [...path, i], out, locate));
      return;
    case 'record':
      if (isPlainObject(value))
        for (const [k, v] of Object.entries(value))
          unknownKeys(def.valueType!, v, [...path, k], out, locate);
      return;
    case 'object': {
      if (!isPlainObject(value)) return;
      const catchall = def.catchall && defOf(def.catchall).type !== 'never';
      checkKeys(def.shape!, catchall ? def.catchall : undefined, value, path, out, locate);
      return;
    }
    case 'union': {
      if (!isPlainObject(value)) return;
      const shapes = def.options!.map(objectShape);
      if (shapes.some((s) => s === undefined)) return; // a union with non-objects: zod decides
      // A discriminated union whose discriminator matches: that option's keys only.
      const d = def.discriminator;
      if (d !== undefined && d in value) {
        const chosen = shapes.find((s) => defOf(s![d]!).values?.includes(value[d]));
        if (chosen) return checkKeys(chosen, undefined, value, path, out, locate);
      }
      // Otherwise any option's keys are known (each value checked by the first option with it).
      const merged: Record<string, z.ZodType> = {};
      for (const s of shapes) for (const [k, v] of Object.entries(s!)) merged[k] ??= v;
      return checkKeys(merged, undefined, value, path, out, locate);
    }
    default:
      return; // scalars, and schema kinds without keys of their own
  }
}

function checkKeys(
  shape: Record<string, z.ZodType>,
  catchall: z.ZodType | undefined,
  value: Record<string, unknown>,
  path: PropertyKey[],
  out: ConfigIssue[],
  locate: Locate | undefined,
): void {
  const known = Object.keys(shape);
  for (const [key, v] of Object.entries(value)) {
    const child = [...path, key];
    const schema = Object.hasOwn(shape, key) ? shape[key] : catchall;
    if (schema) {
      unknownKeys(schema, v, child, out, locate);
      continue;
    }
    const suggestion = closestKey(key, known);
    const where = path.length ? formatPath(path) : 'the top level';
    out.push({
      path: formatPath(child),
      message: suggestion
        ? `unknown key "${key}"; did you mean "${suggestion}"?`
        : `unknown key "${key}" (${where} takes: ${known.join(', ')})`,
      ...(suggestion ? { suggestion } : {}),
      ...locate?.(child, 'key'),
    });
  }
}

/** The known key nearest to a misspelt one, when it is near enough to be what was meant. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  const limit = k.length <= 5 ? 1 : k.length <= 10 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(k, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and transpositions
 * of two adjacent letters (`adress`, `prot`) each cost 1.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

// ---- positions in the YAML source ------------------------------------------------------------

/**
 * Offset of the node at `path` (of its key, for `what: 'key'`); where the path leaves the document
 * (a missing key), the offset of the deepest node that exists, so the error points at its parent.
 */
function offsetOf(
  doc: Document,
  path: ReadonlyArray<PropertyKey>,
  what: 'key' | 'value',
): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg),
      );
      if (!pair) return offset;
      if (i === path.length - 1 && what === 'key') return rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else {
      return offset;
    }
    offset = rangeStart(node) ?? offset;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}
