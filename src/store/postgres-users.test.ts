import { after } from 'node:test';
import { sharedPostgres } from '../../test/support/postgres-server.ts';
import { PostgresUserStore } from './postgres-users.ts';
import { userStoreContract } from './user-store.contract.ts';

const postgres = sharedPostgres();
let databases = 0;
after(() => postgres.close());

userStoreContract('postgres', {
  async database(t) {
    const server = await postgres.get(t);
    if (!server) return undefined;
    const url = await server.createDatabase(`users_${++databases}`);
    return { open: () => PostgresUserStore.open({ url }) };
  },
});
