// The registrar's bindings in SQLite (the embedded default): the `bindings` table trapezoid has
// always used (made in sqlite-schema.ts), with three columns added by a migration (the node that
// holds the flow, the Path, when the binding was last refreshed). The old columns keep their
// meaning, so a database written by an older trapezoid opens here and one written here still
// opens there.
//
// register() runs as one IMMEDIATE transaction: the write lock is taken before the read, so two
// processes registering the same AOR on one file cannot interleave their check and their write.
import Database from 'better-sqlite3';
import {
  compareForEviction,
  formatBindingTarget,
  orderedBindings,
  parseBindingTarget,
  storedBinding,
  toBinding,
  type StoredBinding,
} from './binding-codec.ts';
import { BINDINGS_TABLE } from './sqlite-schema.ts';
import type {
  Binding,
  BindingChangeRecord,
  LocationStore,
  RegistrationOutcome,
  RegistrationUpdate,
} from './stores.ts';

/**
 * Columns this store adds. NULL in rows an older version wrote: flow_node then reads as this
 * store's own node (one process held every flow), path as none, refreshed_at as 0.
 */
const ADDED_COLUMNS: ReadonlyArray<[string, string]> = [
  ['flow_node', 'TEXT'],
  ['path', 'TEXT'],
  ['refreshed_at', 'INTEGER'],
];

interface Row {
  aor: string;
  contact: string;
  target: string;
  q: number;
  expires_at: number;
  call_id: string;
  cseq: number;
  user_agent: string | null;
  connection_id: string | null;
  flow_node: string | null;
  path: string | null;
  refreshed_at: number | null;
}

export interface SqliteLocationStoreOptions {
  /** The node id rows without a flow node are read as (default 'local'). */
  node?: string;
}

export class SqliteLocationStore implements LocationStore {
  private readonly db: Database.Database;
  private readonly ownsDb: boolean;
  private readonly node: string;
  private readonly stmt;
  private readonly registerTx;

  /** `database`: a file path (opened in WAL mode) or an open better-sqlite3 database to share. */
  constructor(database: string | Database.Database, opts: SqliteLocationStoreOptions = {}) {
    this.node = opts.node ?? 'local';
    if (typeof database === 'string') {
      this.db = new Database(database);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.ownsDb = true;
    } else {
      this.db = database;
      this.ownsDb = false;
    }
    this.migrate();
    const db = this.db;
    this.stmt = {
      forAor: db.prepare<[string], Row>('SELECT * FROM bindings WHERE aor = ?'),
      live: db.prepare<[string, number], Row>(
        'SELECT * FROM bindings WHERE aor = ? AND expires_at > ?',
      ),
      all: db.prepare<[number, number], Row>(
        'SELECT * FROM bindings WHERE expires_at > ? ORDER BY aor LIMIT ?',
      ),
      put: db.prepare(
        `INSERT INTO bindings (aor, contact, target, q, expires_at, call_id, cseq, user_agent,
           connection_id, flow_node, path, refreshed_at)
         VALUES (@aor, @contact, @target, @q, @expiresAt, @callId, @cseq, @userAgent,
           @connectionId, @flowNode, @path, @refreshedAt)
         ON CONFLICT (aor, contact) DO UPDATE SET target = excluded.target, q = excluded.q,
           expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq,
           user_agent = excluded.user_agent, connection_id = excluded.connection_id,
           flow_node = excluded.flow_node, path = excluded.path,
           refreshed_at = excluded.refreshed_at`,
      ),
      remove: db.prepare('DELETE FROM bindings WHERE aor = ? AND contact = ?'),
      purge: db.prepare<[number], Row>('DELETE FROM bindings WHERE expires_at <= ? RETURNING *'),
      removeFlow: db.prepare(
        `DELETE FROM bindings WHERE connection_id = @connectionId
           AND COALESCE(flow_node, @self) = @node`,
      ),
    };
    this.registerTx = db.transaction((u: RegistrationUpdate) => this.apply(u));
  }

  /**
   * Creates the table or adds the columns this store needs, in one IMMEDIATE transaction (two
   * processes opening the file at once take turns; the second finds the columns there).
   */
  private migrate(): void {
    this.db
      .transaction(() => {
        this.db.exec(BINDINGS_TABLE);
        const columns = this.db.prepare('PRAGMA table_info(bindings)').all() as Array<{
          name: string;
        }>;
        const have = new Set(columns.map((c) => c.name));
        for (const [name, type] of ADDED_COLUMNS)
          if (!have.has(name)) this.db.exec(`ALTER TABLE bindings ADD COLUMN ${name} ${type}`);
      })
      .immediate();
  }

  private fromRow(r: Row): StoredBinding {
    const b: StoredBinding = {
      aor: r.aor,
      contact: r.contact,
      target: parseBindingTarget(r.target),
      flow: { node: r.flow_node ?? this.node },
      q: r.q,
      expiresAt: r.expires_at,
      callId: r.call_id,
      cseq: r.cseq,
      refreshedAt: r.refreshed_at ?? 0,
    };
    if (r.connection_id !== null) b.flow.connectionId = r.connection_id;
    if (r.user_agent !== null) b.userAgent = r.user_agent;
    if (r.path !== null) b.path = JSON.parse(r.path) as string[];
    return b;
  }

  /** §10.3 steps 6-8 for one REGISTER, inside the caller's transaction. */
  private apply(u: RegistrationUpdate): RegistrationOutcome {
    const live = new Map<string, StoredBinding>();
    for (const row of this.stmt.forAor.all(u.aor)) {
      if (row.expires_at > u.now) live.set(row.contact, this.fromRow(row));
    }
    const changes: BindingChangeRecord[] = [];
    const remove = (contact: string, reason?: 'unregistered' | 'over-cap') => {
      this.stmt.remove.run(u.aor, contact);
      if (reason && live.delete(contact)) changes.push({ action: 'removed', contact, reason });
    };

    if (u.removeAll) {
      // Step 6, "Contact: *": every binding goes, except one written by a later request of
      // this Call-ID (an older "*" arriving late does not undo it).
      for (const b of [...live.values()]) {
        if (b.callId === u.callId && b.cseq >= u.cseq) continue;
        remove(b.contact, 'unregistered');
      }
    } else {
      // Step 7: a binding of this Call-ID with a CSeq not lower means this REGISTER is stale:
      // nothing of it is applied.
      for (const c of u.contacts) {
        const old = live.get(c.contact);
        if (old && old.callId === u.callId && old.cseq >= u.cseq)
          return { ok: false, reason: 'out-of-order' };
      }
    }
    const adding = new Set<string>();
    for (const c of u.removeAll ? [] : u.contacts) {
      if (c.expires === 0) {
        remove(c.contact, live.has(c.contact) ? 'unregistered' : undefined);
        continue;
      }
      const b = storedBinding(u, c);
      this.stmt.put.run({
        aor: b.aor,
        contact: b.contact,
        target: formatBindingTarget(b.target),
        q: b.q,
        expiresAt: b.expiresAt,
        callId: b.callId,
        cseq: b.cseq,
        userAgent: b.userAgent ?? null,
        connectionId: b.flow.connectionId ?? null,
        flowNode: b.flow.node,
        path: b.path ? JSON.stringify(b.path) : null,
        refreshedAt: b.refreshedAt,
      });
      changes.push({ action: live.has(c.contact) ? 'refreshed' : 'added', contact: c.contact });
      live.set(c.contact, b);
      adding.add(c.contact);
    }
    // Step 8 with the cap: over it, the bindings closest to expiry (not this request's) go.
    const over = live.size - u.maxBindings;
    if (over > 0) {
      const candidates = [...live.values()]
        .filter((b) => !adding.has(b.contact))
        .sort(compareForEviction);
      for (const b of candidates.slice(0, over)) remove(b.contact, 'over-cap');
    }
    return { ok: true, bindings: orderedBindings([...live.values()]), changes };
  }

  async register(update: RegistrationUpdate): Promise<RegistrationOutcome> {
    return this.registerTx.immediate(update);
  }

  async lookup(aor: string, now: number): Promise<Binding[]> {
    return orderedBindings(this.stmt.live.all(aor, now).map((r) => this.fromRow(r)));
  }

  async all(now: number, limit = 10_000): Promise<Binding[]> {
    const byAor = new Map<string, StoredBinding[]>();
    for (const row of this.stmt.all.all(now, limit)) {
      const list = byAor.get(row.aor) ?? [];
      list.push(this.fromRow(row));
      byAor.set(row.aor, list);
    }
    return [...byAor.values()].flatMap((list) => orderedBindings(list));
  }

  async purgeExpired(now: number): Promise<Binding[]> {
    return this.stmt.purge.all(now).map((r) => toBinding(this.fromRow(r)));
  }

  async removeFlow(node: string, connectionId: string): Promise<number> {
    return this.stmt.removeFlow.run({ connectionId, node, self: this.node }).changes;
  }

  async close(): Promise<void> {
    if (this.ownsDb) this.db.close();
  }
}
