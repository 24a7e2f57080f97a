import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  answeredCdr,
  cdrStoreContract,
  cdrWriteLatencyMs,
  endedCdr,
} from './cdr-store.contract.ts';
import { SqliteCdrStore } from './sqlite-cdrs.ts';
import { SqliteStore } from './sqlite-store.ts';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'trapezoid-cdrs-')), 'test.db');

cdrStoreContract('sqlite', {
  async database() {
    const path = tempDb();
    return { open: () => SqliteCdrStore.open({ path }) };
  },
});

test('sqlite CdrStore: a file of the synchronous SqliteStore is migrated and both keep working on it', async () => {
  const path = tempDb();
  const legacy = new SqliteStore(path);
  const oldId = legacy.addCdr(answeredCdr('old-1', 1000));
  legacy.close();

  const store = await SqliteCdrStore.open({ path });
  try {
    const [old] = await store.listCdrs();
    assert.equal(old?.key, `legacy-${oldId}`);
    assert.equal(old?.node, '');
    await store.addCdr('k-new', 'node-a', answeredCdr('new-1', 2000));
    await store.updateCdr(`legacy-${oldId}`, endedCdr(answeredCdr('old-1', 1000), 4));
    assert.equal((await store.listCdrs({ until: 1500 }))[0]?.duration, 4);

    // The old store opens the migrated file (its schema step and migration run again) and
    // writes and reads its rows as before; the new store reads them too.
    const again = new SqliteStore(path);
    const id = again.addCdr(answeredCdr('old-2', 3000));
    again.updateCdr(id, endedCdr(answeredCdr('old-2', 3000), 9));
    assert.deepEqual(
      again.listCdrs().map((c) => c.callId),
      ['old-2', 'new-1', 'old-1'],
    );
    again.close();
    const rows = await store.listCdrs();
    assert.deepEqual(
      rows.map((r) => [r.callId, r.key, r.duration]),
      [
        ['old-2', `legacy-${id}`, 9],
        ['new-1', 'k-new', undefined],
        ['old-1', `legacy-${oldId}`, 4],
      ],
    );
  } finally {
    await store.close();
  }
  // Opening again finds the schema current and changes nothing.
  const reopened = await SqliteCdrStore.open({ path });
  assert.equal((await reopened.listCdrs()).length, 3);
  await reopened.close();
});

test('sqlite CdrStore: latency of addCdr + updateCdr (reported, not asserted)', async (t) => {
  const store = await SqliteCdrStore.open({ path: tempDb() });
  try {
    const ms = await cdrWriteLatencyMs(store, 200);
    t.diagnostic(`sqlite addCdr+updateCdr median ${ms.toFixed(3)} ms over 200 calls`);
    assert.equal((await store.listCdrs({ limit: 1000 })).length, 200);
  } finally {
    await store.close();
  }
});
