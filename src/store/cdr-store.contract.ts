// What every CdrStore does, whatever the engine: the same cases run against SQLite
// (sqlite-cdrs.test.ts) and a real PostgreSQL (postgres-cdrs.test.ts).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { CdrRecord, CdrStore, DialogRecord, StoredCdr } from './stores.ts';

/** A new empty database of the engine; open() may be called several times on it. */
export interface CdrDatabase {
  open(): Promise<CdrStore>;
}

export interface CdrStoreHarness {
  /** Undefined when the engine is not available (the test was skipped). */
  database(t: TestContext): Promise<CdrDatabase | undefined>;
}

export function answeredCdr(
  callId: string,
  start: number,
  more: Partial<CdrRecord> = {},
): CdrRecord {
  return {
    callId,
    caller: 'sip:1000@example.com',
    callee: 'sip:1001@example.com',
    dialled: '1001',
    start,
    answer: start + 2000,
    finalStatus: 200,
    cause: 'answered',
    ...more,
  };
}

export function endedCdr(cdr: CdrRecord, seconds: number): CdrRecord {
  return {
    ...cdr,
    end: cdr.answer! + seconds * 1000,
    duration: seconds,
    hungUpBy: 'caller',
    packets: 500,
    lost: 2,
    jitterMs: 1.5,
    mos: 4.25,
    dropped: 0,
  };
}

export function dialogOf(callId: string, calleeTag: string, expiresAt: number): DialogRecord {
  return {
    callId,
    callerTag: 'from-tag',
    calleeTag,
    caller: {
      hop: 'sip:1000@10.0.0.1:5060',
      hopIsContact: true,
      endpoint: { protocol: 'udp', address: '10.0.0.1', port: 5060 },
      aor: 'sip:1000@example.com',
    },
    callee: {
      hop: 'sip:1001@10.0.0.2:5070;transport=tcp',
      hopIsContact: true,
      endpoint: { protocol: 'tcp', address: '10.0.0.2', port: 5070 },
      connectionId: 'c-42',
    },
    expiresAt,
  };
}

/** A stored row without its engine-made id, to compare with what was written. */
export const withoutId = ({ id: _id, ...rest }: StoredCdr) => rest;

export function cdrStoreContract(engine: string, harness: CdrStoreHarness): void {
  const withStore = (name: string, body: (store: CdrStore, db: CdrDatabase) => Promise<void>) =>
    test(`${engine} CdrStore: ${name}`, async (t) => {
      const db = await harness.database(t);
      if (!db) return;
      const store = await db.open();
      try {
        await body(store, db);
      } finally {
        await store.close();
      }
    });

  withStore('an answered call is open with its dialog until its end is written', async (store) => {
    const cdr = answeredCdr('call-1', 1_000_000, { trunk: 'carrier' });
    const dialog = dialogOf('call-1', 'to-a', 9e15);
    await store.addCdr('k-1', 'node-a', cdr, dialog);
    assert.equal(store.spooled, 0);
    assert.equal(await store.hasCdr('call-1'), true);
    assert.equal(await store.hasCdr('call-2'), false);
    const open = await store.openCdr('call-1');
    assert.ok(open);
    assert.equal(typeof open.id, 'number');
    assert.deepEqual(withoutId(open), { ...cdr, key: 'k-1', node: 'node-a' });
    assert.deepEqual(await store.openDialogs('call-1', 1_000_000), [dialog]);

    const ended = endedCdr(cdr, 61.5);
    await store.updateCdr('k-1', ended);
    assert.equal(await store.openCdr('call-1'), undefined);
    assert.deepEqual(await store.openDialogs('call-1', 1_000_000), []);
    const rows = await store.listCdrs();
    assert.equal(rows.length, 1);
    assert.deepEqual(withoutId(rows[0]!), { ...ended, key: 'k-1', node: 'node-a' });
    assert.equal(store.spooled, 0);
  });

  withStore('a failed attempt is never open and its absent fields stay absent', async (store) => {
    const cdr: CdrRecord = {
      callId: 'busy-1',
      caller: 'sip:1000@example.com',
      callee: 'sip:1001@example.com',
      dialled: '1001',
      start: 5_000,
      duration: 0,
      finalStatus: 486,
      finalReason: 'Busy Here',
      cause: 'callee-busy',
    };
    await store.addCdr('k-busy', 'node-a', cdr);
    assert.equal(await store.openCdr('busy-1'), undefined);
    assert.equal(await store.hasCdr('busy-1'), true);
    const [row] = await store.listCdrs();
    assert.deepEqual(withoutId(row!), { ...cdr, key: 'k-busy', node: 'node-a' });
    assert.equal('answer' in row!, false);
    assert.equal('end' in row!, false);
  });

  withStore('writes are idempotent by key: a replayed add or update adds no row', async (store) => {
    const cdr = answeredCdr('dup-1', 10_000);
    await store.addCdr('k-dup', 'node-a', cdr);
    await store.addCdr('k-dup', 'node-a', { ...cdr, caller: 'sip:other@example.com' });
    const ended = endedCdr(cdr, 3);
    await store.updateCdr('k-dup', ended);
    await store.updateCdr('k-dup', ended);
    // The add replayed after its completion must not reopen the call.
    await store.addCdr('k-dup', 'node-a', cdr);
    const rows = await store.listCdrs();
    assert.equal(rows.length, 1);
    assert.deepEqual(withoutId(rows[0]!), { ...ended, key: 'k-dup', node: 'node-a' });
    // A completion of a key never added writes nothing.
    await store.updateCdr('k-never', endedCdr(answeredCdr('never', 1), 1));
    assert.equal((await store.listCdrs()).length, 1);
    assert.equal(await store.hasCdr('never'), false);
  });

  withStore('dialogs: expired ones are left out, a refresh moves only its own', async (store) => {
    // Two forks of one Call-ID answered (two rows), each with its dialog.
    const a = dialogOf('fork-1', 'tag-a', 50_000);
    const b = dialogOf('fork-1', 'tag-b', 90_000);
    await store.addCdr('k-a', 'node-a', answeredCdr('fork-1', 1000), a);
    await store.addCdr('k-b', 'node-a', answeredCdr('fork-1', 1000), b);
    assert.deepEqual(await store.openDialogs('fork-1', 10_000), [a, b]);
    assert.deepEqual(await store.openDialogs('fork-1', 60_000), [b]);
    const moved: DialogRecord = {
      ...b,
      callee: {
        ...b.callee,
        hop: 'sip:1001@10.0.0.9:5080',
        endpoint: { ...b.callee.endpoint, port: 5080 },
      },
    };
    await store.updateDialog(moved);
    assert.deepEqual(await store.openDialogs('fork-1', 10_000), [a, moved]);
    assert.deepEqual(await store.openDialogs('other', 10_000), []);
  });

  withStore(
    "closeOpenCdrs closes only that node's answered calls without an end",
    async (store) => {
      await store.addCdr('a-open-1', 'node-a', answeredCdr('a1', 1000));
      await store.addCdr('a-open-2', 'node-a', answeredCdr('a2', 2000));
      await store.addCdr('a-ended', 'node-a', answeredCdr('a3', 3000));
      await store.updateCdr('a-ended', endedCdr(answeredCdr('a3', 3000), 5));
      await store.addCdr('a-failed', 'node-a', {
        ...answeredCdr('a4', 4000),
        answer: undefined,
        finalStatus: 408,
        cause: 'timeout',
      });
      await store.addCdr('b-open', 'node-b', answeredCdr('b1', 5000));

      assert.equal(await store.closeOpenCdrs('node-a', 'node-lost'), 2);
      assert.equal(await store.closeOpenCdrs('node-a', 'node-lost'), 0);
      const byKey = new Map((await store.listCdrs()).map((r) => [r.key, r]));
      assert.equal(byKey.get('a-open-1')?.cause, 'node-lost');
      assert.equal(byKey.get('a-open-1')?.end, undefined);
      assert.equal(byKey.get('a-open-2')?.cause, 'node-lost');
      assert.equal(byKey.get('a-ended')?.cause, 'answered');
      assert.equal(byKey.get('a-failed')?.cause, 'timeout');
      assert.equal(byKey.get('b-open')?.cause, 'answered');
      // The end is still unknown: a BYE that comes later can complete the row.
      assert.equal((await store.openCdr('a1'))?.key, 'a-open-1');
      assert.equal(await store.closeOpenCdrs('node-b', 'server-restart'), 1);
      assert.equal((await store.openCdr('b1'))?.cause, 'server-restart');
    },
  );

  withStore('listCdrs: newest first, every filter of CdrQuery, limit', async (store) => {
    const rows: Array<[string, string, CdrRecord]> = [
      ['k1', 'n1', answeredCdr('c1', 1000, { caller: 'sip:alice@x', dialled: '5551234' })],
      [
        'k2',
        'n1',
        { ...answeredCdr('c2', 2000), answer: undefined, finalStatus: 486, cause: 'callee-busy' },
      ],
      [
        'k3',
        'n2',
        {
          ...answeredCdr('c3', 3000),
          answer: undefined,
          finalStatus: 404,
          cause: 'no-route',
          callee: 'sip:9999@x',
        },
      ],
      ['k4', 'n2', answeredCdr('c4', 4000, { trunk: 'carrier-a', dialled: '0044207' })],
      [
        'k5',
        'n1',
        {
          ...answeredCdr('c5', 5000),
          answer: undefined,
          finalStatus: 503,
          cause: 'media-unavailable',
          trunk: 'carrier-b',
        },
      ],
      [
        'k6',
        'n2',
        { ...answeredCdr('c6', 6000), answer: undefined, finalStatus: 487, cause: 'cancelled' },
      ],
    ];
    for (const [key, node, cdr] of rows) await store.addCdr(key, node, cdr);
    const keys = async (q: Parameters<CdrStore['listCdrs']>[0]) =>
      (await store.listCdrs(q)).map((r) => r.key);

    assert.deepEqual(await keys({}), ['k6', 'k5', 'k4', 'k3', 'k2', 'k1']);
    assert.deepEqual(await keys({ limit: 2 }), ['k6', 'k5']);
    assert.deepEqual(await keys({ since: 3000 }), ['k6', 'k5', 'k4', 'k3']);
    assert.deepEqual(await keys({ since: 2000, until: 4000 }), ['k3', 'k2']);
    assert.deepEqual(await keys({ number: 'alice' }), ['k1']);
    assert.deepEqual(await keys({ number: '9999' }), ['k3']);
    assert.deepEqual(await keys({ number: '0044' }), ['k4']);
    assert.deepEqual(await keys({ number: '%' }), []);
    assert.deepEqual(await keys({ cause: 'callee-busy' }), ['k2']);
    assert.deepEqual(await keys({ status: 200 }), ['k4', 'k1']);
    assert.deepEqual(await keys({ statusClass: 4 }), ['k6', 'k3', 'k2']);
    assert.deepEqual(await keys({ statusClass: 5 }), ['k5']);
    assert.deepEqual(await keys({ trunk: 'carrier-a' }), ['k4']);
    assert.deepEqual(await keys({ node: 'n2' }), ['k6', 'k4', 'k3']);
    assert.deepEqual(await keys({ node: 'n1', statusClass: 4, since: 1500 }), ['k2']);
  });

  withStore('rows survive closing and reopening the store', async (store, db) => {
    const cdr = answeredCdr('persist-1', 7000);
    await store.addCdr('k-p', 'node-a', cdr, dialogOf('persist-1', 't', 9e15));
    await store.close();
    const again = await db.open();
    try {
      assert.equal((await again.openCdr('persist-1'))?.key, 'k-p');
      await again.updateCdr('k-p', endedCdr(cdr, 2));
      assert.equal((await again.listCdrs())[0]?.duration, 2);
    } finally {
      await again.close();
    }
    // `store` was closed above; withStore closes it again: close must be harmless twice.
  });

  test(`${engine} CdrStore: several stores opening one new database at once all work`, async (t) => {
    const db = await harness.database(t);
    if (!db) return;
    const stores = await Promise.all([db.open(), db.open(), db.open()]);
    try {
      await Promise.all(
        stores.map((s, i) => s.addCdr(`k-${i}`, `node-${i}`, answeredCdr(`call-${i}`, i))),
      );
      for (const s of stores) assert.equal((await s.listCdrs()).length, 3);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
}

/**
 * The latency of one answered call's two CDR writes (addCdr at answer, updateCdr at the end), as
 * the median over `calls` sequential calls, in ms: what each engine costs a call's signalling.
 */
export async function cdrWriteLatencyMs(
  store: CdrStore,
  calls: number,
  node = 'latency',
): Promise<number> {
  const times: number[] = [];
  const start = Date.now();
  for (let i = 0; i < calls; i++) {
    const callId = `latency-${start}-${i}`;
    const cdr = {
      callId,
      caller: 'sip:1000@example.com',
      callee: 'sip:1001@example.com',
      dialled: '1001',
      start: start + i,
      answer: start + i,
      finalStatus: 200,
      cause: 'answered' as const,
    };
    const t0 = process.hrtime.bigint();
    await store.addCdr(callId, node, cdr);
    await store.updateCdr(callId, { ...cdr, end: start + i + 1000, duration: 1 });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
