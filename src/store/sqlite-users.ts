// Users in the embedded SQLite file (the users table of sqlite-schema.ts), behind the async
// UserStore: each call is one committed statement.
import type Database from 'better-sqlite3';
import { openSqlite, type SqliteOptions } from './sqlite-schema.ts';
import type { UserRecord, UserStore } from './stores.ts';
import { toUserRecord as toUser, type UserRow } from './user-rows.ts';

export class SqliteUserStore implements UserStore {
  private readonly stmt;

  private constructor(
    private readonly db: Database.Database,
    private readonly ownsDb = true,
  ) {
    this.stmt = {
      put: db.prepare(
        `INSERT INTO users (user, domain, ha1_md5, ha1_sha256, display_name)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user, domain) DO UPDATE SET ha1_md5 = excluded.ha1_md5,
           ha1_sha256 = excluded.ha1_sha256, display_name = excluded.display_name`,
      ),
      remove: db.prepare('DELETE FROM users WHERE user = ? AND domain = ?'),
      get: db.prepare<[string, string], UserRow>(
        'SELECT * FROM users WHERE user = ? AND domain = ?',
      ),
      all: db.prepare<[], UserRow>('SELECT * FROM users ORDER BY domain, user'),
      inDomain: db.prepare<[string], UserRow>(
        'SELECT * FROM users WHERE domain = ? ORDER BY domain, user',
      ),
    };
  }

  static async open(options: SqliteOptions): Promise<SqliteUserStore> {
    return new SqliteUserStore(openSqlite(options));
  }

  /** On a database opened by openSqlite and shared with other stores (close leaves it open). */
  static onDatabase(db: Database.Database): SqliteUserStore {
    return new SqliteUserStore(db, false);
  }

  async putUser(u: UserRecord): Promise<void> {
    this.stmt.put.run(u.user, u.domain, u.ha1Md5, u.ha1Sha256 ?? null, u.displayName ?? null);
  }
  async removeUser(user: string, domain: string): Promise<boolean> {
    return this.stmt.remove.run(user, domain).changes > 0;
  }
  async getUser(user: string, domain: string): Promise<UserRecord | undefined> {
    const row = this.stmt.get.get(user, domain);
    return row ? toUser(row) : undefined;
  }
  async listUsers(domain?: string): Promise<UserRecord[]> {
    const rows = domain === undefined ? this.stmt.all.all() : this.stmt.inDomain.all(domain);
    return rows.map(toUser);
  }
  async close(): Promise<void> {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
