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
