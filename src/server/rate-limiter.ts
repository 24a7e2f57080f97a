// Counting events per key (a source address, a user name) over a sliding window, with a bounded
// number of keys. Used for the request rate of a source (like Kamailio's pike module) and for
// failed authentications.
//
// The window is the sliding-window counter: each key keeps the count of its current fixed slot of
// `windowMs` and of the slot before; the estimate at time t is
//
//     previous * (1 - (t - slotStart) / windowMs) + current
//
// which weighs the previous slot by how much of it still lies inside [t - windowMs, t]. It never
// lets a burst straddling two slots through at twice the limit, as a plain fixed window would,
// and costs three numbers per key.

/** One key's two slots. */
interface WindowCount {
  slotStart: number;
  current: number;
  previous: number;
}

export interface RateLimiterOptions {
  /** Length of the window in ms. */
  windowMs: number;
  /** Keys tracked at most; the least recently seen are forgotten first (default 10 000). */
  maxKeys?: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, WindowCount>();
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private lastSweep = -Infinity;

  constructor(opts: RateLimiterOptions) {
    if (!(opts.windowMs > 0)) throw new RangeError('windowMs must be positive');
    this.windowMs = opts.windowMs;
    this.maxKeys = Math.max(1, opts.maxKeys ?? 10_000);
  }

  /** Counts one event for `key` at `now` (ms) and returns the estimated count in the window, this one included. */
  hit(key: string, now: number): number {
    this.sweep(now);
    let w = this.windows.get(key);
    if (w) {
      this.advance(w, now);
      this.windows.delete(key); // re-inserted below: the Map's order is least recently seen first
    } else {
      if (this.windows.size >= this.maxKeys) this.evict(now);
      w = { slotStart: now, current: 0, previous: 0 };
    }
    w.current++;
    this.windows.set(key, w);
    return this.estimate(w, now);
  }

  /** The estimated count for `key` at `now` without counting an event. */
  count(key: string, now: number): number {
    const w = this.windows.get(key);
    if (!w) return 0;
    this.advance(w, now);
    return this.estimate(w, now);
  }

  /** Forgets a key (e.g. once it is banned: counting starts afresh after the ban). */
  forget(key: string): void {
    this.windows.delete(key);
  }

  /** Keys tracked now. */
  get size(): number {
    return this.windows.size;
  }

  private advance(w: WindowCount, now: number): void {
    const elapsed = now - w.slotStart;
    if (elapsed < this.windowMs) return;
    const slots = Math.floor(elapsed / this.windowMs);
    w.previous = slots === 1 ? w.current : 0;
    w.current = 0;
    w.slotStart += slots * this.windowMs;
  }

  private estimate(w: WindowCount, now: number): number {
    const into = Math.min(1, Math.max(0, (now - w.slotStart) / this.windowMs));
    return w.previous * (1 - into) + w.current;
  }

  /** A key with nothing in its last two slots counts for nothing: drop it. */
  private stale(w: WindowCount, now: number): boolean {
    return now - w.slotStart >= 2 * this.windowMs;
  }

  /** At most once per window, drops every stale key. */
  private sweep(now: number): void {
    if (now - this.lastSweep < this.windowMs) return;
    this.lastSweep = now;
    for (const [key, w] of this.windows) if (this.stale(w, now)) this.windows.delete(key);
  }

  /** Full: drop stale keys, else the least recently seen one. */
  private evict(now: number): void {
    for (const [key, w] of this.windows) if (this.stale(w, now)) this.windows.delete(key);
    if (this.windows.size < this.maxKeys) return;
    const oldest = this.windows.keys().next();
    if (!oldest.done) this.windows.delete(oldest.value);
  }
}
