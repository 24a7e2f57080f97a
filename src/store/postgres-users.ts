// Users in PostgreSQL (digest HA1 hashes only). Provisioning writes go straight to the database:
// an operator's change that cannot be made is reported, never queued.
import type pg from 'pg';
import { createPool, migrate, type PostgresOptions } from './postgres-schema.ts';
import type { UserRecord, UserStore } from './stores.ts';
import { toUserRecord as toUser, type UserRow } from './user-rows.ts';

/** Byte order, as SQLite sorts: the same listing whatever the database's collation. */
const ORDER = 'ORDER BY domain COLLATE "C", "user" COLLATE "C"';

export class PostgresUserStore implements UserStore {
  private closed = false;

  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and creates or migrates the schema. */
  static async open(options: PostgresOptions): Promise<PostgresUserStore> {
    const pool = createPool(options);
    try {
      await migrate(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresUserStore(pool);
  }

  async putUser(u: UserRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO users ("user", domain, ha1_md5, ha1_sha256, display_name)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (domain, "user") DO UPDATE SET ha1_md5 = excluded.ha1_md5,
         ha1_sha256 = excluded.ha1_sha256, display_name = excluded.display_name`,
      [u.user, u.domain, u.ha1Md5, u.ha1Sha256 ?? null, u.displayName ?? null],
    );
  }

  async removeUser(user: string, domain: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'DELETE FROM users WHERE "user" = $1 AND domain = $2',
      [user, domain],
    );
    return (rowCount ?? 0) > 0;
  }

  async getUser(user: string, domain: string): Promise<UserRecord | undefined> {
    const { rows } = await this.pool.query<UserRow>(
      'SELECT * FROM users WHERE "user" = $1 AND domain = $2',
      [user, domain],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async listUsers(domain?: string): Promise<UserRecord[]> {
    const { rows } =
      domain === undefined
        ? await this.pool.query<UserRow>(`SELECT * FROM users ${ORDER}`)
        : await this.pool.query<UserRow>(`SELECT * FROM users WHERE domain = $1 ${ORDER}`, [
            domain,
          ]);
    return rows.map(toUser);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
