// Server side of digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): issues challenges and
// checks credentials against stored HA1 hashes (the server never holds passwords).
//
// Nonces are stateless and unforgeable: base64url(issued-at ms ‖ 8 random bytes ‖ first 16 bytes
// of HMAC-SHA256(secret, issued-at ‖ random ‖ realm)). A nonce older than the TTL is answered
// with a fresh challenge carrying stale=true, so the client retries without asking its user. The
// nonce count (nc) of each nonce must grow: a repeated or lower nc is a replay and is refused. A
// response without qop (which we always offer) uses its nonce up: it cannot be replayed either.
// The table of last-seen counts is bounded (entries leave when their nonce expires, and the
// oldest leave first when it is full).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DigestCredentials } from '../sip/index.ts';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

const NODE_HASH: Record<DigestAlgorithm, string> = { MD5: 'md5', 'SHA-256': 'sha256' };

export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(NODE_HASH[algorithm]).update(text).digest('hex');
}

/** HA1 = H(user ":" realm ":" password): what the store keeps. */
export function computeHa1(
  algorithm: DigestAlgorithm,
  user: string,
  realm: string,
  password: string,
): string {
  return digestHash(algorithm, `${user}:${realm}:${password}`);
}

export interface StoredSecrets {
  ha1Md5: string;
  ha1Sha256?: string;
}

export type AuthFailure =
  | 'missing' // no credentials for our realm
  | 'malformed' // credentials lack a field or name an algorithm/qop we do not offer
  | 'unknown-user'
  | 'bad-response' // wrong password (or tampered request)
  | 'stale' // the nonce expired: challenge again with stale=true
  | 'invalid-nonce' // a nonce we never issued
  | 'replay'; // nc not higher than before for this nonce

export type AuthResult =
  { ok: true; user: string } | { ok: false; failure: AuthFailure; user?: string };

export interface DigestAuthenticatorOptions {
  realm: string;
  /** Offered in this order (RFC 8760: the preferred first). */
  algorithms: DigestAlgorithm[];
  nonceTtlSeconds: number;
  secret?: Buffer;
  now?: () => number;
  /** Most nonces whose counts are remembered at once. */
  maxTrackedNonces?: number;
}

const NONCE_RAW_BYTES = 8 + 8 + 16;
/** The count recorded for a nonce used without qop: no later use of it can pass. */
const ONE_TIME = Number.MAX_SAFE_INTEGER;

export class DigestAuthenticator {
  readonly realm: string;
  private readonly secret: Buffer;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly maxTracked: number;
  /** nonce -> highest nc seen; Map keeps insertion order, so the oldest nonce is first. */
  private readonly counts = new Map<string, { nc: number; issuedAt: number }>();

  constructor(private readonly opts: DigestAuthenticatorOptions) {
    this.realm = opts.realm;
    this.secret = opts.secret ?? randomBytes(32);
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.nonceTtlSeconds * 1000;
    this.maxTracked = opts.maxTrackedNonces ?? 100_000;
  }

  newNonce(): string {
    const raw = Buffer.alloc(NONCE_RAW_BYTES);
    raw.writeBigUInt64BE(BigInt(this.now()), 0);
    randomBytes(8).copy(raw, 8);
    this.mac(raw.subarray(0, 16)).copy(raw, 16);
    return raw.toString('base64url');
  }

  /** Header values for WWW-Authenticate / Proxy-Authenticate: one challenge per algorithm. */
  challenges(stale = false): string[] {
    const nonce = this.newNonce();
    return this.opts.algorithms.map(
      (alg) =>
        `Digest realm="${this.realm}", nonce="${nonce}", algorithm=${alg}, qop="auth"${stale ? ', stale=true' : ''}`,
    );
  }

  /**
   * Checks the credentials of a request. `lookup` finds the stored HA1s of a user (undefined for
   * an unknown user). The caller answers every failure alike (no user enumeration), with
   * `challenges(failure === 'stale')`.
   */
  verify(
    credentials: readonly DigestCredentials[],
    method: string,
    lookup: (user: string) => StoredSecrets | undefined,
  ): AuthResult {
    const cred = credentials.find(
      (c) => c.scheme.toLowerCase() === 'digest' && (c.params.realm ?? '') === this.realm,
    );
    if (!cred) return { ok: false, failure: 'missing' };
    const p = cred.params;
    const user = p.username;
    if (!user || !p.nonce || !p.uri || !p.response)
      return { ok: false, failure: 'malformed', user };
    const algorithm = (p.algorithm ?? 'MD5').toUpperCase() as DigestAlgorithm;
    if (!this.opts.algorithms.includes(algorithm)) return { ok: false, failure: 'malformed', user };
    const qop = p.qop?.toLowerCase();
    if (qop !== undefined && qop !== 'auth') return { ok: false, failure: 'malformed', user };

    const issuedAt = this.checkNonce(p.nonce);
    if (issuedAt === undefined) return { ok: false, failure: 'invalid-nonce', user };

    const secrets = lookup(user);
    if (!secrets) return { ok: false, failure: 'unknown-user', user };
    const ha1 = algorithm === 'MD5' ? secrets.ha1Md5 : secrets.ha1Sha256;
    if (!ha1) return { ok: false, failure: 'malformed', user };

    const ha2 = digestHash(algorithm, `${method}:${p.uri}`);
    let expected: string;
    let nc = 0;
    if (qop === 'auth') {
      if (!p.nc || !p.cnonce || !/^[0-9a-fA-F]{8}$/.test(p.nc))
        return { ok: false, failure: 'malformed', user };
      nc = parseInt(p.nc, 16);
      expected = digestHash(algorithm, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
    } else {
      expected = digestHash(algorithm, `${ha1}:${p.nonce}:${ha2}`);
    }
    const given = Buffer.from(p.response.toLowerCase());
    const want = Buffer.from(expected);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      return { ok: false, failure: 'bad-response', user };
    }
    // The password was right; now the nonce must still be fresh and its count must grow.
    if (this.now() - issuedAt > this.ttlMs) return { ok: false, failure: 'stale', user };
    // With qop the count must grow; without it (RFC 2069 style, though we offer qop="auth")
    // nothing tells two uses apart, so the nonce is good for one request only.
    const count = qop === 'auth' ? nc : ONE_TIME;
    if (!this.acceptCount(p.nonce, count, issuedAt)) {
      return { ok: false, failure: 'replay', user };
    }
    return { ok: true, user };
  }

  private mac(data: Buffer): Buffer {
    return createHmac('sha256', this.secret)
      .update(data)
      .update(this.realm)
      .digest()
      .subarray(0, 16);
  }

  /** The nonce's issue time if we issued it, else undefined. */
  private checkNonce(nonce: string): number | undefined {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_RAW_BYTES) return undefined;
    if (!timingSafeEqual(raw.subarray(16), this.mac(raw.subarray(0, 16)))) return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  private acceptCount(nonce: string, nc: number, issuedAt: number): boolean {
    const seen = this.counts.get(nonce);
    if (seen && (nc <= seen.nc || nc === ONE_TIME)) return false;
    this.counts.delete(nonce);
    this.counts.set(nonce, { nc, issuedAt });
    this.prune();
    return true;
  }

  private prune(): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [nonce, entry] of this.counts) {
      if (this.counts.size <= this.maxTracked && entry.issuedAt >= cutoff) break;
      this.counts.delete(nonce);
    }
  }

  /** Nonces whose counts are being tracked (for tests and metrics). */
  get trackedNonces(): number {
    return this.counts.size;
  }
}
