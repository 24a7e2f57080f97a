import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { growthFor, MAX_GROWTH, MIN_GROWTH, projectLive } from './memory-target.ts';

const MB = 1e6;

test('growthFor: far target leaves V8 its own factor, near one lands the next limit on it', () => {
  // 30 MB live, 70 MB outside: 500 MB leaves 430 MB of room, over 4x what is live.
  assert.equal(growthFor(500 * MB, 30 * MB, 70 * MB), undefined);
  // 256 MB, 120 MB outside, 50 MB live: 136 MB of room is 2.72x what is live.
  assert.equal(growthFor(256 * MB, 50 * MB, 120 * MB), 136 / 50);
  // Live beyond the room: never below MIN_GROWTH (soft: the heap still grows).
  assert.equal(growthFor(256 * MB, 200 * MB, 120 * MB), MIN_GROWTH);
  assert.equal(growthFor(100 * MB, 50 * MB, 150 * MB), MIN_GROWTH);
  // The factor handed to V8 is always below its own largest: at 4x and beyond, V8 chooses.
  assert.ok(growthFor(256 * MB, 35 * MB, 120 * MB)! < MAX_GROWTH);
  assert.equal(growthFor(256 * MB, 34 * MB, 120 * MB), undefined);
  assert.equal(growthFor(256 * MB, 0, 120 * MB), undefined);
});

test('growthFor: room for the young generation V8 adds, sized for what will be live', () => {
  // 136 MB of room, 16 MB of it for the semi-space V8 adds to the limit: 120 / 50.
  assert.equal(growthFor(256 * MB, 50 * MB, 120 * MB, 16 * MB), 120 / 50);
  // 60 MB expected live at the next collection: 120 / 60.
  assert.equal(growthFor(256 * MB, 50 * MB, 120 * MB, 16 * MB, 60 * MB), 120 / 60);
  // Never sized below what is live now.
  assert.equal(growthFor(256 * MB, 50 * MB, 120 * MB, 16 * MB, 40 * MB), 120 / 50);
  // Growing towards the room: the least factor.
  assert.equal(growthFor(256 * MB, 80 * MB, 120 * MB, 16 * MB, 100 * MB), MIN_GROWTH);
});

test('projectLive: what is live grows at the rate seen, up to twice what it is', () => {
  // 1.5 MB/s (1500 bytes per ms) for 10 s more: 50 + 15 MB.
  assert.equal(projectLive(50 * MB, 1500, 10_000), 65 * MB);
  // Shrinking or no time: as it is.
  assert.equal(projectLive(50 * MB, -1500, 10_000), 50 * MB);
  assert.equal(projectLive(50 * MB, 1500, 0), 50 * MB);
  // A long way ahead: at most twice.
  assert.equal(projectLive(50 * MB, 1500, 1e9), 100 * MB);
});

// A workload with a steady live set (a ring of 120,000 records, about 40 MB) that keeps
// promoting records which die later, as a call server's settled transactions do. Prints the
// largest old-generation size in use over the second half, and what the target saw.
const WORKLOAD = `
import v8 from 'node:v8';
import { holdMemoryTarget, memoryTargetStats } from './src/server/memory-target.ts';
const release = holdMemoryTarget(Number(process.argv[1]));
const N = 120000;
const ring = new Array(N);
const oldUsed = () => v8.getHeapSpaceStatistics()
  .filter((s) => s.space_name === 'old_space' || s.space_name === 'large_object_space')
  .reduce((a, s) => a + s.space_used_size, 0);
let peak = 0;
for (let i = 0; i < 1_500_000; i++) {
  ring[i % N] = { seq: i, text: ('record ' + i + ' ').repeat(4), parts: [i, i + 1] };
  if (i % 500 === 0) {
    await new Promise((r) => setTimeout(r, 1));
    if (i >= 750_000) peak = Math.max(peak, oldUsed());
  }
}
const stats = memoryTargetStats();
release();
console.log(JSON.stringify({ peak, stats }));
`;

async function runWorkload(targetMb: number): Promise<{
  peak: number;
  stats: { fullCollections: number; growth: number; liveBytes: number };
}> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', WORKLOAD, String(targetMb)],
    { cwd: new URL('../..', import.meta.url).pathname, timeout: 120_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('a held target keeps the old generation near what is live, where V8 alone lets it grow', async () => {
  const alone = await runWorkload(0);
  // 150 MB is below what the process needs at V8's factor: the target holds the growth at its least.
  const held = await runWorkload(150);
  assert.equal(alone.stats.fullCollections, 0, 'no target: nothing observed');
  assert.ok(
    held.stats.fullCollections >= 3,
    `full collections seen: ${held.stats.fullCollections}`,
  );
  assert.ok(
    held.stats.liveBytes > 20 * MB,
    `live after a full collection: ${held.stats.liveBytes}`,
  );
  assert.ok(
    held.stats.growth >= MIN_GROWTH && held.stats.growth < MAX_GROWTH,
    `growth set: ${held.stats.growth}`,
  );
  // V8 alone: about 155 MB in use at its peaks for ~40 MB live; held: about 62 MB, within twice
  // what is live (the factor set plus the young objects promoted between two looks).
  assert.ok(
    held.peak < 2 * held.stats.liveBytes,
    `old generation at its peak with the target: ${Math.round(held.peak / MB)} MB for ${Math.round(held.stats.liveBytes / MB)} MB live`,
  );
  assert.ok(
    held.peak < 0.75 * alone.peak,
    `old generation at its peak: ${Math.round(held.peak / MB)} MB with the target, ${Math.round(alone.peak / MB)} MB without`,
  );
});
