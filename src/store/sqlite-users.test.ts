import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteUserStore } from './sqlite-users.ts';
import { userStoreContract } from './user-store.contract.ts';

userStoreContract('sqlite', {
  async database() {
    const path = join(mkdtempSync(join(tmpdir(), 'trapezoid-users-')), 'test.db');
    return { open: () => SqliteUserStore.open({ path }) };
  },
});
