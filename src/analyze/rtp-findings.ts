// Security findings in RTP, from the packets the RTP tracker took as media (RTCP excluded).
//
//   rtp-injection  (a) one SSRC toward one destination from a second source, interleaved with the
//                  first: packets alternate between the sources at least INJECTION_MIN_SWITCHES
//                  times. A relay reuses an SSRC on its two legs (A -> relay, relay -> B: another
//                  source AND another destination), and a source that moves (a re-INVITE, a NAT
//                  rebinding) switches once: neither is injection.
//                  (b) within one stream (src, dst, SSRC), two numberings interleaved: packets
//                  whose sequence number or timestamp jumps away from the stream and back again,
//                  at least INJECTION_MIN_SWITCHES times (a forged source address). A sender that
//                  restarts its numbering jumps once.
//   rtp-replay     packets of a stream seen again later: the same sequence number, timestamp and
//                  payload as a packet at least REPLAY_MIN_DELAY_SECONDS earlier, or (once the
//                  original is no longer remembered) a sequence number and timestamp both behind
//                  what the stream already reached, farther than reordering explains.
//
// Memory: per stream a ring of the last REPLAY_RING packets (sequence number, timestamp, payload
// hash, arrival) and a few numbers; per (destination, SSRC) the first SOURCES_PER_DESTINATION
// sources. Idle streams are dropped after IDLE_SECONDS of capture time, keeping their findings.
import { Evidence, plural } from './finding-evidence.ts';
import type { SecurityFinding } from './finding-evidence.ts';
import { formatSsrc } from './analysis-report.ts';
import { formatHostPort } from '../sip/index.ts';
import type { UdpPacket } from './rtp-tracker.ts';

// RFC 3550 §5.1 fixed header: sequence number at byte 2, timestamp at 4, SSRC at 8.
const RTP_HEADER_LENGTH = 12;
const PAYLOAD_TYPE_MASK = 0x7f;
const SEQUENCE_OFFSET = 2;
const TIMESTAMP_OFFSET = 4;
const SSRC_OFFSET = 8;
const CSRC_COUNT_MASK = 0x0f;
const EXTENSION_BIT = 0x10;
/** Payload bytes hashed to recognise a copy of a packet (see payloadHash). */
const HASHED_PAYLOAD_BYTES = 48;
/** PT 72-79 with the marker bit are RTCP packet types 200-207 (RFC 5761 §4). */
const RTCP_PT_FIRST = 72;
const RTCP_PT_LAST = 79;

/**
 * RFC 3550 Appendix A.1's bounds for a sequence number that still belongs to the stream: up to
 * MAX_DROPOUT ahead (packets lost) or MAX_MISORDER behind (reordered). Farther is a jump.
 */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
/**
 * Timestamps may run ahead of arrival time by silence suppression or a hold, never by more than
 * the time that passed; at the highest common RTP clock (96 kHz) plus TIMESTAMP_SLACK_SECONDS of
 * jitter and reordering, a timestamp farther ahead or behind is a jump.
 */
const MAX_CLOCK_RATE = 96_000;
const TIMESTAMP_SLACK_SECONDS = 2;

/**
 * Switches between two sources (or two numberings) of one stream before it is injection: a move
 * to a new source is 1 switch, and one late packet from the old one adds 2 more; an injector
 * interleaving its packets switches at every packet it sends.
 */
export const INJECTION_MIN_SWITCHES = 4;
/**
 * A copy of a packet this much later is a replay: a network or capture duplicate arrives within
 * milliseconds; a packet held back by a second or more and resent unchanged was resent on purpose.
 */
export const REPLAY_MIN_DELAY_SECONDS = 1;
/** Replayed (or stale) packets of one stream before it is a finding: one could be a fluke. */
export const REPLAY_MIN_PACKETS = 3;

/** Packets remembered per stream for replay detection (about 10 s at 50 packets/s). */
const REPLAY_RING = 512;
const SOURCES_PER_DESTINATION = 4;
const MAX_STREAMS = 20_000;
const MAX_DESTINATIONS = 20_000;
const MAX_KEPT_FINDINGS = 1_000;
const IDLE_SECONDS = 60;
const SWEEP_EVERY_SECONDS = 10;

interface Track {
  seq: number;
  ts: number;
  arrival: number;
}

interface StreamState {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  name: string;
  ssrc: number;
  main: Track;
  alt: Track | undefined;
  onAlt: boolean;
  switches: number;
  jumpEvidence: Evidence;
  replayEvidence: Evidence;
  replays: number;
  stale: number;
  ringSeq: Int32Array;
  ringTs: Uint32Array;
  ringHash: Int32Array;
  ringArrival: Float64Array;
  lastArrival: number;
}

interface DestinationState {
  dstAddress: string;
  dstPort: number;
  dst: string;
  ssrc: number;
  /** The first SOURCES_PER_DESTINATION sources (address and port); any later one is index 4. */
  sources: string[];
  sourcePorts: number[];
  last: number;
  switches: number;
  evidence: Evidence;
  lastArrival: number;
}

export class RtpFindings {
  // Both tables are keyed by SSRC (a number: no key text per packet) with the few entries of
  // that SSRC in a list; when a table is full, new streams are counted in `untracked`.
  private readonly streams = new Map<number, StreamState[]>();
  private readonly destinations = new Map<number, DestinationState[]>();
  private streamCount = 0;
  private destinationCount = 0;
  /** Streams and destinations not followed because the tables were full (a flood of SSRCs). */
  untracked = 0;
  /** Findings of streams already dropped (idle or evicted). */
  private readonly kept: SecurityFinding[] = [];
  private lastSweep = 0;

  packet(p: UdpPacket): void {
    const b = p.payload;
    if (b.length < RTP_HEADER_LENGTH) return;
    const pt = b[1] & PAYLOAD_TYPE_MASK;
    if (pt >= RTCP_PT_FIRST && pt <= RTCP_PT_LAST) return;
    if (p.ts - this.lastSweep > SWEEP_EVERY_SECONDS) this.sweep(p.ts);
    const seq = b.readUInt16BE(SEQUENCE_OFFSET);
    const ts = b.readUInt32BE(TIMESTAMP_OFFSET);
    const ssrc = b.readUInt32BE(SSRC_OFFSET);
    this.destination(ssrc, p);
    this.stream(ssrc, seq, ts, p);
  }

  /** (a): the sources sending one SSRC to one destination, and how often they alternate. */
  private destination(ssrc: number, p: UdpPacket): void {
    let list = this.destinations.get(ssrc);
    let d = list?.find((x) => x.dstPort === p.dstPort && x.dstAddress === p.dst);
    if (!d) {
      if (this.destinationCount >= MAX_DESTINATIONS) {
        this.untracked++;
        return;
      }
      d = {
        dstAddress: p.dst,
        dstPort: p.dstPort,
        dst: formatHostPort(p.dst, p.dstPort),
        ssrc,
        sources: [p.src],
        sourcePorts: [p.srcPort],
        last: 0,
        switches: 0,
        evidence: new Evidence(),
        lastArrival: p.ts,
      };
      if (!list) this.destinations.set(ssrc, (list = []));
      list.push(d);
      this.destinationCount++;
    }
    d.lastArrival = p.ts;
    let i = 0;
    while (i < d.sources.length && (d.sourcePorts[i] !== p.srcPort || d.sources[i] !== p.src)) i++;
    if (i === d.sources.length && i < SOURCES_PER_DESTINATION) {
      d.sources.push(p.src);
      d.sourcePorts.push(p.srcPort);
    }
    if (i !== d.last) {
      d.switches++;
      d.last = i;
    }
    if (i !== 0) d.evidence.add(p.frame);
  }

  /** (b) and replay: one stream's numbering. */
  private stream(ssrc: number, seq: number, ts: number, p: UdpPacket): void {
    let list = this.streams.get(ssrc);
    let s = list?.find(
      (x) =>
        x.srcPort === p.srcPort && x.dstPort === p.dstPort && x.src === p.src && x.dst === p.dst,
    );
    if (!s) {
      if (this.streamCount >= MAX_STREAMS) {
        this.untracked++;
        return;
      }
      const track = { seq, ts, arrival: p.ts };
      s = {
        src: p.src,
        srcPort: p.srcPort,
        dst: p.dst,
        dstPort: p.dstPort,
        name: `${formatHostPort(p.src, p.srcPort)} -> ${formatHostPort(p.dst, p.dstPort)}`,
        ssrc,
        main: track,
        alt: undefined,
        onAlt: false,
        switches: 0,
        jumpEvidence: new Evidence(),
        replayEvidence: new Evidence(),
        replays: 0,
        stale: 0,
        ringSeq: new Int32Array(REPLAY_RING).fill(-1),
        ringTs: new Uint32Array(REPLAY_RING),
        ringHash: new Int32Array(REPLAY_RING),
        ringArrival: new Float64Array(REPLAY_RING),
        lastArrival: p.ts,
      };
      if (!list) this.streams.set(ssrc, (list = []));
      list.push(s);
      this.streamCount++;
      this.remember(s, seq, ts, payloadHash(p.payload), p.ts);
      return;
    }
    s.lastArrival = p.ts;

    const hash = payloadHash(p.payload);
    const slot = seq % REPLAY_RING;
    if (
      s.ringSeq[slot] === seq &&
      s.ringTs[slot] === ts &&
      s.ringHash[slot] === hash &&
      p.ts - s.ringArrival[slot] >= REPLAY_MIN_DELAY_SECONDS
    ) {
      s.replays++;
      s.replayEvidence.add(p.frame);
      return;
    }

    if (fits(s.main, seq, ts, p.ts)) {
      if (s.onAlt) {
        s.onAlt = false;
        s.switches++;
      }
      advance(s.main, seq, ts, p.ts);
    } else if (s.alt && fits(s.alt, seq, ts, p.ts)) {
      if (!s.onAlt) {
        s.onAlt = true;
        s.switches++;
      }
      advance(s.alt, seq, ts, p.ts);
      s.jumpEvidence.add(p.frame);
    } else if (behind(s.main, seq, ts)) {
      // Older than anything reordering explains, in both numbering and time: stale.
      s.stale++;
      s.replayEvidence.add(p.frame);
      return;
    } else {
      s.alt = { seq, ts, arrival: p.ts };
      if (!s.onAlt) {
        s.onAlt = true;
        s.switches++;
      }
      s.jumpEvidence.add(p.frame);
    }
    this.remember(s, seq, ts, hash, p.ts);
  }

  private remember(s: StreamState, seq: number, ts: number, hash: number, arrival: number): void {
    const slot = seq % REPLAY_RING;
    s.ringSeq[slot] = seq;
    s.ringTs[slot] = ts;
    s.ringHash[slot] = hash;
    s.ringArrival[slot] = arrival;
  }

  /** Drops streams and destinations idle for IDLE_SECONDS, keeping what they found. */
  private sweep(now: number): void {
    this.lastSweep = now;
    this.streamCount -= dropIdle(this.streams, now, (s) => this.keep(streamFindings(s)));
    this.destinationCount -= dropIdle(this.destinations, now, (d) =>
      this.keep(destinationFindings(d)),
    );
  }

  private keep(findings: SecurityFinding[]): void {
    for (const f of findings) if (this.kept.length < MAX_KEPT_FINDINGS) this.kept.push(f);
  }

  findings(): SecurityFinding[] {
    const out = [...this.kept];
    for (const list of this.destinations.values()) {
      for (const d of list) out.push(...destinationFindings(d));
    }
    for (const list of this.streams.values()) for (const s of list) out.push(...streamFindings(s));
    return out;
  }
}

/** Removes the entries idle for IDLE_SECONDS (after `gone` saw each); returns how many. */
function dropIdle<T extends { lastArrival: number }>(
  table: Map<number, T[]>,
  now: number,
  gone: (entry: T) => void,
): number {
  let dropped = 0;
  for (const [ssrc, list] of table) {
    const live = list.filter((e) => {
      if (now - e.lastArrival <= IDLE_SECONDS) return true;
      gone(e);
      dropped++;
      return false;
    });
    if (live.length === 0) table.delete(ssrc);
    else if (live.length !== list.length) table.set(ssrc, live);
  }
  return dropped;
}

function destinationFindings(d: DestinationState): SecurityFinding[] {
  if (d.sources.length < 2 || d.switches < INJECTION_MIN_SWITCHES) return [];
  const names = d.sources.map((a, i) => formatHostPort(a, d.sourcePorts[i]));
  const others = names.slice(1).join(', ');
  return [
    {
      kind: 'rtp-injection',
      severity: 'high',
      text: `RTP with SSRC ${formatSsrc(d.ssrc)} toward ${d.dst} came from ${names[0]} and, interleaved with it, from ${others} (${plural(d.evidence.count, 'packet')}, ${d.switches} switches): a foreign source injecting into the stream.`,
      frames: d.evidence.sorted(),
      frameCount: d.evidence.count,
    },
  ];
}

function streamFindings(s: StreamState): SecurityFinding[] {
  const out: SecurityFinding[] = [];
  if (s.switches >= INJECTION_MIN_SWITCHES) {
    out.push({
      kind: 'rtp-injection',
      severity: 'high',
      text: `RTP ${formatSsrc(s.ssrc)} ${s.name}: ${plural(s.jumpEvidence.count, 'packet')} jump away from the stream's sequence numbers or timestamps and back (${s.switches} switches): a second sender forging this stream's source.`,
      frames: s.jumpEvidence.sorted(),
      frameCount: s.jumpEvidence.count,
    });
  }
  if (s.replays + s.stale >= REPLAY_MIN_PACKETS) {
    const parts: string[] = [];
    if (s.replays > 0) {
      parts.push(
        `${plural(s.replays, 'packet')} repeat an earlier packet (same sequence number, timestamp and payload) at least ${REPLAY_MIN_DELAY_SECONDS} s later`,
      );
    }
    if (s.stale > 0) {
      parts.push(
        `${plural(s.stale, 'packet')} carry sequence numbers and timestamps far behind the stream`,
      );
    }
    out.push({
      kind: 'rtp-replay',
      severity: 'high',
      text: `RTP ${formatSsrc(s.ssrc)} ${s.name}: ${parts.join('; ')}: replayed media.`,
      frames: s.replayEvidence.sorted(),
      frameCount: s.replayEvidence.count,
    });
  }
  return out;
}

/** Whether a packet continues a numbering: sequence number and timestamp within reach. */
function fits(t: Track, seq: number, ts: number, arrival: number): boolean {
  const step = (seq - t.seq) & 0xffff;
  const seqOk = step <= MAX_DROPOUT || step >= 0x10000 - MAX_MISORDER;
  if (!seqOk) return false;
  const tsStep = (ts - t.ts) | 0;
  const ahead = (Math.max(0, arrival - t.arrival) + TIMESTAMP_SLACK_SECONDS) * MAX_CLOCK_RATE;
  return tsStep >= -TIMESTAMP_SLACK_SECONDS * MAX_CLOCK_RATE && tsStep <= ahead;
}

/** Both sequence number and timestamp behind the track, farther than reordering explains. */
function behind(t: Track, seq: number, ts: number): boolean {
  const step = ((((seq - t.seq) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
  return step < -MAX_MISORDER && ((ts - t.ts) | 0) < 0;
}

function advance(t: Track, seq: number, ts: number, arrival: number): void {
  const step = (seq - t.seq) & 0xffff;
  if (step > 0 && step <= MAX_DROPOUT) {
    t.seq = seq;
    t.ts = ts;
  }
  t.arrival = arrival;
}

/**
 * FNV-1a over the payload's length and first HASHED_PAYLOAD_BYTES bytes. A replay is caught by
 * the same sequence number AND timestamp AND this hash: the prefix is plenty to tell a copy from
 * another packet, and a 32-bit collision only costs a miss.
 */
function payloadHash(b: Buffer): number {
  let start = RTP_HEADER_LENGTH + (b[0] & CSRC_COUNT_MASK) * 4;
  if (b[0] & EXTENSION_BIT && b.length >= start + 4) start += 4 + b.readUInt16BE(start + 2) * 4;
  const end = Math.min(b.length, start + HASHED_PAYLOAD_BYTES);
  let h = Math.imul(0x811c9dc5 ^ (b.length - start), 0x01000193);
  for (let i = start; i < end; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
