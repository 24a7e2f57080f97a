import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CdrSpool, type SpoolEntry } from './cdr-spool.ts';

const spoolPath = () => join(mkdtempSync(join(tmpdir(), 'trapezoid-spool-')), 'spool.jsonl');
const cdr = (i: number) => ({
  callId: `c-${i}`,
  caller: 'sip:a@x',
  callee: 'sip:b@x',
  dialled: 'b',
  start: i,
  finalStatus: 200,
  cause: 'answered' as const,
});
const add = (i: number): SpoolEntry => ({ op: 'add', key: `k-${i}`, node: 'n', cdr: cdr(i) });

test('spool: concurrent appends land in call order, on disk when they resolve', async () => {
  const path = spoolPath();
  const spool = await CdrSpool.open(path);
  await Promise.all(Array.from({ length: 50 }, (_, i) => spool.append(add(i))));
  assert.equal(spool.length, 50);
  const onDisk = readFileSync(path, 'utf8').trimEnd().split('\n');
  assert.deepEqual(
    onDisk.map((l) => (JSON.parse(l) as { key: string }).key),
    Array.from({ length: 50 }, (_, i) => `k-${i}`),
  );
  const lines = await spool.peek(1000);
  assert.deepEqual(
    lines.map((l) => l.entry),
    Array.from({ length: 50 }, (_, i) => add(i)),
  );
  await spool.close();
});

test('spool: consumed in order, emptied only when drained, a partial last line cut off', async () => {
  const path = spoolPath();
  let spool = await CdrSpool.open(path);
  for (let i = 0; i < 3; i++) await spool.append(add(i));
  await spool.close();
  // A process killed mid-write: a damaged line that was complete, then a partial one.
  appendFileSync(path, 'not json\n{"op":"add","key":"k-partial');

  spool = await CdrSpool.open(path);
  assert.equal(spool.length, 4, 'three entries and the damaged line; the partial line is gone');
  const [first, second] = await spool.peek(2);
  assert.equal(first?.entry && 'key' in first.entry && first.entry.key, 'k-0');
  spool.consume(first!);
  spool.consume(second!);
  assert.equal(spool.length, 2);
  assert.equal(await spool.truncateIfDrained(), false, 'lines are left');
  const rest = await spool.peek(10);
  assert.equal(rest.length, 2);
  assert.equal(rest[1]?.entry, undefined);
  assert.equal(rest[1]?.text, 'not json');
  await spool.append(add(9));
  for (const line of rest) spool.consume(line);
  assert.equal(await spool.truncateIfDrained(), false, 'a line appended since');
  const [last] = await spool.peek(10);
  assert.deepEqual(last?.entry, add(9));
  spool.consume(last!);
  assert.equal(await spool.truncateIfDrained(), true);
  assert.equal(spool.length, 0);
  assert.equal(statSync(path).size, 0);
  await spool.append(add(10));
  assert.deepEqual(
    (await spool.peek(10)).map((l) => l.entry),
    [add(10)],
  );
  await spool.close();
});
