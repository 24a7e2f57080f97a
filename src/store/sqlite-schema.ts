// The SQLite file of the embedded default: the one place its tables are made and migrated, for
// the stores that open it (sqlite-users.ts, sqlite-cdrs.ts, sqlite-locations.ts,
// local-security-store.ts).
//
// The base tables (users, bindings, secrets, cdrs) are those trapezoid has written since before
// the store split, and an older trapezoid may still open a file migrated here. Such a file has no
// schema_version, so the base tables are brought up to date first by looking at their columns
// (`migrateBase`). Then the migrations below add what the async stores need, recorded in a
// schema_version table, each in an IMMEDIATE transaction (two processes opening the file at once
// take turns):
//
//   1  cdrs.cdr_key (unique; rows written before get 'legacy-<id>') and cdrs.node
//
// Columns are only ever added, never renamed or dropped, so an older trapezoid keeps working on a
// migrated file: its inserts name their columns and leave the new ones NULL.
import Database from 'better-sqlite3';

export interface SqliteOptions {
  /** The database file ('./trapezoid.db'), or ':memory:' (one connection: open it once). */
  path: string;
  /** NORMAL (default): durable against a killed process; FULL: also against power loss. */
  synchronous?: 'NORMAL' | 'FULL';
  /** The page cache's most, in MB (see SQLITE_CACHE_MB). */
  cacheMb?: number;
}

/**
 * The page cache of a connection, in MB (`PRAGMA cache_size`). better-sqlite3 builds SQLite with
 * 16 MB where SQLite's own default is 2 MB. The CDR table's indexes (Call-ID, CDR key) take
 * their rows at random places, so under load the cache fills to its most: measured with heaptrack
 * at 1000 calls/s for 40 s, SQLite held 17 MB. Writes only need the pages they change; a page
 * not in the cache is read again from the file (from the OS's own cache, mostly).
 */
export const SQLITE_CACHE_MB = 4;

/**
 * WAL pages written before SQLite copies them back into the database file (`PRAGMA
 * wal_autocheckpoint`; SQLite's default is 1000 pages, 4 MB). Each commit appends every page it
 * changed, mostly the same few again (the table's last leaf, each index's); a checkpoint writes
 * a page once however often it was appended, so a longer WAL writes fewer pages. Measured on the
 * CDR writes of a proxy (an insert and an update per call, 20 per commit): 10,000 pages took 2-5
 * µs of CPU per call off 21-30. The WAL file grows to about 40 MB before it is reused.
 */
export const SQLITE_WAL_PAGES = 10_000;

/** The registrar's bindings (sqlite-locations.ts adds its own columns to it). */
export const BINDINGS_TABLE = `
CREATE TABLE IF NOT EXISTS bindings (
  aor TEXT NOT NULL, contact TEXT NOT NULL, target TEXT NOT NULL, q REAL NOT NULL,
  expires_at INTEGER NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL, user_agent TEXT,
  connection_id TEXT, PRIMARY KEY (aor, contact)
);
CREATE INDEX IF NOT EXISTS bindings_expiry ON bindings (expires_at);`;

/** The cdrs table before schema_version (duration NULL while the end is unknown). */
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

const BASE_TABLES = `
CREATE TABLE IF NOT EXISTS users (
  user TEXT NOT NULL, domain TEXT NOT NULL, ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT,
  display_name TEXT, PRIMARY KEY (user, domain)
);
${BINDINGS_TABLE}
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
${CDR_TABLE('cdrs')}
CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs (start);
CREATE INDEX IF NOT EXISTS cdrs_call_id ON cdrs (call_id);
`;

/**
 * Columns added to cdrs after its first version, with their types: a file written by an older
 * trapezoid gets them (NULL in its old rows) when it is opened.
 */
const CDR_COLUMNS_ADDED: ReadonlyArray<[string, string]> = [
  ['packets', 'INTEGER'],
  ['lost', 'INTEGER'],
  ['jitter_ms', 'REAL'],
  ['mos', 'REAL'],
  ['dialog', 'TEXT'],
  ['dropped', 'INTEGER'],
];

const MIGRATIONS: readonly string[] = [
  `ALTER TABLE cdrs ADD COLUMN cdr_key TEXT;
   ALTER TABLE cdrs ADD COLUMN node TEXT;
   UPDATE cdrs SET cdr_key = 'legacy-' || id WHERE cdr_key IS NULL;
   CREATE UNIQUE INDEX IF NOT EXISTS cdrs_key ON cdrs (cdr_key);
   CREATE INDEX IF NOT EXISTS cdrs_open_by_node ON cdrs (node)
     WHERE answer IS NOT NULL AND end IS NULL;`,
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** Opens the file in WAL mode with every table of the embedded default in place and current. */
export function openSqlite(options: SqliteOptions): Database.Database {
  const db = new Database(options.path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    db.pragma(`cache_size = ${-Math.round((options.cacheMb ?? SQLITE_CACHE_MB) * 1024)}`);
    db.pragma(`wal_autocheckpoint = ${SQLITE_WAL_PAGES}`);
    db.exec(BASE_TABLES);
    migrateBase(db);
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

/**
 * Brings an older file's cdrs table up to the base, in one IMMEDIATE transaction (the columns are
 * read under the write lock, so two processes opening an old file at once add them once):
 * columns added since, then (before the `cause` column) the table rebuilt so that duration may be
 * NULL while a call's end is unknown; old rows get the cause their answer implies.
 */
function migrateBase(db: Database.Database): void {
  db.transaction(() => {
    const columns = db.prepare('PRAGMA table_info(cdrs)').all() as Array<{ name: string }>;
    const have = new Set(columns.map((c) => c.name));
    const missing = CDR_COLUMNS_ADDED.filter(([name]) => !have.has(name));
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
  }).immediate();
}
