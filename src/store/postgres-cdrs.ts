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
//
// Writes are group-committed: those made while a batch is in flight, in the same turn of the
// event loop, or within the group-commit window after the last batch started (BATCH_WINDOW_MS),
// go out together in the next batch, one statement and one commit (postgres-batch.ts), and each
// resolves when that batch committed. Because of the chaining above a batch never holds
// two writes of one Call-ID (the second is only issued once the first resolved, i.e. once its
// batch ended); batchLength() checks it anyway and would end the batch before such a write, so
// their order would be kept. A batch the database refuses (one bad row fails the statement) is
// applied again one write at a time, so only the bad write rejects. When the database is
// unreachable the batch, then every write queued behind it, goes to the spool in order. The
// replay applies the spool the same way: runs of lines without a repeated Call-ID or key as one
// batch each, in order, one line at a time when a batch is refused.
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
import { BATCH_SQL, MAX_BATCH, batchLength, batchValues } from './postgres-batch.ts';
import { createPool, isUnreachable, migrate, type PostgresOptions } from './postgres-schema.ts';
import type { CdrKey, CdrQuery, CdrRecord, CdrStore, DialogRecord, StoredCdr } from './stores.ts';
import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

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
  /**
   * The group-commit window: under load a batch starts no sooner than this long after the
   * previous one started, so it carries more writes (default BATCH_WINDOW_MS; 0: at once).
   */
  batchWindowMs?: number;
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

/**
 * The default group-commit window. Each batch statement costs PostgreSQL and this process a
 * fixed part (a round trip, an executor start, a commit) besides its rows, so fewer and larger
 * batches cost less per write: in bench:cluster's srv2 at 3000 calls/s PostgreSQL's CPU per
 * 1000 calls went from 0.084 to 0.057-0.073 with this window (bench/README, sixteenth round).
 * A write made while the database is idle still goes at once: only one arriving within the
 * window of the last batch's start waits, for the rest of it (at most 10 ms more before an
 * answer leaves, under load only). SQLite's commits keep the same pace (sqlite-cdrs.ts).
 */
const BATCH_WINDOW_MS = 10;

/** A batch this full goes at once, window or not. */
const FULL_BATCH = 64;

/** Lines read per replay round (applied in batches of at most MAX_BATCH). */
const REPLAY_LINES = 1000;

/**
 * Server settings of the write connections (see writePool): plans made once per statement and
 * connection, and never a sequential scan of cdrs.
 */
const WRITE_SETTINGS = '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off';

/**
 * The connections writes go through: two (one live batch and one replay at most run at once)
 * with their own settings, reads keep the default ones. Their statements are named, so parsed
 * once per connection, and planned once too: left to itself PostgreSQL plans the batch statement
 * again at every execution (its custom plan for the actual rows looks cheaper than the generic
 * one), which costs more than the rows of a small batch. Every write finds its rows through the
 * cdr_key or call_id index, but a plan made while the table was small (a new database, no
 * statistics yet) would join by scanning the whole table and keep doing so as it grows:
 * sequential scans are turned off on these connections.
 */
function writePool(options: PostgresOptions): pg.Pool {
  let url = options.url;
  try {
    const parsed = new URL(url);
    const given = parsed.searchParams.get('options');
    parsed.searchParams.set('options', given ? `${given} ${WRITE_SETTINGS}` : WRITE_SETTINGS);
    url = parsed.toString();
  } catch {
    // Not a URL (a socket path pg understands): the writes work, with default planning.
  }
  return createPool({ ...options, url, maxConnections: 2 });
}

/** A write waiting for its batch, and its caller's promise. */
interface QueuedWrite {
  entry: SpoolEntry;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class PostgresCdrStore implements CdrStore {
  private readonly chains = new Map<string, Promise<unknown>>();
  private replaying: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Writes waiting for the next batch, in the order they were made. */
  private readonly queue: QueuedWrite[] = [];
  /** Whether a batch is in flight or about to start (then it takes the queue). */
  private draining = false;
  /** When the last live batch started (performance.now()). */
  private lastBatchAt = -Infinity;
  /** Batch statements run and writes they carried (live and replayed), for tests and benches. */
  private readonly batchStats = { batches: 0, writes: 0 };

  private constructor(
    private readonly pool: pg.Pool,
    /** Connections of the writes (see writePool). */
    private readonly writes: pg.Pool,
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
    const writes = writePool(options);
    let spool: CdrSpool;
    try {
      spool = await CdrSpool.open(options.spoolPath);
    } catch (err) {
      await Promise.all([pool.end(), writes.end()]);
      throw err;
    }
    const store = new PostgresCdrStore(pool, writes, spool, options);
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
    await Promise.all([this.pool.end(), this.writes.end()]);
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

  private writeNow(entry: SpoolEntry): Promise<void> {
    if (this.spool.length > 0 || this.replaying) return this.toSpool([entry])[0]!;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (this.draining) return;
      this.draining = true;
      // The writes of this turn of the event loop (every packet read in this poll) go together.
      setImmediate(() => void this.drain());
    });
  }

  /** Runs batches while writes are queued; one batch in flight at a time. Never rejects. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const window = this.options.batchWindowMs ?? BATCH_WINDOW_MS;
        const wait = this.lastBatchAt + window - performance.now();
        if (wait > 0 && this.queue.length < FULL_BATCH) await sleep(wait);
        this.lastBatchAt = performance.now();
        const n = batchLength(this.queue, (q) => q.entry);
        await this.runBatch(this.queue.splice(0, n));
      }
    } finally {
      this.draining = false;
    }
  }

  /** Applies one batch and settles its callers (committed, spooled, or refused one by one). */
  private async runBatch(batch: QueuedWrite[]): Promise<void> {
    // An earlier batch was spooled meanwhile (the queue with it) or a replay runs: go behind it.
    if (this.spool.length > 0 || this.replaying) return this.spoolFrom(batch, 0);
    if (batch.length > 1) {
      try {
        await this.applyBatch(batch.map((q) => q.entry));
        for (const q of batch) q.resolve();
        return;
      } catch (err) {
        if (isUnreachable(err)) return this.spoolFrom(batch, 0);
        // Refused: one row is bad. One by one below, so only its write rejects.
      }
    }
    for (let i = 0; i < batch.length; i++) {
      const q = batch[i]!;
      try {
        await this.apply(q.entry);
        q.resolve();
      } catch (err) {
        if (isUnreachable(err)) return this.spoolFrom(batch, i);
        q.reject(err as Error);
      }
    }
  }

  /**
   * Spools batch[from..], then every write queued behind it, in order; new writes see the spool
   * not empty and go after them. Each caller resolves once its line is on disk.
   */
  private spoolFrom(batch: QueuedWrite[], from: number): void {
    const rest = [...batch.slice(from), ...this.queue.splice(0)];
    const written = this.toSpool(rest.map((q) => q.entry));
    rest.forEach((q, i) => written[i]!.then(q.resolve, q.reject));
  }

  /** Appends entries to the spool in order; each promise resolves once its line is on disk. */
  private toSpool(entries: SpoolEntry[]): Array<Promise<void>> {
    const written = entries.map((entry) => this.spool.append(entry));
    this.scheduleReplay(0);
    return written;
  }

  private applyBatch(entries: SpoolEntry[]): Promise<unknown> {
    this.batchStats.batches++;
    this.batchStats.writes += entries.length;
    return this.writes.query({
      name: 'trapezoid_cdr_batch',
      text: BATCH_SQL,
      values: batchValues(entries),
    });
  }

  private apply(entry: SpoolEntry): Promise<unknown> {
    switch (entry.op) {
      case 'add':
        return this.writes.query({
          name: 'trapezoid_cdr_insert',
          text: INSERT_SQL,
          values: cdrInsertValues(entry.key, entry.node, entry.cdr, entry.dialog),
        });
      case 'update':
        return this.writes.query({
          name: 'trapezoid_cdr_update',
          text: UPDATE_SQL,
          values: [entry.key, ...cdrUpdateValues(entry.cdr)],
        });
      case 'dialog':
        return this.writes.query({
          name: 'trapezoid_cdr_dialog',
          text: DIALOG_SQL,
          values: [entry.dialog.callId, entry.dialog.calleeTag, JSON.stringify(entry.dialog)],
        });
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
        const lines = await this.spool.peek(REPLAY_LINES);
        if (lines.length === 0) {
          if (await this.spool.truncateIfDrained()) return;
          continue;
        }
        for (let i = 0; i < lines.length;) {
          const n = batchLength(lines.slice(i, i + MAX_BATCH), (line) => line.entry);
          await this.replayBatch(lines.slice(i, i + n));
          i += n;
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

  /**
   * Applies spooled lines (no Call-ID or key twice) as one batch, or one at a time when the
   * database refuses the batch, consuming each once applied; throws when it is unreachable.
   */
  private async replayBatch(lines: SpooledLine[]): Promise<void> {
    if (lines.length > 1) {
      try {
        await this.applyBatch(lines.map((line) => line.entry!));
        for (const line of lines) this.spool.consume(line);
        return;
      } catch (err) {
        if (isUnreachable(err)) throw err;
      }
    }
    for (const line of lines) {
      await this.replayLine(line);
      this.spool.consume(line);
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
