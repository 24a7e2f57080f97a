// What every UserStore does, whatever the engine: the same cases run against SQLite
// (sqlite-users.test.ts) and a real PostgreSQL (postgres-users.test.ts).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { UserStore } from './stores.ts';

/** A new empty database of the engine; open() may be called several times on it. */
export interface UserDatabase {
  open(): Promise<UserStore>;
}

export interface UserStoreHarness {
  /** Undefined when the engine is not available (the test was skipped). */
  database(t: TestContext): Promise<UserDatabase | undefined>;
}

export function userStoreContract(engine: string, harness: UserStoreHarness): void {
  test(`${engine} UserStore: HA1 only, upsert, remove, list by domain`, async (t) => {
    const db = await harness.database(t);
    if (!db) return;
    const store = await db.open();
    try {
      await store.putUser({ user: '1000', domain: 'a.example', ha1Md5: 'a'.repeat(32) });
      await store.putUser({
        user: '1001',
        domain: 'a.example',
        ha1Md5: 'b'.repeat(32),
        ha1Sha256: 'c'.repeat(64),
      });
      await store.putUser({ user: '1000', domain: 'b.example', ha1Md5: 'd'.repeat(32) });
      await store.putUser({ user: 'Zed', domain: 'a.example', ha1Md5: 'f'.repeat(32) });
      // Upsert: the second write of a user replaces every field.
      await store.putUser({
        user: '1000',
        domain: 'a.example',
        ha1Md5: 'e'.repeat(32),
        displayName: 'Alice',
      });
      assert.deepEqual(await store.getUser('1000', 'a.example'), {
        user: '1000',
        domain: 'a.example',
        ha1Md5: 'e'.repeat(32),
        displayName: 'Alice',
      });
      assert.deepEqual(await store.getUser('1001', 'a.example'), {
        user: '1001',
        domain: 'a.example',
        ha1Md5: 'b'.repeat(32),
        ha1Sha256: 'c'.repeat(64),
      });
      await store.putUser({ user: '1001', domain: 'a.example', ha1Md5: 'b'.repeat(32) });
      assert.equal((await store.getUser('1001', 'a.example'))?.ha1Sha256, undefined);
      assert.equal(await store.getUser('1000', 'c.example'), undefined);
      // Byte order on every engine: digits, then upper case, then lower case.
      assert.deepEqual(
        (await store.listUsers('a.example')).map((u) => u.user),
        ['1000', '1001', 'Zed'],
      );
      assert.deepEqual(
        (await store.listUsers()).map((u) => `${u.user}@${u.domain}`),
        ['1000@a.example', '1001@a.example', 'Zed@a.example', '1000@b.example'],
      );
      assert.deepEqual(await store.listUsers('nowhere.example'), []);
      assert.equal(await store.removeUser('1000', 'b.example'), true);
      assert.equal(await store.removeUser('1000', 'b.example'), false);
      assert.equal(await store.getUser('1000', 'b.example'), undefined);
    } finally {
      await store.close();
    }
  });

  test(`${engine} UserStore: users survive reopening; two stores see each other's writes`, async (t) => {
    const db = await harness.database(t);
    if (!db) return;
    const [first, second] = await Promise.all([db.open(), db.open()]);
    await first.putUser({ user: '2000', domain: 'd.example', ha1Md5: '0'.repeat(32) });
    assert.equal((await second.getUser('2000', 'd.example'))?.ha1Md5, '0'.repeat(32));
    await Promise.all([first.close(), second.close()]);
    const again = await db.open();
    try {
      assert.deepEqual(await again.listUsers(), [
        { user: '2000', domain: 'd.example', ha1Md5: '0'.repeat(32) },
      ]);
    } finally {
      await again.close();
    }
  });
}
