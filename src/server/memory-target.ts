// A soft target for the process's resident memory (config `memory.targetMb`), kept by steering
// how far V8 lets the old generation grow past what is live before its next full collection.
//
// Why: V8 sizes the heap by a growing factor of up to 4 when the heap limit is large (Node's
// default limit on a machine with a few GB is 4 GB). A call server keeps each call's settled
// transactions for 64*T1 (RFC 3261 §17), so at 2000 calls/s some 120 MB is live, and V8 let the
// heap reach about 470 MB before collecting: 650 MB resident. The limit itself cannot be changed
// once V8 runs, but the growing factor is read at every full collection (`--heap-growing-percent`).
//
// How: after each full collection (a `gc` performance entry of the major kind) this reads what
// is live in the old generation and what the process holds outside it (code, buffers, malloc,
// the young generation), and sets the factor so that the next limit lands on the target:
// factor = (target - outside - young) / live, kept within [MIN_GROWTH, MAX_GROWTH]. While the
// target is far (the factor would be MAX_GROWTH or more) V8 keeps its own heuristics. It is soft:
// when what is live needs more than the target, the heap still grows by MIN_GROWTH over it, so
// the server trades CPU (more full collections) for memory only down to that factor and never
// runs out.
//
// Two things about when V8 reads the factor shape the formula:
// - V8 sets the next limit at the end of a full collection, with the factor it has then, and the
//   `gc` entry reaches us after that. So a factor set now is used at the next collection, for
//   what is live then. While what is live grows (a server taking on load: a call's settled
//   transactions are held 64*T1, so for the first 32 s every call adds to it), a factor sized
//   for what is live now lets the heap past the target: measured at 2000 calls/s, a collection
//   at 79 MB live used a factor set for 60 MB, and the old generation reached 182 MB. So the
//   factor is sized for what will be live: what is live now plus its growth since, at the rate
//   it grew between the last two collections (the first from when the target was held), up to
//   the next look; at most twice what is live now. Looked at again every REFRESH_MS, the factor
//   V8 finds at its next collection was sized for what is live within a second of it.
// - V8 adds the young generation's capacity (one semi-space) to every limit, for what the next
//   scavenges promote: that much less room for the factor.
// What is outside the old generation grows with load too (buffers, the SQLite page cache): each
// look reads it again.
//
// The flag is the process's, so one target holds per process: the lowest of those asked for,
// released when the last holder stops. `trapezoid serve` (the process owner) holds it;
// startServer alone does not touch the process's GC.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/** The least growth over what is live the target may impose (V8's own conservative one is 1.3). */
export const MIN_GROWTH = 1.25;
/** At or beyond this factor V8 is left to its own heuristics (its largest is 4). */
export const MAX_GROWTH = 4;

export interface MemoryTargetStats {
  /** The target in bytes (the lowest held). */
  targetBytes: number;
  /** Full collections seen since the first holder started. */
  fullCollections: number;
  /** The growing factor set after the last one; 0 when V8 chooses its own. */
  growth: number;
  /** Old-generation bytes live after the last full collection. */
  liveBytes: number;
  /** Resident bytes outside the old generation at the last full collection. */
  outsideBytes: number;
}

/** How often the factor is looked at again between full collections. */
export const REFRESH_MS = 1000;

/**
 * What will be live `aheadMs` from the last full collection, which found `liveBytes`, when what
 * is live grows by `bytesPerMs`: at most twice what is live now.
 */
export function projectLive(liveBytes: number, bytesPerMs: number, aheadMs: number): number {
  return Math.min(2 * liveBytes, liveBytes + Math.max(0, bytesPerMs) * Math.max(0, aheadMs));
}

/**
 * The growing factor for a target: undefined to leave V8 its own (the target is far), else a
 * factor in [MIN_GROWTH, MAX_GROWTH). `youngBytes` is the capacity V8 adds to each limit (one
 * semi-space); `expectedBytes` what will be live when V8 uses the factor (projectLive; see the
 * top of the file).
 */
export function growthFor(
  targetBytes: number,
  liveBytes: number,
  outsideBytes: number,
  youngBytes = 0,
  expectedBytes = liveBytes,
): number | undefined {
  const room = targetBytes - outsideBytes - youngBytes;
  const expected = Math.max(liveBytes, expectedBytes);
  if (liveBytes <= 0 || room >= MAX_GROWTH * expected) return undefined;
  return Math.max(MIN_GROWTH, room / expected);
}

const targets = new Set<{ bytes: number }>();
let observer: PerformanceObserver | undefined;
let refresher: NodeJS.Timeout | undefined;
let percentSet = 0;
const stats: MemoryTargetStats = {
  targetBytes: 0,
  fullCollections: 0,
  growth: 0,
  liveBytes: 0,
  outsideBytes: 0,
};

function setPercent(percent: number): void {
  if (percent === percentSet) return;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  percentSet = percent;
}

/**
 * The old generation's bytes in use (live, right after a full collection), everything resident
 * outside it, and the young generation's capacity that V8 adds to a limit (one semi-space).
 */
function measure(): { used: number; outside: number; young: number } {
  let old = 0;
  let used = 0;
  let young = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space') young = space.space_size / 2;
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') continue;
    old += space.space_size;
    used += space.space_used_size;
  }
  return { used, outside: process.memoryUsage.rss() - old, young };
}

/** The old generation in use when last seen at a full collection (or when the target was held), and when. */
let lastUsed = 0;
let lastAt = 0;
/** How fast what is live grew between the last two looks (bytes per ms, 0 or more). */
let liveRate = 0;

function afterFullCollection(): void {
  stats.fullCollections++;
  const { used, outside, young } = measure();
  const now = performance.now();
  if (now > lastAt) liveRate = Math.max(0, (used - lastUsed) / (now - lastAt));
  lastUsed = used;
  lastAt = now;
  stats.liveBytes = used;
  apply(outside, young);
}

/** Between collections: what is live has grown by now, and what is outside may have. */
function refresh(): void {
  if (stats.fullCollections === 0) return;
  const { outside, young } = measure();
  apply(outside, young);
}

function apply(outside: number, young: number): void {
  const live = stats.liveBytes;
  const expected = projectLive(live, liveRate, performance.now() - lastAt + REFRESH_MS);
  const growth = growthFor(stats.targetBytes, live, outside, young, expected);
  stats.outsideBytes = outside;
  stats.growth = growth ?? 0;
  setPercent(growth === undefined ? 0 : Math.round((growth - 1) * 100));
}

function retarget(): void {
  if (targets.size === 0) {
    observer?.disconnect();
    observer = undefined;
    clearInterval(refresher);
    refresher = undefined;
    setPercent(0);
    stats.targetBytes = 0;
    return;
  }
  stats.targetBytes = Math.min(...[...targets].map((t) => t.bytes));
  if (observer) return;
  // The first collection's growth is measured from here.
  lastUsed = measure().used;
  lastAt = performance.now();
  liveRate = 0;
  observer = new PerformanceObserver((list) => {
    // Entries come in batches, after the collections: one look after the batch is enough.
    if (list.getEntries().some((e) => isFull((e as { detail?: unknown }).detail)))
      afterFullCollection();
  });
  observer.observe({ entryTypes: ['gc'] });
  refresher = setInterval(refresh, REFRESH_MS);
  refresher.unref();
}

function isFull(detail: unknown): boolean {
  return (detail as { kind?: number } | null)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}

/**
 * Holds a memory target of `targetMb` megabytes (10^6 bytes) resident for this process until the
 * returned function is called. 0 holds nothing.
 */
export function holdMemoryTarget(targetMb: number): () => void {
  if (!(targetMb > 0)) return () => {};
  const held = { bytes: targetMb * 1e6 };
  targets.add(held);
  retarget();
  return () => {
    if (targets.delete(held)) retarget();
  };
}

/** What the target did so far (for /metrics and tests). */
export function memoryTargetStats(): Readonly<MemoryTargetStats> {
  return { ...stats };
}

/**
 * Turns off V8's allocation-site pretenuring for the rest of the process (`trapezoid serve`,
 * config `memory.pretenuring: false`, the default). V8 allocates the objects of a literal in
 * the old generation at once when most of those it saw survived a scavenge. A call server's
 * per-call objects live tens of milliseconds, about a scavenge apart, and once they are made
 * old whatever is attached to them later (a call's logged messages) stays alive through the
 * scavenges behind them, dead or not, until a full collection: promoted. Measured through
 * `trapezoid serve` at 1500 calls/s for 30 s: 480-641 MB promoted with it, 141-143 MB without
 * (bench/README.md, seventh round).
 * It cannot be turned back on for the objects already made; a process flag, like the target.
 */
export function stopPretenuring(): void {
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
}
