// Statistics of one received RTP stream (one SSRC in one direction).
//
// Two sets of numbers are kept side by side:
//
// 1. What Wireshark shows (`tshark -q -z rtp,streams`, Telephony > RTP > RTP Streams), so that an
//    analysis of a capture can be checked against tshark number for number. Wireshark's rules,
//    re-implemented here from its documented behaviour (ui/tap-rtp-analysis.c, ui/rtp_stream.c):
//    - time is arrival time in milliseconds; the first packet only initialises the state;
//    - a packet is "in time sequence" when its RTP timestamp is less than half the 32-bit
//      timestamp space ahead of the FIRST packet's (tshark 4.0), so only packets older than the
//      first one are out of time sequence; those do not move the reference arrival time nor
//      the jitter. This is Wireshark 4.0's rule; later versions compare with the previous
//      in-sequence packet instead, which changes the figures for reordered streams;
//    - expected = last packet's sequence + 65536 * wraps - first sequence + 1, where a wrap is
//      counted when a sequence number drops below the first one (and re-armed once it climbs
//      above it); lost = expected - packets. Lost is therefore negative with duplicates and
//      depends on the LAST packet's sequence number, not the highest one;
//    - "sequence errors" count packets whose sequence number is not previous + 1 (gaps, late
//      and duplicated packets alike);
//    - jitter follows RFC 3550 A.8 in milliseconds: D = |arrival - (prev arrival + (ts - prev ts)
//      / (clock / 1000))|, J += (D - J) / 16, where clock / 1000 is an integer division (as in
//      Wireshark, so 44100 Hz counts as 44 ticks per ms). Payload types without a clock (0: for
//      example telephone-event) do not update the jitter nor its reference timestamp, but they
//      do move the reference arrival time: the first voice packet after a DTMF event therefore
//      shows a jump in jitter, exactly as tshark reports it. A reordered packet makes the
//      nominal time step backwards and then forwards, so it raises the jitter twice;
//    - max/min/mean delta and jitter only take "regular" packets: not the first, not marked, not
//      comfort noise (PT 13/19) nor right after comfort noise, not out of time sequence. The
//      means divide by the packet count before the packet, as Wireshark does;
//    - "problem" is set once any packet was out of sequence or out of time sequence.
//
// 2. RFC 3550 receiver statistics (appendix A.1, A.3, A.8) for RTCP reception reports: the
//    extended highest sequence number, cumulative lost, interval fraction lost and interarrival
//    jitter in timestamp units. Plus the counts an operator wants: duplicates and out-of-order.

import { sequenceDiff } from './sequence.ts';

/** Payload type numbers of comfort noise (RFC 3389 and the old RFC 1890 number). */
const PT_CN = 13;
const PT_CN_OLD = 19;
const SEQUENCE_SPACE = 0x10000;
const HALF_TIMESTAMP_SPACE = 0x8000_0000;
/** RFC 3550 A.1: a jump larger than this is a restart, not a loss. */
const MAX_DROPOUT = 3000;
/** RFC 3550 A.1: packets this far behind are old duplicates or very late. */
const MAX_MISORDER = 100;
/** Duplicates are recognised among this many most recent sequence numbers. */
const DUPLICATE_WINDOW = 1024;
const BITS_PER_WORD = 32;
const WORD_SHIFT = 5;
const BIT_MASK = 31;

/** Clock rates of the static payload types (RFC 3551 table 4 and 5). */
export const STATIC_CLOCK_RATES: Readonly<Record<number, number>> = {
  0: 8000, // PCMU
  1: 8000, // reserved (1016)
  2: 8000, // reserved (G721)
  3: 8000, // GSM
  4: 8000, // G723
  5: 8000, // DVI4
  6: 16000, // DVI4
  7: 8000, // LPC
  8: 8000, // PCMA
  9: 8000, // G722 (RTP clock is 8000 by historical error)
  10: 44100, // L16 stereo
  11: 44100, // L16 mono
  12: 8000, // QCELP
  13: 8000, // CN
  14: 90000, // MPA
  15: 8000, // G728
  16: 11025, // DVI4
  17: 22050, // DVI4
  18: 8000, // G729
  19: 8000, // CN (old)
  25: 90000, // CelB
  26: 90000, // JPEG
  28: 90000, // nv
  31: 90000, // H261
  32: 90000, // MPV
  33: 90000, // MP2T
  34: 90000, // H263
};

export interface RtpStreamStatsOptions {
  /**
   * Clock rate per payload type, overriding the static table and the default clock rate. Give 0
   * for payload types that carry no media clock, such as telephone-event (RFC 4733 keeps the
   * timestamp of an event's start in all its packets), so that they do not distort jitter.
   */
  payloadClockRates?: ReadonlyMap<number, number> | Readonly<Record<number, number>>;
  /**
   * Keep the RFC 3550 receiver statistics (default true). A capture analyzer that reports only
   * Wireshark's numbers passes false and saves their per-packet work: the snapshot's rfc*
   * fields and extendedHighestSequence then stay 0, and takeReceptionInterval reports nothing.
   */
  receiverStatistics?: boolean;
}

export interface RtpStreamStatsSnapshot {
  /** Packets received (duplicates included). */
  packets: number;
  /** tshark's expected packet count. */
  expected: number;
  /** tshark's "Lost": expected - packets (negative with duplicates). */
  lost: number;
  /** lost * 100 / expected, 0 when nothing was expected. */
  lostPercent: number;
  minDeltaMs: number;
  meanDeltaMs: number;
  maxDeltaMs: number;
  minJitterMs: number;
  meanJitterMs: number;
  maxJitterMs: number;
  /** Jitter after the last packet (ms). */
  jitterMs: number;
  /** Largest absolute skew between RTP clock and arrival clock (ms, sign kept). */
  maxSkewMs: number;
  /** Packets whose sequence number was not previous + 1 (Wireshark's "wrong sequence"). */
  sequenceErrors: number;
  /** Packets that were out of RTP-timestamp order. */
  timestampErrors: number;
  /** Packets whose sequence number had already been received. */
  duplicates: number;
  /** Packets that arrived after a packet with a higher sequence number (duplicates excluded). */
  outOfOrder: number;
  /** Packets with the marker bit. */
  markers: number;
  /** Wireshark's "Problems?" column. */
  problem: boolean;
  firstSequence: number;
  lastSequence: number;
  /** Sequence wraps counted Wireshark's way. */
  sequenceCycles: number;
  /** Payload types seen, in order of first appearance. */
  payloadTypes: number[];
  firstArrival: number;
  lastArrival: number;
  /** RFC 3550 A.1 extended highest sequence number received (cycles << 16 | max seq). */
  extendedHighestSequence: number;
  /** RFC 3550 A.3 expected count: extended highest - base + 1. */
  rfcExpected: number;
  /** RFC 3550 A.3 cumulative number of packets lost (can be negative with duplicates). */
  rfcLost: number;
  /** RFC 3550 A.8 interarrival jitter, in timestamp units (as RTCP reports carry it). */
  rfcJitter: number;
}

/** What an RTCP reception report block needs, for one reporting interval (RFC 3550 A.3). */
export interface ReceptionInterval {
  /** Fraction lost since the previous interval, as the 8-bit fixed-point number RTCP carries. */
  fractionLost: number;
  /** Cumulative lost, clamped to the 24-bit signed range. */
  cumulativeLost: number;
  extendedHighestSequence: number;
  /** Interarrival jitter in timestamp units, truncated to an integer. */
  jitter: number;
}

export class RtpStreamStats {
  readonly clockRate: number;
  private readonly receiverStatistics: boolean;
  private readonly payloadClockRates: Map<number, number>;

  private packets = 0;
  private started = false;
  private firstArrival = 0;
  private lastArrival = 0;
  private readonly payloadTypesSeen: number[] = [];
  private lastSeenPayloadType = -1;
  private cachedClockPt = -1;
  private cachedClock = 0;
  private markers = 0;

  // Wireshark's state, times in ms from the first packet.
  private startSeq = 0;
  private stopSeq = 0;
  private lastSeq = 0;
  private cycles = 0;
  private under = false;
  private refTime = 0;
  /** RTP ticks from the first packet to the last in-sequence packet that had a media clock. */
  private lastNominalTicks = 0;
  private lastPayloadType = -1;
  private delta = 0;
  private jitter = 0;
  private minDelta = -1;
  private maxDelta = 0;
  private meanDelta = 0;
  private minJitter = -1;
  private maxJitter = 0;
  private meanJitter = 0;
  private firstTimestamp = 0;
  private maxSkew = 0;
  private sequenceErrors = 0;
  private timestampErrors = 0;
  private problem = false;

  // RFC 3550 A.1 state.
  private maxSeq = 0;
  private rfcCycles = 0;
  private baseSeq = 0;
  private badSeq = SEQUENCE_SPACE + 1;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private transit = 0;
  private rfcJitter = 0;

  // Duplicate and reordering detection: one bit per sequence number of the window of the
  // DUPLICATE_WINDOW extended numbers up to the highest one (128 bytes per stream, touched near
  // the highest number only, so it stays in cache).
  private readonly seen = new Int32Array(DUPLICATE_WINDOW / BITS_PER_WORD);
  private highestExtended = 0;
  private duplicates = 0;
  private outOfOrder = 0;

  /** clockRate: the media clock of the stream's payload (8000 for G.711). */
  constructor(clockRate = 8000, options: RtpStreamStatsOptions = {}) {
    this.clockRate = clockRate;
    this.receiverStatistics = options.receiverStatistics ?? true;
    const rates = options.payloadClockRates;
    this.payloadClockRates =
      rates instanceof Map
        ? new Map(rates)
        : new Map(Object.entries(rates ?? {}).map(([pt, rate]) => [Number(pt), rate]));
  }

  /** Arrival time of the first packet (seconds, as given to update; 0 before any packet). */
  get firstArrivalSeconds(): number {
    return this.firstArrival;
  }

  /** Arrival time of the last packet (0 before any packet). */
  get lastArrivalSeconds(): number {
    return this.lastArrival;
  }

  /** Clock rate used for a payload type: the options, then the static table, then the default. */
  clockRateOf(payloadType: number): number {
    // Streams rarely change payload type: remember the last answer.
    if (payloadType === this.cachedClockPt) return this.cachedClock;
    const rate = this.lookUpClockRate(payloadType);
    this.cachedClockPt = payloadType;
    this.cachedClock = rate;
    return rate;
  }

  private lookUpClockRate(payloadType: number): number {
    const given = this.payloadClockRates.get(payloadType);
    if (given !== undefined) return given;
    if (payloadType < 96) return STATIC_CLOCK_RATES[payloadType] ?? 0;
    return this.clockRate;
  }

  /**
   * Adds one received packet. arrivalSeconds: capture or receive time in seconds (any origin,
   * the same for all packets of the stream).
   */
  update(
    sequenceNumber: number,
    rtpTimestamp: number,
    arrivalSeconds: number,
    payloadType: number,
    marker = false,
  ): void {
    if (payloadType !== this.lastSeenPayloadType) {
      this.lastSeenPayloadType = payloadType;
      if (!this.payloadTypesSeen.includes(payloadType)) this.payloadTypesSeen.push(payloadType);
    }
    if (marker) this.markers++;
    if (this.receiverStatistics) {
      this.updateRfc(sequenceNumber, rtpTimestamp, arrivalSeconds, payloadType);
    }
    this.updateOrder(sequenceNumber);
    this.updateWireshark(sequenceNumber, rtpTimestamp, arrivalSeconds, payloadType, marker);
    this.lastArrival = arrivalSeconds;
    this.packets++;
  }

  private updateWireshark(
    seq: number,
    rtpTimestamp: number,
    arrivalSeconds: number,
    payloadType: number,
    marker: boolean,
  ): void {
    if (!this.started) {
      this.started = true;
      this.firstArrival = arrivalSeconds;
      this.startSeq = seq;
      this.stopSeq = seq;
      this.lastSeq = seq;
      this.firstTimestamp = rtpTimestamp >>> 0;
      this.lastNominalTicks = 0;
      this.refTime = 0;
      this.lastPayloadType = payloadType;
      return;
    }
    const now = (arrivalSeconds - this.firstArrival) * 1000;
    // Ticks since the first packet, modulo 2^32: "in time sequence" means less than half the
    // timestamp space ahead of the first packet.
    const ticks = (rtpTimestamp - this.firstTimestamp) >>> 0;
    const inTimeSequence = ticks < HALF_TIMESTAMP_SPACE;
    if (!inTimeSequence) {
      this.timestampErrors++;
      this.problem = true;
    }

    if (seq < this.startSeq && inTimeSequence && !this.under) {
      this.cycles++;
      this.under = true;
    } else if (seq === 0 && this.stopSeq === 0xffff && inTimeSequence && !this.under) {
      this.cycles++;
      this.under = true;
    } else if (seq > this.startSeq && inTimeSequence && this.under) {
      this.under = false;
    }

    if (inTimeSequence && this.lastSeq + 1 === seq) {
      this.lastSeq = seq;
    } else if (inTimeSequence && this.lastSeq === 0xffff && seq === 0) {
      this.lastSeq = seq;
    } else if (inTimeSequence && (this.lastSeq + 1 < seq || this.lastSeq - seq > 0xff00)) {
      this.lastSeq = seq;
      this.sequenceErrors++;
      this.problem = true;
    } else if (this.lastSeq + 1 > seq) {
      this.sequenceErrors++;
      this.problem = true;
    }

    const comfortNoise = payloadType === PT_CN || payloadType === PT_CN_OLD;
    const followsComfortNoise =
      this.lastPayloadType === PT_CN || this.lastPayloadType === PT_CN_OLD;
    this.lastPayloadType = payloadType;

    const clockRate = this.clockRateOf(payloadType);
    let currentJitter = 0;
    // Ticks per millisecond, an integer division as in Wireshark.
    const ticksPerMs = Math.floor(clockRate / 1000);
    // Only packets in time sequence move the jitter and delta; the reference (nominal) time for
    // the jitter only moves with packets that have a media clock, while the reference arrival
    // time moves with all of them (so a telephone-event burst shows as a jump in jitter, as in
    // Wireshark).
    if (inTimeSequence) {
      this.delta = now - this.refTime;
      if (ticksPerMs !== 0) {
        const nominalDiff = (ticks - this.lastNominalTicks) / ticksPerMs;
        const diff = Math.abs(now - (this.refTime + nominalDiff));
        currentJitter = (15 * this.jitter + diff) / 16;
        this.jitter = currentJitter;
        this.lastNominalTicks = ticks;
        // Skew: RTP clock against arrival clock since the first packet.
        const skew = ticks / ticksPerMs - now;
        if (Math.abs(skew) > Math.abs(this.maxSkew)) this.maxSkew = skew;
      }
    }

    const regular = !marker && !comfortNoise && inTimeSequence && !followsComfortNoise;
    if (regular) {
      // this.packets is the count before this packet, i.e. the number of deltas so far.
      const n = this.packets;
      if (this.delta > this.maxDelta) this.maxDelta = this.delta;
      if (this.minDelta === -1 || this.delta < this.minDelta) this.minDelta = this.delta;
      this.meanDelta = (this.meanDelta * (n - 1) + this.delta) / n;
      if (ticksPerMs !== 0) {
        if (this.jitter > this.maxJitter) this.maxJitter = this.jitter;
        this.meanJitter = (this.meanJitter * (n - 1) + currentJitter) / n;
        if (this.minJitter === -1 || this.jitter < this.minJitter) this.minJitter = this.jitter;
      }
    }

    if (inTimeSequence) {
      this.refTime = now;
    }
    this.stopSeq = seq;
  }

  /** RFC 3550 A.1 (without probation: the source is taken as valid) and A.8. */
  private updateRfc(
    seq: number,
    rtpTimestamp: number,
    arrivalSeconds: number,
    payloadType: number,
  ): void {
    if (this.received === 0 && this.packets === 0) {
      this.baseSeq = seq;
      this.maxSeq = seq;
      this.badSeq = SEQUENCE_SPACE + 1;
      this.rfcCycles = 0;
    } else {
      const udelta = (seq - this.maxSeq) & 0xffff;
      if (udelta < MAX_DROPOUT) {
        if (seq < this.maxSeq) this.rfcCycles += SEQUENCE_SPACE;
        this.maxSeq = seq;
      } else if (udelta <= SEQUENCE_SPACE - MAX_MISORDER) {
        // A very large jump: accept it only when the next packet confirms it (a restart).
        if (seq === this.badSeq) {
          this.baseSeq = seq;
          this.maxSeq = seq;
          this.rfcCycles = 0;
          this.received = 0;
          this.expectedPrior = 0;
          this.receivedPrior = 0;
        } else {
          this.badSeq = (seq + 1) & 0xffff;
          return;
        }
      }
      // Otherwise a duplicate or reordered packet: counted as received.
    }
    this.received++;

    const clockRate = this.clockRateOf(payloadType);
    if (clockRate > 0) {
      const arrival = arrivalSeconds * clockRate;
      const transit = arrival - rtpTimestamp;
      if (this.received > 1 || this.transit !== 0) {
        let d = transit - this.transit;
        // Timestamps wrap at 2^32: bring d back near zero.
        if (d > HALF_TIMESTAMP_SPACE || d < -HALF_TIMESTAMP_SPACE) {
          d = d - Math.round(d / 0x1_0000_0000) * 0x1_0000_0000;
        }
        this.rfcJitter += (Math.abs(d) - this.rfcJitter) / 16;
      }
      this.transit = transit;
    }
  }

  private updateOrder(seq: number): void {
    let extended: number;
    if (this.packets === 0) {
      extended = seq + SEQUENCE_SPACE; // keep room below for late packets of the first cycle
      this.highestExtended = extended;
    } else {
      extended = this.highestExtended + sequenceDiff(this.highestExtended & 0xffff, seq);
    }
    const seen = this.seen;
    const highest = this.highestExtended;
    if (this.packets > 0 && extended <= highest) {
      // Behind the highest: a duplicate when its bit is set, else late (out of order). Older
      // than the window: late, and no longer known whether it was seen.
      if (highest - extended < DUPLICATE_WINDOW) {
        const slot = extended & (DUPLICATE_WINDOW - 1);
        const bit = 1 << (slot & BIT_MASK);
        if (seen[slot >> WORD_SHIFT] & bit) {
          this.duplicates++;
          return;
        }
        seen[slot >> WORD_SHIFT] |= bit;
      }
      this.outOfOrder++;
      return;
    }
    // Ahead: the numbers skipped over leave the window's far end unseen.
    if (this.packets === 0 || extended - highest >= DUPLICATE_WINDOW) seen.fill(0);
    else {
      for (let n = highest + 1; n < extended; n++) {
        const slot = n & (DUPLICATE_WINDOW - 1);
        seen[slot >> WORD_SHIFT] &= ~(1 << (slot & BIT_MASK));
      }
    }
    const slot = extended & (DUPLICATE_WINDOW - 1);
    seen[slot >> WORD_SHIFT] |= 1 << (slot & BIT_MASK);
    this.highestExtended = extended;
  }

  /** Numbers for an RTCP reception report; starts a new interval (RFC 3550 A.3). */
  takeReceptionInterval(): ReceptionInterval {
    const extendedMax = this.rfcCycles + this.maxSeq;
    const expected = this.received === 0 ? 0 : extendedMax - this.baseSeq + 1;
    const lost = expected - this.received;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0
        ? 0
        : Math.floor((lostInterval << 8) / expectedInterval);
    return {
      fractionLost: Math.min(fractionLost, 255),
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, lost)),
      extendedHighestSequence: extendedMax >>> 0,
      jitter: Math.floor(this.rfcJitter) >>> 0,
    };
  }

  snapshot(): RtpStreamStatsSnapshot {
    const expected =
      this.packets === 0 ? 0 : this.stopSeq + this.cycles * SEQUENCE_SPACE - this.startSeq + 1;
    const lost = expected - this.packets;
    const extendedMax = this.rfcCycles + this.maxSeq;
    const rfcExpected = this.received === 0 ? 0 : extendedMax - this.baseSeq + 1;
    return {
      packets: this.packets,
      expected,
      lost,
      lostPercent: expected === 0 ? 0 : (lost * 100) / expected,
      minDeltaMs: this.minDelta === -1 ? 0 : this.minDelta,
      meanDeltaMs: this.meanDelta,
      maxDeltaMs: this.maxDelta,
      minJitterMs: this.minJitter === -1 ? 0 : this.minJitter,
      meanJitterMs: this.meanJitter,
      maxJitterMs: this.maxJitter,
      jitterMs: this.jitter,
      maxSkewMs: this.maxSkew,
      sequenceErrors: this.sequenceErrors,
      timestampErrors: this.timestampErrors,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      markers: this.markers,
      problem: this.problem,
      firstSequence: this.startSeq,
      lastSequence: this.stopSeq,
      sequenceCycles: this.cycles,
      payloadTypes: [...this.payloadTypesSeen],
      firstArrival: this.firstArrival,
      lastArrival: this.lastArrival,
      extendedHighestSequence: extendedMax >>> 0,
      rfcExpected,
      rfcLost: rfcExpected - this.received,
      rfcJitter: this.rfcJitter,
    };
  }
}
