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
// factor = (target - outside) / live, kept within [MIN_GROWTH, MAX_GROWTH]. While the target is
// far (the factor would be MAX_GROWTH or more) V8 keeps its own heuristics. It is soft: when what
// is live needs more than the target, the heap still grows by MIN_GROWTH over it, so the server
// trades CPU (more full collections) for memory only down to that factor and never runs out.
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

/**
 * The growing factor for a target: undefined to leave V8 its own (the target is far), else a
 * factor in [MIN_GROWTH, MAX_GROWTH).
 */
export function growthFor(
  targetBytes: number,
  liveBytes: number,
  outsideBytes: number,
): number | undefined {
  const room = targetBytes - outsideBytes;
  if (liveBytes <= 0 || room >= MAX_GROWTH * liveBytes) return undefined;
  return Math.max(MIN_GROWTH, room / liveBytes);
}

const targets = new Set<{ bytes: number }>();
let observer: PerformanceObserver | undefined;
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

/** The old generation's live bytes and everything resident outside it, read now. */
function measure(): { live: number; outside: number } {
  let old = 0;
  let oldUsed = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') continue;
    old += space.space_size;
    oldUsed += space.space_used_size;
  }
  return { live: oldUsed, outside: process.memoryUsage.rss() - old };
}

function afterFullCollection(): void {
  stats.fullCollections++;
  const { live, outside } = measure();
  const growth = growthFor(stats.targetBytes, live, outside);
  stats.liveBytes = live;
  stats.outsideBytes = outside;
  stats.growth = growth ?? 0;
  setPercent(growth === undefined ? 0 : Math.round((growth - 1) * 100));
}

function retarget(): void {
  if (targets.size === 0) {
    observer?.disconnect();
    observer = undefined;
    setPercent(0);
    stats.targetBytes = 0;
    return;
  }
  stats.targetBytes = Math.min(...[...targets].map((t) => t.bytes));
  if (observer) return;
  observer = new PerformanceObserver((list) => {
    // Entries come in batches, after the collections: one look after the batch is enough.
    if (list.getEntries().some((e) => isFull((e as { detail?: unknown }).detail)))
      afterFullCollection();
  });
  observer.observe({ entryTypes: ['gc'] });
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
