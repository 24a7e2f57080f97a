import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import {
  ADMIT,
  DEFAULT_OVERLOAD,
  DROP,
  OverloadControl,
  REJECT,
  type OverloadOptions,
} from './overload.ts';

/** A control on a clock of our own; the events it told, in order. */
function control(options: Partial<OverloadOptions> = {}) {
  let now = 0;
  const told: string[] = [];
  const c = new OverloadControl(
    { ...DEFAULT_OVERLOAD, ...options },
    {
      started: (u) => told.push(`started ${u}`),
      ended: (ms, dropped, rejected) => told.push(`ended ${ms} ${dropped} ${rejected}`),
    },
    undefined,
    () => now,
  );
  const advance = (ms: number) => (now += ms);
  /** One window of the control's length that ended with this utilization. */
  const window = (u: number) => {
    advance(c.options.windowMs);
    c.observe(u);
  };
  return { c, told, advance, window };
}

test('below shedAbove everything is admitted; sustainMs at it starts an episode', () => {
  const { c, told, window } = control({ windowMs: 100, sustainMs: 500 });
  window(0.96);
  assert.equal(c.verdict(true), ADMIT);
  assert.equal(c.verdict(false), ADMIT);
  // Four hot windows, one cooler: no episode, and the count starts again.
  for (const u of [1, 1, 1, 1, 0.96]) window(u);
  assert.equal(c.stats.shedding, false);
  for (let i = 0; i < 4; i++) window(0.97);
  assert.equal(c.stats.shedding, false);
  assert.equal(c.verdict(true), ADMIT);
  window(0.97);
  assert.equal(c.stats.shedding, true);
  assert.equal(c.stats.episodes, 1);
  assert.deepEqual(told, ['started 0.97']);
});

test('in an episode: UDP is dropped and streams taken, then both answered 503 after rejectAfterMs', () => {
  const { c, advance } = control({ rejectAfterMs: 2000, sustainMs: 0 });
  c.observe(1);
  assert.equal(c.verdict(true), DROP);
  assert.equal(c.verdict(false), ADMIT);
  advance(1999);
  assert.equal(c.verdict(true), DROP);
  assert.equal(c.verdict(false), ADMIT);
  advance(1);
  assert.equal(c.verdict(true), REJECT);
  assert.equal(c.verdict(false), REJECT);
  assert.deepEqual(
    { dropped: c.stats.dropped, rejected: c.stats.rejected },
    { dropped: 2, rejected: 2 },
  );
});

test('the episode lasts until a window below resumeBelow (hysteresis), then admits again', () => {
  const { c, told, advance } = control({ shedAbove: 0.97, resumeBelow: 0.9, sustainMs: 0 });
  c.observe(0.99);
  c.verdict(true);
  advance(2300);
  c.observe(0.93); // between the two: still shedding
  assert.equal(c.stats.shedding, true);
  assert.equal(c.verdict(false), REJECT);
  advance(200);
  c.observe(0.89);
  assert.equal(c.stats.shedding, false);
  assert.equal(c.verdict(true), ADMIT);
  assert.deepEqual(told, ['started 0.99', 'ended 2500 1 1']);
  // A second episode starts its own clock: dropped again, not answered 503.
  advance(5000);
  c.observe(0.98);
  assert.equal(c.verdict(true), DROP);
  assert.equal(c.stats.episodes, 2);
});

test('shedAbove 0 turns control off', () => {
  const { c } = control({ shedAbove: 0, sustainMs: 0 });
  c.observe(1);
  assert.equal(c.verdict(true), ADMIT);
  assert.equal(c.stats.episodes, 0);
});

test('on the real event loop: a loop kept busy starts an episode, an idle one ends it', async () => {
  const c = new OverloadControl({ ...DEFAULT_OVERLOAD, windowMs: 50, sustainMs: 0 });
  c.start();
  try {
    // Busy for 200 ms with no turn of the loop: the window that ends after it was all work.
    const end = performance.now() + 200;
    while (performance.now() < end) {
      /* busy */
    }
    // The overdue window is looked at on the next turns (the next idle window would end it).
    const seen = performance.now();
    while (!c.stats.shedding && performance.now() - seen < 40)
      await new Promise((r) => setImmediate(r));
    assert.equal(c.stats.shedding, true, 'a busy loop is overloaded');
    assert.equal(c.verdict(true), DROP);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(c.stats.shedding, false, 'an idle loop is not');
    assert.equal(c.verdict(true), ADMIT);
  } finally {
    c.stop();
  }
});
