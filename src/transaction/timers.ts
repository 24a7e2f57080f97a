// RFC 3261 §17 timer values (Table 4 of Appendix A) and how the transaction layer runs them.
//
//   T1 500 ms  round-trip estimate        A  INVITE retransmit, from T1, doubling     (UDP only)
//   T2 4 s     cap on non-INVITE          B  INVITE timeout, 64*T1
//              and INVITE response        D  wait for response retransmits, >= 32 s (UDP), 0 reliable
//              retransmit intervals       E  non-INVITE retransmit, T1 doubling to T2 (UDP only)
//   T4 5 s     how long a message         F  non-INVITE timeout, 64*T1
//              can stay in the network    G  INVITE response retransmit, T1 doubling to T2 (UDP only)
//                                         H  wait for ACK, 64*T1
//                                         I  absorb ACK retransmits, T4 (UDP), 0 reliable
//                                         J  absorb non-INVITE retransmits, 64*T1 (UDP), 0 reliable
//                                         K  absorb response retransmits, T4 (UDP), 0 reliable
//   RFC 6026:                             L  INVITE server Accepted, 64*T1
//                                         M  INVITE client Accepted, 64*T1
//
// Timers that may be cleared (A, B, E, F, G, H and the 100 Trying) are one node timer each,
// unref'd so it never keeps the process alive, started with a shared function and the
// transaction as its argument (no closure per timer), and cleared as soon as the state that needs
// it is left. The timers that end a transaction (D, I, J, K, L, M) are never cleared but by its
// end, and are by far the most numerous (every call keeps several for 32 s): they wait in one
// queue per duration under a single node timer (EndTimerQueue below).

export interface TransactionTimers {
  /** ms, default 500. */
  T1: number;
  /** ms, default 4000. */
  T2: number;
  /** ms, default 5000. */
  T4: number;
  /** ms, default 32000: INVITE client Completed over UDP (0 over reliable transports). */
  timerD: number;
  /** ms, default 200: the INVITE server sends 100 Trying if the TU has not answered by then. */
  trying100: number;
}

export const DEFAULT_TIMERS: Readonly<TransactionTimers> = Object.freeze({
  T1: 500,
  T2: 4000,
  T4: 5000,
  timerD: 32000,
  trying100: 200,
});

/** Timeouts B, F, H and the Accepted timers L, M, and J are all 64*T1. */
export const TIMEOUT_FACTOR = 64;

/** Starts an unref'd timer calling `fire(target)`. */
export function startTimer<T>(fire: (target: T) => void, ms: number, target: T): NodeJS.Timeout {
  const timer = setTimeout(fire, ms, target);
  timer.unref();
  return timer;
}

/** What an end timer does: ends the transaction (doing nothing if it has ended already). */
export interface Endable {
  terminate(): void;
}

/**
 * The timers that end a transaction (D, I, J, K, L, M), for one duration. Timers of one duration
 * fall due in the order they were started, so they wait in a queue of (transaction, due time)
 * under one unref'd node timer for the head: an entry costs two array slots instead of a Timeout
 * of its own (a proxy at 2000 calls/s holds some 200,000 of them for their 32 s). An entry is
 * never taken out: once started, an end timer is only ever cleared by the transaction ending,
 * and ending a transaction again does nothing. `clear()` drops every entry (the layer's close()).
 */
export class EndTimerQueue {
  private targets: (Endable | undefined)[] = [];
  private due: number[] = [];
  private head = 0;
  /** The number of the entry at targets[0] (entries are numbered from 0 in the order added). */
  private base = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  /** Entries waiting (ended transactions included). */
  get size(): number {
    return this.targets.length - this.head;
  }

  /** Adds an entry; returns its number (for dueOf and forget). */
  add(target: Endable): number {
    this.targets.push(target);
    this.due.push(performance.now() + this.ms);
    if (this.timer === undefined) this.arm(this.ms);
    return this.base + this.targets.length - 1;
  }

  /** When entry `n` falls due (performance clock), or undefined once it has run. */
  dueOf(n: number): number | undefined {
    const i = n - this.base;
    return i >= this.head && i < this.targets.length ? this.due[i] : undefined;
  }

  /**
   * Lets go of entry `n`'s transaction (it has been handed elsewhere, and must not be kept
   * alive here): nothing is ended when the entry falls due.
   */
  forget(n: number): void {
    const i = n - this.base;
    if (i >= this.head && i < this.targets.length) this.targets[i] = undefined;
  }

  /** Ends every transaction whose time has come, then waits for the next one. */
  run(): void {
    this.timer = undefined;
    const now = performance.now();
    const targets = this.targets;
    const due = this.due;
    let head = this.head;
    // Node's timers run on the loop's clock, which may trail performance.now() by a fraction of
    // a millisecond: an entry that close is due.
    while (head < targets.length && due[head]! <= now + 1) {
      const target = targets[head];
      targets[head] = undefined;
      head++;
      this.head = head;
      target?.terminate();
    }
    if (head >= targets.length) {
      this.base += targets.length;
      this.targets = [];
      this.due = [];
      this.head = 0;
      return;
    }
    if (head > 1024 && head * 2 > targets.length) {
      this.base += head;
      this.targets = targets.slice(head);
      this.due = due.slice(head);
      this.head = 0;
    }
    this.arm(Math.max(1, this.due[this.head]! - now));
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.base += this.targets.length;
    this.targets = [];
    this.due = [];
    this.head = 0;
  }

  private arm(ms: number): void {
    this.timer = startTimer(runQueue, ms, this);
  }
}

function runQueue(queue: EndTimerQueue): void {
  queue.run();
}
