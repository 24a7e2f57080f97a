import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer } from './jitter-buffer.ts';

/** Frame k of a test signal: every sample holds k + 1 (never 0, so silence stands out). */
function frame(k: number): Int16Array {
  return new Int16Array(160).fill(k + 1);
}

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Arrival {
  k: number;
  at: number;
}

/** Runs arrivals through a buffer, popping every 20 ms; returns the played frames. */
function play(buffer: JitterBuffer, arrivals: Arrival[], frames: number, firstTimestamp = 1000) {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const played = [];
  let next = 0;
  for (let now = 0; now < frames * 20 + 1000 && played.length < frames; now += 20) {
    while (next < sorted.length && sorted[next]!.at <= now) {
      const { k, at } = sorted[next++]!;
      buffer.push((firstTimestamp + k * 160) >>> 0, frame(k), at);
    }
    const f = buffer.pop(now);
    if (f) played.push(f);
  }
  return played;
}

test('shuffled packets within the delay come out in order, nothing concealed', () => {
  const rnd = random(1);
  // Each packet sent at k*20 ms arrives 0-50 ms later: heavy reordering.
  const arrivals = Array.from({ length: 200 }, (_, k) => ({
    k,
    at: k * 20 + Math.floor(rnd() * 50),
  }));
  const buffer = new JitterBuffer({ delayMs: 80 });
  const played = play(buffer, arrivals, 200);
  assert.equal(played.length, 200);
  for (const [k, f] of played.entries()) {
    assert.equal(f.concealed, false, `frame ${k}`);
    assert.equal(f.samples[0], k + 1);
    assert.equal(f.timestamp, 1000 + k * 160);
  }
  const s = buffer.stats();
  assert.deepEqual([s.received, s.played, s.concealed, s.late, s.lost], [200, 200, 0, 0, 0]);
});

test('lost packets are concealed by fading repetition, then silence, and counted', () => {
  const lost = new Set([10, 50, 51, 52, 53, 54]);
  const arrivals = Array.from({ length: 100 }, (_, k) => ({ k, at: k * 20 + 5 })).filter(
    (a) => !lost.has(a.k),
  );
  const buffer = new JitterBuffer({ delayMs: 40 });
  const played = play(buffer, arrivals, 100);
  assert.equal(played.length, 100);
  assert.deepEqual(
    played.filter((f) => f.concealed).map((f) => (f.timestamp - 1000) / 160),
    [...lost],
  );
  // Frame 10 repeats frame 9 at half level; 50..52 fade; 53, 54 are silent.
  assert.equal(played[10]!.samples[0], Math.round(10 * 0.5));
  assert.deepEqual(
    [50, 51, 52, 53, 54].map((k) => played[k]!.samples[0]),
    [Math.round(50 * 0.5), Math.round(50 * 0.25), Math.round(50 * 0.125), 0, 0],
  );
  assert.equal(played[55]!.samples[0], 56);
  const s = buffer.stats();
  assert.equal(s.lost, 6);
  assert.equal(s.concealed, 6);
  assert.equal(s.late, 0);
  const silent = new JitterBuffer({ delayMs: 40, concealment: 'silence' });
  assert.equal(play(silent, arrivals, 100)[10]!.samples[0], 0);
});

test('a packet later than its playout time counts as late, not lost; duplicates are ignored', () => {
  const arrivals = Array.from({ length: 60 }, (_, k) => ({ k, at: k * 20 + 5 }));
  arrivals[20]!.at += 200; // arrives ~10 frames too late for a 40 ms buffer
  arrivals.push({ k: 30, at: 30 * 20 + 6 }); // duplicate
  const buffer = new JitterBuffer({ delayMs: 40 });
  const played = play(buffer, arrivals, 60);
  assert.equal(played[20]!.concealed, true);
  const s = buffer.stats();
  assert.equal(s.late, 1);
  assert.equal(s.lost, 0);
  assert.equal(s.concealed, 1);
  assert.equal(s.duplicates, 1);
});

test('timestamps that wrap around 2^32 play straight through', () => {
  const arrivals = Array.from({ length: 50 }, (_, k) => ({ k, at: k * 20 + 3 }));
  const played = play(new JitterBuffer({ delayMs: 40 }), arrivals, 50, 0xffffffff - 160 * 20);
  assert.deepEqual(
    played.map((f) => f.samples[0]),
    Array.from({ length: 50 }, (_, k) => k + 1),
  );
});

test('adaptive mode grows the delay with jitter and loses fewer packets than a fixed small one', () => {
  const rnd = random(7);
  const arrivals = Array.from({ length: 500 }, (_, k) => ({
    k,
    at: k * 20 + Math.floor(rnd() * rnd() * 120),
  }));
  const fixed = new JitterBuffer({ delayMs: 20 });
  play(fixed, arrivals, 500);
  const adaptive = new JitterBuffer({ delayMs: 20, adaptive: true });
  play(adaptive, arrivals, 500);
  const f = fixed.stats();
  const a = adaptive.stats();
  assert.ok(a.delayMs > 40, `adaptive delay ${a.delayMs}`);
  assert.ok(a.late < f.late / 2, `late: adaptive ${a.late}, fixed ${f.late}`);
  assert.equal(f.delayMs, 20);
});
