import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite-store.ts';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'trapezoid-store-')), 'test.db');

test('users: HA1 only, upsert, remove, list by domain', () => {
  const store = new SqliteStore(tempDb());
  store.putUser({ user: '1000', domain: 'a.example', ha1Md5: 'a'.repeat(32) });
  store.putUser({
    user: '1001',
    domain: 'a.example',
    ha1Md5: 'b'.repeat(32),
    ha1Sha256: 'c'.repeat(64),
  });
  store.putUser({ user: '1000', domain: 'b.example', ha1Md5: 'd'.repeat(32) });
  store.putUser({
    user: '1000',
    domain: 'a.example',
    ha1Md5: 'e'.repeat(32),
    displayName: 'Alice',
  });
  assert.equal(store.getUser('1000', 'a.example')?.ha1Md5, 'e'.repeat(32));
  assert.equal(store.getUser('1000', 'a.example')?.displayName, 'Alice');
  assert.equal(store.getUser('1001', 'a.example')?.ha1Sha256, 'c'.repeat(64));
  assert.deepEqual(
    store.listUsers('a.example').map((u) => u.user),
    ['1000', '1001'],
  );
  assert.equal(store.listUsers().length, 3);
  assert.equal(store.removeUser('1000', 'b.example'), true);
  assert.equal(store.removeUser('1000', 'b.example'), false);
  assert.equal(store.getUser('1000', 'b.example'), undefined);
  store.close();
});

test('bindings: several per AOR ordered by q, refresh, expiry and purge, survive reopen', () => {
  const path = tempDb();
  const store = new SqliteStore(path);
  const base = { aor: 'sip:1000@d', callId: 'c1', cseq: 1 };
  store.putBinding({
    ...base,
    contact: 'sip:1000@10.0.0.1',
    target: 'udp:10.0.0.1:5060',
    q: 0.5,
    expiresAt: 10_000,
  });
  store.putBinding({
    ...base,
    contact: 'sip:1000@10.0.0.2',
    target: 'udp:10.0.0.2:5060',
    q: 1,
    expiresAt: 20_000,
  });
  store.putBinding({
    ...base,
    contact: 'sip:1000@10.0.0.3',
    target: 'udp:10.0.0.3:5060',
    q: 0.1,
    expiresAt: 500,
  });
  assert.deepEqual(
    store.bindingsFor('sip:1000@d', 1000).map((b) => b.contact),
    ['sip:1000@10.0.0.2', 'sip:1000@10.0.0.1'],
  );
  store.putBinding({
    ...base,
    cseq: 2,
    contact: 'sip:1000@10.0.0.1',
    target: 'udp:192.0.2.9:40000',
    q: 0.5,
    expiresAt: 30_000,
  });
  assert.equal(
    store.bindingsFor('sip:1000@d', 1000).find((b) => b.contact.endsWith('.1'))?.target,
    'udp:192.0.2.9:40000',
  );
  assert.equal(store.purgeExpired(1000).length, 1);
  store.close();
  const again = new SqliteStore(path);
  assert.equal(again.allBindings(0).length, 2);
  again.removeBinding('sip:1000@d', 'sip:1000@10.0.0.2');
  assert.equal(again.bindingsFor('sip:1000@d', 0).length, 1);
  again.removeBindings('sip:1000@d');
  assert.equal(again.bindingsFor('sip:1000@d', 0).length, 0);
  again.close();
});

test('a CDR written before kill -9 is still there', async () => {
  const path = tempDb();
  // A child process writes one CDR, says so, then waits to be killed without any clean shutdown.
  const script = `
    import { SqliteStore } from ${JSON.stringify(new URL('./sqlite-store.ts', import.meta.url).pathname)};
    const s = new SqliteStore(${JSON.stringify(path)});
    s.addCdr({ callId: 'k9', caller: '1000', callee: '1001', dialled: '1001', start: 1, answer: 2,
      end: 5, duration: 3, finalStatus: 200, hungUpBy: 'caller', cause: 'answered' });
    process.stdout.write('written\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('written')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const store = new SqliteStore(path);
  const cdrs = store.listCdrs();
  assert.equal(cdrs.length, 1);
  assert.equal(cdrs[0]!.callId, 'k9');
  assert.equal(cdrs[0]!.finalStatus, 200);
  assert.equal(cdrs[0]!.hungUpBy, 'caller');
  store.close();
});

test('a database from before the media columns opens, gains them, keeps its CDRs', async () => {
  const path = tempDb();
  const { default: Database } = await import('better-sqlite3');
  const old = new Database(path);
  // The cdrs table as the first trapezoid wrote it: no media columns at all.
  old.exec(`CREATE TABLE cdrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, caller TEXT NOT NULL,
    callee TEXT NOT NULL, dialled TEXT NOT NULL, start INTEGER NOT NULL, answer INTEGER,
    end INTEGER, duration REAL NOT NULL, final_status INTEGER NOT NULL, final_reason TEXT,
    hung_up_by TEXT, trunk TEXT)`);
  old
    .prepare(
      `INSERT INTO cdrs (call_id, caller, callee, dialled, start, duration, final_status)
       VALUES ('old', '1000', '1001', '1001', 5, 0, 486)`,
    )
    .run();
  old.close();

  const store = new SqliteStore(path);
  store.addCdr({
    callId: 'new',
    caller: '1000',
    callee: '1001',
    dialled: '1001',
    start: 10,
    answer: 11,
    end: 20,
    duration: 9,
    finalStatus: 200,
    packets: 900,
    lost: 3,
    jitterMs: 1.25,
    mos: 4.3,
    dropped: 7,
    cause: 'answered',
  });
  const [fresh, older] = store.listCdrs();
  assert.equal(older!.callId, 'old');
  assert.equal(older!.finalStatus, 486);
  assert.equal(older!.cause, 'failed', 'an old unanswered row gets the cause its answer implies');
  assert.equal(fresh!.cause, 'answered');
  assert.equal(older!.packets, undefined);
  assert.equal(older!.dropped, undefined);
  assert.deepEqual(
    [fresh!.packets, fresh!.lost, fresh!.jitterMs, fresh!.mos, fresh!.dropped],
    [900, 3, 1.25, 4.3, 7],
  );
  store.close();
  // Opening again changes nothing (the columns are there now).
  const again = new SqliteStore(path);
  assert.equal(again.listCdrs().length, 2);
  again.close();
});
