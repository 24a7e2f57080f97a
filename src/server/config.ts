// The call server's configuration: a YAML file validated with zod. Every error names the field
// (as a dotted path) and what is wrong with it. With no file, `embeddedDefaults()` describes the
// demo server on 127.0.0.1.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isIP } from 'node:net';

const transport = z.enum(['udp', 'tcp', 'tls', 'ws', 'wss']);
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
    database: z.string().min(1).default('./trapezoid.db'),
    http: z
      .object({ address: z.string().default('127.0.0.1'), port: port.default(8060) })
      .default({ address: '127.0.0.1', port: 8060 }),
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
      })
      .default({ minExpires: 60, maxExpires: 3600, defaultExpires: 3600 }),
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
        scannerUserAgents: z
          .array(z.string().min(1))
          .default([
            'friendly-scanner',
            'sipvicious',
            'sipcli',
            'sip-scan',
            'sipsak',
            'iwar',
            'sundayddr',
            'pplsip',
            'vaxsipuseragent',
          ]),
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
        scannerUserAgents: [
          'friendly-scanner',
          'sipvicious',
          'sipcli',
          'sip-scan',
          'sipsak',
          'iwar',
          'sundayddr',
          'pplsip',
          'vaxsipuseragent',
        ],
        trustedSources: [],
        tlsOnly: false,
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
      if ((l.transport === 'tls' || l.transport === 'wss') && !cfg.tls) {
        ctx.addIssue({
          code: 'custom',
          path: ['listen', i, 'transport'],
          message: `${l.transport} needs tls.cert and tls.key`,
        });
      }
    });
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

/** The address the media relay binds and writes into SDP (validated by the schema). */
export function mediaRelayAddress(config: ServerConfig): string {
  return config.media.address ?? config.listen[0]!.address;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

/** Validates an already-parsed config object. */
export function validateConfig(raw: unknown, source = 'config'): ServerConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new ConfigError(source, problems);
}

/** Reads and validates a YAML config file. */
export function loadConfig(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid YAML: ${(err as Error).message}`]);
  }
  return validateConfig(raw, path);
}
