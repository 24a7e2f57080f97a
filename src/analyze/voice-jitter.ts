// Jitter of a stream's voice packets alone, for streams that also carry RFC 4733 telephone-events.
//
// An RFC 4733 packet keeps the RTP timestamp of its event's start in every packet (§2.3.1), so
// it says nothing about the media clock: it has no place in an interarrival jitter. tshark
// (`-z rtp,streams`, Wireshark 4.0's tap-rtp-analysis) does skip it for the jitter sum, but it
// still moves its reference arrival time; the first voice packet after a digit is then compared
// with the last event packet's arrival and the last voice packet's timestamp, and shows a jump
// (SIP_DTMF2.cap: max jitter 15.767 ms on the stream with digits, against 0.019 ms on the other
// direction). The analyzer leaves the event packets out altogether: its jitter is the jitter
// tshark reports for the same capture with the telephone-event packets removed
// (`tshark -Y '!rtpevent' -w`), which test/analyze-tshark.test.ts checks.
//
// The figures follow Wireshark's rules as src/media/rtp-stream-stats.ts states them (in time
// sequence against the first packet, J += (D - J) / 16 in ms with an integer ticks-per-ms, max
// and mean over "regular" packets: not marked, not comfort noise nor right after it). The state
// is taken over from the stream's counters at its first event: until then every packet was voice,
// so the two agree; streams without events never create one (nothing on the hot path).

const PT_CN = 13;
const PT_CN_OLD = 19;
const HALF_TIMESTAMP_SPACE = 0x8000_0000;

/** The voice-only state at the first event packet: what the stream's counters know by then. */
export interface VoiceJitterSeed {
  /** Voice packets so far (all packets before the first event). */
  packets: number;
  firstTimestamp: number;
  firstArrival: number;
  /** Arrival and RTP timestamp of the last voice packet in time sequence, and its PT. */
  lastArrival: number;
  lastTimestamp: number;
  lastPayloadType: number;
  jitterMs: number;
  maxJitterMs: number;
  meanJitterMs: number;
}

export class VoiceJitter {
  private packets: number;
  private firstTimestamp: number;
  private firstArrival: number;
  private refTime: number;
  private lastNominalTicks: number;
  private lastPayloadType: number;
  private jitter: number;
  private maxJitter: number;
  private meanJitter: number;
  private readonly ticksPerMs: number;

  /** clockRate: the voice payload's clock (8000 for G.711). */
  constructor(clockRate: number, seed?: VoiceJitterSeed) {
    this.ticksPerMs = Math.floor(clockRate / 1000);
    this.packets = seed?.packets ?? 0;
    this.firstTimestamp = seed?.firstTimestamp ?? 0;
    this.firstArrival = seed?.firstArrival ?? 0;
    this.refTime = seed ? (seed.lastArrival - seed.firstArrival) * 1000 : 0;
    this.lastNominalTicks = seed ? (seed.lastTimestamp - seed.firstTimestamp) >>> 0 : 0;
    this.lastPayloadType = seed?.lastPayloadType ?? -1;
    this.jitter = seed?.jitterMs ?? 0;
    this.maxJitter = seed?.maxJitterMs ?? 0;
    this.meanJitter = seed?.meanJitterMs ?? 0;
  }

  get maxJitterMs(): number {
    return this.maxJitter;
  }

  get meanJitterMs(): number {
    return this.meanJitter;
  }

  get jitterMs(): number {
    return this.jitter;
  }

  /** One voice packet (never an event packet). */
  add(timestamp: number, arrivalSeconds: number, payloadType: number, marker: boolean): void {
    const n = this.packets++;
    if (n === 0) {
      this.firstTimestamp = timestamp >>> 0;
      this.firstArrival = arrivalSeconds;
      this.refTime = 0;
      this.lastNominalTicks = 0;
      this.lastPayloadType = payloadType;
      return;
    }
    const now = (arrivalSeconds - this.firstArrival) * 1000;
    const ticks = (timestamp - this.firstTimestamp) >>> 0;
    const inTimeSequence = ticks < HALF_TIMESTAMP_SPACE;
    const comfortNoise = payloadType === PT_CN || payloadType === PT_CN_OLD;
    const followsComfortNoise =
      this.lastPayloadType === PT_CN || this.lastPayloadType === PT_CN_OLD;
    this.lastPayloadType = payloadType;
    let current = 0;
    if (inTimeSequence && this.ticksPerMs !== 0) {
      const nominal = (ticks - this.lastNominalTicks) / this.ticksPerMs;
      current = (15 * this.jitter + Math.abs(now - (this.refTime + nominal))) / 16;
      this.jitter = current;
      this.lastNominalTicks = ticks;
    }
    if (!marker && !comfortNoise && inTimeSequence && !followsComfortNoise && this.ticksPerMs) {
      if (this.jitter > this.maxJitter) this.maxJitter = this.jitter;
      this.meanJitter = (this.meanJitter * (n - 1) + current) / n;
    }
    if (inTimeSequence) this.refTime = now;
  }
}
