// EndTimerQueue: the end timers (D, I, J, K, L, M) of one duration under one node timer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { EndTimerQueue } from './timers.ts';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('end timers of one duration fire in order, after their time, under one node timer', async () => {
  const timers = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout') timers.add(id);
    },
  }).enable();
  const queue = new EndTimerQueue(400);
  const ended: number[] = [];
  const started: number[] = [];
  let hooked = 0;
  try {
    for (let i = 0; i < 3; i++) {
      started.push(performance.now());
      const n = i;
      queue.add({ terminate: () => ended.push(n) });
      await pause(10);
    }
    hooked = timers.size;
  } finally {
    hook.disable();
  }
  // the three pauses made three timers of their own; the queue one more for all its entries
  assert.equal(hooked, 4);
  assert.equal(queue.size, 3);
  while (ended.length < 3 && performance.now() - started[0]! < 5000) await pause(20);
  assert.ok(performance.now() - started[2]! >= 399, 'the last one waited its 400 ms');
  assert.deepEqual(ended, [0, 1, 2]);
  assert.equal(queue.size, 0);
});

test('an entry fires no earlier than its duration (within the 1 ms of the loop clock)', async () => {
  const queue = new EndTimerQueue(30);
  const t0 = performance.now();
  let at = 0;
  queue.add({ terminate: () => (at = performance.now()) });
  while (at === 0) await pause(5);
  assert.ok(at - t0 >= 29, `fired after ${(at - t0).toFixed(1)} ms`);
});

test('clear() drops every entry: nothing fires', async () => {
  const queue = new EndTimerQueue(10);
  let fired = 0;
  for (let i = 0; i < 100; i++) queue.add({ terminate: () => fired++ });
  queue.clear();
  assert.equal(queue.size, 0);
  await pause(40);
  assert.equal(fired, 0);
});

test('an entry forgotten is not ended; entries keep their numbers across the queue compacting', async () => {
  const queue = new EndTimerQueue(300);
  const ended: number[] = [];
  const numbers: number[] = [];
  // More than the 1024 entries after which the queue compacts, in two batches apart.
  for (let i = 0; i < 1600; i++) numbers.push(queue.add({ terminate: () => ended.push(i) }));
  await pause(150);
  for (let i = 1600; i < 3000; i++) numbers.push(queue.add({ terminate: () => ended.push(i) }));
  assert.deepEqual(numbers.slice(0, 3), [0, 1, 2], 'numbered in the order added');
  const due = queue.dueOf(numbers[2000]!)!;
  assert.ok(due > performance.now(), 'not due yet');
  queue.forget(numbers[7]!);
  // The first batch runs (and the queue compacts: 1600 of 3000 done); the second waits.
  const deadline = performance.now() + 2000;
  while (ended.length < 1599 && performance.now() < deadline) await pause(5);
  assert.equal(ended.length, 1599, 'the first batch ended but the forgotten one');
  assert.equal(queue.dueOf(numbers[10]!), undefined, 'an entry that ran has no due time');
  assert.equal(queue.dueOf(numbers[2000]!), due, 'a waiting entry keeps its number');
  queue.forget(numbers[2999]!);
  while (queue.size > 0 && performance.now() < deadline + 2000) await pause(5);
  assert.equal(ended.length, 2998);
  assert.ok(!ended.includes(7) && !ended.includes(2999));
});
