// What a security finding is made of: its kind, how serious it is, one sentence, and the capture
// frames it rests on. Frame lists are capped (the first MAX_FINDING_FRAMES plus a count) so a
// flood of a million packets costs the same memory as twenty.
import type { Finding } from '../render/model.ts';

/** Frames kept per finding: enough to open the evidence, few enough to stay bounded. */
export const MAX_FINDING_FRAMES = 20;

export type FindingKind =
  | 'scanner'
  | 'brute-force'
  | 'registration-hijack'
  | 'spoofing'
  | 'rtp-injection'
  | 'rtp-replay'
  | 'srtp-keys-exposed'
  | 'malformed'
  | 'cleartext';

export type FindingSeverity = Finding['severity'];

export interface SecurityFinding extends Finding {
  kind: FindingKind;
  /** The first MAX_FINDING_FRAMES frame numbers the finding rests on, in capture order. */
  frames: number[];
  /** How many packets the finding rests on in all (frames holds at most MAX_FINDING_FRAMES). */
  frameCount: number;
}

/** Frame numbers of one finding: the first MAX_FINDING_FRAMES, and a count of all. */
export class Evidence {
  readonly frames: number[] = [];
  count = 0;

  add(frame: number | undefined): void {
    if (frame === undefined) return;
    this.count++;
    if (this.frames.length < MAX_FINDING_FRAMES) this.frames.push(frame);
  }

  /** The frames in capture order (packets of TCP streams may be delivered late). */
  sorted(): number[] {
    return [...this.frames].sort((a, b) => a - b);
  }
}

const SEVERITY_ORDER: Record<FindingSeverity, number> = { high: 0, medium: 1, low: 2, info: 3 };

/** Most serious first; within a severity, by the first frame. */
export function compareFindings(a: SecurityFinding, b: SecurityFinding): number {
  return (
    SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
    (a.frames[0] ?? Infinity) - (b.frames[0] ?? Infinity)
  );
}

/** 'frame 7' / '3 packets' style counts. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * A map that stops growing at `limit` entries: when full, the entry touched longest ago goes
 * (Map keeps insertion order; `touch` re-inserts). Used for every per-source and per-stream table.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  dropped = 0;

  constructor(
    private readonly limit: number,
    /** Told about an entry pushed out by a newer one (not about deletes). */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Gets the entry and marks it recently used. */
  touch(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    if (!this.map.has(key) && this.map.size >= this.limit) {
      const oldest = this.map.keys().next();
      if (!oldest.done) {
        const value = this.map.get(oldest.value)!;
        this.map.delete(oldest.value);
        this.dropped++;
        this.onEvict?.(oldest.value, value);
      }
    }
    this.map.set(key, value);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
