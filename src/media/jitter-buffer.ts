// A playout (de-jitter) buffer for decoded audio: packets go in as they arrive, out of order
// and with gaps; frames of a fixed duration (20 ms by default) come out in timestamp order,
// one per call to pop(), which the caller makes on its own 20 ms clock.
//
//   push(packet)  ->  [ packets sorted by RTP timestamp ]  ->  pop(now) -> frame
//
// Playout starts `delay` ms after the first packet arrived, at the first packet's timestamp;
// each pop() then plays the next frameSamples of the timeline. What is missing when its turn
// comes is concealed: by repeating the last audio at half the level each time, for at most
// MAX_REPEATS frames, then silence (or silence at once with concealment 'silence'). A packet
// that arrives after its samples were played is late and dropped.
//
// Fixed mode keeps the initial delay. Adaptive mode tracks the interarrival jitter (RFC 3550
// A.8 estimator, in ms) and aims for a delay of JITTER_MULTIPLE * jitter + one frame within
// [minDelayMs, maxDelayMs]: when the buffered audio is more than one frame above target it
// drops a frame (catching up), and after a late packet it holds playout for one frame (growing
// the delay by one frame).

import { SerialUnwrapper } from './sequence.ts';

const MAX_REPEATS = 3;
const JITTER_MULTIPLE = 3;

export interface JitterBufferOptions {
  /** RTP clock rate (default 8000). */
  clockRate?: number;
  /** Samples per output frame (default 160: 20 ms at 8 kHz). */
  frameSamples?: number;
  /** Initial (and, in fixed mode, constant) playout delay in ms (default 60). */
  delayMs?: number;
  /** Adapt the delay to the measured jitter (default false). */
  adaptive?: boolean;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** How gaps are filled (default 'repeat'). */
  concealment?: 'repeat' | 'silence';
  /** Audio kept ahead of playout at most, ms; older packets make room (default 1000). */
  capacityMs?: number;
}

export interface JitterFrame {
  /** RTP timestamp (unwrapped) of the frame's first sample. */
  timestamp: number;
  samples: Int16Array;
  /** True when any sample of the frame was concealed. */
  concealed: boolean;
}

export interface JitterBufferStats {
  received: number;
  /** Frames handed out. */
  played: number;
  /** Frames wholly or partly concealed. */
  concealed: number;
  /** Packets that came after their playout time. */
  late: number;
  /** Concealed frames whose audio never arrived (concealed minus those that came late). */
  lost: number;
  duplicates: number;
  /** Frames skipped to reduce delay, or packets dropped for lack of room. */
  dropped: number;
  /** Current target delay, ms. */
  delayMs: number;
  /** Jitter estimate, ms. */
  jitterMs: number;
}

interface Stored {
  timestamp: number;
  samples: Int16Array;
}

export class JitterBuffer {
  private readonly clockRate: number;
  private readonly frameSamples: number;
  private readonly adaptive: boolean;
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly concealment: 'repeat' | 'silence';
  private readonly capacitySamples: number;
  private readonly unwrap = new SerialUnwrapper(32);

  private readonly packets: Stored[] = [];
  private targetDelayMs: number;
  private firstArrivalMs: number | undefined;
  private cursor: number | undefined;
  private lastAudio: Int16Array | undefined;
  private repeats = 0;
  private holdFrames = 0;
  private lastTransit: number | undefined;
  private jitterMs = 0;
  private readonly counters = {
    received: 0,
    played: 0,
    concealed: 0,
    concealedInTimeline: 0,
    late: 0,
    duplicates: 0,
    dropped: 0,
    lateConcealed: 0,
  };
  /** Timestamps of frames that were concealed, to tell late from lost. */
  private readonly concealedFrames = new Set<number>();

  constructor(options: JitterBufferOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    this.frameSamples = options.frameSamples ?? 160;
    this.adaptive = options.adaptive ?? false;
    this.minDelayMs = options.minDelayMs ?? this.frameMs();
    this.maxDelayMs = options.maxDelayMs ?? 300;
    this.targetDelayMs = options.delayMs ?? 60;
    this.concealment = options.concealment ?? 'repeat';
    this.capacitySamples = ((options.capacityMs ?? 1000) * this.clockRate) / 1000;
  }

  private frameMs(): number {
    return (this.frameSamples * 1000) / this.clockRate;
  }

  /** Adds a received packet's decoded samples. rtpTimestamp is the RTP header's timestamp. */
  push(rtpTimestamp: number, samples: Int16Array, arrivalMs: number): void {
    const timestamp = this.unwrap.unwrap(rtpTimestamp >>> 0);
    this.counters.received++;
    this.firstArrivalMs ??= arrivalMs;
    this.trackJitter(timestamp, arrivalMs);

    if (this.cursor !== undefined && timestamp + samples.length <= this.cursor) {
      this.counters.late++;
      if (this.concealedFrames.has(this.frameStart(timestamp))) this.counters.lateConcealed++;
      if (this.adaptive) this.holdFrames = 1;
      return;
    }
    // Keep sorted by timestamp; drop duplicates.
    let i = this.packets.length;
    while (i > 0 && this.packets[i - 1]!.timestamp > timestamp) i--;
    if (i > 0 && this.packets[i - 1]!.timestamp === timestamp) {
      this.counters.duplicates++;
      return;
    }
    this.packets.splice(i, 0, { timestamp, samples });
    const base = this.cursor ?? this.packets[0]!.timestamp;
    while (this.packets.length > 1 && this.newestEnd() - base > this.capacitySamples) {
      this.packets.shift();
      this.counters.dropped++;
    }
  }

  private frameStart(timestamp: number): number {
    if (this.cursor === undefined) return timestamp;
    const offset = timestamp - this.cursor;
    return this.cursor + Math.floor(offset / this.frameSamples) * this.frameSamples;
  }

  private newestEnd(): number {
    const last = this.packets[this.packets.length - 1]!;
    return last.timestamp + last.samples.length;
  }

  private trackJitter(timestamp: number, arrivalMs: number): void {
    const transit = arrivalMs - (timestamp * 1000) / this.clockRate;
    if (this.lastTransit !== undefined) {
      const d = Math.abs(transit - this.lastTransit);
      this.jitterMs += (d - this.jitterMs) / 16;
    }
    this.lastTransit = transit;
    if (this.adaptive) {
      const wanted = JITTER_MULTIPLE * this.jitterMs + this.frameMs();
      this.targetDelayMs = Math.min(this.maxDelayMs, Math.max(this.minDelayMs, wanted));
    }
  }

  /**
   * The next frame to play at nowMs, or undefined while playout has not started (no packet
   * yet, or the initial delay has not passed).
   */
  pop(nowMs: number): JitterFrame | undefined {
    if (this.cursor === undefined) {
      if (this.firstArrivalMs === undefined || this.packets.length === 0) return undefined;
      if (nowMs < this.firstArrivalMs + this.targetDelayMs) return undefined;
      this.cursor = this.packets[0]!.timestamp;
    }
    if (this.adaptive) this.adapt();
    if (this.holdFrames > 0) {
      // Grow the delay: play a concealment frame without moving through the timeline.
      this.holdFrames--;
      return this.emit(
        this.cursor,
        this.conceal(new Int16Array(this.frameSamples), 0),
        true,
        false,
      );
    }
    const start = this.cursor;
    const end = start + this.frameSamples;
    const out = new Int16Array(this.frameSamples);
    const covered = new Uint8Array(this.frameSamples);
    while (
      this.packets.length > 0 &&
      this.packets[0]!.timestamp + this.packets[0]!.samples.length <= start
    ) {
      this.packets.shift();
    }
    for (const packet of this.packets) {
      if (packet.timestamp >= end) break;
      const from = Math.max(start, packet.timestamp);
      const to = Math.min(end, packet.timestamp + packet.samples.length);
      for (let t = from; t < to; t++) {
        out[t - start] = packet.samples[t - packet.timestamp]!;
        covered[t - start] = 1;
      }
    }
    const missing = covered.indexOf(0) >= 0;
    if (missing) this.conceal(out, covered);
    this.cursor = end;
    return this.emit(start, out, missing, true);
  }

  /** Fills uncovered samples (all when covered is 0) by repetition or silence. */
  private conceal(out: Int16Array, covered: Uint8Array | 0): Int16Array {
    const repeat = this.concealment === 'repeat' && this.lastAudio && this.repeats < MAX_REPEATS;
    const gain = repeat ? 0.5 ** (this.repeats + 1) : 0;
    for (let i = 0; i < out.length; i++) {
      if (covered !== 0 && covered[i]) continue;
      out[i] = repeat ? Math.round(this.lastAudio![i % this.lastAudio!.length]! * gain) : 0;
    }
    this.repeats++;
    return out;
  }

  private emit(
    timestamp: number,
    samples: Int16Array,
    concealed: boolean,
    advance: boolean,
  ): JitterFrame {
    this.counters.played++;
    if (concealed) {
      this.counters.concealed++;
      if (advance) {
        this.counters.concealedInTimeline++;
        this.concealedFrames.add(timestamp);
      }
      if (this.concealedFrames.size > 1000) {
        const oldest = this.concealedFrames.values().next().value;
        if (oldest !== undefined) this.concealedFrames.delete(oldest);
      }
    } else {
      this.lastAudio = samples;
      this.repeats = 0;
    }
    return { timestamp, samples, concealed };
  }

  /** Adaptive mode: skip a frame when the buffered audio is well above the target delay. */
  private adapt(): void {
    if (this.cursor === undefined || this.packets.length === 0) return;
    const bufferedMs = ((this.newestEnd() - this.cursor) * 1000) / this.clockRate;
    if (bufferedMs > this.targetDelayMs + 2 * this.frameMs()) {
      this.cursor += this.frameSamples;
      this.counters.dropped++;
    }
  }

  stats(): JitterBufferStats {
    const c = this.counters;
    return {
      received: c.received,
      played: c.played,
      concealed: c.concealed,
      late: c.late,
      lost: Math.max(0, c.concealedInTimeline - c.lateConcealed),
      duplicates: c.duplicates,
      dropped: c.dropped,
      delayMs: this.targetDelayMs,
      jitterMs: this.jitterMs,
    };
  }
}
