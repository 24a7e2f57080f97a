import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_REPLAY_WINDOW,
  MIN_REPLAY_WINDOW,
  SrtpReplayWindow,
  type ReplayCheck,
} from './srtp-replay-window.ts';

test('a fresh window takes anything and has no highest index', () => {
  const w = new SrtpReplayWindow();
  assert.equal(w.size, DEFAULT_REPLAY_WINDOW);
  assert.equal(w.highest, undefined);
  assert.equal(w.check(0), 'new');
  assert.equal(w.check(123456), 'new');
});

test('the same index twice is a replay', () => {
  const w = new SrtpReplayWindow();
  w.accept(1000);
  assert.equal(w.check(1000), 'replay');
  assert.equal(w.highest, 1000);
});

test('an older index inside the window is new once, then a replay', () => {
  const w = new SrtpReplayWindow(64);
  w.accept(1000);
  assert.equal(w.check(990), 'new');
  w.accept(990);
  assert.equal(w.check(990), 'replay');
  assert.equal(w.highest, 1000, 'an older packet does not move the window');
});

test('window edges: highest - (size - 1) is inside, highest - size is too old', () => {
  for (const size of [64, 100, 128, 1024]) {
    const w = new SrtpReplayWindow(size);
    w.accept(5000);
    assert.equal(w.check(5000 - (size - 1)), 'new', `size ${size}: just inside`);
    assert.equal(w.check(5000 - size), 'too-old', `size ${size}: just outside`);
    w.accept(5000 - (size - 1));
    assert.equal(w.check(5000 - (size - 1)), 'replay', `size ${size}: now seen`);
  }
});

test('moving forward forgets the indices that fell out and clears the skipped ones', () => {
  const w = new SrtpReplayWindow(64);
  for (let i = 0; i < 64; i++) w.accept(i);
  w.accept(70); // 64..69 skipped; their ring bits held 0..5 before
  for (let i = 64; i < 70; i++) assert.equal(w.check(i), 'new', `skipped ${i}`);
  assert.equal(w.check(6), 'too-old');
  assert.equal(w.check(7), 'replay');
  w.accept(70 + 1000); // a jump wider than the window clears everything
  assert.equal(w.check(1070 - 63), 'new');
  assert.equal(w.check(1070), 'replay');
});

test('a window smaller than 64 or not an integer is refused', () => {
  assert.throws(() => new SrtpReplayWindow(MIN_REPLAY_WINDOW - 1), /at least 64/);
  assert.throws(() => new SrtpReplayWindow(100.5), /integer/);
});

test('agrees with a set-based model on random index sequences', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 64, max: 200 }),
      fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 300 }),
      (size, indices) => {
        const w = new SrtpReplayWindow(size);
        const seen = new Set<number>();
        let highest = -1;
        for (const i of indices) {
          let expected: ReplayCheck;
          if (i > highest) expected = 'new';
          else if (highest - i >= size) expected = 'too-old';
          else expected = seen.has(i) ? 'replay' : 'new';
          assert.equal(w.check(i), expected, `index ${i} after highest ${highest}`);
          if (expected === 'new') {
            w.accept(i);
            seen.add(i);
            highest = Math.max(highest, i);
          }
        }
      },
    ),
  );
});
