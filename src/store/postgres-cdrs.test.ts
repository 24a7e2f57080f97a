// PostgresCdrStore against a real PostgreSQL 15 (started in a temp dir by the test): the
// CdrStore contract, the schema's migration under concurrent opens, the spool: PostgreSQL
// stopped (pg_ctl stop -m fast) while CDRs are being written, and a process restarted with a
// spool left behind; and group commit: many calls' writes in few batches, one refused write
// rejecting alone, a batch in flight when PostgreSQL stops spooled and replayed in order.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { sharedPostgres } from '../../test/support/postgres-server.ts';
import {
  answeredCdr,
  cdrStoreContract,
  cdrWriteLatencyMs,
  dialogOf,
  endedCdr,
  withoutId,
} from './cdr-store.contract.ts';
import type { CdrRecord, StoredCdr } from './stores.ts';
import { PostgresCdrStore } from './postgres-cdrs.ts';
import { SCHEMA_VERSION } from './postgres-schema.ts';

const shared = sharedPostgres();
let databases = 0;
after(() => shared.close());
const postgres = (t: TestContext) => shared.get(t);

const spoolIn = () => join(mkdtempSync(join(tmpdir(), 'trapezoid-spool-')), 'cdr-spool.jsonl');

/** Options of a store on `url` that retries quickly (the test waits for its replay). */
const options = (url: string, spoolPath = spoolIn()) => ({
  url,
  spoolPath,
  retryMs: 100,
  connectTimeoutMs: 2000,
});

/** Every row of the database, straight from PostgreSQL. */
async function rowsOf(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{
      cdr_key: string;
      n: string;
      end: string | null;
      duration: number | null;
      cause: string;
    }>(
      `SELECT cdr_key, count(*) OVER (PARTITION BY cdr_key) AS n, "end", duration, cause
       FROM cdrs ORDER BY cdr_key`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

cdrStoreContract('postgres', {
  async database(t) {
    const s = await postgres(t);
    if (!s) return undefined;
    const url = await s.createDatabase(`cdrs_${++databases}`);
    const spoolPath = spoolIn();
    return { open: () => PostgresCdrStore.open(options(url, spoolPath)) };
  },
});

test('postgres schema: concurrent opens migrate once; a newer schema is refused', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('schema_race');
  const stores = await Promise.all(
    Array.from({ length: 4 }, () => PostgresCdrStore.open(options(url))),
  );
  await Promise.all(stores.map((store) => store.close()));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: number }>(
      'SELECT version FROM schema_version ORDER BY version',
    );
    assert.deepEqual(
      rows.map((r) => r.version),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    await client.query('INSERT INTO schema_version (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
  } finally {
    await client.end();
  }
  await assert.rejects(PostgresCdrStore.open(options(url)), /newer than this trapezoid/);
});

test('postgres CdrStore: PostgreSQL stopped while CDRs are written: each row once, final', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('outage');
  const store = await PostgresCdrStore.open(options(url));
  const BATCH = 20;
  const BATCHES = 16;
  const cdrOf = (i: number) => answeredCdr(`outage-${i}`, 1_000_000 + i);
  let mostSpooled = 0;
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  try {
    // Batch b answers calls b*20.. (20 addCdr at once) and ends the calls of batch b-1, so
    // calls answered before the outage end during it, and calls answered during it end
    // during or after it.
    for (let b = 0; b <= BATCHES; b++) {
      // Batches 5 and 6 race the shutdown; 7 to 10 are written while it is surely down.
      if (b === 7) await stopping;
      const writes: Array<Promise<void>> = [];
      for (let i = b * BATCH; b < BATCHES && i < (b + 1) * BATCH; i++)
        writes.push(store.addCdr(`k-${i}`, 'node-a', cdrOf(i)));
      for (let i = (b - 1) * BATCH; b > 0 && i < b * BATCH; i++)
        writes.push(store.updateCdr(`k-${i}`, endedCdr(cdrOf(i), i % 7)));
      await Promise.all(writes);
      mostSpooled = Math.max(mostSpooled, store.spooled);
      if (b === 4) stopping = s.stop(); // not awaited: writes race the shutdown
      if (b === 10) {
        assert.ok(store.spooled > 0, 'writes made while PostgreSQL is down are spooled');
        starting = s.start();
      }
    }
    await starting;
    await until('the spool to be replayed', () => store.spooled === 0);
    await store.flushSpool(); // the round that consumed the last line empties the file
    const spool = statSync(join(store['spool'].path));
    assert.equal(spool.size, 0, 'the replayed spool is emptied');
  } finally {
    await store.close();
  }
  t.diagnostic(`at most ${mostSpooled} writes were waiting in the spool`);
  assert.ok(mostSpooled > BATCH, `the outage spooled several batches (${mostSpooled})`);

  const rows = await rowsOf(url);
  assert.equal(rows.length, BATCH * BATCHES);
  for (let i = 0; i < BATCH * BATCHES; i++) {
    const row = rows.find((r) => r.cdr_key === `k-${i}`);
    assert.ok(row, `row k-${i} is there`);
    assert.equal(Number(row.n), 1, `row k-${i} once`);
    assert.equal(Number(row.end), Number(endedCdr(cdrOf(i), i % 7).end), `k-${i} has its end`);
    assert.equal(row.duration, i % 7);
    assert.equal(row.cause, 'answered');
  }
});

test('postgres CdrStore: a process restarted with a spool left behind replays it on open', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('restart');
  const spoolPath = spoolIn();
  const first = await PostgresCdrStore.open(options(url, spoolPath));
  const dialog = dialogOf('restart-11', 'callee-tag', 9e15);
  const moved = { ...dialog, callee: { ...dialog.callee, hop: 'sip:1001@10.0.0.7:5062' } };
  await first.addCdr('r-0', 'node-a', answeredCdr('restart-0', 1000));
  await s.stop();
  for (let i = 1; i <= 10; i++) {
    await first.addCdr(`r-${i}`, 'node-a', answeredCdr(`restart-${i}`, 1000 + i));
    if (i % 2 === 0)
      await first.updateCdr(`r-${i}`, endedCdr(answeredCdr(`restart-${i}`, 1000 + i), 3));
  }
  await first.updateCdr('r-0', endedCdr(answeredCdr('restart-0', 1000), 8));
  // A target refresh of the dialog of a call answered during the outage.
  await first.addCdr('r-11', 'node-a', answeredCdr('restart-11', 2000), dialog);
  await first.updateDialog(moved);
  assert.equal(first.spooled, 18);
  await first.close();
  const lines = readFileSync(spoolPath, 'utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, 18, 'the spool outlives the process');
  // A damaged line is set aside, not replayed; a process killed while writing its spool leaves
  // a partial last line, never acknowledged: it is dropped.
  appendFileSync(spoolPath, 'not json\n');
  appendFileSync(spoolPath, '{"op":"add","key":"r-torn","node":"node-a","cdr":{"callId"');

  await s.start();
  const second = await PostgresCdrStore.open(options(url, spoolPath));
  try {
    assert.equal(second.spooled, 0);
    assert.equal(statSync(spoolPath).size, 0);
    assert.equal(readFileSync(`${spoolPath}.rejected`, 'utf8'), 'not json\n');
    const rows = await second.listCdrs();
    assert.deepEqual(
      rows.map((r) => r.key).sort(),
      Array.from({ length: 12 }, (_, i) => `r-${i}`).sort(),
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    assert.equal(byKey.get('r-0')?.duration, 8);
    assert.equal(byKey.get('r-2')?.duration, 3);
    assert.equal(byKey.get('r-1')?.end, undefined);
    assert.equal((await second.openCdr('restart-1'))?.key, 'r-1');
    assert.deepEqual(await second.openDialogs('restart-11', 0), [moved]);
    // Restarted, the node closes its calls whose end it never saw.
    assert.equal(await second.closeOpenCdrs('node-a', 'server-restart'), 6);
  } finally {
    await second.close();
  }
});

test('postgres CdrStore: writes acknowledged while PostgreSQL is down survive kill -9', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('killed');
  const spoolPath = spoolIn();
  // A writer process: opens the store, then on "go" writes CDRs one after the other and prints
  // each key once its addCdr resolved (acknowledged: committed or fsync'd to the spool).
  const writer = `
    import { PostgresCdrStore } from ${JSON.stringify(new URL('./postgres-cdrs.ts', import.meta.url).pathname)};
    const store = await PostgresCdrStore.open(${JSON.stringify(options(url, spoolPath))});
    console.log('open');
    process.stdin.once('data', async () => {
      for (let i = 0; ; i++) {
        await store.addCdr('kill-' + i, 'node-k', { callId: 'kill-' + i, caller: 'a', callee: 'b',
          dialled: 'b', start: i, answer: i, finalStatus: 200, cause: 'answered' });
        console.log('acked ' + i);
      }
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', writer], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let acked = -1;
  try {
    const lines = createInterface({ input: child.stdout! });
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const onLine = (line: string) => {
          const m = /^acked (\d+)$/.exec(line);
          if (m) acked = Number(m[1]);
          if (pattern.test(line)) {
            lines.off('line', onLine);
            resolve();
          }
        };
        lines.on('line', onLine);
        child.once('exit', (code) => reject(new Error(`the writer exited (${code})`)));
      });
    await seen(/^open$/);
    await s.stop();
    child.stdin!.write('go\n');
    await seen(/^acked 40$/);
    child.kill('SIGKILL');
    await once(child, 'exit');
  } finally {
    child.kill('SIGKILL');
  }
  await s.start();
  const store = await PostgresCdrStore.open(options(url, spoolPath));
  try {
    assert.equal(store.spooled, 0);
    const keys = new Set((await store.listCdrs({ limit: 10_000 })).map((r) => r.key));
    for (let i = 0; i <= acked; i++) assert.ok(keys.has(`kill-${i}`), `acknowledged kill-${i}`);
    t.diagnostic(`${acked + 1} acknowledged writes, ${keys.size} rows after the replay`);
  } finally {
    await store.close();
  }
  const rows = await rowsOf(url);
  assert.ok(
    rows.every((r) => Number(r.n) === 1),
    'no row twice',
  );
});

test('postgres CdrStore: latency of addCdr + updateCdr (reported, not asserted)', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('latency');
  const store = await PostgresCdrStore.open(options(url));
  try {
    const ms = await cdrWriteLatencyMs(store, 200);
    t.diagnostic(`postgres addCdr+updateCdr median ${ms.toFixed(3)} ms over 200 calls`);
    assert.equal((await store.listCdrs({ limit: 1000 })).length, 200);
  } finally {
    await store.close();
  }
});

/** Batch statements a store ran and the writes they carried (live and replayed). */
const batchStats = (store: PostgresCdrStore) => ({ ...store['batchStats'] });

test('postgres CdrStore: group commit: 300 concurrent calls land exactly their rows in few batches', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('group_commit');
  const store = await PostgresCdrStore.open(options(url));
  const CALLS = 300;
  const expected = new Map<string, Omit<StoredCdr, 'id'>>();
  const openDialogs = new Map<string, ReturnType<typeof dialogOf>>();
  try {
    // Each call: its insert (every third with its dialog) awaited as the server does before
    // forwarding the 200 OK, then a target refresh of the dialog, then its end; every tenth
    // call is still going at the end (its refreshed dialog is open). Calls run concurrently.
    await Promise.all(
      Array.from({ length: CALLS }, async (_, i) => {
        const callId = `gc-${i}`;
        const key = `gc-key-${i}`;
        const cdr = answeredCdr(callId, 5_000_000 + i, i % 4 === 0 ? { trunk: `t${i % 3}` } : {});
        const dialog = i % 3 === 0 ? dialogOf(callId, `tag-${i}`, 9e15) : undefined;
        await store.addCdr(key, `node-${i % 2}`, cdr, dialog);
        let moved: typeof dialog;
        if (dialog) {
          moved = {
            ...dialog,
            callee: { ...dialog.callee, hop: `sip:1001@10.0.1.${i % 250}:5060` },
          };
          await store.updateDialog(moved);
        }
        if (i % 10 === 0) {
          expected.set(key, { ...cdr, key, node: `node-${i % 2}` });
          if (moved) openDialogs.set(callId, moved);
          return;
        }
        const ended: CdrRecord = endedCdr(cdr, (i % 13) + 0.5);
        await store.updateCdr(key, ended);
        expected.set(key, { ...ended, key, node: `node-${i % 2}` });
      }),
    );
    const stats = batchStats(store);
    const writes = CALLS + 100 + Math.floor((CALLS * 9) / 10);
    t.diagnostic(`${stats.writes} writes in ${stats.batches} batch statements`);
    assert.equal(stats.writes, writes, 'every write went in a batch');
    assert.ok(stats.batches <= writes / 10, `writes were grouped (${stats.batches} batches)`);
    assert.equal(store.spooled, 0);

    const rows = await store.listCdrs({ limit: 10_000 });
    assert.equal(rows.length, CALLS);
    for (const row of rows) assert.deepEqual(withoutId(row), expected.get(row.key), row.key);
    for (let i = 0; i < CALLS; i++) {
      const callId = `gc-${i}`;
      const want = openDialogs.get(callId);
      assert.deepEqual(await store.openDialogs(callId, 0), want ? [want] : [], callId);
    }
  } finally {
    await store.close();
  }
  const counted = await rowsOf(url);
  assert.ok(
    counted.every((r) => Number(r.n) === 1),
    'no key twice',
  );
});

test('postgres CdrStore: group-commit window: writes within it wait and go together, a full batch or an idle write at once', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('commit_window');
  const WINDOW = 1000;
  const store = await PostgresCdrStore.open({ ...options(url), batchWindowMs: WINDOW });
  const add = (i: number) => store.addCdr(`w-${i}`, 'node-a', answeredCdr(`window-${i}`, 100 + i));
  try {
    await add(0); // the first batch: the window starts now
    const windowStart = performance.now();
    const before = batchStats(store);
    let settled = 0;
    const waiting: Array<Promise<unknown>> = [add(1).then(() => settled++)];
    await sleep(200);
    assert.equal(settled, 0, 'a write within the window of the last batch waits for its end');
    waiting.push(add(2), add(3));
    await Promise.all(waiting);
    assert.ok(
      performance.now() - windowStart >= WINDOW - 50,
      'the waiting writes went when the window ended',
    );
    assert.deepEqual(
      batchStats(store),
      { batches: before.batches + 1, writes: before.writes + 3 },
      'the writes made within the window went in one batch',
    );
    // 64 writes at once, right after that batch: a full batch does not wait for the window.
    const fullStart = performance.now();
    await Promise.all(Array.from({ length: 64 }, (_, i) => add(10 + i)));
    assert.ok(performance.now() - fullStart < WINDOW / 2, 'a full batch went at once');
    assert.equal(batchStats(store).batches, before.batches + 2);
    // Once the window has passed with nothing to write, a write goes at once.
    await sleep(WINDOW + 50);
    const idleStart = performance.now();
    await add(100);
    assert.ok(performance.now() - idleStart < WINDOW / 2, 'a write on an idle store went at once');
    assert.equal((await store.listCdrs({ limit: 1000 })).length, 69);
  } finally {
    await store.close();
  }
});

test('postgres CdrStore: one refused write in a batch rejects alone', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('refused');
  const store = await PostgresCdrStore.open(options(url));
  try {
    await store.addCdr('old-0', 'node-a', answeredCdr('old-0', 1));
    const before = batchStats(store);
    // 40 inserts and a completion in one turn: one batch, in which call 17 has no caller (NOT
    // NULL) and the completion a non-integer status: the batch statement fails as a whole.
    const writes = Array.from({ length: 40 }, (_, i) =>
      store.addCdr(
        `r-${i}`,
        'node-a',
        answeredCdr(`refused-${i}`, 100 + i, i === 17 ? { caller: null as unknown as string } : {}),
      ),
    );
    writes.push(
      store.updateCdr('old-0', { ...endedCdr(answeredCdr('old-0', 1), 2), finalStatus: 200.5 }),
    );
    const settled = await Promise.allSettled(writes);
    assert.equal(batchStats(store).batches, before.batches + 1, 'the writes went in one batch');
    settled.forEach((r, i) => {
      if (i === 17) {
        assert.equal(r.status, 'rejected');
        assert.match(String((r as PromiseRejectedResult).reason), /null value in column "caller"/);
      } else if (i === 40) {
        assert.equal(r.status, 'rejected');
        assert.match(
          String((r as PromiseRejectedResult).reason),
          /invalid input syntax for type integer/,
        );
      } else assert.equal(r.status, 'fulfilled', `write ${i}`);
    });
    assert.equal(store.spooled, 0, 'a refused write is not an outage: nothing spooled');
    const keys = (await store.listCdrs({ limit: 100 })).map((r) => r.key).sort();
    const want = [
      'old-0',
      ...Array.from({ length: 40 }, (_, i) => `r-${i}`).filter((k) => k !== 'r-17'),
    ];
    assert.deepEqual(keys, want.sort());
    assert.equal(
      (await store.openCdr('old-0'))?.key,
      'old-0',
      'the refused completion changed nothing',
    );
    // The next batch goes on as usual.
    await Promise.all(
      [0, 1, 2].map((i) => store.addCdr(`after-${i}`, 'node-a', answeredCdr(`after-${i}`, i))),
    );
    assert.equal(await store.hasCdr('after-2'), true);
  } finally {
    await store.close();
  }
});

test('postgres CdrStore: a batch in flight when PostgreSQL stops is spooled and replayed in order', async (t) => {
  const s = await postgres(t);
  if (!s) return;
  const url = await s.createDatabase('mid_batch');
  const spoolPath = spoolIn();
  const rejected: string[] = [];
  const store = await PostgresCdrStore.open({
    ...options(url, spoolPath),
    onRejected: (line) => rejected.push(line),
  });
  // Another session holds a lock on cdrs, so the first batch waits inside PostgreSQL until the
  // server is stopped under it.
  const locker = new pg.Client({ connectionString: url });
  const watcher = new pg.Client({ connectionString: url });
  for (const client of [locker, watcher]) {
    client.on('error', () => undefined); // terminated by the shutdown
    await client.connect();
  }
  const cdrOf = (i: number) => answeredCdr(`mid-${i}`, 7_000_000 + i);
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE cdrs IN ACCESS EXCLUSIVE MODE');
    const adds = Array.from({ length: 40 }, (_, i) => store.addCdr(`m-${i}`, 'node-a', cdrOf(i)));
    // Asked on another connection: a transaction sees pg_stat_activity as of its first look.
    await until('the first batch to wait for the lock', async () => {
      const { rows } = await watcher.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND query LIKE 'WITH ins AS%'`,
      );
      return rows[0]!.n === 1;
    });
    assert.deepEqual(batchStats(store), { batches: 1, writes: 40 }, 'one batch of 40 in flight');
    // Queued behind the batch in flight.
    for (let i = 40; i < 60; i++) adds.push(store.addCdr(`m-${i}`, 'node-a', cdrOf(i)));
    await sleep(50);
    await s.stop();
    await Promise.all(adds);
    assert.equal(store.spooled, 60);
    const spooledKeys = readFileSync(spoolPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { key: string }).key);
    assert.deepEqual(
      spooledKeys,
      Array.from({ length: 60 }, (_, i) => `m-${i}`),
      'the batch, then the writes queued behind it, in the order they were made',
    );
    // While it is down: every call ends, and one more insert the database will refuse.
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => store.updateCdr(`m-${i}`, endedCdr(cdrOf(i), i % 5))),
    );
    await store.addCdr(
      'm-bad',
      'node-a',
      answeredCdr('mid-bad', 1, { caller: null as unknown as string }),
    );
    assert.equal(store.spooled, 121);

    const before = batchStats(store);
    await s.start();
    await until('the spool to be replayed', () => store.spooled === 0);
    const replayed = batchStats(store);
    t.diagnostic(`replay: ${replayed.batches - before.batches} batch statements`);
    assert.ok(replayed.batches - before.batches <= 4, 'the spool was replayed in batches');
  } finally {
    await store.close();
    await Promise.all([locker, watcher].map((client) => client.end().catch(() => undefined)));
  }
  assert.equal(rejected.length, 1);
  assert.match(rejected[0]!, /"key":"m-bad"/);
  assert.equal(readFileSync(`${spoolPath}.rejected`, 'utf8'), `${rejected[0]}\n`);
  const rows = await rowsOf(url);
  assert.equal(rows.length, 60);
  for (let i = 0; i < 60; i++) {
    const row = rows.find((r) => r.cdr_key === `m-${i}`);
    assert.ok(row, `m-${i}`);
    assert.equal(Number(row.n), 1);
    assert.equal(Number(row.end), endedCdr(cdrOf(i), i % 5).end);
    assert.equal(row.duration, i % 5);
  }
});
