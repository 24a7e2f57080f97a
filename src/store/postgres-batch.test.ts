// What goes in one batch statement (batchLength) and the statement's parameters (batchValues).
// The statement itself runs against a real PostgreSQL in postgres-cdrs.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answeredCdr, dialogOf, endedCdr } from './cdr-store.contract.ts';
import type { SpoolEntry } from './cdr-spool.ts';
import { BATCH_SQL, MAX_BATCH, batchLength, batchValues } from './postgres-batch.ts';

const add = (key: string, callId: string): SpoolEntry => ({
  op: 'add',
  key,
  node: 'n',
  cdr: answeredCdr(callId, 1000),
});
const update = (key: string, callId: string): SpoolEntry => ({
  op: 'update',
  key,
  cdr: endedCdr(answeredCdr(callId, 1000), 3),
});
const dialog = (callId: string): SpoolEntry => ({ op: 'dialog', dialog: dialogOf(callId, 't', 9) });
const same = (e: SpoolEntry | undefined) => e;

test('batchLength: a batch ends before a second write of one Call-ID or one key', () => {
  assert.equal(batchLength([], same), 0);
  assert.equal(batchLength([add('k1', 'c1'), add('k2', 'c2'), update('k3', 'c3')], same), 3);
  // The completion of call c1 must land after its insert: it starts the next batch.
  assert.equal(batchLength([add('k1', 'c1'), add('k2', 'c2'), update('k1', 'c1')], same), 2);
  assert.equal(batchLength([add('k1', 'c1'), dialog('c2'), dialog('c1')], same), 2);
  // One key under two Call-IDs (never made by the server) still splits.
  assert.equal(batchLength([add('k1', 'c1'), update('k1', 'c9')], same), 1);
  // A Call-ID equal to some key is not a repeat.
  assert.equal(batchLength([add('x', 'y'), add('y', 'x')], same), 2);
});

test('batchLength: at most MAX_BATCH; an unreadable line ends a batch, alone it is one', () => {
  const many = Array.from({ length: MAX_BATCH + 7 }, (_, i) => add(`k${i}`, `c${i}`));
  assert.equal(batchLength(many, same), MAX_BATCH);
  assert.equal(batchLength(many, same, 10), 10);
  assert.equal(batchLength([add('k1', 'c1'), undefined, add('k2', 'c2')], same), 1);
  assert.equal(batchLength([undefined, add('k2', 'c2')], same), 1);
});

test('batchValues: one array per parameter of BATCH_SQL, rows of each kind in order', () => {
  const values = batchValues([add('k1', 'c1'), update('k2', 'c2'), add('k3', 'c3'), dialog('c4')]);
  const params = new Set([...BATCH_SQL.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  assert.equal(values.length, params.size);
  assert.deepEqual(
    [...params].sort((a, b) => a - b),
    values.map((_, i) => i + 1),
  );
  assert.deepEqual(values[0], ['k1', 'k3'], 'insert keys');
  assert.deepEqual(values[2], ['c1', 'c3'], 'insert Call-IDs');
  assert.deepEqual(values[20], [null, null], 'no dialog with these inserts');
  assert.deepEqual(values[21], ['k2'], 'completion keys');
  assert.deepEqual(values[23], [answeredCdr('c2', 1000).answer! + 3000], 'completion end');
  assert.deepEqual(values.slice(34), [['c4'], ['t'], [JSON.stringify(dialogOf('c4', 't', 9))]]);
});
