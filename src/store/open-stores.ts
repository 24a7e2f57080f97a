// The one place a process opens its stores, from two URLs (config `store`):
//
//   records  users and CDRs         sqlite:PATH (the embedded default) | postgres://user:pw@host/db
//   live     bindings, nonces,      local (the records' SQLite file and this process's memory)
//            bans, node heartbeats  | redis://host:port[/db] (rediss:// for TLS)
//
// A bare path as `records` is read as sqlite:PATH (the `database` key of older configs).
// `live: local` with PostgreSQL records keeps the bindings in an in-memory SQLite database: one
// node only, and a restart forgets them (phones re-register).
import Database from 'better-sqlite3';
import { LocalNodeRegistry } from './local-node-registry.ts';
import { LocalSecurityStore } from './local-security-store.ts';
import { PostgresCdrStore } from './postgres-cdrs.ts';
import { PostgresUserStore } from './postgres-users.ts';
import { openRedisStores } from './redis-stores.ts';
import { SqliteCdrStore } from './sqlite-cdrs.ts';
import { SqliteLocationStore } from './sqlite-locations.ts';
import { openSqlite } from './sqlite-schema.ts';
import { SqliteUserStore } from './sqlite-users.ts';
import type { CdrStore, LocationStore, NodeRegistry, SecurityStore, UserStore } from './stores.ts';

/** The security store's name for the digest nonce keys (src/server/digest-key-ring.ts). */
export const DIGEST_SECRET = 'digest';

export interface StoreUrls {
  /** 'sqlite:./trapezoid.db' (or a bare path) | 'postgres://…' */
  records: string;
  /** 'local' | 'redis://…' */
  live: string;
  /** The CDR spool file while PostgreSQL is down (PostgreSQL records only). */
  spool?: string;
}

export interface OpenStoresOptions {
  /** This node's id: written with its CDRs and the bindings whose flow it holds. */
  node: string;
  /** Errors the engines report while they reconnect by themselves (logged by the caller). */
  onError?: (engine: 'redis' | 'postgres', err: Error) => void;
  /** The SQLite page cache's most, in MB (sqlite-schema.ts SQLITE_CACHE_MB when unset). */
  sqliteCacheMb?: number;
}

/** Every store of a node, opened. */
export interface Stores {
  readonly node: string;
  readonly users: UserStore;
  readonly locations: LocationStore;
  readonly cdrs: CdrStore;
  readonly security: SecurityStore;
  readonly nodes: NodeRegistry;
  /** What each holds, for the start-up summary: 'sqlite:./trapezoid.db', 'redis://host:6379'. */
  readonly describe: { records: string; live: string };
  /** Whether other nodes may share these stores (the live state is in Redis). */
  readonly shared: boolean;
  /** Closes every store (and the connections they share); the same promise on every call. */
  close(): Promise<void>;
}

export type StoreEngine = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** What a `records` URL names, or an Error saying why it names nothing we know. */
export function parseRecordsUrl(url: string): StoreEngine {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  if (/^sqlite:/i.test(url)) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new Error(`store.records: ${url} names no file`);
    return { kind: 'sqlite', path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url))
    throw new Error(`store.records: ${redactUrl(url)}: use sqlite:PATH or postgres://…`);
  return { kind: 'sqlite', path: url };
}

/** A URL with its password replaced, fit for a log line. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

/** The records alone (users and CDRs): what `trapezoid user` and `trapezoid cdr` open. */
export interface RecordStores {
  users: UserStore;
  cdrs: CdrStore;
  describe: string;
  close(): Promise<void>;
}

export async function openRecords(
  urls: Pick<StoreUrls, 'records' | 'spool'>,
  opts: OpenStoresOptions,
): Promise<RecordStores> {
  const { sqlite: _db, ...records } = await openRecordsOn(urls, opts);
  return records;
}

/** openRecords, and the SQLite database when the records are in one (the local live state shares it). */
async function openRecordsOn(
  urls: Pick<StoreUrls, 'records' | 'spool'>,
  opts: OpenStoresOptions,
): Promise<RecordStores & { sqlite?: Database.Database }> {
  const records = parseRecordsUrl(urls.records);
  if (records.kind === 'sqlite') {
    const db = openSqlite({
      path: records.path,
      ...(opts.sqliteCacheMb !== undefined ? { cacheMb: opts.sqliteCacheMb } : {}),
    });
    return {
      users: SqliteUserStore.onDatabase(db),
      cdrs: SqliteCdrStore.onDatabase(db),
      sqlite: db,
      describe: `sqlite:${records.path}`,
      close: async () => {
        if (db.open) db.close();
      },
    };
  }
  const onError = (err: Error) => opts.onError?.('postgres', err);
  const users = await PostgresUserStore.open({ url: records.url, onError });
  try {
    const cdrs = await PostgresCdrStore.open({
      url: records.url,
      onError,
      spoolPath: urls.spool ?? `./trapezoid-cdr-spool-${opts.node}.jsonl`,
    });
    return {
      users,
      cdrs,
      describe: redactUrl(records.url),
      close: async () => {
        await cdrs.close();
        await users.close();
      },
    };
  } catch (err) {
    await users.close();
    throw err;
  }
}

export async function openStores(urls: StoreUrls, opts: OpenStoresOptions): Promise<Stores> {
  parseRecordsUrl(urls.records);
  const live = urls.live.trim();
  const redis = /^rediss?:\/\//i.test(live);
  if (!redis && live !== 'local')
    throw new Error(`store.live: ${redactUrl(live)}: use local or redis://…`);
  const closers: Array<() => Promise<unknown> | unknown> = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const records = await openRecordsOn(urls, opts);
    closers.push(() => records.close());
    const db = records.sqlite;
    let locations: LocationStore;
    let security: SecurityStore;
    let nodes: NodeRegistry;
    if (redis) {
      const r = await openRedisStores(live, { onError: (err) => opts.onError?.('redis', err) });
      closers.push(() => r.close());
      ({ locations, security, nodes } = r);
    } else {
      const memory = db ? undefined : new Database(':memory:');
      if (memory) closers.push(() => memory.close());
      const l = new SqliteLocationStore((db ?? memory)!, { node: opts.node });
      // The digest nonce keys stay in memory with the nonce counts (see memoryOnly).
      const s = new LocalSecurityStore({
        ...(db ? { database: db } : {}),
        memoryOnly: [DIGEST_SECRET],
      });
      const n = new LocalNodeRegistry();
      closers.push(
        () => n.close(),
        () => s.close(),
        () => l.close(),
      );
      locations = l;
      security = s;
      nodes = n;
    }
    let closing: Promise<void> | undefined;
    return {
      node: opts.node,
      users: records.users,
      locations,
      cdrs: records.cdrs,
      security,
      nodes,
      shared: redis,
      describe: { records: records.describe, live: redis ? redactUrl(live) : 'local' },
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
