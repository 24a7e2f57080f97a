import type Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  answeredCdr,
  cdrStoreContract,
  cdrWriteLatencyMs,
  dialogOf,
  endedCdr,
} from './cdr-store.contract.ts';
import { SqliteCdrStore } from './sqlite-cdrs.ts';
import type { DialogRecord } from './stores.ts';
import { openLegacySqlite } from '../../test/support/legacy-sqlite.ts';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'trapezoid-cdrs-')), 'test.db');

cdrStoreContract('sqlite', {
  async database() {
    const path = tempDb();
    return { open: () => SqliteCdrStore.open({ path }) };
  },
});

test('sqlite CdrStore: a file an older trapezoid wrote is migrated, and that version still works on it', async () => {
  const path = tempDb();
  // The statements of that version (before the store split), with the columns they named.
  const addOld = (db: Database.Database, callId: string, start: number, dialog?: DialogRecord) =>
    Number(
      db
        .prepare(
          `INSERT INTO cdrs (call_id, caller, callee, dialled, start, answer, final_status, cause,
             dialog) VALUES (?, 'sip:1000@example.com', 'sip:1001@example.com', '1001', ?, ?, 200,
             'answered', ?)`,
        )
        .run(callId, start, start + 2000, dialog ? JSON.stringify(dialog) : null).lastInsertRowid,
    );
  const endOld = (db: Database.Database, id: number, seconds: number) =>
    db
      .prepare(
        `UPDATE cdrs SET end = answer + ? * 1000, duration = ?, hung_up_by = 'caller',
           dialog = NULL WHERE id = ?`,
      )
      .run(seconds, seconds, id);

  const legacy = openLegacySqlite(path);
  const dialog = dialogOf('old-1', 'callee-tag', Date.now() + 60_000);
  const oldId = addOld(legacy, 'old-1', 1000, dialog);
  legacy.close();

  const store = await SqliteCdrStore.open({ path });
  try {
    const [old] = await store.listCdrs();
    assert.equal(old?.key, `legacy-${oldId}`);
    assert.equal(old?.node, '');
    assert.equal(old?.answer, 3000);
    assert.deepEqual(await store.openDialogs('old-1', Date.now()), [dialog], 'its route is kept');
    await store.addCdr('k-new', 'node-a', answeredCdr('new-1', 2000));
    await store.updateCdr(`legacy-${oldId}`, endedCdr(answeredCdr('old-1', 1000), 4));
    assert.equal((await store.listCdrs({ until: 1500 }))[0]?.duration, 4);
    assert.deepEqual(await store.openDialogs('old-1', Date.now()), [], 'the end drops the route');

    // The older version opens the migrated file (its tables are there: nothing to create) and
    // writes and reads its rows as before; the new store reads them too.
    const again = openLegacySqlite(path);
    const id = addOld(again, 'old-2', 3000);
    endOld(again, id, 9);
    assert.deepEqual(again.prepare('SELECT call_id FROM cdrs ORDER BY id DESC').pluck().all(), [
      'old-2',
      'new-1',
      'old-1',
    ]);
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

test('sqlite CdrStore: a CDR whose write resolved is still there after kill -9', async () => {
  const path = tempDb();
  // A child process writes one CDR, says so once the write resolved, then waits to be killed
  // without any clean shutdown (no close, no checkpoint).
  const script = `
    import { SqliteCdrStore } from ${JSON.stringify(new URL('./sqlite-cdrs.ts', import.meta.url).href)};
    const s = await SqliteCdrStore.open({ path: ${JSON.stringify(path)} });
    await s.addCdr('k9-key', 'local', { callId: 'k9', caller: '1000', callee: '1001',
      dialled: '1001', start: 1, answer: 2, end: 5, duration: 3, finalStatus: 200,
      hungUpBy: 'caller', cause: 'answered' });
    process.stdout.write('written\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('written')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
  } finally {
    child.kill('SIGKILL');
  }
  if (child.exitCode === null && child.signalCode === null)
    await new Promise((r) => child.once('exit', r));
  const store = await SqliteCdrStore.open({ path });
  try {
    const cdrs = await store.listCdrs();
    assert.equal(cdrs.length, 1);
    assert.deepEqual(
      [cdrs[0]!.key, cdrs[0]!.callId, cdrs[0]!.finalStatus, cdrs[0]!.hungUpBy],
      ['k9-key', 'k9', 200, 'caller'],
    );
  } finally {
    await store.close();
  }
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

test('sqlite CdrStore: a call an older trapezoid left open is closed at the next start (server-restart)', async () => {
  const path = tempDb();
  const legacy = openLegacySqlite(path);
  legacy
    .prepare(
      `INSERT INTO cdrs (call_id, caller, callee, dialled, start, answer, final_status, cause)
       VALUES ('old-open', 'sip:1000@example.com', 'sip:1001@example.com', '1001', 1000, 3000,
       200, 'answered')`,
    )
    .run();
  legacy.close();
  const store = await SqliteCdrStore.open({ path });
  try {
    assert.equal(await store.closeOpenCdrs('local', 'server-restart'), 1);
    assert.equal((await store.listCdrs())[0]?.cause, 'server-restart');
    assert.equal(await store.closeOpenCdrs('local', 'server-restart'), 0);
  } finally {
    await store.close();
  }
});
