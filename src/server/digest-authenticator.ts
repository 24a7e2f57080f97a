// Server side of digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): issues challenges and
// checks credentials against stored HA1 hashes (the server never holds passwords).
//
// Nonces are stateless and unforgeable, and any node holding the same keys verifies them:
//
//   nonce = base64url( issued-at (8, ms BE) ‖ random (8) ‖ kid length (1) ‖ kid (UTF-8)
//                      ‖ first 16 bytes of HMAC-SHA256(key[kid], everything before ‖ realm) )
//
// New nonces are signed with the newest key (`keys()[0]`); a nonce signed with an older key
// verifies while that key is still listed, and is a nonce we never issued once it has dropped
// out. A nonce older than the TTL is answered with a fresh challenge carrying stale=true, so the
// client retries without asking its user. The nonce count (nc) of each nonce must grow: a
// repeated or lower nc is a replay and is refused. A response without qop (which we always
// offer) uses its nonce up: it cannot be replayed either. The counts live behind `replay`: the
// cluster's SecurityStore.useNonce (every node sees every count), or by default a bounded table
// in this process (entries leave when their nonce expires, the oldest first when it is full).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DigestCredentials } from '../sip/index.ts';
import type { KeyedSecret } from '../store/stores.ts';

export type { KeyedSecret } from '../store/stores.ts';

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
  /**
   * The signing keys, newest first (read at every challenge and check, so keep it cheap: the
   * caller refreshes a held list from SecurityStore.secrets('digest', rotateMs, keep), e.g. with
   * DigestKeyRing). Must not be empty when a challenge is made. Wins over `secret`.
   */
  keys?: () => readonly KeyedSecret[];
  /**
   * Called when a nonce names a key id `keys()` does not hold (another node may have rotated
   * before this one refreshed): refresh the keys, then the nonce is checked once more. At most
   * once a second, so forged key ids cannot flood the store.
   */
  refreshKeys?: () => Promise<unknown>;
  /** One fixed key (kid ''), when `keys` is not given; default: a random key of this process. */
  secret?: Buffer;
  /**
   * Records nonce count `nc` of `nonce` and says whether it is new (true: accept). nc 0: a
   * response without qop, which uses the nonce up. `ttlMs`: how long the nonce can still be used.
   * Give `(n, nc, ttl) => securityStore.useNonce(n, nc, ttl)` to share the counts between nodes;
   * default: a bounded table in this process.
   */
  replay?: (nonce: string, nc: number, ttlMs: number) => Promise<boolean> | boolean;
  now?: () => number;
  /** Most nonces whose counts the default table remembers at once. */
  maxTrackedNonces?: number;
}

/** issued-at, random, kid length: the fixed part before the kid. */
const NONCE_HEAD_BYTES = 8 + 8 + 1;
const NONCE_MAC_BYTES = 16;
/** A kid is at most this long (its length is one byte of the nonce). */
const MAX_KID_BYTES = 64;
/** Longer nonce strings are not ours: refused before decoding. */
const MAX_NONCE_CHARS = Math.ceil(((NONCE_HEAD_BYTES + MAX_KID_BYTES + NONCE_MAC_BYTES) * 4) / 3);
/**
 * How much longer than its own life a nonce's count is remembered: nodes' clocks may differ a
 * little, and a node whose clock is behind still takes the nonce as fresh for that long.
 */
const CLOCK_SKEW_MS = 30_000;
/** refreshKeys is called at most this often (ms). */
const REFRESH_INTERVAL_MS = 1000;

export class DigestAuthenticator {
  readonly realm: string;
  private readonly keys: () => readonly KeyedSecret[];
  private readonly replay: (nonce: string, nc: number, ttlMs: number) => Promise<boolean> | boolean;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly maxTracked: number;
  /** Default replay table: nonce -> highest nc seen (Infinity: used up) and when it lapses. */
  private readonly counts = new Map<string, { nc: number; until: number }>();
  private lastRefresh = -Infinity;
  private refreshing: Promise<unknown> | undefined;

  constructor(private readonly opts: DigestAuthenticatorOptions) {
    this.realm = opts.realm;
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.nonceTtlSeconds * 1000;
    this.maxTracked = opts.maxTrackedNonces ?? 100_000;
    if (opts.keys) {
      this.keys = opts.keys;
    } else {
      const only: readonly KeyedSecret[] = [
        { kid: '', key: opts.secret ?? randomBytes(32), createdAt: this.now() },
      ];
      this.keys = () => only;
    }
    this.replay = opts.replay ?? ((nonce, nc, ttlMs) => this.acceptCount(nonce, nc, ttlMs));
  }

  newNonce(): string {
    const signer = this.keys()[0];
    if (!signer) throw new Error('DigestAuthenticator: keys() is empty, no key to sign a nonce');
    const kid = Buffer.from(signer.kid, 'utf8');
    if (kid.length > MAX_KID_BYTES)
      throw new Error(`DigestAuthenticator: kid longer than ${MAX_KID_BYTES} bytes`);
    const signed = NONCE_HEAD_BYTES + kid.length;
    const raw = Buffer.alloc(signed + NONCE_MAC_BYTES);
    raw.writeBigUInt64BE(BigInt(this.now()), 0);
    randomBytes(8).copy(raw, 8);
    raw[16] = kid.length;
    kid.copy(raw, NONCE_HEAD_BYTES);
    this.mac(signer.key, raw.subarray(0, signed)).copy(raw, signed);
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
   * `challenges(failure === 'stale')`. The nonce is judged first (one we did not issue is
   * refused before the user matters); its age and count only once the password was right.
   */
  async verify(
    credentials: readonly DigestCredentials[],
    method: string,
    lookup: (user: string) => StoredSecrets | undefined | Promise<StoredSecrets | undefined>,
  ): Promise<AuthResult> {
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

    const issuedAt = await this.checkNonce(p.nonce);
    if (issuedAt === undefined) return { ok: false, failure: 'invalid-nonce', user };

    const secrets = await lookup(user);
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
      // RFC 7616 §3.4: the count starts at 00000001 (0 would read as "used up" to the store).
      if (nc === 0) return { ok: false, failure: 'malformed', user };
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
    const age = this.now() - issuedAt;
    if (age > this.ttlMs) return { ok: false, failure: 'stale', user };
    // With qop the count must grow; without it (RFC 2069 style, though we offer qop="auth")
    // nothing tells two uses apart, so the nonce is good for one request only (nc 0).
    const lifeMs = Math.max(1, this.ttlMs - age) + CLOCK_SKEW_MS;
    if (!(await this.replay(p.nonce, nc, lifeMs))) {
      return { ok: false, failure: 'replay', user };
    }
    return { ok: true, user };
  }

  private mac(key: Buffer, data: Buffer): Buffer {
    return createHmac('sha256', key)
      .update(data)
      .update(this.realm)
      .digest()
      .subarray(0, NONCE_MAC_BYTES);
  }

  /** The nonce's issue time if one of our keys signed it, else undefined. */
  private async checkNonce(nonce: string): Promise<number | undefined> {
    if (nonce.length > MAX_NONCE_CHARS) return undefined;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length < NONCE_HEAD_BYTES + NONCE_MAC_BYTES) return undefined;
    const kidLength = raw[16]!;
    const signed = NONCE_HEAD_BYTES + kidLength;
    if (raw.length !== signed + NONCE_MAC_BYTES) return undefined;
    const kid = raw.toString('utf8', NONCE_HEAD_BYTES, signed);
    let key = this.keyOf(kid);
    if (!key && this.opts.refreshKeys) {
      await this.refresh();
      key = this.keyOf(kid);
    }
    if (!key) return undefined;
    if (!timingSafeEqual(raw.subarray(signed), this.mac(key, raw.subarray(0, signed))))
      return undefined;
    return Number(raw.readBigUInt64BE(0));
  }

  private keyOf(kid: string): Buffer | undefined {
    for (const k of this.keys()) if (k.kid === kid) return k.key;
    return undefined;
  }

  /** Calls refreshKeys, at most once per REFRESH_INTERVAL_MS (callers meanwhile share one call). */
  private async refresh(): Promise<void> {
    if (!this.refreshing) {
      const now = this.now();
      if (now - this.lastRefresh < REFRESH_INTERVAL_MS) return;
      this.lastRefresh = now;
      this.refreshing = this.opts.refreshKeys!().finally(() => (this.refreshing = undefined));
    }
    try {
      await this.refreshing;
    } catch {
      // The keys we hold stay in use; the nonce is judged with them.
    }
  }

  /** The default replay check: this process's table of counts. */
  private acceptCount(nonce: string, nc: number, ttlMs: number): boolean {
    const now = this.now();
    const seen = this.counts.get(nonce);
    const count = nc === 0 ? Infinity : nc;
    if (seen && seen.until > now && (nc === 0 || count <= seen.nc)) return false;
    this.counts.delete(nonce);
    this.counts.set(nonce, { nc: count, until: now + ttlMs });
    this.prune(now);
    return true;
  }

  private prune(now: number): void {
    for (const [nonce, entry] of this.counts) {
      if (this.counts.size <= this.maxTracked && entry.until > now) break;
      this.counts.delete(nonce);
    }
  }

  /** Nonces whose counts the default table is tracking (for tests and metrics). */
  get trackedNonces(): number {
    return this.counts.size;
  }
}
