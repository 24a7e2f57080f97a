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
// Each running timer is one node timer, unref'd so it never keeps the process alive, started with
// a shared function and the transaction as its argument (no closure per timer), and cleared as
// soon as the state that needs it is left.

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
