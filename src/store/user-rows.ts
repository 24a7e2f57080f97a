// A user as a table row, the same in PostgreSQL and SQLite: the columns and the record read back.
import type { UserRecord } from './stores.ts';

export interface UserRow {
  user: string;
  domain: string;
  ha1_md5: string;
  ha1_sha256: string | null;
  display_name: string | null;
}

export function toUserRecord(r: UserRow): UserRecord {
  const u: UserRecord = { user: r.user, domain: r.domain, ha1Md5: r.ha1_md5 };
  if (r.ha1_sha256 !== null) u.ha1Sha256 = r.ha1_sha256;
  if (r.display_name !== null) u.displayName = r.display_name;
  return u;
}
