// LocalSecurityStore (one process): the SecurityStore contract with both "nodes" the same
// store, in memory and with its secrets in SQLite; then the secrets surviving a restart and the
// secret an older trapezoid kept unkeyed carried over.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LEGACY_KID, LocalSecurityStore } from './local-security-store.ts';
import { securityStoreContract } from './security-store.contract.ts';
import { openLegacySqlite } from '../../test/support/legacy-sqlite.ts';

test('LocalSecurityStore', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-security-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  await t.test('SecurityStore contract, in memory', async (t) => {
    await securityStoreContract(t, async () => {
      const s = new LocalSecurityStore();
      return { a: s, b: s };
    });
  });

  await t.test('SecurityStore contract, secrets in SQLite', async (t) => {
    await securityStoreContract(t, async () => {
      const s = new LocalSecurityStore({ database: join(dir, `contract${++n}.db`) });
      return { a: s, b: s };
    });
  });

  await t.test(
    'secrets survive a restart; the old unkeyed secret becomes the first kid',
    async () => {
      const file = join(dir, 'upgrade.db');
      // An older trapezoid kept one random 32-byte secret per name, unkeyed.
      const legacy = randomBytes(32);
      const old = openLegacySqlite(file);
      old.prepare('INSERT INTO secrets (name, value) VALUES (?, ?)').run('record-route', legacy);
      old.close();

      const store = new LocalSecurityStore({ database: file });
      const [s] = await store.secrets('record-route', 3_600_000, 3);
      assert.equal(s!.kid, LEGACY_KID);
      assert.deepEqual(s!.key, legacy);
      const fresh = await store.secrets('digest', 3_600_000, 3);
      await store.close();

      const restarted = new LocalSecurityStore({ database: file });
      assert.deepEqual(await restarted.secrets('digest', 3_600_000, 3), fresh);
      await restarted.close();
    },
  );

  await t.test('the nonce memory is bounded: the oldest are forgotten first', async () => {
    const store = new LocalSecurityStore({ maxNonces: 3 });
    for (const nonce of ['n1', 'n2', 'n3', 'n4']) assert.ok(await store.useNonce(nonce, 1, 60_000));
    assert.equal(await store.useNonce('n4', 1, 60_000), false);
    assert.equal(await store.useNonce('n1', 1, 60_000), true, 'n1 made room');
    await store.close();
  });
});
