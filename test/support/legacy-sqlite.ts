// A SQLite file as trapezoid wrote it before the store split: the tables of the synchronous
// SqliteStore (src/store/sqlite-store.ts, removed after commit c558538), frozen here as they were,
// so tests can write such a file with plain SQL and prove the async stores still open it, and that
// the statements of that version still work on a file migrated since. Do not "update" this to the
// current schema (that lives in src/store/sqlite-schema.ts): its point is not to change.
import Database from 'better-sqlite3';

const LEGACY_SCHEMA = `
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
CREATE TABLE IF NOT EXISTS cdrs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, caller TEXT NOT NULL,
  callee TEXT NOT NULL, dialled TEXT NOT NULL, start INTEGER NOT NULL, answer INTEGER,
  end INTEGER, duration REAL, final_status INTEGER NOT NULL, final_reason TEXT,
  hung_up_by TEXT, trunk TEXT, packets INTEGER, lost INTEGER, jitter_ms REAL, mos REAL,
  dropped INTEGER, cause TEXT NOT NULL DEFAULT 'failed', dialog TEXT
);
CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs (start);
CREATE INDEX IF NOT EXISTS cdrs_call_id ON cdrs (call_id);
`;

/**
 * Opens `path` the way that version did (WAL, its tables made if missing; on a file migrated
 * since, nothing changes). Write rows with plain SQL, naming the columns as that version did.
 */
export function openLegacySqlite(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(LEGACY_SCHEMA);
  return db;
}
