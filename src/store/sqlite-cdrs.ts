// CDRs in the embedded SQLite file, behind the async CdrStore. A write is committed (WAL) before
// its Promise resolves, so there is never anything to spool: `spooled` is always 0. Keys make
// addCdr idempotent here too (a second add of a key changes nothing), as on PostgreSQL.
import type Database from 'better-sqlite3';
import {
  CDR_INSERT_COLUMNS,
  CDR_UPDATE_COLUMNS,
  cdrInsertValues,
  cdrQuerySql,
  cdrUpdateValues,
  toStoredCdr,
  type CdrRow,
} from './cdr-rows.ts';
import { openSqlite, type SqliteOptions } from './sqlite-schema.ts';
import type { CdrKey, CdrQuery, CdrRecord, CdrStore, DialogRecord, StoredCdr } from './stores.ts';

interface PendingWrite {
  write(): unknown;
  resolve(): void;
  reject(err: Error): void;
}

/** The least time between two group commits (see commit()). */
const COMMIT_INTERVAL_MS = 10;

export class SqliteCdrStore implements CdrStore {
  readonly spooled = 0;
  private readonly pending: PendingWrite[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** When the last group commit began (performance.now()). */
  private lastCommit = -Infinity;
  private readonly writeAll: (batch: PendingWrite[]) => void;
  private readonly stmt;
  /** listCdrs statements by their SQL (one per combination of filters). */
  private readonly lists = new Map<string, Database.Statement<Record<string, unknown>, CdrRow>>();

  private constructor(
    private readonly db: Database.Database,
    private readonly ownsDb = true,
  ) {
    this.stmt = {
      add: db.prepare(
        `INSERT INTO cdrs (${CDR_INSERT_COLUMNS.join(', ')})
         VALUES (${CDR_INSERT_COLUMNS.map(() => '?').join(', ')})
         ON CONFLICT (cdr_key) DO NOTHING`,
      ),
      update: db.prepare(
        // Positional: the values of cdrUpdateValues, then `end` again (a completed call's
        // dialog is no longer needed), then the key.
        `UPDATE cdrs SET ${CDR_UPDATE_COLUMNS.map((c) => `${c} = ?`).join(', ')},
           dialog = CASE WHEN ? IS NULL THEN dialog ELSE NULL END WHERE cdr_key = ?`,
      ),
      has: db.prepare<[string], { one: number }>(
        'SELECT 1 AS one FROM cdrs WHERE call_id = ? LIMIT 1',
      ),
      open: db.prepare<[string], CdrRow>(
        `SELECT * FROM cdrs WHERE call_id = ? AND answer IS NOT NULL AND end IS NULL
         ORDER BY id DESC LIMIT 1`,
      ),
      dialogs: db.prepare<[string], { dialog: string }>(
        'SELECT dialog FROM cdrs WHERE call_id = ? AND end IS NULL AND dialog IS NOT NULL ORDER BY id',
      ),
      updateDialog: db.prepare(
        `UPDATE cdrs SET dialog = ? WHERE call_id = ? AND end IS NULL AND dialog IS NOT NULL
           AND json_extract(dialog, '$.calleeTag') = ?`,
      ),
      close: db.prepare(
        // A row without a node was written by a version before nodes: by this file's one
        // process, so it is closed with this node's.
        `UPDATE cdrs SET cause = ? WHERE (node = ? OR node IS NULL) AND answer IS NOT NULL
           AND end IS NULL AND cause = 'answered'`,
      ),
    };
    this.writeAll = db.transaction((batch: PendingWrite[]) => {
      for (const w of batch) w.write();
    });
  }

  static async open(options: SqliteOptions): Promise<SqliteCdrStore> {
    return new SqliteCdrStore(openSqlite(options));
  }

  /** On a database opened by openSqlite and shared with other stores (close leaves it open). */
  static onDatabase(db: Database.Database): SqliteCdrStore {
    return new SqliteCdrStore(db, false);
  }

  addCdr(key: CdrKey, node: string, cdr: CdrRecord, dialog?: DialogRecord): Promise<void> {
    const values = cdrInsertValues(key, node, cdr, dialog);
    return this.commit(() => this.stmt.add.run(...values));
  }

  updateCdr(key: CdrKey, cdr: CdrRecord): Promise<void> {
    const values = cdrUpdateValues(cdr);
    values.push(cdr.end ?? null, key);
    return this.commit(() => this.stmt.update.run(...values));
  }

  /**
   * Group commit: writes wait for the next commit, which takes all of them in one transaction;
   * each Promise resolves once that transaction has committed. A commit appends every page it
   * changed to the WAL (the table's last leaf, each index's, and a leaf of the Call-ID index per
   * new row), so its cost is mostly per commit, not per write. Commits begin at most every
   * COMMIT_INTERVAL_MS: under load a write waits up to that long and shares its commit with
   * the others of that time; on a quiet server the commit comes right after the current I/O
   * (setImmediate), with no wait. A write is durable before its Promise resolves.
   */
  private commit(write: () => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, resolve, reject });
      if (this.pending.length === 1) this.schedule();
    });
  }

  private schedule(): void {
    const wait = this.lastCommit + COMMIT_INTERVAL_MS - performance.now();
    if (wait > 0) this.timer = setTimeout(() => this.flush(), wait);
    else this.immediate = setImmediate(() => this.flush());
  }

  /** Commits the writes waiting for their turn now: a read sees every write asked for before it. */
  private settle(): void {
    if (this.pending.length > 0) this.flush();
  }

  private flush(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.lastCommit = performance.now();
    const batch = this.pending.splice(0);
    try {
      this.writeAll(batch);
      for (const w of batch) w.resolve();
    } catch {
      // One write failed the whole transaction: each is tried on its own, so only it fails.
      for (const w of batch) {
        try {
          w.write();
          w.resolve();
        } catch (err) {
          w.reject(err as Error);
        }
      }
    }
  }

  async hasCdr(callId: string): Promise<boolean> {
    this.settle();
    return this.stmt.has.get(callId) !== undefined;
  }

  async openCdr(callId: string): Promise<StoredCdr | undefined> {
    this.settle();
    const row = this.stmt.open.get(callId);
    return row ? toStoredCdr(row) : undefined;
  }

  async openDialogs(callId: string, now: number): Promise<DialogRecord[]> {
    this.settle();
    return this.stmt.dialogs
      .all(callId)
      .map((r) => JSON.parse(r.dialog) as DialogRecord)
      .filter((d) => d.expiresAt > now);
  }

  async updateDialog(d: DialogRecord): Promise<void> {
    this.settle();
    this.stmt.updateDialog.run(JSON.stringify(d), d.callId, d.calleeTag);
  }

  async closeOpenCdrs(node: string, cause: 'server-restart' | 'node-lost'): Promise<number> {
    this.settle();
    return this.stmt.close.run(cause, node).changes;
  }

  async listCdrs(query: CdrQuery = {}): Promise<StoredCdr[]> {
    this.settle();
    const { where, params, limit } = cdrQuerySql(query, {
      param: (n) => `@p${n}`,
      contains: (column, p) => `instr(${column}, ${p}) > 0`,
    });
    const sql = `SELECT * FROM cdrs ${where} ORDER BY start DESC, id DESC LIMIT @limit`;
    let stmt = this.lists.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<Record<string, unknown>, CdrRow>(sql);
      this.lists.set(sql, stmt);
    }
    const named: Record<string, unknown> = { limit };
    params.forEach((v, i) => (named[`p${i + 1}`] = v));
    return stmt.all(named).map(toStoredCdr);
  }

  async close(): Promise<void> {
    this.settle();
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
