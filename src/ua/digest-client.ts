// Client side of HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 7616 for the
// algorithms and qop, RFC 8760 for SHA-256 and SHA-512/256 in SIP).
//
//   HA1      = H(username ":" realm ":" password)
//   HA1-sess = H(HA1 ":" nonce ":" cnonce)                  (algorithm "<name>-sess")
//   HA2      = H(method ":" digest-uri)                     (qop=auth or no qop)
//   HA2      = H(method ":" digest-uri ":" H(body))         (qop=auth-int)
//   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   (with qop)
//   response = H(HA1 ":" nonce ":" HA2)                              (RFC 2069, no qop)
//
// A DigestClient keeps, per nonce, the count of requests already answered with it (nc), and the
// last challenge per realm so a later request (a REGISTER refresh) can carry credentials at once.
import { createHash, randomBytes } from 'node:crypto';

/** One challenge as the message layer parses it: scheme and unquoted parameters. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Algorithms we can answer, strongest first (RFC 8760 §2.1 asks for this preference). */
const ALGORITHM_STRENGTH = ['SHA-512-256', 'SHA-256', 'MD5'] as const;
type BaseAlgorithm = (typeof ALGORITHM_STRENGTH)[number];

const NODE_HASH: Record<BaseAlgorithm, string> = {
  'SHA-512-256': 'sha512-256',
  'SHA-256': 'sha256',
  MD5: 'md5',
};

interface ParsedAlgorithm {
  base: BaseAlgorithm;
  session: boolean;
  /** As written in the challenge (echoed back). Undefined when the challenge named none. */
  token?: string;
}

/** Reads the algorithm of a challenge; undefined when we cannot answer it. */
export function challengeAlgorithm(ch: Challenge): ParsedAlgorithm | undefined {
  if (ch.scheme.toLowerCase() !== 'digest') return undefined;
  const token = ch.params.algorithm;
  if (token === undefined) return { base: 'MD5', session: false };
  const upper = token.toUpperCase();
  const session = upper.endsWith('-SESS');
  const name = session ? upper.slice(0, -'-SESS'.length) : upper;
  const base = ALGORITHM_STRENGTH.find((a) => a === name);
  return base ? { base, session, token } : undefined;
}

/**
 * Among the challenges of one response, the ones to answer: for each realm the strongest
 * algorithm we support (RFC 8760 §2.4: one answer per realm, the preferred algorithm).
 */
export function pickChallenges(challenges: readonly Challenge[]): Challenge[] {
  const best = new Map<string, { ch: Challenge; rank: number }>();
  for (const ch of challenges) {
    const alg = challengeAlgorithm(ch);
    if (!alg) continue;
    const qop = ch.params.qop;
    // A challenge whose qop list offers neither auth nor auth-int cannot be answered.
    if (qop !== undefined && !qopChoice(qop)) continue;
    const rank = ALGORITHM_STRENGTH.indexOf(alg.base);
    const realm = ch.params.realm ?? '';
    const seen = best.get(realm);
    if (!seen || rank < seen.rank) best.set(realm, { ch, rank });
  }
  return [...best.values()].map((b) => b.ch);
}

/** qop we will use from a challenge's comma-separated list: auth preferred (no body hashing). */
function qopChoice(list: string): 'auth' | 'auth-int' | undefined {
  const offered = list.split(',').map((s) => s.trim().toLowerCase());
  if (offered.includes('auth')) return 'auth';
  if (offered.includes('auth-int')) return 'auth-int';
  return undefined;
}

function hash(base: BaseAlgorithm, text: string | Buffer): string {
  return createHash(NODE_HASH[base]).update(text).digest('hex');
}

export interface DigestInput {
  username: string;
  password: string;
  method: string;
  /** The Request-URI as sent (digest-uri). */
  uri: string;
  body?: Buffer;
  /** Fixed values for tests; normally generated. */
  cnonce?: string;
  nc?: number;
}

/** Computes the credentials for one challenge: the fields of an Authorization header. */
export function answerChallenge(ch: Challenge, input: DigestInput): Record<string, string> {
  const alg = challengeAlgorithm(ch);
  if (!alg) throw new Error(`unsupported digest algorithm ${ch.params.algorithm ?? ''}`);
  const realm = ch.params.realm ?? '';
  const nonce = ch.params.nonce ?? '';
  const qop = ch.params.qop !== undefined ? qopChoice(ch.params.qop) : undefined;
  const cnonce = input.cnonce ?? randomBytes(8).toString('hex');
  const nc = (input.nc ?? 1).toString(16).padStart(8, '0');

  let ha1 = hash(alg.base, `${input.username}:${realm}:${input.password}`);
  if (alg.session) ha1 = hash(alg.base, `${ha1}:${nonce}:${cnonce}`);
  const ha2 =
    qop === 'auth-int'
      ? hash(
          alg.base,
          `${input.method}:${input.uri}:${hash(alg.base, input.body ?? Buffer.alloc(0))}`,
        )
      : hash(alg.base, `${input.method}:${input.uri}`);
  const response = qop
    ? hash(alg.base, `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
    : hash(alg.base, `${ha1}:${nonce}:${ha2}`);

  const out: Record<string, string> = { username: input.username, realm, nonce, uri: input.uri };
  out.response = response;
  if (alg.token !== undefined) out.algorithm = alg.token;
  if (qop || alg.session) out.cnonce = cnonce;
  if (qop) {
    out.qop = qop;
    out.nc = nc;
  }
  if (ch.params.opaque !== undefined) out.opaque = ch.params.opaque;
  return out;
}

/** Nonces whose nc a DigestClient remembers (the least recently used is forgotten first). */
const MAX_NONCES = 256;

/** Parameters whose values RFC 3261 §25.1 / RFC 7616 write without quotes. */
const UNQUOTED = new Set(['algorithm', 'qop', 'nc', 'stale']);

/** `Digest username="...", realm="...", ...` for an Authorization / Proxy-Authorization header. */
export function formatCredentials(fields: Record<string, string>): string {
  const parts = Object.entries(fields).map(([k, v]) =>
    UNQUOTED.has(k) ? `${k}=${v}` : `${k}="${v.replace(/(["\\])/g, '\\$1')}"`,
  );
  return `Digest ${parts.join(', ')}`;
}

export interface DigestAnswer {
  /** 'Authorization' for a 401's WWW-Authenticate, 'Proxy-Authorization' for a 407. */
  header: 'Authorization' | 'Proxy-Authorization';
  value: string;
  realm: string;
}

/**
 * Answers challenges for one user across requests: counts nc per nonce, and remembers each
 * realm's last challenge so later requests (refreshes, in-dialog requests) can carry credentials
 * before being challenged again.
 */
export class DigestClient {
  private readonly nonceCounts = new Map<string, number>();
  private readonly cached = new Map<string, { ch: Challenge; header: DigestAnswer['header'] }>();

  constructor(
    readonly username: string,
    private readonly password: string,
  ) {}

  /**
   * Answers the challenges of a 401 or 407 response. Returns one header value per realm
   * (strongest supported algorithm), or an empty list when nothing can be answered.
   */
  answer(
    status: 401 | 407,
    challenges: readonly Challenge[],
    request: { method: string; uri: string; body?: Buffer },
  ): DigestAnswer[] {
    const header = status === 407 ? 'Proxy-Authorization' : 'Authorization';
    const out: DigestAnswer[] = [];
    for (const ch of pickChallenges(challenges)) {
      const realm = ch.params.realm ?? '';
      this.cached.set(`${header}|${realm}`, { ch, header });
      out.push(this.sign(ch, header, request));
    }
    return out;
  }

  /** Credentials for every realm seen so far, counted on their nonce (pre-emptive answer). */
  cachedAnswers(request: { method: string; uri: string; body?: Buffer }): DigestAnswer[] {
    return [...this.cached.values()].map(({ ch, header }) => this.sign(ch, header, request));
  }

  /** Forgets a realm's cached challenge (after it was refused). */
  forget(realm: string): void {
    for (const key of [...this.cached.keys()]) {
      if (key.endsWith(`|${realm}`)) this.cached.delete(key);
    }
  }

  /** Credentials for one challenge, counting nc on its nonce. */
  sign(
    ch: Challenge,
    header: DigestAnswer['header'],
    request: { method: string; uri: string; body?: Buffer },
  ): DigestAnswer {
    const nonce = ch.params.nonce ?? '';
    const nc = (this.nonceCounts.get(nonce) ?? 0) + 1;
    this.nonceCounts.delete(nonce); // re-inserted last: the map stays in order of use
    this.nonceCounts.set(nonce, nc);
    if (this.nonceCounts.size > MAX_NONCES) {
      // A long-lived agent sees a new nonce per challenge: forget the least recently used.
      const oldest = this.nonceCounts.keys().next().value;
      if (oldest !== undefined) this.nonceCounts.delete(oldest);
    }
    const fields = answerChallenge(ch, {
      username: this.username,
      password: this.password,
      method: request.method,
      uri: request.uri,
      body: request.body,
      nc,
    });
    return { header, value: formatCredentials(fields), realm: ch.params.realm ?? '' };
  }
}
