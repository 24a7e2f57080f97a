// The embedded store: one SQLite file through better-sqlite3, in WAL mode. Every write is its own
// committed transaction before the call returns, so a process killed right after (kill -9) loses
// nothing already written: WAL with synchronous=NORMAL is durable against process crashes (only an
// operating-system crash or power loss can lose the last transactions; set `synchronous: 'FULL'`
// to cover those too, at the cost of an fsync per write).
import Database from 'better-sqlite3';
import type { BindingRecord, CdrRecord, Store, UserRecord } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  user TEXT NOT NULL, domain TEXT NOT NULL, ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT,
  display_name TEXT, PRIMARY KEY (user, domain)
);
CREATE TABLE IF NOT EXISTS bindings (
  aor TEXT NOT NULL, contact TEXT NOT NULL, target TEXT NOT NULL, q REAL NOT NULL,
  expires_at INTEGER NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL, user_agent TEXT,
  connection_id TEXT, PRIMARY KEY (aor, contact)
);
CREATE INDEX IF NOT EXISTS bindings_expiry ON bindings (expires_at);
CREATE INDEX IF NOT EXISTS bindings_contact ON bindings (contact);
CREATE TABLE IF NOT EXISTS cdrs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, caller TEXT NOT NULL,
  callee TEXT NOT NULL, dialled TEXT NOT NULL, start INTEGER NOT NULL, answer INTEGER,
  end INTEGER, duration REAL NOT NULL, final_status INTEGER NOT NULL, final_reason TEXT,
  hung_up_by TEXT, trunk TEXT, packets INTEGER, lost INTEGER, jitter_ms REAL, mos REAL,
  dropped INTEGER
);
CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs (start);
`;

/**
 * Columns added to cdrs after its first version, with their types: a database written by an
 * older trapezoid gets them (NULL in its old rows) when it is opened.
 */
const CDR_COLUMNS_ADDED: ReadonlyArray<[string, string]> = [
  ['packets', 'INTEGER'],
  ['lost', 'INTEGER'],
  ['jitter_ms', 'REAL'],
  ['mos', 'REAL'],
  ['dropped', 'INTEGER'],
];

interface UserRow {
  user: string;
  domain: string;
  ha1_md5: string;
  ha1_sha256: string | null;
  display_name: string | null;
}
interface BindingRow {
  aor: string;
  contact: string;
  target: string;
  q: number;
  expires_at: number;
  call_id: string;
  cseq: number;
  user_agent: string | null;
  connection_id: string | null;
}
interface CdrRow {
  id: number;
  call_id: string;
  caller: string;
  callee: string;
  dialled: string;
  start: number;
  answer: number | null;
  end: number | null;
  duration: number;
  final_status: number;
  final_reason: string | null;
  hung_up_by: string | null;
  trunk: string | null;
  packets: number | null;
  lost: number | null;
  jitter_ms: number | null;
  mos: number | null;
  dropped: number | null;
}

const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

function toUser(r: UserRow): UserRecord {
  return {
    user: r.user,
    domain: r.domain,
    ha1Md5: r.ha1_md5,
    ha1Sha256: opt(r.ha1_sha256),
    displayName: opt(r.display_name),
  };
}
function toBinding(r: BindingRow): BindingRecord {
  return {
    aor: r.aor,
    contact: r.contact,
    target: r.target,
    q: r.q,
    expiresAt: r.expires_at,
    callId: r.call_id,
    cseq: r.cseq,
    userAgent: opt(r.user_agent),
    connectionId: opt(r.connection_id),
  };
}
function toCdr(r: CdrRow): CdrRecord {
  return {
    id: r.id,
    callId: r.call_id,
    caller: r.caller,
    callee: r.callee,
    dialled: r.dialled,
    start: r.start,
    answer: opt(r.answer),
    end: opt(r.end),
    duration: r.duration,
    finalStatus: r.final_status,
    finalReason: opt(r.final_reason),
    hungUpBy: opt(r.hung_up_by) as CdrRecord['hungUpBy'],
    trunk: opt(r.trunk),
    packets: opt(r.packets),
    lost: opt(r.lost),
    jitterMs: opt(r.jitter_ms),
    mos: opt(r.mos),
    dropped: opt(r.dropped),
  };
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt;

  constructor(path: string, opts: { synchronous?: 'NORMAL' | 'FULL' } = {}) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.migrate();
    const db = this.db;
    this.stmt = {
      putUser: db.prepare(
        `INSERT INTO users (user, domain, ha1_md5, ha1_sha256, display_name)
         VALUES (@user, @domain, @ha1Md5, @ha1Sha256, @displayName)
         ON CONFLICT (user, domain) DO UPDATE SET ha1_md5 = excluded.ha1_md5,
           ha1_sha256 = excluded.ha1_sha256, display_name = excluded.display_name`,
      ),
      removeUser: db.prepare('DELETE FROM users WHERE user = ? AND domain = ?'),
      getUser: db.prepare<[string, string], UserRow>(
        'SELECT * FROM users WHERE user = ? AND domain = ?',
      ),
      listUsers: db.prepare<[], UserRow>('SELECT * FROM users ORDER BY domain, user'),
      listUsersIn: db.prepare<[string], UserRow>(
        'SELECT * FROM users WHERE domain = ? ORDER BY user',
      ),
      putBinding: db.prepare(
        `INSERT INTO bindings (aor, contact, target, q, expires_at, call_id, cseq, user_agent, connection_id)
         VALUES (@aor, @contact, @target, @q, @expiresAt, @callId, @cseq, @userAgent, @connectionId)
         ON CONFLICT (aor, contact) DO UPDATE SET target = excluded.target, q = excluded.q,
           expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq,
           user_agent = excluded.user_agent, connection_id = excluded.connection_id`,
      ),
      removeBinding: db.prepare('DELETE FROM bindings WHERE aor = ? AND contact = ?'),
      removeBindings: db.prepare('DELETE FROM bindings WHERE aor = ?'),
      bindingsFor: db.prepare<[string, number], BindingRow>(
        'SELECT * FROM bindings WHERE aor = ? AND expires_at > ? ORDER BY q DESC, expires_at DESC',
      ),
      allBindings: db.prepare<[number], BindingRow>(
        'SELECT * FROM bindings WHERE expires_at > ? ORDER BY aor, q DESC',
      ),
      byContact: db.prepare<[string, number], BindingRow>(
        'SELECT * FROM bindings WHERE contact = ? AND expires_at > ? ORDER BY expires_at DESC LIMIT 1',
      ),
      purge: db.prepare('DELETE FROM bindings WHERE expires_at <= ?'),
      addCdr: db.prepare(
        `INSERT INTO cdrs (call_id, caller, callee, dialled, start, answer, end, duration, final_status,
           final_reason, hung_up_by, trunk, packets, lost, jitter_ms, mos, dropped)
         VALUES (@callId, @caller, @callee, @dialled, @start, @answer, @end, @duration, @finalStatus,
           @finalReason, @hungUpBy, @trunk, @packets, @lost, @jitterMs, @mos, @dropped)`,
      ),
      listCdrs: db.prepare<[number, number], CdrRow>(
        'SELECT * FROM cdrs WHERE start >= ? ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  /** Brings an older database up to this schema, in one transaction. */
  private migrate(): void {
    const have = new Set(
      (this.db.prepare('PRAGMA table_info(cdrs)').all() as Array<{ name: string }>).map(
        (c) => c.name,
      ),
    );
    const missing = CDR_COLUMNS_ADDED.filter(([name]) => !have.has(name));
    if (missing.length === 0) return;
    this.db.transaction(() => {
      for (const [name, type] of missing)
        this.db.exec(`ALTER TABLE cdrs ADD COLUMN ${name} ${type}`);
    })();
  }

  putUser(u: UserRecord): void {
    this.stmt.putUser.run({
      ...u,
      ha1Sha256: u.ha1Sha256 ?? null,
      displayName: u.displayName ?? null,
    });
  }
  removeUser(user: string, domain: string): boolean {
    return this.stmt.removeUser.run(user, domain).changes > 0;
  }
  getUser(user: string, domain: string): UserRecord | undefined {
    const row = this.stmt.getUser.get(user, domain);
    return row ? toUser(row) : undefined;
  }
  listUsers(domain?: string): UserRecord[] {
    const rows =
      domain === undefined ? this.stmt.listUsers.all() : this.stmt.listUsersIn.all(domain);
    return rows.map(toUser);
  }

  putBinding(b: BindingRecord): void {
    this.stmt.putBinding.run({
      ...b,
      userAgent: b.userAgent ?? null,
      connectionId: b.connectionId ?? null,
    });
  }
  removeBinding(aor: string, contact: string): void {
    this.stmt.removeBinding.run(aor, contact);
  }
  removeBindings(aor: string): void {
    this.stmt.removeBindings.run(aor);
  }
  bindingsFor(aor: string, now: number): BindingRecord[] {
    return this.stmt.bindingsFor.all(aor, now).map(toBinding);
  }
  allBindings(now: number): BindingRecord[] {
    return this.stmt.allBindings.all(now).map(toBinding);
  }
  bindingByContact(contact: string, now: number): BindingRecord | undefined {
    const row = this.stmt.byContact.get(contact, now);
    return row ? toBinding(row) : undefined;
  }
  purgeExpired(now: number): number {
    return this.stmt.purge.run(now).changes;
  }

  addCdr(cdr: CdrRecord): number {
    const info = this.stmt.addCdr.run({
      callId: cdr.callId,
      caller: cdr.caller,
      callee: cdr.callee,
      dialled: cdr.dialled,
      start: cdr.start,
      answer: cdr.answer ?? null,
      end: cdr.end ?? null,
      duration: cdr.duration,
      finalStatus: cdr.finalStatus,
      finalReason: cdr.finalReason ?? null,
      hungUpBy: cdr.hungUpBy ?? null,
      trunk: cdr.trunk ?? null,
      packets: cdr.packets ?? null,
      lost: cdr.lost ?? null,
      jitterMs: cdr.jitterMs ?? null,
      mos: cdr.mos ?? null,
      dropped: cdr.dropped ?? null,
    });
    return Number(info.lastInsertRowid);
  }
  listCdrs(opts: { limit?: number; since?: number } = {}): CdrRecord[] {
    return this.stmt.listCdrs.all(opts.since ?? 0, opts.limit ?? 1000).map(toCdr);
  }

  close(): void {
    this.db.close();
  }
}
