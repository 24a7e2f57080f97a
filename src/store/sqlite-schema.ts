// The SQLite file of the embedded default, opened for the async stores (sqlite-users.ts,
// sqlite-cdrs.ts) and brought to their schema.
//
// The tables are those of sqlite-store.ts, which still opens the same file (a one-process server
// of an older trapezoid, or code not moved to the async stores yet): its own schema and
// migrations run first, by opening it once, so the file is always in the shape it expects. Then
// the migrations below add what the async stores need, recorded in a schema_version table, each
// in an IMMEDIATE transaction (two processes opening the file at once take turns):
//
//   1  cdrs.cdr_key (unique; rows written before get 'legacy-<id>') and cdrs.node
//
// Columns are only ever added, never renamed or dropped, so sqlite-store.ts keeps working on a
// migrated file: its inserts name their columns and leave the new ones NULL.
import Database from 'better-sqlite3';
import { createLegacySchema } from './sqlite-store.ts';

export interface SqliteOptions {
  /** The database file ('./trapezoid.db'), or ':memory:' (one connection: open it once). */
  path: string;
  /** NORMAL (default): durable against a killed process; FULL: also against power loss. */
  synchronous?: 'NORMAL' | 'FULL';
}

const MIGRATIONS: readonly string[] = [
  `ALTER TABLE cdrs ADD COLUMN cdr_key TEXT;
   ALTER TABLE cdrs ADD COLUMN node TEXT;
   UPDATE cdrs SET cdr_key = 'legacy-' || id WHERE cdr_key IS NULL;
   CREATE UNIQUE INDEX IF NOT EXISTS cdrs_key ON cdrs (cdr_key);
   CREATE INDEX IF NOT EXISTS cdrs_open_by_node ON cdrs (node)
     WHERE answer IS NOT NULL AND end IS NULL;`,
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** Opens the file in WAL mode with the legacy and the async stores' schema in place. */
export function openSqlite(options: SqliteOptions): Database.Database {
  const db = new Database(options.path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    createLegacySchema(db);
    db.transaction(() => {
      db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
      const found =
        (db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null })
          .v ?? 0;
      if (found > SQLITE_SCHEMA_VERSION)
        throw new Error(
          `${options.path}: schema version ${found} is newer than this trapezoid knows ` +
            `(${SQLITE_SCHEMA_VERSION})`,
        );
      for (let version = found + 1; version <= SQLITE_SCHEMA_VERSION; version++) {
        db.exec(MIGRATIONS[version - 1]!);
        db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
          version,
          Date.now(),
        );
      }
    }).immediate();
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
