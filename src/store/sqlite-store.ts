// The embedded store: one SQLite file through better-sqlite3, in WAL mode. Every write is its own
// committed transaction before the call returns, so a process killed right after (kill -9) loses
// nothing already written: WAL with synchronous=NORMAL is durable against process crashes (only an
// operating-system crash or power loss can lose the last transactions; set `synchronous: 'FULL'`
// to cover those too, at the cost of an fsync per write).
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type {
  BindingRecord,
  CdrCause,
  CdrRecord,
  DialogRecord,
  ExpiredBinding,
  Store,
  UserRecord,
} from './store.ts';

/** The cdrs table as this version writes it (duration NULL while the end is unknown). */
const CDR_TABLE = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, caller TEXT NOT NULL,
  callee TEXT NOT NULL, dialled TEXT NOT NULL, start INTEGER NOT NULL, answer INTEGER,
  end INTEGER, duration REAL, final_status INTEGER NOT NULL, final_reason TEXT,
  hung_up_by TEXT, trunk TEXT, packets INTEGER, lost INTEGER, jitter_ms REAL, mos REAL,
  dropped INTEGER, cause TEXT NOT NULL DEFAULT 'failed', dialog TEXT
);`;
const CDR_COLUMN_LIST =
  'id, call_id, caller, callee, dialled, start, answer, end, duration, final_status, ' +
  'final_reason, hung_up_by, trunk, packets, lost, jitter_ms, mos, dropped';

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
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
${CDR_TABLE('cdrs')}
CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs (start);
CREATE INDEX IF NOT EXISTS cdrs_call_id ON cdrs (call_id);
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
  ['dialog', 'TEXT'],
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
  duration: number | null;
  final_status: number;
  cause: string | null;
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
    duration: opt(r.duration),
    finalStatus: r.final_status,
    cause: (r.cause ?? (r.answer !== null ? 'answered' : 'failed')) as CdrCause,
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

/** The named parameters of the cdrs statements. */
function cdrParams(cdr: CdrRecord) {
  return {
    callId: cdr.callId,
    caller: cdr.caller,
    callee: cdr.callee,
    dialled: cdr.dialled,
    start: cdr.start,
    answer: cdr.answer ?? null,
    end: cdr.end ?? null,
    duration: cdr.duration ?? null,
    finalStatus: cdr.finalStatus,
    finalReason: cdr.finalReason ?? null,
    hungUpBy: cdr.hungUpBy ?? null,
    trunk: cdr.trunk ?? null,
    packets: cdr.packets ?? null,
    lost: cdr.lost ?? null,
    jitterMs: cdr.jitterMs ?? null,
    mos: cdr.mos ?? null,
    dropped: cdr.dropped ?? null,
    cause: cdr.cause,
  };
}

/** The tables of the embedded default, made or brought up to date on `db` (see migrateLegacy). */
export function createLegacySchema(db: Database.Database): void {
  db.exec(SCHEMA);
  migrateLegacy(db);
}

/**
 * Brings an older file's cdrs table up to date: columns added since, and (before the `cause`
 * column) the table rebuilt so that duration may be NULL while a call's end is unknown.
 */
export function migrateLegacy(db: Database.Database): void {
  const columns = () =>
    db.prepare('PRAGMA table_info(cdrs)').all() as Array<{ name: string; notnull: number }>;
  const have = new Set(columns().map((c) => c.name));
  const missing = CDR_COLUMNS_ADDED.filter(([name]) => !have.has(name));
  db.transaction(() => {
    for (const [name, type] of missing) db.exec(`ALTER TABLE cdrs ADD COLUMN ${name} ${type}`);
    if (have.has('cause')) return;
    db.exec(`${CDR_TABLE('cdrs_v2')}
      INSERT INTO cdrs_v2 (${CDR_COLUMN_LIST}, cause)
        SELECT ${CDR_COLUMN_LIST},
          CASE WHEN answer IS NOT NULL THEN 'answered' ELSE 'failed' END FROM cdrs;
      DROP TABLE cdrs;
      ALTER TABLE cdrs_v2 RENAME TO cdrs;
      CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs (start);
      CREATE INDEX IF NOT EXISTS cdrs_call_id ON cdrs (call_id);`);
  })();
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
      openDialogs: db.prepare<[string], { dialog: string }>(
        'SELECT dialog FROM cdrs WHERE call_id = ? AND end IS NULL AND dialog IS NOT NULL',
      ),
      updateDialog: db.prepare(
        `UPDATE cdrs SET dialog = @dialog WHERE call_id = @callId AND end IS NULL
           AND json_extract(dialog, '$.calleeTag') = @calleeTag`,
      ),
      getSecret: db.prepare<[string], { value: Buffer }>(
        'SELECT value FROM secrets WHERE name = ?',
      ),
      putSecret: db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)'),
      purge: db.prepare<[number], { aor: string; contact: string; target: string }>(
        'DELETE FROM bindings WHERE expires_at <= ? RETURNING aor, contact, target',
      ),
      addCdr: db.prepare(
        `INSERT INTO cdrs (call_id, caller, callee, dialled, start, answer, end, duration, final_status,
           final_reason, hung_up_by, trunk, packets, lost, jitter_ms, mos, dropped, cause, dialog)
         VALUES (@callId, @caller, @callee, @dialled, @start, @answer, @end, @duration, @finalStatus,
           @finalReason, @hungUpBy, @trunk, @packets, @lost, @jitterMs, @mos, @dropped, @cause,
           @dialog)`,
      ),
      updateCdr: db.prepare(
        `UPDATE cdrs SET answer = @answer, end = @end, duration = @duration,
           final_status = @finalStatus, final_reason = @finalReason, hung_up_by = @hungUpBy,
           packets = @packets, lost = @lost, jitter_ms = @jitterMs, mos = @mos,
           dropped = @dropped, cause = @cause,
           dialog = CASE WHEN @end IS NULL THEN dialog ELSE NULL END WHERE id = @id`,
      ),
      hasCdr: db.prepare<[string], { one: number }>(
        'SELECT 1 AS one FROM cdrs WHERE call_id = ? LIMIT 1',
      ),
      openCdr: db.prepare<[string], CdrRow>(
        `SELECT * FROM cdrs WHERE call_id = ? AND answer IS NOT NULL AND end IS NULL
         ORDER BY id DESC LIMIT 1`,
      ),
      closeInterrupted: db.prepare(
        `UPDATE cdrs SET cause = 'server-restart'
         WHERE answer IS NOT NULL AND end IS NULL AND cause = 'answered'`,
      ),
      listCdrs: db.prepare<[number, number], CdrRow>(
        'SELECT * FROM cdrs WHERE start >= ? ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  /**
   * Brings an older database up to this schema, in one transaction: media columns added, then
   * (before the `cause` column) the table rebuilt so that duration may be NULL while a call's
   * end is unknown; old rows get the cause their answer implies.
   */
  private migrate(): void {
    migrateLegacy(this.db);
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
  purgeExpired(now: number): ExpiredBinding[] {
    return this.stmt.purge.all(now);
  }

  openDialogs(callId: string, now: number): DialogRecord[] {
    return this.stmt.openDialogs
      .all(callId)
      .map((r) => JSON.parse(r.dialog) as DialogRecord)
      .filter((d) => d.expiresAt > now);
  }
  updateDialog(d: DialogRecord): void {
    this.stmt.updateDialog.run({
      callId: d.callId,
      calleeTag: d.calleeTag,
      dialog: JSON.stringify(d),
    });
  }

  secret(name: string): Buffer {
    const row = this.stmt.getSecret.get(name);
    if (row) return Buffer.from(row.value);
    this.stmt.putSecret.run(name, randomBytes(32));
    return Buffer.from(this.stmt.getSecret.get(name)!.value);
  }

  addCdr(cdr: CdrRecord, dialog?: DialogRecord): number {
    const info = this.stmt.addCdr.run({
      ...cdrParams(cdr),
      dialog: dialog ? JSON.stringify(dialog) : null,
    });
    return Number(info.lastInsertRowid);
  }
  updateCdr(id: number, cdr: CdrRecord): void {
    const p = cdrParams(cdr);
    this.stmt.updateCdr.run({
      id,
      answer: p.answer,
      end: p.end,
      duration: p.duration,
      finalStatus: p.finalStatus,
      finalReason: p.finalReason,
      hungUpBy: p.hungUpBy,
      packets: p.packets,
      lost: p.lost,
      jitterMs: p.jitterMs,
      mos: p.mos,
      dropped: p.dropped,
      cause: p.cause,
    });
  }
  hasCdr(callId: string): boolean {
    return this.stmt.hasCdr.get(callId) !== undefined;
  }
  openCdr(callId: string): CdrRecord | undefined {
    const row = this.stmt.openCdr.get(callId);
    return row ? toCdr(row) : undefined;
  }
  closeInterruptedCdrs(): number {
    return this.stmt.closeInterrupted.run().changes;
  }
  listCdrs(opts: { limit?: number; since?: number } = {}): CdrRecord[] {
    return this.stmt.listCdrs.all(opts.since ?? 0, opts.limit ?? 1000).map(toCdr);
  }

  close(): void {
    this.db.close();
  }
}
