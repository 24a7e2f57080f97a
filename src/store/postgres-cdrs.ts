// CDRs in PostgreSQL, never lost when the database is briefly down.
//
// A write (addCdr, updateCdr, updateDialog) resolves once it is committed in PostgreSQL or, when
// the database cannot be reached, once it is appended and fsync'd to the local spool
// (cdr-spool.ts). While the spool holds anything, every new write goes to its end too, so writes
// reach the database in the order they were made; a replay loop applies the spool in order as
// soon as the database answers (retrying every retryMs) and empties it. Every write is idempotent
// by CDR key: an insert does nothing when the key exists, a completion sets the final state, so
// a line replayed twice (a crash during replay, a commit whose acknowledgement was lost and that
// was therefore spooled too) never duplicates a row or undoes a later write.
//
// Writes of one Call-ID are chained (the next starts when the previous one resolved), so a
// completion issued before its insert was acknowledged still lands after it. Reads go to the
// database only: while it is down they reject, and rows still in the spool are not seen.
import type pg from 'pg';
import { CdrSpool, type SpoolEntry, type SpooledLine } from './cdr-spool.ts';
import {
  CDR_INSERT_COLUMNS,
  CDR_UPDATE_COLUMNS,
  cdrInsertValues,
  cdrQuerySql,
  cdrUpdateValues,
  toStoredCdr,
  type CdrRow,
} from './cdr-rows.ts';
import { createPool, isUnreachable, migrate, type PostgresOptions } from './postgres-schema.ts';
import type { CdrKey, CdrQuery, CdrRecord, CdrStore, DialogRecord, StoredCdr } from './stores.ts';
import { appendFile } from 'node:fs/promises';

export interface PostgresCdrOptions extends PostgresOptions {
  /** The local spool file of this node (one per process), e.g. './trapezoid-cdr-spool.jsonl'. */
  spoolPath: string;
  /** How often to try the database again while the spool is not empty (default 1000 ms). */
  retryMs?: number;
  /**
   * A spooled line the database refused (not an outage: a constraint, a bad value) or that
   * cannot be read. It is moved to `<spoolPath>.rejected` so the replay goes on.
   */
  onRejected?: (line: string, err: Error) => void;
}

const INSERT_SQL =
  `INSERT INTO cdrs (${CDR_INSERT_COLUMNS.join(', ')}) ` +
  `VALUES (${CDR_INSERT_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ` +
  'ON CONFLICT (cdr_key) DO NOTHING';

const UPDATE_SQL =
  `UPDATE cdrs SET ${CDR_UPDATE_COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(', ')}, ` +
  'dialog = CASE WHEN $3::bigint IS NULL THEN dialog ELSE NULL END WHERE cdr_key = $1';

const DIALOG_SQL = `UPDATE cdrs SET dialog = $3 WHERE call_id = $1 AND "end" IS NULL
  AND dialog IS NOT NULL AND dialog->>'calleeTag' = $2`;

/** Lines applied per replay round. */
const REPLAY_BATCH = 200;

export class PostgresCdrStore implements CdrStore {
  private readonly chains = new Map<string, Promise<unknown>>();
  private replaying: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly spool: CdrSpool,
    private readonly options: PostgresCdrOptions,
  ) {}

  /**
   * Connects, creates or migrates the schema, opens the spool and replays what an earlier
   * process left in it. Rejects when the database cannot be reached (the schema is unknown).
   */
  static async open(options: PostgresCdrOptions): Promise<PostgresCdrStore> {
    const pool = createPool(options);
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    const spool = await CdrSpool.open(options.spoolPath);
    const store = new PostgresCdrStore(pool, spool, options);
    if (spool.length > 0) await store.flushSpool();
    return store;
  }

  get spooled(): number {
    return this.spool.length;
  }

  addCdr(key: CdrKey, node: string, cdr: CdrRecord, dialog?: DialogRecord): Promise<void> {
    return this.write(cdr.callId, { op: 'add', key, node, cdr, ...(dialog ? { dialog } : {}) });
  }

  updateCdr(key: CdrKey, cdr: CdrRecord): Promise<void> {
    return this.write(cdr.callId, { op: 'update', key, cdr });
  }

  updateDialog(d: DialogRecord): Promise<void> {
    return this.write(d.callId, { op: 'dialog', dialog: d });
  }

  /**
   * Tries the spool now and resolves when a replay round ended: empty when the database took
   * everything (see `spooled`).
   */
  async flushSpool(): Promise<void> {
    this.replaying ??= this.replay().finally(() => {
      this.replaying = undefined;
    });
    await this.replaying;
  }

  async hasCdr(callId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM cdrs WHERE call_id = $1 LIMIT 1', [
      callId,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async openCdr(callId: string): Promise<StoredCdr | undefined> {
    const { rows } = await this.pool.query<CdrRow>(
      `SELECT * FROM cdrs WHERE call_id = $1 AND answer IS NOT NULL AND "end" IS NULL
       ORDER BY id DESC LIMIT 1`,
      [callId],
    );
    return rows[0] ? toStoredCdr(rows[0]) : undefined;
  }

  async openDialogs(callId: string, now: number): Promise<DialogRecord[]> {
    const { rows } = await this.pool.query<{ dialog: DialogRecord }>(
      'SELECT dialog FROM cdrs WHERE call_id = $1 AND "end" IS NULL AND dialog IS NOT NULL ORDER BY id',
      [callId],
    );
    return rows.map((r) => r.dialog).filter((d) => d.expiresAt > now);
  }

  /**
   * Replays this process's spool first (a node restarting closes its own rows: those still
   * spooled must be in the table), then closes the node's open answered rows in one statement.
   */
  async closeOpenCdrs(node: string, cause: 'server-restart' | 'node-lost'): Promise<number> {
    if (this.spool.length > 0) await this.flushSpool();
    const { rowCount } = await this.pool.query(
      `UPDATE cdrs SET cause = $2 WHERE node = $1 AND answer IS NOT NULL AND "end" IS NULL
         AND cause = 'answered'`,
      [node, cause],
    );
    return rowCount ?? 0;
  }

  async listCdrs(query: CdrQuery = {}): Promise<StoredCdr[]> {
    const { where, params, limit } = cdrQuerySql(query, {
      param: (n) => `$${n}`,
      contains: (column, p) => `strpos(${column}, ${p}) > 0`,
    });
    params.push(limit);
    const { rows } = await this.pool.query<CdrRow>(
      `SELECT * FROM cdrs ${where} ORDER BY start DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toStoredCdr);
  }

  /** Waits for writes in progress, tries the spool once more, and disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.chains.values()]);
    await this.replaying;
    await this.spool.close();
    await this.pool.end();
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Runs the write after the previous write of the same Call-ID. */
  private write(callId: string, entry: SpoolEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the CDR store is closed'));
    const previous = this.chains.get(callId) ?? Promise.resolve();
    const result = previous.then(() => this.writeNow(entry));
    const tail = result.catch(() => undefined);
    this.chains.set(callId, tail);
    void tail.then(() => {
      if (this.chains.get(callId) === tail) this.chains.delete(callId);
    });
    return result;
  }

  private async writeNow(entry: SpoolEntry): Promise<void> {
    if (this.spool.length === 0 && !this.replaying) {
      try {
        await this.apply(entry);
        return;
      } catch (err) {
        if (!isUnreachable(err)) throw err;
      }
    }
    await this.spool.append(entry);
    this.scheduleReplay(0);
  }

  private apply(entry: SpoolEntry): Promise<unknown> {
    switch (entry.op) {
      case 'add':
        return this.pool.query(
          INSERT_SQL,
          cdrInsertValues(entry.key, entry.node, entry.cdr, entry.dialog),
        );
      case 'update':
        return this.pool.query(UPDATE_SQL, [entry.key, ...cdrUpdateValues(entry.cdr)]);
      case 'dialog':
        return this.pool.query(DIALOG_SQL, [
          entry.dialog.callId,
          entry.dialog.calleeTag,
          JSON.stringify(entry.dialog),
        ]);
    }
  }

  private scheduleReplay(delayMs: number): void {
    if (this.closed || this.retryTimer || this.replaying) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flushSpool().catch((err: Error) => this.options.onError?.(err));
    }, delayMs);
    this.retryTimer.unref();
  }

  /** Applies spooled lines in order until the spool is empty or the database is unreachable. */
  private async replay(): Promise<void> {
    let failed = false;
    try {
      for (;;) {
        const lines = await this.spool.peek(REPLAY_BATCH);
        if (lines.length === 0) {
          if (await this.spool.truncateIfDrained()) return;
          continue;
        }
        for (const line of lines) {
          await this.replayLine(line);
          this.spool.consume(line);
        }
      }
    } catch (err) {
      failed = true;
      if (!isUnreachable(err)) throw err;
    } finally {
      // Lines appended while this round ran: go on; an outage (or a spool that cannot be
      // read): try again later.
      if (this.spool.length > 0 && !this.closed) {
        const delay = failed ? (this.options.retryMs ?? 1000) : 0;
        setImmediate(() => this.scheduleReplay(delay));
      }
    }
  }

  private async replayLine(line: SpooledLine): Promise<void> {
    if (!line.entry) {
      await this.reject(line.text, new Error('unreadable spool line'));
      return;
    }
    try {
      await this.apply(line.entry);
    } catch (err) {
      if (isUnreachable(err)) throw err;
      await this.reject(line.text, err as Error);
    }
  }

  private async reject(text: string, err: Error): Promise<void> {
    await appendFile(`${this.spool.path}.rejected`, `${text}\n`, { mode: 0o600 });
    this.options.onRejected?.(text, err);
  }
}
