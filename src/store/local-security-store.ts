// Security state for one process (the embedded default, no Redis): bans and nonce counts in
// memory, which is all one node needs (they are short-lived; a restart forgets them, as the
// in-process ban list always did). Secrets are kept in SQLite when a database is given, so that
// tokens signed before a restart (Record-Route of stored dialogs) still verify after it; the
// single secret an older trapezoid kept in the `secrets` table becomes the first keyed one.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { KeyedSecret, SecurityStore, StoredBan } from './stores.ts';

type BanChange = { action: 'ban' | 'unban'; ban: StoredBan | { source: string } };

export interface LocalSecurityStoreOptions {
  /** Keep secrets in this SQLite file or database (default: in memory only). */
  database?: string | Database.Database;
  /** Clock for nonce expiry and secret rotation (default Date.now). */
  now?: () => number;
  /** Nonces remembered at most at once (default 100 000): the oldest are forgotten first. */
  maxNonces?: number;
  /**
   * Secrets kept in memory even with a database: those that sign nonces, whose counts are kept
   * in memory too. A key that outlived a restart would make a nonce from before it valid again
   * with its counts forgotten, and a captured request replayable once.
   */
  memoryOnly?: readonly string[];
}

const KEYED_SECRETS_TABLE = `
CREATE TABLE IF NOT EXISTS keyed_secrets (
  name TEXT NOT NULL, kid TEXT NOT NULL, key BLOB NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (name, kid)
);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);`;

/** The kid given to the secret an older version kept unkeyed in the `secrets` table. */
export const LEGACY_KID = 'legacy';

interface SecretRow {
  kid: string;
  key: Buffer;
  created_at: number;
}

export class LocalSecurityStore implements SecurityStore {
  private readonly banMap = new Map<string, StoredBan>();
  private readonly listeners = new Set<(change: BanChange) => void>();
  /** nonce -> highest count seen (Infinity: used up) and when it stops mattering. */
  private readonly nonces = new Map<string, { nc: number; until: number }>();
  private readonly memorySecrets = new Map<string, KeyedSecret[]>();
  private readonly db: Database.Database | undefined;
  private readonly ownsDb: boolean;
  private readonly now: () => number;
  private readonly maxNonces: number;
  private readonly memoryOnly: ReadonlySet<string>;
  private readonly stmt;

  constructor(opts: LocalSecurityStoreOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.maxNonces = opts.maxNonces ?? 100_000;
    this.memoryOnly = new Set(opts.memoryOnly ?? []);
    if (typeof opts.database === 'string') {
      this.db = new Database(opts.database);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.ownsDb = true;
    } else {
      this.db = opts.database;
      this.ownsDb = false;
    }
    if (!this.db) {
      this.stmt = undefined;
      return;
    }
    this.db.exec(KEYED_SECRETS_TABLE);
    const db = this.db;
    this.stmt = {
      list: db.prepare<[string], SecretRow>(
        'SELECT kid, key, created_at FROM keyed_secrets WHERE name = ? ORDER BY created_at DESC, kid DESC',
      ),
      add: db.prepare('INSERT INTO keyed_secrets (name, kid, key, created_at) VALUES (?, ?, ?, ?)'),
      drop: db.prepare('DELETE FROM keyed_secrets WHERE name = ? AND kid = ?'),
      legacy: db.prepare<[string], { value: Buffer }>('SELECT value FROM secrets WHERE name = ?'),
    };
  }

  async ban(ban: StoredBan): Promise<void> {
    const now = this.now();
    if (ban.until <= now) return;
    const existing = this.banMap.get(ban.source);
    if (existing && existing.until > now && existing.until >= ban.until) return;
    this.banMap.set(ban.source, { ...ban });
    this.emit({ action: 'ban', ban: { ...ban } });
  }

  async unban(source: string): Promise<boolean> {
    const existing = this.banMap.get(source);
    this.banMap.delete(source);
    if (!existing || existing.until <= this.now()) return false;
    this.emit({ action: 'unban', ban: { source } });
    return true;
  }

  async bans(now: number): Promise<StoredBan[]> {
    const out: StoredBan[] = [];
    const clock = this.now();
    for (const [source, b] of this.banMap) {
      if (b.until <= clock) this.banMap.delete(source);
      else if (b.until > now) out.push({ ...b });
    }
    return out;
  }

  async onBanChange(listener: (change: BanChange) => void): Promise<() => void> {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Listeners hear a change after the call that made it has returned, as they would over Redis. */
  private emit(change: BanChange): void {
    if (this.listeners.size === 0) return;
    setImmediate(() => {
      for (const l of this.listeners) l(change);
    });
  }

  async useNonce(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const seen = this.nonces.get(nonce);
    if (seen && seen.until > now) {
      if (nc === 0 || nc <= seen.nc) return false;
      seen.nc = nc;
      return true;
    }
    if (seen) this.nonces.delete(nonce);
    if (this.nonces.size >= this.maxNonces) this.prune(now);
    this.nonces.set(nonce, { nc: nc === 0 ? Infinity : nc, until: now + ttlMs });
    return true;
  }

  /** Forgets expired nonces, then (still full) the oldest ones (Map order is insertion order). */
  private prune(now: number): void {
    for (const [nonce, s] of this.nonces) if (s.until <= now) this.nonces.delete(nonce);
    for (const nonce of this.nonces.keys()) {
      if (this.nonces.size < this.maxNonces) break;
      this.nonces.delete(nonce);
    }
  }

  async secrets(name: string, rotateMs: number, keep: number): Promise<KeyedSecret[]> {
    return this.stmt && !this.memoryOnly.has(name)
      ? this.storedSecrets(name, rotateMs, keep)
      : this.heldSecrets(name, rotateMs, keep);
  }

  private heldSecrets(name: string, rotateMs: number, keep: number): KeyedSecret[] {
    const now = this.now();
    let list = this.memorySecrets.get(name) ?? [];
    if (list.length === 0 || list[0]!.createdAt + rotateMs <= now) {
      list = [newSecret(now), ...list].slice(0, Math.max(1, keep));
      this.memorySecrets.set(name, list);
    }
    return list.map((s) => ({ ...s, key: Buffer.from(s.key) }));
  }

  private storedSecrets(name: string, rotateMs: number, keep: number): KeyedSecret[] {
    const stmt = this.stmt!;
    return this.db!.transaction(() => {
      const now = this.now();
      let rows = stmt.list.all(name);
      if (rows.length === 0) {
        const legacy = stmt.legacy.get(name);
        if (legacy) {
          stmt.add.run(name, LEGACY_KID, legacy.value, now);
          rows = stmt.list.all(name);
        }
      }
      if (rows.length === 0 || rows[0]!.created_at + rotateMs <= now) {
        const s = newSecret(now);
        stmt.add.run(name, s.kid, s.key, s.createdAt);
        rows = stmt.list.all(name);
      }
      for (const r of rows.slice(Math.max(1, keep))) stmt.drop.run(name, r.kid);
      return rows.slice(0, Math.max(1, keep)).map((r) => ({
        kid: r.kid,
        key: Buffer.from(r.key),
        createdAt: r.created_at,
      }));
    }).immediate();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (this.ownsDb) this.db!.close();
  }
}

function newSecret(now: number): KeyedSecret {
  return { kid: randomBytes(6).toString('base64url'), key: randomBytes(32), createdAt: now };
}
