// The PostgreSQL schema of the durable records (users and CDRs), created and migrated by the
// stores themselves when they open: no separate tool to run before a node starts.
//
// schema_version holds one row per migration applied. Several nodes may open the same database
// at the same moment: each migrates inside one transaction that first takes a transaction-level
// advisory lock (pg_advisory_xact_lock), so the first one applies what is missing while the
// others wait, then find the version current and change nothing. A database migrated by a newer
// trapezoid (a version this code does not know) is refused rather than written with old rules.
//
// Column types: times are ms since the epoch in bigint (read back as JS numbers, see
// INT8_AS_NUMBER), a CDR's dialog is jsonb. `user` and `end` are reserved words: quoted.
import pg from 'pg';

/** The advisory lock key of schema migrations ('trap' in ASCII): one per database. */
export const SCHEMA_LOCK_KEY = 0x74726170;

/** Migration N is MIGRATIONS[N - 1]; append new ones, never edit a released one. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     "user" text NOT NULL,
     domain text NOT NULL,
     ha1_md5 text NOT NULL,
     ha1_sha256 text,
     display_name text,
     PRIMARY KEY (domain, "user")
   );
   CREATE TABLE cdrs (
     id bigserial PRIMARY KEY,
     cdr_key text NOT NULL UNIQUE,
     node text NOT NULL,
     call_id text NOT NULL,
     caller text NOT NULL,
     callee text NOT NULL,
     dialled text NOT NULL,
     start bigint NOT NULL,
     answer bigint,
     "end" bigint,
     duration double precision,
     final_status integer NOT NULL,
     final_reason text,
     hung_up_by text,
     trunk text,
     packets bigint,
     lost bigint,
     jitter_ms double precision,
     mos double precision,
     dropped bigint,
     cause text NOT NULL,
     dialog jsonb
   );
   CREATE INDEX cdrs_start ON cdrs (start);
   CREATE INDEX cdrs_call_id ON cdrs (call_id);
   CREATE INDEX cdrs_open_by_node ON cdrs (node) WHERE answer IS NOT NULL AND "end" IS NULL;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** int8 (bigint, count(*)) as a JS number: our values are ms timestamps and counters. */
const INT8_OID = 20;
export const INT8_AS_NUMBER: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections kept by the pool (default 10). */
  maxConnections?: number;
  /** How long to wait for a connection before treating the database as down (default 3000). */
  connectTimeoutMs?: number;
  /** How long a query may take before it is treated as lost (default 10000). */
  queryTimeoutMs?: number;
  /** Errors of idle connections (the server went away); they are otherwise ignored. */
  onError?: (err: Error) => void;
}

/** A pool for the stores: numbers for bigint, timeouts set, idle-connection errors caught. */
export function createPool(options: PostgresOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    query_timeout: options.queryTimeoutMs ?? 10_000,
    keepAlive: true,
    types: INT8_AS_NUMBER,
  });
  // An idle connection the server closed emits 'error' on the pool: without a listener that
  // would end the process. The pool drops the connection and opens a new one when needed.
  pool.on('error', (err) => options.onError?.(err));
  return pool;
}

/**
 * Brings the database to SCHEMA_VERSION (creating it on an empty database), in one transaction
 * under the advisory lock. Returns the version found before.
 */
export async function migrate(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_version (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM schema_version',
    );
    const found = rows[0]?.v ?? 0;
    if (found > SCHEMA_VERSION) {
      throw new Error(
        `the database schema is version ${found}, newer than this trapezoid knows ` +
          `(${SCHEMA_VERSION}): upgrade trapezoid on this node`,
      );
    }
    for (let version = found + 1; version <= SCHEMA_VERSION; version++) {
      await client.query(MIGRATIONS[version - 1]!);
      await client.query('INSERT INTO schema_version (version) VALUES ($1)', [version]);
    }
    await client.query('COMMIT');
    return found;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Connection-class SQLSTATEs: the server is going away, restarting, or out of room. */
const UNREACHABLE_STATES = /^(08|57P0|53)/;

/**
 * Whether an error means "the database cannot be reached right now" (retry later, spool the
 * write) rather than "the database refused this statement" (a bug to report). pg's
 * DatabaseError carries the server's SQLSTATE; anything else the driver throws (refused or reset
 * connection, connect or query timeout, connection terminated) is a transport failure.
 */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return UNREACHABLE_STATES.test(err.code ?? '');
  return err instanceof Error;
}
