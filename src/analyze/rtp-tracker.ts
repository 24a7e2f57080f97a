// Finds RTP streams in UDP traffic and keeps per-stream counters.
//
// Two ways a packet becomes RTP, as in Wireshark:
//  1. SDP: an offer or answer announced 'c= address' + 'm= port'; every later UDP packet to or
//     from that endpoint that has an RTP header is RTP of that call (src/analyze/session-media.ts).
//  2. Heuristics, only for UDP that is not SIP, not to or from an endpoint that carried SIP and
//     not on an SDP endpoint: a flow (src, dst, SSRC) becomes a stream once HEURISTIC_MIN_PACKETS
//     consecutive packets agree (version 2, same payload type, sequence numbers climbing by at most
//     HEURISTIC_MAX_SEQUENCE_STEP, timestamps not going back). The packets seen while it was a
//     candidate are then counted too, so the stream is complete from its first packet.
//
// A stream is one SSRC from one src to one dst (tshark's key). Nothing per packet is kept unless
// audio export was asked for; counters live in the media layer's RtpStreamStats. Streams idle for
// IDLE_SECONDS of capture time are closed (their numbers frozen) so memory follows open streams.
import { looksLikeRtcp, looksLikeRtp, RtpStreamStats } from '../media/index.ts';
import type { RtpStreamStatsSnapshot } from '../media/index.ts';
import { formatEndpoint } from './endpoint.ts';
import type { MediaEndpoint, PayloadFormat } from './session-media.ts';
import { staticPayloadFormat } from './session-media.ts';

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                           timestamp                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           synchronization source (SSRC) identifier            |
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
// (RFC 3550 §5.1) The hot path reads these fixed fields in place, without allocating.
const RTP_HEADER_LENGTH = 12;
const VERSION_MASK = 0xc0;
const VERSION_2 = 0x80;
const CSRC_COUNT_MASK = 0x0f;
const EXTENSION_BIT = 0x10;
const PADDING_BIT = 0x20;
const MARKER_BIT = 0x80;
const PAYLOAD_TYPE_MASK = 0x7f;
const SEQUENCE_OFFSET = 2;
const TIMESTAMP_OFFSET = 4;
const SSRC_OFFSET = 8;
/** PT 72-79 with the marker bit are RTCP packet types 200-207 (RFC 5761 §4). */
const RTCP_PT_FIRST = 72;
const RTCP_PT_LAST = 79;

const HEURISTIC_MIN_PACKETS = 4;
const HEURISTIC_MAX_SEQUENCE_STEP = 10;
const HEURISTIC_MAX_CANDIDATES = 4096;
const IDLE_SECONDS = 60;
const SWEEP_EVERY_SECONDS = 10;

/** The fields of a decoded UDP packet the tracker reads (the capture layer's Packet has them). */
export interface UdpPacket {
  frame: number;
  ts: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

/** One RTP packet kept for audio export. */
export interface KeptRtpPacket {
  timestamp: number;
  arrival: number;
  payloadType: number;
  payload: Buffer;
}

type PayloadKind = 'g711' | 'event' | 'other';

interface EndpointEntry {
  callId: string;
  formats: Map<number, PayloadFormat>;
}

export class RtpStream {
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
  readonly ssrc: number;
  readonly callId: string | null;
  readonly foundBy: 'sdp' | 'heuristic';
  readonly formats: Map<number, PayloadFormat>;
  readonly firstPayloadType: number;
  firstFrame: number;
  start = 0;
  end = 0;
  /** Packets kept for audio export (only when asked for). */
  readonly kept: KeptRtpPacket[] | undefined;
  private stats: RtpStreamStats | undefined;
  /** What each payload type seen so far is, looked up once per type (not per packet). */
  private readonly kinds = new Map<number, PayloadKind>();
  private frozen: RtpStreamStatsSnapshot | undefined;

  constructor(
    key: { src: string; srcPort: number; dst: string; dstPort: number; ssrc: number },
    callId: string | null,
    foundBy: 'sdp' | 'heuristic',
    formats: Map<number, PayloadFormat>,
    firstPayloadType: number,
    firstFrame: number,
    keepAudio: boolean,
  ) {
    this.src = key.src;
    this.srcPort = key.srcPort;
    this.dst = key.dst;
    this.dstPort = key.dstPort;
    this.ssrc = key.ssrc;
    this.callId = callId;
    this.foundBy = foundBy;
    this.formats = formats;
    this.firstPayloadType = firstPayloadType;
    this.firstFrame = firstFrame;
    const clockRates = new Map<number, number>();
    for (const [pt, f] of formats) {
      clockRates.set(pt, isTelephoneEvent(f) ? 0 : f.clockRate);
    }
    const main = this.formatOf(firstPayloadType);
    this.stats = new RtpStreamStats(main?.clockRate ?? 8000, { payloadClockRates: clockRates });
    this.kept = keepAudio && isG711(main) ? [] : undefined;
  }

  get srcId(): string {
    return formatEndpoint(this.src, this.srcPort);
  }

  get dstId(): string {
    return formatEndpoint(this.dst, this.dstPort);
  }

  get closed(): boolean {
    return this.stats === undefined;
  }

  formatOf(payloadType: number): PayloadFormat | undefined {
    return this.formats.get(payloadType) ?? staticPayloadFormat(payloadType);
  }

  kindOf(payloadType: number): PayloadKind {
    let kind = this.kinds.get(payloadType);
    if (kind === undefined) {
      const format = this.formatOf(payloadType);
      kind = isG711(format) ? 'g711' : isTelephoneEvent(format) ? 'event' : 'other';
      this.kinds.set(payloadType, kind);
    }
    return kind;
  }

  add(seq: number, timestamp: number, arrival: number, pt: number, marker: boolean): void {
    if (!this.stats) return;
    if (this.start === 0) this.start = arrival;
    this.end = arrival;
    this.stats.update(seq, timestamp, arrival, pt, marker);
  }

  /** Freezes the numbers and lets the counters go. */
  close(): void {
    if (!this.stats) return;
    this.frozen = this.stats.snapshot();
    this.stats = undefined;
  }

  snapshot(): RtpStreamStatsSnapshot {
    return this.frozen ?? this.stats!.snapshot();
  }
}

interface Candidate {
  packets: Array<{
    frame: number;
    seq: number;
    timestamp: number;
    arrival: number;
    pt: number;
    marker: boolean;
    payload?: Buffer;
  }>;
}

export interface RtpTrackerOptions {
  /** Keep G.711 payloads for WAV export. Default false. */
  keepAudio?: boolean;
  /** Endpoints that carried SIP: never RTP by heuristics. */
  signallingEndpoints?: ReadonlySet<string>;
  /** Called with each telephone-event packet of a stream (after counting): DTMF detection. */
  onPacket?: (
    stream: RtpStream,
    payloadType: number,
    payload: Buffer,
    timestamp: number,
    arrival: number,
    marker: boolean,
  ) => void;
}

export class RtpTracker {
  readonly streams: RtpStream[] = [];
  private readonly endpoints = new Map<string, Map<number, EndpointEntry>>();
  private readonly bySsrc = new Map<number, RtpStream[]>();
  private readonly candidates = new Map<string, Candidate>();
  private readonly keepAudio: boolean;
  private readonly signalling: ReadonlySet<string>;
  private readonly onPacket: RtpTrackerOptions['onPacket'];
  private lastSweep = 0;
  /** RTCP packets seen on media endpoints (not counted as streams). */
  rtcpPackets = 0;

  constructor(options: RtpTrackerOptions = {}) {
    this.keepAudio = options.keepAudio ?? false;
    this.signalling = options.signallingEndpoints ?? new Set();
    this.onPacket = options.onPacket;
  }

  /** Registers an SDP endpoint: from now on RTP to or from it belongs to this call. */
  addEndpoint(callId: string, endpoint: MediaEndpoint): void {
    let ports = this.endpoints.get(endpoint.address);
    if (!ports) {
      ports = new Map();
      this.endpoints.set(endpoint.address, ports);
    }
    ports.set(endpoint.port, { callId, formats: endpoint.formats });
  }

  isMediaEndpoint(address: string, port: number): boolean {
    return this.endpoints.get(address)?.has(port) ?? false;
  }

  /**
   * Looks at one UDP payload that is not SIP. Returns true when it was taken as RTP (or RTCP on a
   * media endpoint).
   */
  handle(p: UdpPacket): boolean {
    const b = p.payload;
    if (b.length < RTP_HEADER_LENGTH || (b[0] & VERSION_MASK) !== VERSION_2) return false;
    if (p.ts - this.lastSweep > SWEEP_EVERY_SECONDS) this.sweep(p.ts);
    const pt = b[1] & PAYLOAD_TYPE_MASK;
    const rtcpLike = pt >= RTCP_PT_FIRST && pt <= RTCP_PT_LAST;
    const ssrc = b.readUInt32BE(SSRC_OFFSET);
    // Most packets belong to a stream already open: one lookup by SSRC, no address strings.
    if (!rtcpLike) {
      const known = this.find(p, ssrc);
      if (known) {
        if (!headerFits(b)) return false;
        this.count(known, p, pt);
        return true;
      }
    }
    const entry =
      this.endpoints.get(p.dst)?.get(p.dstPort) ?? this.endpoints.get(p.src)?.get(p.srcPort);
    if (entry) {
      if (rtcpLike && looksLikeRtcp(b)) {
        this.rtcpPackets++;
        return true;
      }
      if (!headerFits(b)) return false;
      const stream =
        this.find(p, ssrc) ?? this.open(p, ssrc, entry.callId, 'sdp', entry.formats, pt);
      this.count(stream, p, pt);
      return true;
    }
    if (rtcpLike) return false;
    return this.consider(p, ssrc, pt);
  }

  private find(p: UdpPacket, ssrc: number): RtpStream | undefined {
    const list = this.bySsrc.get(ssrc);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i];
      if (
        s.srcPort === p.srcPort &&
        s.dstPort === p.dstPort &&
        s.src === p.src &&
        s.dst === p.dst &&
        !s.closed
      ) {
        return s;
      }
    }
    return undefined;
  }

  private open(
    p: UdpPacket,
    ssrc: number,
    callId: string | null,
    foundBy: 'sdp' | 'heuristic',
    formats: Map<number, PayloadFormat>,
    pt: number,
  ): RtpStream {
    const stream = new RtpStream(
      { src: p.src, srcPort: p.srcPort, dst: p.dst, dstPort: p.dstPort, ssrc },
      callId,
      foundBy,
      formats,
      pt,
      p.frame,
      this.keepAudio,
    );
    this.streams.push(stream);
    const list = this.bySsrc.get(ssrc);
    if (list) list.push(stream);
    else this.bySsrc.set(ssrc, [stream]);
    return stream;
  }

  private count(stream: RtpStream, p: UdpPacket, pt: number): void {
    const b = p.payload;
    const seq = b.readUInt16BE(SEQUENCE_OFFSET);
    const timestamp = b.readUInt32BE(TIMESTAMP_OFFSET);
    const marker = (b[1] & MARKER_BIT) !== 0;
    stream.add(seq, timestamp, p.ts, pt, marker);
    const kind = stream.kindOf(pt);
    if (kind === 'g711') {
      if (stream.kept) {
        const payload = Buffer.from(payloadOf(b));
        stream.kept.push({ timestamp, arrival: p.ts, payloadType: pt, payload });
      }
    } else if (kind === 'event' && this.onPacket) {
      this.onPacket(stream, pt, payloadOf(b), timestamp, p.ts, marker);
    }
  }

  /** The heuristic path: a flow must prove itself over several packets before it is a stream. */
  private consider(p: UdpPacket, ssrc: number, pt: number): boolean {
    const b = p.payload;
    if (pt >= RTCP_PT_FIRST && pt <= RTCP_PT_LAST) return false;
    if (!looksLikeRtp(b) || looksLikeRtcp(b)) return false;
    if (
      this.signalling.has(formatEndpoint(p.src, p.srcPort)) ||
      this.signalling.has(formatEndpoint(p.dst, p.dstPort))
    ) {
      return false;
    }
    const key = `${p.src}|${p.srcPort}|${p.dst}|${p.dstPort}|${ssrc}`;
    const seq = b.readUInt16BE(SEQUENCE_OFFSET);
    const timestamp = b.readUInt32BE(TIMESTAMP_OFFSET);
    const marker = (b[1] & MARKER_BIT) !== 0;
    const packet = {
      frame: p.frame,
      seq,
      timestamp,
      arrival: p.ts,
      pt,
      marker,
      payload: this.keepAudio ? Buffer.from(payloadOf(b)) : undefined,
    };
    let candidate = this.candidates.get(key);
    if (candidate) {
      const last = candidate.packets[candidate.packets.length - 1];
      const step = (seq - last.seq) & 0xffff;
      const tsStep = (timestamp - last.timestamp) >>> 0;
      const consistent =
        pt === last.pt && step >= 1 && step <= HEURISTIC_MAX_SEQUENCE_STEP && tsStep < 0x80000000;
      if (!consistent) candidate.packets = [];
    } else {
      if (this.candidates.size >= HEURISTIC_MAX_CANDIDATES) this.candidates.clear();
      candidate = { packets: [] };
      this.candidates.set(key, candidate);
    }
    candidate.packets.push(packet);
    if (candidate.packets.length < HEURISTIC_MIN_PACKETS) return false;

    this.candidates.delete(key);
    const first = candidate.packets[0];
    const stream = this.open(
      { ...p, frame: first.frame },
      ssrc,
      null,
      'heuristic',
      new Map(),
      first.pt,
    );
    for (const c of candidate.packets) {
      stream.add(c.seq, c.timestamp, c.arrival, c.pt, c.marker);
      if (stream.kept && c.payload && isG711(stream.formatOf(c.pt))) {
        stream.kept.push({
          timestamp: c.timestamp,
          arrival: c.arrival,
          payloadType: c.pt,
          payload: c.payload,
        });
      }
    }
    return true;
  }

  /** Closes streams idle for IDLE_SECONDS so their counters can be freed. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const s of this.streams) {
      if (!s.closed && s.end > 0 && now - s.end > IDLE_SECONDS) s.close();
    }
  }
}

function headerFits(b: Buffer): boolean {
  let length = RTP_HEADER_LENGTH + (b[0] & CSRC_COUNT_MASK) * 4;
  if (b[0] & EXTENSION_BIT) {
    if (b.length < length + 4) return false;
    length += 4 + b.readUInt16BE(length + 2) * 4;
  }
  return b.length >= length;
}

/** The payload of an RTP packet: after CSRCs and the header extension, padding removed. */
export function payloadOf(b: Buffer): Buffer {
  let offset = RTP_HEADER_LENGTH + (b[0] & CSRC_COUNT_MASK) * 4;
  if (b[0] & EXTENSION_BIT && b.length >= offset + 4) {
    offset += 4 + b.readUInt16BE(offset + 2) * 4;
  }
  let end = b.length;
  if (b[0] & PADDING_BIT && end > offset) end -= Math.min(b[end - 1], end - offset);
  return b.subarray(Math.min(offset, end), end);
}

export function isTelephoneEvent(f: PayloadFormat | undefined): boolean {
  return f?.name.toLowerCase() === 'telephone-event';
}

export function isG711(f: PayloadFormat | undefined): boolean {
  const name = f?.name.toUpperCase();
  return name === 'PCMU' || name === 'PCMA';
}
