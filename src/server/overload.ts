// Overload control: while the event loop has no idle time, new work is refused before work in
// progress (RFC 5390 asks that a SIP server keep its goodput near its capacity under overload,
// not collapse).
//
// Why: a process that falls behind once (a cold start, a long collection, a noisy neighbour)
// queues datagrams in its socket; past the socket's buffer the kernel drops them, the peers
// retransmit, and the retransmissions are more work on top. Calls in progress hold more state
// the longer they take, which makes each message dearer. Measured at 2000 calls/s with SIPp
// (bench:proxy): a run that fell behind stayed behind, at 0.75 CPU s per 1000 calls against 0.45
// for one that did not, and completed 82 % of its calls.
//
// The signal: the event loop's utilization over the last window (performance.eventLoopUtilization).
// libuv waits in epoll only when no socket has anything to read, so a window with idle time is
// one in which the inbound queue emptied: no backlog. A window at (nearly) full utilization is
// one with a backlog, or exactly at capacity. An episode starts only after `sustainMs` of such
// windows in a row: with one window (100 ms) at 0.97 enough, a server at 1000 calls/s and half a
// core started episodes on its own bursts, and the INVITEs it dropped came back together 500 ms
// later as the next burst (measured with bench:proxy: 3437 INVITEs dropped in 30 s at 1000/s,
// 29481 at 1500/s, where none needed to be).
//
// Tried and measured against this (bench:proxy, bench/README.md twelfth round), and not kept:
// admitting a share of new requests at random, cut by busy windows and given back by idle ones
// (episodes last longer: at 1500/s near a full core, 207 calls of 45,000 failed, their INVITEs
// dropped at every retransmission); that, with a dropped request's retransmission always taken
// (load is only delayed, not shed: at 2000/s the run fell behind as without control); and 503
// after 2 s of busy windows in a row rather than of episode (a process near a full core is busy
// that long and still keeps up: 1243 calls answered 503 in a 1500/s run).
//
// What is refused: a request that starts something new (no To tag: INVITE, REGISTER, OPTIONS,
// SUBSCRIBE, MESSAGE, ...), never a CANCEL, an ACK, an in-dialog request (a BYE frees state) or
// a response. How depends on how long the episode has lasted:
// - for its first `rejectAfterMs`, such a request over UDP is dropped before any state is kept:
//   the client retransmits it after T1 (500 ms) and a short episode is over by then, so the call
//   is only late. A dropped request costs its parse, not its call. Over TCP, TLS and WebSocket
//   nothing would be retransmitted, so it is taken: a short episode refuses no call.
// - after that, whatever the transport, it is answered 503 Service Unavailable with Retry-After
//   (RFC 3261 §21.5.4): a client with another server tries it; one without stops
//   retransmitting into the overload.
// The episode ends at the first window whose utilization is below `resumeBelow`.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface OverloadOptions {
  /** Windows at or above this utilization (0..1) start an episode. 0 turns control off. */
  shedAbove: number;
  /**
   * How long the loop must have been at shedAbove, in consecutive windows, before an episode
   * starts: a burst the loop works off within it is not overload.
   */
  sustainMs: number;
  /** A window below this utilization ends it. */
  resumeBelow: number;
  /** The window, in ms. */
  windowMs: number;
  /**
   * After this long in one episode, new requests are answered 503 (before it: dropped over UDP,
   * taken over a reliable transport).
   */
  rejectAfterMs: number;
  /** Retry-After of the 503, in seconds. */
  retryAfterSeconds: number;
}

export const DEFAULT_OVERLOAD: OverloadOptions = {
  shedAbove: 0.97,
  sustainMs: 500,
  resumeBelow: 0.9,
  windowMs: 100,
  rejectAfterMs: 2000,
  retryAfterSeconds: 5,
};

/** What to do with a new request now. */
export const ADMIT = 0;
export const DROP = 1;
export const REJECT = 2;
export type OverloadVerdict = typeof ADMIT | typeof DROP | typeof REJECT;

export interface OverloadStats {
  /** New requests dropped (UDP, early in an episode). */
  dropped: number;
  /** New requests answered 503. */
  rejected: number;
  /** Episodes since the start. */
  episodes: number;
  /** Whether one is under way. */
  shedding: boolean;
}

/** An episode's start and end, for the log. */
export interface OverloadEvents {
  started(utilization: number): void;
  ended(durationMs: number, dropped: number, rejected: number): void;
}

/** The event loop's utilization counters since it started (performance.eventLoopUtilization). */
export type UtilizationSource = () => EventLoopUtilization;

export class OverloadControl {
  readonly stats: OverloadStats = { dropped: 0, rejected: 0, episodes: 0, shedding: false };
  private timer: NodeJS.Timeout | undefined;
  private last: EventLoopUtilization | undefined;
  /** When the episode under way began (performance.now()), else -1. */
  private since = -1;
  private episodeDropped = 0;
  private episodeRejected = 0;
  /** Consecutive windows at or above shedAbove. */
  private hot = 0;

  constructor(
    readonly options: OverloadOptions = DEFAULT_OVERLOAD,
    private readonly events?: OverloadEvents,
    private readonly utilization: UtilizationSource = () => performance.eventLoopUtilization(),
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Looks at the loop every window (an unref'd timer); off when `shedAbove` is 0. */
  start(): void {
    if (this.options.shedAbove <= 0 || this.timer) return;
    this.last = this.utilization();
    this.timer = setInterval(() => this.sample(), this.options.windowMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.since >= 0) this.end();
  }

  /** One window: the utilization since the last look decides the state. */
  sample(): void {
    const current = this.utilization();
    const previous = this.last;
    this.last = current;
    if (previous === undefined) return;
    const active = current.active - previous.active;
    const idle = current.idle - previous.idle;
    const total = active + idle;
    if (total <= 0) return;
    this.observe(active / total);
  }

  /** The utilization (0..1) of the window that just ended. */
  observe(utilization: number): void {
    const o = this.options;
    const hot = o.shedAbove > 0 && utilization >= o.shedAbove;
    this.hot = hot ? this.hot + 1 : 0;
    if (this.since < 0) {
      if (hot && this.hot * o.windowMs >= o.sustainMs) {
        this.since = this.now();
        this.episodeDropped = 0;
        this.episodeRejected = 0;
        this.stats.shedding = true;
        this.stats.episodes++;
        this.events?.started(utilization);
      }
    } else if (utilization < o.resumeBelow) this.end();
  }

  private end(): void {
    const duration = this.now() - this.since;
    this.since = -1;
    this.stats.shedding = false;
    this.events?.ended(duration, this.episodeDropped, this.episodeRejected);
  }

  /**
   * What to do with a request that starts something new, arriving over a transport that
   * retransmits (UDP) or not. Counts what it refuses.
   */
  verdict(retransmitted: boolean): OverloadVerdict {
    if (this.since < 0) return ADMIT;
    if (this.now() - this.since < this.options.rejectAfterMs) {
      if (!retransmitted) return ADMIT;
      this.stats.dropped++;
      this.episodeDropped++;
      return DROP;
    }
    this.stats.rejected++;
    this.episodeRejected++;
    return REJECT;
  }
}
