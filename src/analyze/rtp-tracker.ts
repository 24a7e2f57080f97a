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
import { addressWords } from '../capture/index.ts';
import type { UdpView } from '../capture/index.ts';
import {
  isRtpVersion2At,
  looksLikeDtmfEvent,
  looksLikeRtcp,
  looksLikeRtp,
  isRtcpPayloadType,
  RTP_FIXED_HEADER_LENGTH,
  rtpHeaderLengthAt,
  rtpMarkerAt,
  rtpPayload,
  rtpPayloadTypeAt,
  rtpSequenceAt,
  rtpSsrcAt,
  rtpTimestampAt,
  RtpStreamStats,
} from '../media/index.ts';
import type { RtpStreamStatsSnapshot } from '../media/index.ts';
import { formatHostPort } from '../sip/index.ts';
import type { MediaEndpoint, PayloadFormat } from './session-media.ts';
import { staticPayloadFormat } from './session-media.ts';
import { VoiceJitter } from './voice-jitter.ts';

// The RTP header (RFC 3550 §5.1) is read by media's rtp*At readers: in place, allocating nothing.

/** The flow cache of handleView: 2^13 slots, indexed by a multiplicative hash of SSRC and ports. */
const FLOW_CACHE_BITS = 13;
const FLOW_CACHE_SHIFT = 32 - FLOW_CACHE_BITS;
const FLOW_HASH_MULTIPLIER = 0x9e3779b1;

const HEURISTIC_MIN_PACKETS = 4;
const HEURISTIC_MAX_SEQUENCE_STEP = 10;
const HEURISTIC_MAX_CANDIDATES = 4096;
/** Packets held for one candidate flow (late ones included) before it starts over. */
const HEURISTIC_MAX_HELD = 4 * HEURISTIC_MIN_PACKETS;
const IDLE_SECONDS = 60;
/** Endpoints of forgotten calls remembered (RtpTracker.retired). */
const MAX_RETIRED_ENDPOINTS = 65536;
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

/** 'probe': a dynamic payload type no SDP names, which may turn out to be telephone-event. */
type PayloadKind = 'g711' | 'event' | 'other' | 'probe';

/** The first dynamic payload type (RFC 3551 §6). */
const DYNAMIC_PT_FIRST = 96;
/**
 * A dynamic payload type with no SDP is taken for telephone-event, as Wireshark takes payload
 * type 101 by its preference, once EVENT_PROBE_PACKETS packets in a row have the shape of an
 * RFC 4733 DTMF or flash event (media's looksLikeDtmfEvent) and one timestamp per event.
 */
const EVENT_PROBE_PACKETS = 2;
const TELEPHONE_EVENT: PayloadFormat = { name: 'telephone-event', clockRate: 8000 };

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
  /** The SSRC as a signed 32-bit number (`ssrc | 0`), as the fast path reads it. */
  readonly ssrcKey: number;
  readonly callId: string | null;
  readonly foundBy: 'sdp' | 'heuristic';
  readonly formats: Map<number, PayloadFormat>;
  readonly firstPayloadType: number;
  firstFrame: number;
  /** Packets kept for audio export (only when asked for). */
  readonly kept: KeptRtpPacket[] | undefined;
  private stats: RtpStreamStats | undefined;
  /** What each payload type seen so far is, looked up once per type (not per packet). */
  private readonly kinds = new Map<number, PayloadKind>();
  private lastKindPt = -1;
  private lastKind: PayloadKind = 'other';
  private frozen: RtpStreamStatsSnapshot | undefined;
  /** Payload types recognised from the packets (telephone-event without SDP). */
  private learned: Map<number, PayloadFormat> | undefined;
  /** Probe of a dynamic payload type: matching packets so far and the event's timestamp. */
  private probeMatches = 0;
  private probeTimestamp = 0;
  /** Jitter of the voice packets alone, from the first telephone-event packet on. */
  private voice: VoiceJitter | undefined;
  private firstTimestamp = 0;
  private lastTimestamp = 0;
  private lastArrival = 0;
  private lastPt = -1;
  private voicePackets = 0;
  /**
   * The addresses as 32-bit words (UdpView.srcWord), to recognise the stream's packets without
   * building address text; `byWords` is false when an address is not IP text (then only the
   * Packet path finds the stream).
   */
  readonly byWords: boolean;
  private readonly s0: number;
  private readonly s1: number;
  private readonly s2: number;
  private readonly s3: number;
  private readonly d0: number;
  private readonly d1: number;
  private readonly d2: number;
  private readonly d3: number;
  private readonly ipv6: boolean;

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
    this.ssrcKey = key.ssrc | 0;
    this.callId = callId;
    this.foundBy = foundBy;
    this.formats = formats;
    this.firstPayloadType = firstPayloadType;
    this.firstFrame = firstFrame;
    const sw = addressWords(key.src);
    const dw = addressWords(key.dst);
    this.byWords = sw !== undefined && dw !== undefined;
    [this.s0, this.s1, this.s2, this.s3] = sw ?? [0, 0, 0, 0];
    [this.d0, this.d1, this.d2, this.d3] = dw ?? [0, 0, 0, 0];
    this.ipv6 = key.src.includes(':');
    const clockRates = new Map<number, number>();
    for (const [pt, f] of formats) {
      clockRates.set(pt, isTelephoneEvent(f) ? 0 : f.clockRate);
    }
    const main = this.formatOf(firstPayloadType);
    // Reports show tshark's numbers only: no RFC 3550 receiver statistics (their per-packet
    // work would be wasted).
    this.stats = new RtpStreamStats(main?.clockRate ?? 8000, {
      payloadClockRates: clockRates,
      receiverStatistics: false,
    });
    this.kept = keepAudio && isG711(main) ? [] : undefined;
  }

  get srcId(): string {
    return formatHostPort(this.src, this.srcPort);
  }

  get dstId(): string {
    return formatHostPort(this.dst, this.dstPort);
  }

  get closed(): boolean {
    return this.stats === undefined;
  }

  formatOf(payloadType: number): PayloadFormat | undefined {
    return (
      this.formats.get(payloadType) ??
      this.learned?.get(payloadType) ??
      staticPayloadFormat(payloadType)
    );
  }

  /** True when the datagram in the view is from this stream's source to its destination. */
  matches(v: UdpView): boolean {
    if (v.srcPort !== this.srcPort || v.dstPort !== this.dstPort || !this.byWords) return false;
    if ((v.ipVersion === 6) !== this.ipv6) return false;
    if (v.srcWord(0) !== this.s0 || v.dstWord(0) !== this.d0) return false;
    if (!this.ipv6) return true;
    return (
      v.srcWord(1) === this.s1 &&
      v.srcWord(2) === this.s2 &&
      v.srcWord(3) === this.s3 &&
      v.dstWord(1) === this.d1 &&
      v.dstWord(2) === this.d2 &&
      v.dstWord(3) === this.d3
    );
  }

  kindOf(payloadType: number): PayloadKind {
    if (payloadType === this.lastKindPt) return this.lastKind;
    let kind = this.kinds.get(payloadType);
    if (kind === undefined) {
      const format = this.formatOf(payloadType);
      kind = isG711(format)
        ? 'g711'
        : isTelephoneEvent(format)
          ? 'event'
          : format === undefined && payloadType >= DYNAMIC_PT_FIRST
            ? 'probe'
            : 'other';
      this.kinds.set(payloadType, kind);
    }
    this.lastKindPt = payloadType;
    this.lastKind = kind;
    return kind;
  }

  /** Arrival of the first packet (seconds since the epoch; 0 before any packet). */
  get start(): number {
    return this.stats ? this.stats.firstArrivalSeconds : this.frozen!.firstArrival;
  }

  /** Arrival of the last packet so far. */
  get end(): number {
    return this.stats ? this.stats.lastArrivalSeconds : this.frozen!.lastArrival;
  }

  add(
    seq: number,
    timestamp: number,
    arrival: number,
    pt: number,
    marker: boolean,
    event = false,
  ): void {
    this.stats?.update(seq, timestamp, arrival, pt, marker);
    if (event) {
      this.voice ??= this.voiceJitter();
      return;
    }
    if (this.voice) {
      this.voice.add(timestamp, arrival, pt, marker);
      return;
    }
    // Until the first event, the stream's counters are the voice figures; keep what it takes
    // to carry on from them.
    if (this.voicePackets++ === 0) this.firstTimestamp = timestamp;
    this.lastTimestamp = timestamp;
    this.lastArrival = arrival;
    this.lastPt = pt;
  }

  private voiceJitter(): VoiceJitter {
    const clock = this.formatOf(this.firstPayloadType)?.clockRate || 8000;
    if (this.voicePackets === 0 || !this.stats) return new VoiceJitter(clock);
    const snap = this.stats.snapshot();
    return new VoiceJitter(clock, {
      packets: this.voicePackets,
      firstTimestamp: this.firstTimestamp,
      firstArrival: snap.firstArrival,
      lastArrival: this.lastArrival,
      lastTimestamp: this.lastTimestamp,
      lastPayloadType: this.lastPt,
      jitterMs: snap.jitterMs,
      maxJitterMs: snap.maxJitterMs,
      meanJitterMs: snap.meanJitterMs,
    });
  }

  /**
   * Looks at a packet of a dynamic payload type no SDP names: after EVENT_PROBE_PACKETS packets
   * in a row shaped like RFC 4733 events, the type is telephone-event for this stream; any
   * other packet makes it 'other' for good. Returns the kind to count this packet as.
   */
  probe(pt: number, payload: Buffer, timestamp: number): PayloadKind {
    const shaped = looksLikeDtmfEvent(payload);
    if (!shaped) {
      this.kinds.set(pt, 'other');
      this.lastKindPt = -1;
      return 'other';
    }
    // The packets of one event share its timestamp; a new event starts a new count.
    this.probeMatches =
      this.probeMatches > 0 && timestamp === this.probeTimestamp ? this.probeMatches + 1 : 1;
    this.probeTimestamp = timestamp;
    if (this.probeMatches < EVENT_PROBE_PACKETS) return 'probe';
    (this.learned ??= new Map()).set(pt, TELEPHONE_EVENT);
    this.kinds.set(pt, 'event');
    this.lastKindPt = -1;
    return 'event';
  }

  /** Freezes the numbers and lets the counters go. */
  close(): void {
    if (!this.stats) return;
    this.frozen = this.snapshot();
    this.stats = undefined;
  }

  /** The counters (tshark's numbers), with the voice-only jitter when events were seen. */
  snapshot(): RtpStreamStatsSnapshot {
    const snap = this.frozen ?? this.stats!.snapshot();
    if (this.voice && !this.frozen) {
      snap.maxJitterMs = this.voice.maxJitterMs;
      snap.meanJitterMs = this.voice.meanJitterMs;
      snap.jitterMs = this.voice.jitterMs;
    }
    return snap;
  }
}

interface Candidate {
  /** Sequence number, timestamp and payload type of the packet furthest ahead so far. */
  topSeq: number;
  topTimestamp: number;
  topPt: number;
  /** Packets that moved the flow forward (1 to HEURISTIC_MAX_SEQUENCE_STEP ahead of the top). */
  forward: number;
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
  /**
   * Called when a heuristic flow proves itself and becomes a stream, with the frames of the
   * candidate packets counted in it before the one that proved it (which `handle` returns true
   * for): they are RTP too.
   */
  onHeuristicStream?: (stream: RtpStream, earlierFrames: number[]) => void;
}

export class RtpTracker {
  readonly streams: RtpStream[] = [];
  private readonly endpoints = new Map<string, Map<number, EndpointEntry>>();
  /**
   * SDP endpoints of calls forgotten while their media may still flow ('address port'): their
   * packets are passed over, not taken for new heuristic streams. Starts over past a bound.
   */
  private readonly retired = new Set<string>();
  /**
   * Open streams by SSRC, keyed by the SSRC as a signed 32-bit number (`ssrc | 0`: a small
   * integer for V8, so a lookup allocates nothing). Closed streams leave their list.
   */
  private readonly bySsrc = new Map<number, RtpStream[]>();
  /** The stream last found per hash slot of (SSRC, ports); checked against the packet on use. */
  private readonly flowCache = new Array<RtpStream | undefined>(1 << FLOW_CACHE_BITS).fill(
    undefined,
  );
  /** Streams not closed yet (what the idle sweep looks at). */
  private readonly openStreams: RtpStream[] = [];
  private readonly candidates = new Map<string, Candidate>();
  private readonly keepAudio: boolean;
  private readonly signalling: ReadonlySet<string>;
  private readonly onPacket: RtpTrackerOptions['onPacket'];
  private readonly onHeuristicStream: RtpTrackerOptions['onHeuristicStream'];
  private lastSweep = 0;
  /** RTCP packets seen on media endpoints (not counted as streams). */
  rtcpPackets = 0;

  constructor(options: RtpTrackerOptions = {}) {
    this.keepAudio = options.keepAudio ?? false;
    this.signalling = options.signallingEndpoints ?? new Set();
    this.onPacket = options.onPacket;
    this.onHeuristicStream = options.onHeuristicStream;
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

  /**
   * Forgets streams (their call was evicted, or they are heuristic streams long closed): they
   * leave every list, and the call's SDP endpoints are released. Returns the streams removed.
   */
  forget(which: (stream: RtpStream) => boolean, callIds?: ReadonlySet<string>): RtpStream[] {
    const gone = new Set<RtpStream>();
    let kept = 0;
    for (const s of this.streams) {
      if (which(s)) gone.add(s);
      else this.streams[kept++] = s;
    }
    this.streams.length = kept;
    if (gone.size > 0) {
      const open = this.openStreams.filter((s) => !gone.has(s));
      this.openStreams.length = 0;
      this.openStreams.push(...open);
      for (const [ssrc, list] of this.bySsrc) {
        const rest = list.filter((s) => !gone.has(s));
        if (rest.length === 0) this.bySsrc.delete(ssrc);
        else if (rest.length !== list.length) this.bySsrc.set(ssrc, rest);
      }
      // Closed, a stream is skipped by the flow cache, which may still hold it.
      for (const s of gone) if (!s.closed) s.close();
    }
    if (callIds !== undefined && callIds.size > 0) {
      for (const [address, ports] of this.endpoints) {
        for (const [port, entry] of ports) {
          if (!callIds.has(entry.callId)) continue;
          ports.delete(port);
          if (this.retired.size >= MAX_RETIRED_ENDPOINTS) this.retired.clear();
          this.retired.add(`${address} ${port}`);
        }
        if (ports.size === 0) this.endpoints.delete(address);
      }
    }
    return [...gone];
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
    if (b.length < RTP_FIXED_HEADER_LENGTH || !isRtpVersion2At(b)) return false;
    if (p.ts - this.lastSweep > SWEEP_EVERY_SECONDS) this.sweep(p.ts);
    const pt = rtpPayloadTypeAt(b);
    const rtcpLike = isRtcpPayloadType(pt);
    const ssrc = rtpSsrcAt(b);
    // Most packets belong to a stream already open: one lookup by SSRC, no address strings.
    if (!rtcpLike) {
      const known = this.find(p, ssrc);
      if (known) {
        if (rtpHeaderLengthAt(b) < 0) return false;
        this.count(known, b, 0, b.length, p.ts, pt);
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
      if (rtpHeaderLengthAt(b) < 0) return false;
      const stream =
        this.find(p, ssrc) ?? this.open(p, ssrc, entry.callId, 'sdp', entry.formats, pt);
      this.count(stream, b, 0, b.length, p.ts, pt);
      return true;
    }
    if (rtcpLike) return false;
    if (
      this.retired.size > 0 &&
      (this.retired.has(`${p.dst} ${p.dstPort}`) || this.retired.has(`${p.src} ${p.srcPort}`))
    ) {
      return true;
    }
    return this.consider(p, ssrc, pt);
  }

  /**
   * The fast path for a datagram read straight from a frame: when it is RTP of a stream already
   * open, counts it (reading only the header bytes, allocating nothing) and returns true. Anything
   * else returns false and must go through `handle` as a Packet.
   */
  handleView(v: UdpView): boolean {
    const b = v.data;
    const at = v.start;
    const end = v.end;
    if (end - at < RTP_FIXED_HEADER_LENGTH || !isRtpVersion2At(b, at)) return false;
    const pt = rtpPayloadTypeAt(b, at);
    if (isRtcpPayloadType(pt)) return false;
    if (v.ts - this.lastSweep > SWEEP_EVERY_SECONDS) this.sweep(v.ts);
    const ssrc = rtpSsrcAt(b, at) | 0; // signed: the key the flow cache compares
    // A direct-mapped cache of flows first (one array slot), the SSRC map on a miss.
    const slot =
      Math.imul(ssrc ^ ((v.srcPort << 16) | v.dstPort), FLOW_HASH_MULTIPLIER) >>> FLOW_CACHE_SHIFT;
    let stream = this.flowCache[slot];
    if (stream === undefined || stream.ssrcKey !== ssrc || stream.closed || !stream.matches(v)) {
      stream = undefined;
      const list = this.bySsrc.get(ssrc);
      if (!list) return false;
      for (let i = list.length - 1; i >= 0; i--) {
        const s = list[i];
        if (s.matches(v) && !s.closed) {
          stream = s;
          break;
        }
      }
      if (stream === undefined) return false;
      this.flowCache[slot] = stream;
    }
    if (rtpHeaderLengthAt(b, at, end) < 0) return false;
    this.count(stream, b, at, end, v.ts, pt);
    return true;
  }

  private find(p: UdpPacket, ssrc: number): RtpStream | undefined {
    const list = this.bySsrc.get(ssrc | 0);
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
    this.openStreams.push(stream);
    const list = this.bySsrc.get(ssrc | 0);
    if (list) list.push(stream);
    else this.bySsrc.set(ssrc | 0, [stream]);
    return stream;
  }

  /** Counts the RTP packet b[at, end) (its header already checked) in the stream. */
  private count(
    stream: RtpStream,
    b: Buffer,
    at: number,
    end: number,
    arrival: number,
    pt: number,
  ): void {
    const seq = rtpSequenceAt(b, at);
    const timestamp = rtpTimestampAt(b, at);
    const marker = rtpMarkerAt(b, at);
    let kind = stream.kindOf(pt);
    if (kind === 'probe') kind = stream.probe(pt, rtpPayload(b.subarray(at, end)), timestamp);
    stream.add(seq, timestamp, arrival, pt, marker, kind === 'event' || kind === 'probe');
    if (kind === 'g711') {
      if (stream.kept) {
        const payload = Buffer.from(rtpPayload(b.subarray(at, end)));
        stream.kept.push({ timestamp, arrival, payloadType: pt, payload });
      }
    } else if (kind === 'event' && this.onPacket) {
      this.onPacket(stream, pt, rtpPayload(b.subarray(at, end)), timestamp, arrival, marker);
    }
  }

  /** The heuristic path: a flow must prove itself over several packets before it is a stream. */
  private consider(p: UdpPacket, ssrc: number, pt: number): boolean {
    const b = p.payload;
    if (isRtcpPayloadType(pt)) return false;
    if (!looksLikeRtp(b) || looksLikeRtcp(b)) return false;
    if (
      this.signalling.has(formatHostPort(p.src, p.srcPort)) ||
      this.signalling.has(formatHostPort(p.dst, p.dstPort))
    ) {
      return false;
    }
    const key = `${p.src}|${p.srcPort}|${p.dst}|${p.dstPort}|${ssrc}`;
    const seq = rtpSequenceAt(b);
    const timestamp = rtpTimestampAt(b);
    const marker = rtpMarkerAt(b);
    const packet = {
      frame: p.frame,
      seq,
      timestamp,
      arrival: p.ts,
      pt,
      marker,
      payload: this.keepAudio ? Buffer.from(rtpPayload(b)) : undefined,
    };
    let candidate = this.candidates.get(key);
    let ahead = false;
    if (candidate) {
      // Forward: a small step ahead of the top with a timestamp not going back. Late: a small
      // step behind it (reordered or duplicated, as real streams are); it is kept, so that
      // the stream counts it as tshark does, but it proves nothing.
      const step = (seq - candidate.topSeq) & 0xffff;
      const back = (candidate.topSeq - seq) & 0xffff;
      const tsStep = (timestamp - candidate.topTimestamp) >>> 0;
      ahead = step >= 1 && step <= HEURISTIC_MAX_SEQUENCE_STEP && tsStep < 0x80000000;
      const late = back <= HEURISTIC_MAX_SEQUENCE_STEP;
      if (
        pt !== candidate.topPt ||
        (!ahead && !late) ||
        candidate.packets.length >= HEURISTIC_MAX_HELD
      ) {
        candidate.packets = [];
        candidate.forward = 0;
        ahead = true;
      }
    } else {
      if (this.candidates.size >= HEURISTIC_MAX_CANDIDATES) this.candidates.clear();
      candidate = { topSeq: seq, topTimestamp: timestamp, topPt: pt, forward: 0, packets: [] };
      this.candidates.set(key, candidate);
      ahead = true;
    }
    if (ahead) {
      if (candidate.packets.length > 0) candidate.forward++;
      candidate.topSeq = seq;
      candidate.topTimestamp = timestamp;
      candidate.topPt = pt;
    }
    candidate.packets.push(packet);
    if (candidate.forward < HEURISTIC_MIN_PACKETS - 1) return false;

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
    if (this.onHeuristicStream) {
      const earlier: number[] = [];
      for (const c of candidate.packets) if (c.frame !== p.frame) earlier.push(c.frame);
      this.onHeuristicStream(stream, earlier);
    }
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
    let kept = 0;
    const open = this.openStreams;
    for (const s of open) {
      if (!s.closed && s.end > 0 && now - s.end > IDLE_SECONDS) {
        s.close();
        const key = s.ssrc | 0;
        const list = this.bySsrc.get(key);
        const rest = list?.filter((x) => x !== s) ?? [];
        if (rest.length > 0) this.bySsrc.set(key, rest);
        else this.bySsrc.delete(key);
      } else if (!s.closed) open[kept++] = s;
    }
    open.length = kept;
  }
}

export function isTelephoneEvent(f: PayloadFormat | undefined): boolean {
  return f?.name.toLowerCase() === 'telephone-event';
}

export function isG711(f: PayloadFormat | undefined): boolean {
  const name = f?.name.toUpperCase();
  return name === 'PCMU' || name === 'PCMA';
}
