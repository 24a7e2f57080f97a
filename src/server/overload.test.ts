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

/** A control on a clock and dice of our own; the events it told, in order. */
function control(options: Partial<OverloadOptions> = {}) {
  let now = 0;
  let dice = 0.5;
  const told: string[] = [];
  const c = new OverloadControl(
    { ...DEFAULT_OVERLOAD, ...options },
    {
      started: (u) => told.push(`started ${u}`),
      ended: (ms, dropped, rejected) => told.push(`ended ${ms} ${dropped} ${rejected}`),
    },
    undefined,
    () => now,
    () => dice,
  );
  /** Windows of the control's length that ended with these utilizations. */
  const windows = (...us: number[]) => {
    for (const u of us) {
      now += c.options.windowMs;
      c.observe(u);
    }
  };
  return { c, told, windows, roll: (d: number) => (dice = d) };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
let calls = 0;
/** A new Call-ID each time: a new call's request, not a retransmission. */
const id = () => `call-${++calls}`;

test('nothing is refused before the loop has been at shedAbove for sustainMs in a row', () => {
  const { c, told, windows } = control({ windowMs: 100, sustainMs: 500 });
  windows(0.96, 1, 1, 1, 1, 0.96); // four hot windows, then a cooler one: the count starts again
  windows(0.97, 0.97, 0.97, 0.97);
  assert.equal(c.stats.shedding, false);
  assert.equal(c.verdict(true, id()), ADMIT);
  windows(0.97);
  assert.equal(c.stats.shedding, true);
  assert.equal(c.stats.episodes, 1);
  assert.equal(round(c.stats.admitting), 0.7);
  assert.deepEqual(told, ['started 0.97']);
});

test('each hot window cuts the admitted share by 30 %, to none below 5 %; each idle one gives back a tenth', () => {
  const { c, told, windows } = control({ sustainMs: 0 });
  windows(1, 1, 1);
  assert.equal(round(c.stats.admitting), 0.343);
  windows(0.93); // between resumeBelow and shedAbove: held
  assert.equal(round(c.stats.admitting), 0.343);
  windows(1, 1, 1, 1, 1, 1);
  assert.equal(c.stats.admitting, 0, '0.7^9 is under 5 %: none');
  windows(0.5, 0.5);
  assert.equal(round(c.stats.admitting), 0.2);
  windows(0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5);
  assert.equal(c.stats.shedding, true);
  windows(0.5);
  assert.equal(c.stats.shedding, false, 'all given back: the episode is over');
  assert.equal(c.stats.admitting, 1);
  assert.deepEqual(told, ['started 1', 'ended 1900 0 0']);
});

test('a new request is admitted at random with the share; UDP refused is dropped, a stream is taken', () => {
  const { c, windows, roll } = control({ sustainMs: 0, rejectAfterMs: 2000 });
  windows(1, 1); // share 0.49
  roll(0.48);
  assert.equal(c.verdict(true, id()), ADMIT);
  roll(0.49);
  assert.equal(c.verdict(true, id()), DROP);
  assert.equal(c.verdict(false, id()), ADMIT, 'nothing would retransmit it');
  assert.deepEqual([c.stats.dropped, c.stats.rejected], [1, 0]);
});

test('a request dropped once is taken when it comes again (its retransmission)', () => {
  const { c, windows, roll } = control({ sustainMs: 0 });
  windows(1, 1, 1, 1, 1, 1, 1, 1, 1); // a share of none
  assert.equal(c.stats.admitting, 0);
  roll(0.99);
  assert.equal(c.verdict(true, 'a'), DROP);
  assert.equal(c.verdict(true, 'b'), DROP);
  assert.equal(c.verdict(true, 'a'), ADMIT, 'the retransmission');
  assert.equal(c.verdict(true, 'a'), DROP, 'taken once: a later new request is a new chance');
  assert.equal(c.stats.dropped, 3);
  // A new episode forgets the last one's.
  windows(...Array<number>(11).fill(0.5));
  assert.equal(c.stats.shedding, false);
  windows(1);
  assert.equal(c.verdict(true, 'b'), DROP);
});

test('after rejectAfterMs at shedAbove in a row, what is refused gets 503 whatever the transport', () => {
  const { c, told, windows, roll } = control({ sustainMs: 0, rejectAfterMs: 2000 });
  roll(0.99);
  windows(...Array<number>(19).fill(1));
  assert.equal(c.verdict(true, id()), DROP);
  assert.equal(c.verdict(false, id()), ADMIT);
  windows(1); // 2000 ms at it
  assert.equal(c.verdict(true, id()), REJECT);
  assert.equal(c.verdict(false, id()), REJECT);
  windows(0.95); // a cooler window: refusing is helping, so back to dropping
  assert.equal(c.verdict(true, id()), DROP);
  c.stop();
  assert.deepEqual(told, ['started 1', 'ended 2000 2 2']);
});

test('shedAbove 0 turns control off', () => {
  const { c, windows } = control({ shedAbove: 0, sustainMs: 0 });
  windows(1, 1, 1);
  assert.equal(c.verdict(true, id()), ADMIT);
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
    // The overdue window is looked at on the next turns.
    const seen = performance.now();
    while (!c.stats.shedding && performance.now() - seen < 40)
      await new Promise((r) => setImmediate(r));
    assert.equal(c.stats.shedding, true, 'a busy loop is overloaded');
    assert.ok(c.stats.admitting < 1);
    // Idle: a tenth back per 50 ms window, all of it well within a second.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(c.stats.shedding, false, 'an idle loop is not');
    assert.equal(c.verdict(true, id()), ADMIT);
  } finally {
    c.stop();
  }
});
