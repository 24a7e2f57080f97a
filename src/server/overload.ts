// Overload control: while the event loop has no idle time, new work is refused before work in
// progress (RFC 5390 asks that a SIP server keep its goodput near its capacity under overload,
// not collapse).
//
// Why: a process that falls behind once (a cold start, a long collection, a noisy neighbour)
// queues datagrams in its socket; past the socket's buffer the kernel drops them, the peers
// retransmit, and the retransmissions are more work on top. Calls in progress hold more state
// the longer they take, which makes each message dearer. Measured with bench:proxy at 2000
// calls/s with SIPp, without this control: three runs of three fell behind and stayed behind, at
// 0.67-0.69 CPU s per 1000 calls and 371-384 MB, completing 87-88 % of their calls.
//
// The signal: the event loop's utilization over the last window (performance.eventLoopUtilization).
// libuv waits in epoll only when no socket has anything to read, so a window with idle time is
// one in which the inbound queue emptied: no backlog. A window at (nearly) full utilization is
// one with a backlog, or exactly at capacity.
//
// The control: a share of new requests admitted, 1 (all) normally.
// - Once `sustainMs` of windows in a row were at `shedAbove` or more, each further such window
//   cuts the share by 30 % (to none below 5 %). A shorter burst is not overload: with one window
//   enough, a server at 1000 calls/s and half a core refused INVITEs on its own bursts.
// - Each window below `resumeBelow` gives back a tenth (all of it within a second); windows in
//   between hold it. An episode lasts while the share is below 1.
// - Each new request is admitted at random with that share, and a request dropped once is
//   admitted when its retransmission comes (by Call-ID): a call is late by T1 at most, never
//   dropped until its client gives up. (Without that, at 1500 calls/s with the process near a
//   full core, some calls' INVITEs were dropped at every retransmission until SIPp gave up: 207
//   calls of 45,000 failed in a run that completed every call with no control at all.)
//
// What is refused: a request that starts something new (no To tag: INVITE, REGISTER, OPTIONS,
// SUBSCRIBE, MESSAGE, ...), never a CANCEL, an ACK, an in-dialog request (a BYE frees state) or
// a response. How:
// - over UDP it is dropped before any state is kept: the client retransmits it after T1 (500 ms),
//   and that retransmission is taken. A dropped request costs its parse, not its call.
// - over TCP, TLS and WebSocket nothing would be retransmitted, so it is taken.
// - once the loop has had no idle time for `rejectAfterMs` in a row (refusing has not been
//   enough), what is refused, whatever the transport, is answered 503 Service Unavailable with
//   Retry-After (RFC 3261 §21.5.4): a client with another server tries it; one without stops
//   retransmitting into the overload.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface OverloadOptions {
  /** Windows at or above this utilization (0..1) are overloaded. 0 turns control off. */
  shedAbove: number;
  /**
   * How long the loop must have been at shedAbove, in consecutive windows, before new requests
   * are refused: a burst the loop works off within it is not overload.
   */
  sustainMs: number;
  /** Windows below this utilization let the admitted share grow back. */
  resumeBelow: number;
  /** The window, in ms. */
  windowMs: number;
  /**
   * After this long at shedAbove in a row, refused requests are answered 503 (before it: dropped
   * over UDP; over a reliable transport nothing is refused before it).
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

/** What an overloaded window leaves of the admitted share. */
const CUT = 0.7;
/** Below this the share is none. */
const FLOOR = 0.05;
/** What a window with idle time gives back. */
const GIVE_BACK = 0.1;
/** The most Call-IDs of dropped requests remembered (the oldest go first). */
const MAX_REMEMBERED = 65_536;

/** What to do with a new request now. */
export const ADMIT = 0;
export const DROP = 1;
export const REJECT = 2;
export type OverloadVerdict = typeof ADMIT | typeof DROP | typeof REJECT;

export interface OverloadStats {
  /** New requests dropped (UDP). */
  dropped: number;
  /** New requests answered 503. */
  rejected: number;
  /** Episodes since the start. */
  episodes: number;
  /** Whether one is under way. */
  shedding: boolean;
  /** The share of new requests admitted now (1: all). */
  admitting: number;
}

/** An episode's start and end, for the log. */
export interface OverloadEvents {
  started(utilization: number): void;
  ended(durationMs: number, dropped: number, rejected: number): void;
}

/** The event loop's utilization counters since it started (performance.eventLoopUtilization). */
export type UtilizationSource = () => EventLoopUtilization;

export class OverloadControl {
  readonly stats: OverloadStats = {
    dropped: 0,
    rejected: 0,
    episodes: 0,
    shedding: false,
    admitting: 1,
  };
  private timer: NodeJS.Timeout | undefined;
  private last: EventLoopUtilization | undefined;
  /** When the episode under way began (now()), else -1. */
  private since = -1;
  private episodeDropped = 0;
  private episodeRejected = 0;
  /** When the windows at or above shedAbove in a row began (now()), else -1. */
  private hotSince = -1;
  /** When the last window ended (now()). */
  private lastWindow = -1;
  /** Call-IDs of requests dropped in this episode: their retransmissions are taken. */
  private readonly droppedIds = new Set<string>();

  constructor(
    readonly options: OverloadOptions = DEFAULT_OVERLOAD,
    private readonly events?: OverloadEvents,
    private readonly utilization: UtilizationSource = () => performance.eventLoopUtilization(),
    private readonly now: () => number = () => performance.now(),
    private readonly random: () => number = Math.random,
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

  /** One window: the utilization since the last look. */
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
    const stats = this.stats;
    const now = this.now();
    const began = this.lastWindow >= 0 ? this.lastWindow : now - o.windowMs;
    this.lastWindow = now;
    if (o.shedAbove > 0 && utilization >= o.shedAbove) {
      // By the clock, not by counting windows: under load a window lasts longer than windowMs.
      if (this.hotSince < 0) this.hotSince = began;
      if (now - this.hotSince < o.sustainMs) return;
      const cut = stats.admitting * CUT;
      stats.admitting = cut < FLOOR ? 0 : cut;
      if (this.since < 0) this.begin(utilization);
      return;
    }
    this.hotSince = -1;
    if (this.since < 0 || utilization >= o.resumeBelow) return;
    stats.admitting = Math.min(1, stats.admitting + GIVE_BACK);
    if (stats.admitting > 1 - 1e-9) this.end(); // tenths added up may fall short of 1 by a bit
  }

  private begin(utilization: number): void {
    this.since = this.now();
    this.episodeDropped = 0;
    this.episodeRejected = 0;
    this.stats.shedding = true;
    this.stats.episodes++;
    this.events?.started(utilization);
  }

  private end(): void {
    const duration = this.now() - this.since;
    this.since = -1;
    this.stats.shedding = false;
    this.stats.admitting = 1;
    this.droppedIds.clear();
    this.events?.ended(duration, this.episodeDropped, this.episodeRejected);
  }

  /**
   * What to do with a request that starts something new (of Call-ID `callId`), arriving over a
   * transport that retransmits (UDP) or not. Counts what it refuses.
   */
  verdict(retransmitted: boolean, callId: string): OverloadVerdict {
    if (this.since < 0) return ADMIT;
    const sustained =
      this.hotSince >= 0 && this.now() - this.hotSince >= this.options.rejectAfterMs;
    if (!sustained) {
      if (!retransmitted) return ADMIT;
      if (this.droppedIds.delete(callId)) return ADMIT; // dropped once already: it waited T1
    }
    const share = this.stats.admitting;
    if (share > 0 && this.random() < share) return ADMIT;
    if (!sustained) {
      const ids = this.droppedIds;
      if (ids.size >= MAX_REMEMBERED) ids.delete(ids.values().next().value!);
      ids.add(callId);
      this.stats.dropped++;
      this.episodeDropped++;
      return DROP;
    }
    this.stats.rejected++;
    this.episodeRejected++;
    return REJECT;
  }
}
