// The call server's RTP relay: media of relayed calls flows phone -> relay -> phone, so that
// phones behind NAT can talk, the server sees (and measures) every stream, and nobody but the
// two parties of a call can put packets into it.
//
// API (what the proxy calls):
//
//   const relay = new MediaRelay({ address: '127.0.0.1', ports: [20000, 29999], timeoutSeconds: 60,
//                                  onEnd: (callId, reason, stats) => ... });
//   await relay.ready();                        // optional: the first spare port pairs are bound
//   body = relay.offer(callId, fromTag, body);  // INVITE (or re-INVITE) with SDP, before forwarding
//   body = relay.answer(callId, toTag, body);   // 18x/2xx with SDP, before forwarding
//   relay.stats(callId);                        // per stream and direction, see RelayStreamStats
//   relay.end(callId);                          // BYE, CANCEL, final error: frees the ports
//   relay.onSessionEnd(listener);               // more listeners like onEnd
//   relay.totals(); relay.allStats();           // counters since the start (/metrics), sessions (/api/media)
//   relay.packetTap = (p: RelayedPacket) => ... // each packet relayed (the per-call capture)
//   await relay.close();
//
// The call server drives it through MediaRelayProxy (media-relay-proxy.ts): which SIP messages
// carry SDP to rewrite, and the media summary that goes into the CDR.
//
// - offer() and answer() return the SDP to forward (same text, ports and c= changed: see
//   sdp-rewrite.ts; the proxy must recompute Content-Length). They are synchronous: the relay
//   keeps a few port pairs bound in advance (`spare`) and refills them in the background. They
//   throw SdpParseError for a body that is not SDP and MediaRelayError when no port is left;
//   the proxy should then answer 500 (or forward unchanged in 'direct' fallback).
// - The two calls are the same operation seen from the side that wrote the SDP: the relay only
//   tracks which tag wrote it. A re-INVITE from either party (its From tag is one of the two
//   tags) reuses the session's ports, so the rewritten SDP stays the same when the SDP does. In
//   a late-offer flow call offer() on the 2xx (to tag) and answer() on the ACK (from tag). When a
//   third tag answers (forking: a 183 from one branch, the 200 from another) it replaces the
//   previous answerer.
// - Each m= line with a non-zero port is a stream; each stream has two "faces", one per party,
//   each a pair of UDP sockets (RTP on an even port, RTCP on the next). The SDP that party P
//   wrote is sent to the other party Q with the ports of Q's face; packets Q sends there are
//   forwarded to P from P's face, so each party sends to and receives from the same port
//   (symmetric RTP, RFC 4961).
// - Latching: the destination of party P is first the address and port of P's SDP; the first
//   RTP packet that arrives on P's face fixes ("latches") P's destination to the packet's source
//   (a phone behind NAT sends from another address than it wrote). From then on packets from any
//   other source are dropped and counted (`dropped`): a third party cannot inject media. RTCP
//   latches the same way on the RTCP socket, but only to the host RTP latched to (and RTP, when
//   RTCP came first, only to RTCP's host): a stranger cannot take the unlatched one. A new SDP from P with another address or port
//   (the phone moved) unlatches P.
// - RTCP is relayed on port + 1; with a=rtcp-mux (RFC 5761) in both SDPs, RTCP (packet type
//   200-207) shares the RTP port.
// - packetTap, when set, is told of every RTP and RTCP packet relayed (not of dropped or invalid
//   ones), with its call, its sender, the relay ports it arrived at and left from, and its
//   receiver. Unset (the default), the relay's per-packet path reads one field and allocates
//   nothing for it. The packet's Buffer is the one received: a tap that keeps it must copy it.
// - A session with no relayed packet for `timeoutSeconds` (counted from its last SDP or its last
//   packet) is ended and its ports freed; onEnd tells the server, with the final statistics.
//
// Not done here: ICE/STUN (candidates in the SDP pass unchanged), transcoding, SRTP termination
// (SRTP passes through, only the header is read), one relay serving both IPv4 and IPv6 legs
// (the relay has one address; both parties must use its family).

import dgram, { type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  estimateMos,
  isRtpVersion2At,
  RTP_FIXED_HEADER_LENGTH,
  rtpMarkerAt,
  rtpPayloadTypeAt,
  rtpSequenceAt,
  rtpSsrcAt,
  rtpTimestampAt,
  RtpStreamStats,
  type RtpMap,
} from '../media/index.ts';
import { PortPool } from './port-pool.ts';
import { isUnspecifiedAddress, rewriteSdp, sdpMediaEndpoints } from './sdp-rewrite.ts';

export class MediaRelayError extends Error {
  override name = 'MediaRelayError';
}

export interface MediaRelayOptions {
  /** Address the relay binds and writes into SDP (an IPv4 or IPv6 literal). */
  address: string;
  /** Port range, as [first, last] or the configuration's "first-last". */
  ports: readonly [number, number] | string;
  /** A session with no packet for this long is ended (seconds, may be fractional). */
  timeoutSeconds: number;
  /**
   * Timeout of a session that has SDP from one party only (a call still ringing), seconds;
   * default max(timeoutSeconds, 300). The proxy ends CANCELled and failed calls itself.
   */
  unansweredTimeoutSeconds?: number;
  /** Port pairs kept bound in advance so offer()/answer() need not wait (default 32). */
  spare?: number;
  /** Told when a session ends, by end(), by the timeout or by close(). */
  onEnd?: (callId: string, reason: RelayEndReason, stats: RelaySessionStats) => void;
}

export type RelayEndReason = 'end' | 'timeout' | 'close';

/** A packet the relay passed on, as MediaRelay.packetTap is told of it. */
export interface RelayedPacket {
  callId: string;
  /** RTCP (on the RTCP port, or multiplexed on the RTP port), else RTP. */
  rtcp: boolean;
  /** When it arrived: milliseconds since the epoch, fractional. */
  ts: number;
  /** The sender, and the relay port it arrived at. */
  from: RelayAddress;
  inPort: number;
  /**
   * The relay port it left from and where it went; `to` is undefined when it could not be sent
   * on (the other party has not said where it receives yet).
   */
  outPort: number;
  to: RelayAddress | undefined;
  /** The packet as received (the socket's Buffer: copy what is kept). */
  packet: Buffer;
}

export type RelayPacketTap = (packet: RelayedPacket) => void;

export interface RelayAddress {
  address: string;
  port: number;
}

/** One direction of one stream: what party `from` sent towards party `to`. */
export interface RelayStreamStats {
  /** Index of the m= line. */
  index: number;
  /** audio, video, ... */
  media: string;
  /** Tag of the sending party, and of the receiving one (undefined before it sent SDP). */
  from: string | undefined;
  to: string | undefined;
  /** The relay port the sender sends RTP to (RTCP: + 1). */
  relayPort: number;
  /** Where the sender's SDP said it receives RTP. */
  sdpAddress: RelayAddress | undefined;
  /** Source the relay latched for the sender's RTP (and the destination of media to it). */
  latched: RelayAddress | undefined;
  latchedRtcp: RelayAddress | undefined;
  /** RTP packets and bytes relayed (RTCP not included). */
  packets: number;
  bytes: number;
  rtcpPackets: number;
  /** Packets from a source other than the latched one, dropped (RTP and RTCP). */
  dropped: number;
  /** Packets that were not RTP/RTCP (version 2) before latching, dropped. */
  invalid: number;
  /** SSRC of the current RTP stream, and how many times it changed. */
  ssrc: number | undefined;
  ssrcChanges: number;
  /** Of the current SSRC: RFC 3550 cumulative lost, percent of expected, jitter (ms). */
  lost: number;
  lostPercent: number;
  jitterMs: number;
  maxJitterMs: number;
  duplicates: number;
  outOfOrder: number;
  /** Codec of the first payload type of the current SSRC, from the SDPs. */
  codec: string | undefined;
  /** G.107 E-model estimate from loss and jitter, for G.711 streams. */
  mos: number | undefined;
}

/** Counters over every session since the relay started. */
export interface RelayTotals {
  /** RTP packets and bytes relayed. */
  packets: number;
  bytes: number;
  rtcpPackets: number;
  /** Packets from a source other than the latched one (injection), dropped. */
  dropped: number;
  /** Packets that were not RTP/RTCP, dropped. */
  invalid: number;
}

export interface RelaySessionStats {
  callId: string;
  tags: [string | undefined, string | undefined];
  /** RTP ports of the relay in use by the session. */
  ports: number[];
  /** Seconds since the session began, and since its last packet or SDP. */
  ageSeconds: number;
  idleSeconds: number;
  streams: RelayStreamStats[];
}

// The RTP header is read by src/media/rtp-header.ts's in-place readers (RFC 3550 5.1).
/** The octet of an RTCP packet type (RTP's marker bit and payload type). */
const RTCP_TYPE_BYTE = 1;
/** RTCP packet types (SR 200 .. 207) in byte 1, how RFC 5761 section 4 tells RTCP from RTP. */
const RTCP_TYPE_FIRST = 200;
const RTCP_TYPE_LAST = 207;
/** RTCP common header (RFC 3550 6.4.1): version, count, type, length, SSRC. */
const RTCP_HEADER_LENGTH = 8;
const DEFAULT_CLOCK_RATE = 8000;
const DEFAULT_SPARE = 32;
const MAX_SWEEP_MS = 1000;
const DEFAULT_UNANSWERED_TIMEOUT_SECONDS = 300;

/**
 * dgram resolves the destination of every send with dns.lookup, which for an IP literal still
 * costs a process.nextTick per packet. The relay only ever sends to literals: answer at once.
 */
function literalLookup(family: 4 | 6): SocketOptions['lookup'] {
  return (hostname, _options, callback) => callback(null, hostname, family);
}

/** One party's side of a stream: a pair of sockets on the relay. */
interface Face {
  port: number;
  rtp: Socket;
  rtcp: Socket;
  stream: RelayStream | undefined;
  side: 0 | 1;
}

/** What the relay knows of one party for one stream. */
class StreamEnd {
  // Destination of packets to this party: the latched source, else the SDP's address.
  rtpAddress = '';
  rtpPort = 0;
  rtcpAddress = '';
  rtcpPort = 0;
  rtpLatched = false;
  rtcpLatched = false;
  // As the party's SDP said.
  sdpAddress = '';
  sdpPort = 0;
  sdpRtcpAddress = '';
  sdpRtcpPort = 0;
  rtcpMux = false;
  codecs: RtpMap[] = [];
  // What the party sent.
  packets = 0;
  bytes = 0;
  rtcpPackets = 0;
  dropped = 0;
  invalid = 0;
  ssrc = -1;
  ssrcChanges = 0;
  stats: RtpStreamStats | undefined;

  setSdp(address: string, port: number, rtcpAddress: string, rtcpPort: number): void {
    const moved =
      address !== this.sdpAddress ||
      port !== this.sdpPort ||
      rtcpAddress !== this.sdpRtcpAddress ||
      rtcpPort !== this.sdpRtcpPort;
    if (!moved) return;
    this.sdpAddress = address;
    this.sdpPort = port;
    this.sdpRtcpAddress = rtcpAddress;
    this.sdpRtcpPort = rtcpPort;
    this.rtpLatched = false;
    this.rtcpLatched = false;
    this.rtpAddress = address;
    this.rtpPort = address === '' ? 0 : port;
    this.rtcpAddress = rtcpAddress;
    this.rtcpPort = rtcpAddress === '' ? 0 : rtcpPort;
  }

  unlatch(): void {
    this.rtpLatched = false;
    this.rtcpLatched = false;
    this.rtpAddress = this.sdpAddress;
    this.rtpPort = this.sdpAddress === '' ? 0 : this.sdpPort;
    this.rtcpAddress = this.sdpRtcpAddress;
    this.rtcpPort = this.sdpRtcpAddress === '' ? 0 : this.sdpRtcpPort;
  }
}

class RelayStream {
  readonly ends: [StreamEnd, StreamEnd] = [new StreamEnd(), new StreamEnd()];
  /** Clock rate per payload type from both SDPs (telephone-event: 0, so it skips jitter). */
  clockRates = new Map<number, number>();
  clockRate = DEFAULT_CLOCK_RATE;
  /** Both parties asked for rtcp-mux. */
  mux = false;

  constructor(
    readonly session: RelaySession,
    readonly index: number,
    public media: string,
    readonly faces: [Face, Face],
  ) {}
}

class RelaySession {
  readonly tags: [string | undefined, string | undefined] = [undefined, undefined];
  readonly streams: (RelayStream | undefined)[] = [];
  readonly createdMs = performance.now();
  lastActivityMs = this.createdMs;
  constructor(readonly callId: string) {}
}

/** Where a packet that arrived on one face goes: the other face, to the other party. */
function onRtpSocket(
  face: Face,
  msg: Buffer,
  rinfo: RemoteInfo,
  tap: RelayPacketTap | undefined,
): void {
  const stream = face.stream;
  if (stream === undefined) return;
  const from = stream.ends[face.side];
  if (from.rtpLatched) {
    if (rinfo.port !== from.rtpPort || rinfo.address !== from.rtpAddress) {
      from.dropped++;
      return;
    }
  } else {
    const firstType = msg[RTCP_TYPE_BYTE] ?? 0;
    const minimum =
      stream.mux && firstType >= RTCP_TYPE_FIRST && firstType <= RTCP_TYPE_LAST
        ? RTCP_HEADER_LENGTH
        : RTP_FIXED_HEADER_LENGTH;
    if (msg.length < minimum || !isRtpVersion2At(msg)) {
      from.invalid++;
      return;
    }
    if (from.rtcpLatched && rinfo.address !== from.rtcpAddress) {
      // RTCP latched first: RTP must come from the same host.
      from.dropped++;
      return;
    }
    from.rtpLatched = true;
    from.rtpAddress = rinfo.address;
    from.rtpPort = rinfo.port;
    if (stream.mux) {
      from.rtcpLatched = true;
      from.rtcpAddress = rinfo.address;
      from.rtcpPort = rinfo.port;
    }
  }
  const now = performance.now();
  stream.session.lastActivityMs = now;
  const side = face.side === 0 ? 1 : 0;
  const to = stream.ends[side];
  const out = stream.faces[side];
  const type = msg[RTCP_TYPE_BYTE]!;
  if (type >= RTCP_TYPE_FIRST && type <= RTCP_TYPE_LAST) {
    // RTCP multiplexed on the RTP port (RFC 5761).
    from.rtcpPackets++;
    if (stream.mux) {
      if (to.rtpPort !== 0) out.rtp.send(msg, to.rtpPort, to.rtpAddress);
      if (tap !== undefined) {
        tell(tap, stream, rinfo, face.port, out.port, to.rtpAddress, to.rtpPort, msg, true, now);
      }
    } else {
      if (to.rtcpPort !== 0) out.rtcp.send(msg, to.rtcpPort, to.rtcpAddress);
      if (tap !== undefined) {
        const [toAddress, toPort] = [to.rtcpAddress, to.rtcpPort];
        tell(tap, stream, rinfo, face.port, out.port + 1, toAddress, toPort, msg, true, now);
      }
    }
    return;
  }
  if (msg.length >= RTP_FIXED_HEADER_LENGTH) {
    from.packets++;
    from.bytes += msg.length;
    const ssrc = rtpSsrcAt(msg);
    let stats = from.stats;
    if (ssrc !== from.ssrc || stats === undefined) {
      if (from.ssrc !== -1) from.ssrcChanges++;
      from.ssrc = ssrc;
      stats = new RtpStreamStats(stream.clockRate, { payloadClockRates: stream.clockRates });
      from.stats = stats;
    }
    stats.update(
      rtpSequenceAt(msg),
      rtpTimestampAt(msg),
      now / 1000,
      rtpPayloadTypeAt(msg),
      rtpMarkerAt(msg),
    );
  }
  if (to.rtpPort !== 0) out.rtp.send(msg, to.rtpPort, to.rtpAddress);
  if (tap !== undefined) {
    tell(tap, stream, rinfo, face.port, out.port, to.rtpAddress, to.rtpPort, msg, false, now);
  }
}

function onRtcpSocket(
  face: Face,
  msg: Buffer,
  rinfo: RemoteInfo,
  tap: RelayPacketTap | undefined,
): void {
  const stream = face.stream;
  if (stream === undefined) return;
  const from = stream.ends[face.side];
  if (from.rtcpLatched) {
    if (rinfo.port !== from.rtcpPort || rinfo.address !== from.rtcpAddress) {
      from.dropped++;
      return;
    }
  } else {
    if (msg.length < RTCP_HEADER_LENGTH || !isRtpVersion2At(msg)) {
      from.invalid++;
      return;
    }
    if (from.rtpLatched && rinfo.address !== from.rtpAddress) {
      // RTP latched first: RTCP must come from the same host (its port may differ behind NAT).
      from.dropped++;
      return;
    }
    from.rtcpLatched = true;
    from.rtcpAddress = rinfo.address;
    from.rtcpPort = rinfo.port;
  }
  const now = performance.now();
  stream.session.lastActivityMs = now;
  from.rtcpPackets++;
  const side = face.side === 0 ? 1 : 0;
  const to = stream.ends[side];
  const out = stream.faces[side];
  const inPort = face.port + 1;
  if (stream.mux) {
    if (to.rtpPort !== 0) out.rtp.send(msg, to.rtpPort, to.rtpAddress);
    if (tap !== undefined) {
      tell(tap, stream, rinfo, inPort, out.port, to.rtpAddress, to.rtpPort, msg, true, now);
    }
  } else {
    if (to.rtcpPort !== 0) out.rtcp.send(msg, to.rtcpPort, to.rtcpAddress);
    if (tap !== undefined) {
      tell(tap, stream, rinfo, inPort, out.port + 1, to.rtcpAddress, to.rtcpPort, msg, true, now);
    }
  }
}

/** Tells packetTap of a relayed packet (only called when one is set). */
function tell(
  tap: RelayPacketTap,
  stream: RelayStream,
  rinfo: RemoteInfo,
  inPort: number,
  outPort: number,
  toAddress: string,
  toPort: number,
  packet: Buffer,
  rtcp: boolean,
  now: number,
): void {
  tap({
    callId: stream.session.callId,
    rtcp,
    ts: performance.timeOrigin + now,
    from: { address: rinfo.address, port: rinfo.port },
    inPort,
    outPort,
    to: toPort !== 0 ? { address: toAddress, port: toPort } : undefined,
    packet,
  });
}

function codecName(stream: RelayStream, payloadType: number | undefined): string | undefined {
  if (payloadType === undefined) return undefined;
  for (const end of stream.ends) {
    const codec = end.codecs.find((c) => c.payloadType === payloadType);
    if (codec) return codec.encoding;
  }
  return undefined;
}

export class MediaRelay {
  readonly address: string;
  readonly timeoutSeconds: number;
  readonly unansweredTimeoutSeconds: number;
  /** Port pairs whose bind failed (port used by another program), since the start. */
  bindFailures = 0;
  /** Errors reported by relay sockets, since the start. */
  socketErrors = 0;
  /** Told of every packet relayed (see the top of the file); unset, it costs nothing. */
  packetTap: RelayPacketTap | undefined = undefined;

  private readonly pool: PortPool;
  private readonly family: 4 | 6;
  private readonly socketType: 'udp4' | 'udp6';
  private readonly lookup: SocketOptions['lookup'];
  private readonly sessions = new Map<string, RelaySession>();
  private readonly spare: Face[] = [];
  private readonly spareTarget: number;
  private binding = 0;
  private failedInARow = 0;
  private waiters: (() => void)[] = [];
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly endListeners: NonNullable<MediaRelayOptions['onEnd']>[] = [];
  private readonly ended: RelayTotals = {
    packets: 0,
    bytes: 0,
    rtcpPackets: 0,
    dropped: 0,
    invalid: 0,
  };
  private closed = false;
  private readonly open = new Set<Socket>();

  constructor(options: MediaRelayOptions) {
    const family = isIP(options.address);
    if (family === 0) throw new MediaRelayError(`relay address ${options.address} is not an IP`);
    if (isUnspecifiedAddress(options.address)) {
      throw new MediaRelayError('the relay address goes into SDP: give a real one, not 0.0.0.0');
    }
    if (!(options.timeoutSeconds > 0)) throw new MediaRelayError('timeoutSeconds must be > 0');
    this.address = options.address;
    this.family = family === 6 ? 6 : 4;
    this.socketType = family === 6 ? 'udp6' : 'udp4';
    this.lookup = literalLookup(this.family);
    this.timeoutSeconds = options.timeoutSeconds;
    this.unansweredTimeoutSeconds =
      options.unansweredTimeoutSeconds ??
      Math.max(options.timeoutSeconds, DEFAULT_UNANSWERED_TIMEOUT_SECONDS);
    this.pool =
      typeof options.ports === 'string'
        ? PortPool.parse(options.ports)
        : new PortPool(options.ports[0], options.ports[1]);
    this.spareTarget = Math.max(0, options.spare ?? DEFAULT_SPARE);
    if (options.onEnd) this.endListeners.push(options.onEnd);
    const sweepMs = Math.min(MAX_SWEEP_MS, Math.max(10, (options.timeoutSeconds * 1000) / 4));
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
    this.fillSpare();
  }

  /** Resolves once the spare port pairs are bound (or no more can be). */
  ready(): Promise<void> {
    if (this.binding === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Sessions in progress. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Port pairs taken from the pool (sessions and spare). */
  get portPairsInUse(): number {
    return this.pool.inUse;
  }

  /** Free port pairs left in the range. */
  get portPairsFree(): number {
    return this.pool.available;
  }

  /** The SDP of an offer, rewritten to point at the relay. See the top of the file. */
  offer(callId: string, tag: string, sdp: string): string {
    return this.describe(callId, tag, sdp);
  }

  /** The SDP of an answer, rewritten to point at the relay. See the top of the file. */
  answer(callId: string, tag: string, sdp: string): string {
    return this.describe(callId, tag, sdp);
  }

  /** Adds a listener told when a session ends (like the onEnd option). */
  onSessionEnd(listener: NonNullable<MediaRelayOptions['onEnd']>): void {
    this.endListeners.push(listener);
  }

  /** Packets counted since the start, ended and running sessions together (for /metrics). */
  totals(): RelayTotals {
    const t = { ...this.ended };
    for (const session of this.sessions.values()) {
      for (const stream of session.streams) {
        if (stream === undefined) continue;
        for (const end of stream.ends) {
          t.packets += end.packets;
          t.bytes += end.bytes;
          t.rtcpPackets += end.rtcpPackets;
          t.dropped += end.dropped;
          t.invalid += end.invalid;
        }
      }
    }
    return t;
  }

  /** Statistics of every session in progress. */
  allStats(): RelaySessionStats[] {
    return [...this.sessions.values()].map((s) => this.sessionStats(s));
  }

  /** Statistics of a session in progress, undefined when there is none. */
  stats(callId: string): RelaySessionStats | undefined {
    const session = this.sessions.get(callId);
    return session ? this.sessionStats(session) : undefined;
  }

  /** Ends a session and frees its ports; returns its final statistics. */
  end(callId: string): RelaySessionStats | undefined {
    const session = this.sessions.get(callId);
    return session ? this.endSession(session, 'end') : undefined;
  }

  /** Ends every session, closes every socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const session of [...this.sessions.values()]) this.endSession(session, 'close');
    for (const face of this.spare.splice(0)) this.closeFace(face);
    await this.ready();
    await Promise.all(
      [...this.open].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
  }

  private describe(callId: string, tag: string, sdp: string): string {
    if (this.closed) throw new MediaRelayError('the media relay is closed');
    const endpoints = sdpMediaEndpoints(sdp);
    let session = this.sessions.get(callId);
    const created = session === undefined;
    if (session === undefined) {
      session = new RelaySession(callId);
      this.sessions.set(callId, session);
    }
    let side: 0 | 1;
    if (session.tags[0] === tag) side = 0;
    else if (session.tags[1] === tag) side = 1;
    else if (session.tags[0] === undefined) side = 0;
    else {
      side = 1;
      // Another branch answers: it replaces the previous answerer, whose latching is void.
      if (session.tags[1] !== undefined) {
        for (const stream of session.streams) stream?.ends[1].unlatch();
      }
    }
    session.tags[side] = tag;
    session.lastActivityMs = performance.now();

    const ports: (number | undefined)[] = [];
    try {
      for (const e of endpoints) {
        let stream = session.streams[e.index];
        if (stream === undefined && e.port !== 0) {
          stream = this.createStream(session, e.index, e.type);
        }
        if (stream === undefined) continue;
        stream.media = e.type;
        const end = stream.ends[side];
        const address = isUnspecifiedAddress(e.address) ? '' : e.address!;
        const rtcpAddress = isUnspecifiedAddress(e.rtcpAddress) ? '' : e.rtcpAddress!;
        end.setSdp(address, e.port, rtcpAddress, e.rtcpPort);
        end.rtcpMux = e.rtcpMux;
        end.codecs = e.codecs;
        this.updateCodecs(stream);
        ports[e.index] = stream.faces[side === 0 ? 1 : 0].port;
      }
    } catch (err) {
      if (created) this.endSession(session, 'end', false);
      throw err;
    }
    return rewriteSdp(sdp, { address: this.address, ports });
  }

  private updateCodecs(stream: RelayStream): void {
    const rates = new Map<number, number>();
    let clockRate = 0;
    for (const end of stream.ends) {
      for (const c of end.codecs) {
        const eventOrNoise = /^telephone-event$/i.test(c.encoding);
        rates.set(c.payloadType, eventOrNoise ? 0 : c.clockRate);
        if (clockRate === 0 && !eventOrNoise && c.clockRate > 0) clockRate = c.clockRate;
      }
    }
    stream.clockRates = rates;
    stream.clockRate = clockRate || DEFAULT_CLOCK_RATE;
    stream.mux = stream.ends[0].rtcpMux && stream.ends[1].rtcpMux;
  }

  private createStream(session: RelaySession, index: number, media: string): RelayStream {
    const a = this.takeFace();
    let b: Face;
    try {
      b = this.takeFace();
    } catch (err) {
      this.freeFace(a);
      throw err;
    }
    a.side = 0;
    b.side = 1;
    const stream = new RelayStream(session, index, media, [a, b]);
    a.stream = stream;
    b.stream = stream;
    session.streams[index] = stream;
    return stream;
  }

  private takeFace(): Face {
    let face = this.spare.pop();
    if (face === undefined) {
      // No spare ready (a burst of calls): bind now and hope the port is free; a failure is
      // counted in bindFailures and leaves this stream without media.
      const port = this.pool.take();
      if (port === undefined) {
        throw new MediaRelayError(
          `no free relay ports in ${this.pool.first}-${this.pool.last} (${this.sessions.size} sessions)`,
        );
      }
      face = this.newFace(port);
      this.binding++;
      this.bindFace(face).then(
        () => {
          this.binding--;
          this.settle();
        },
        () => {
          this.binding--;
          this.bindFailures++;
          this.settle();
        },
      );
    }
    this.fillSpare();
    return face;
  }

  private newFace(port: number): Face {
    const face: Face = {
      port,
      rtp: dgram.createSocket({ type: this.socketType, lookup: this.lookup }),
      rtcp: dgram.createSocket({ type: this.socketType, lookup: this.lookup }),
      stream: undefined,
      side: 0,
    };
    for (const socket of [face.rtp, face.rtcp]) {
      this.open.add(socket);
      socket.on('error', () => this.socketErrors++);
    }
    face.rtp.on('message', (msg, rinfo) => onRtpSocket(face, msg, rinfo, this.packetTap));
    face.rtcp.on('message', (msg, rinfo) => onRtcpSocket(face, msg, rinfo, this.packetTap));
    return face;
  }

  private bindFace(face: Face): Promise<void> {
    const bind = (socket: Socket, port: number) =>
      new Promise<void>((resolve, reject) => {
        const fail = (err: Error) => reject(err);
        // Closed before bound (the session ended first): no 'listening' will come.
        const closed = () => reject(new Error('closed before bound'));
        socket.once('error', fail);
        socket.once('close', closed);
        socket.bind({ port, address: this.address, exclusive: true }, () => {
          socket.off('error', fail);
          socket.off('close', closed);
          resolve();
        });
      });
    return bind(face.rtp, face.port).then(() => bind(face.rtcp, face.port + 1));
  }

  private fillSpare(): void {
    while (
      !this.closed &&
      this.spare.length + this.binding < this.spareTarget &&
      this.failedInARow < this.pool.capacity &&
      this.pool.available > 0
    ) {
      const face = this.newFace(this.pool.take()!);
      this.binding++;
      this.bindFace(face).then(
        () => {
          this.binding--;
          this.failedInARow = 0;
          if (this.closed) this.closeFace(face);
          else this.spare.push(face);
          this.settle();
        },
        () => {
          this.binding--;
          this.failedInARow++;
          this.bindFailures++;
          this.freeFace(face);
          this.settle();
        },
      );
    }
  }

  private settle(): void {
    this.fillSpare();
    if (this.binding === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  private closeFace(face: Face): void {
    face.stream = undefined;
    for (const socket of [face.rtp, face.rtcp]) {
      if (!this.open.delete(socket)) continue;
      try {
        socket.close();
      } catch {
        // Not bound yet or already closed: nothing to release.
      }
    }
  }

  private freeFace(face: Face): void {
    this.closeFace(face);
    this.pool.give(face.port);
  }

  private endSession(
    session: RelaySession,
    reason: RelayEndReason,
    tell = true,
  ): RelaySessionStats {
    const stats = this.sessionStats(session);
    this.sessions.delete(session.callId);
    for (const stream of session.streams) {
      if (stream === undefined) continue;
      for (const face of stream.faces) this.freeFace(face);
    }
    for (const d of stats.streams) {
      this.ended.packets += d.packets;
      this.ended.bytes += d.bytes;
      this.ended.rtcpPackets += d.rtcpPackets;
      this.ended.dropped += d.dropped;
      this.ended.invalid += d.invalid;
    }
    if (tell) for (const listener of this.endListeners) listener(session.callId, reason, stats);
    if (!this.closed) this.fillSpare();
    return stats;
  }

  private sweep(): void {
    const now = performance.now();
    const limitMs = this.timeoutSeconds * 1000;
    const unansweredMs = this.unansweredTimeoutSeconds * 1000;
    for (const session of [...this.sessions.values()]) {
      const answered = session.tags[1] !== undefined;
      const idleMs = now - session.lastActivityMs;
      if (idleMs >= (answered ? limitMs : unansweredMs)) this.endSession(session, 'timeout');
    }
  }

  private sessionStats(session: RelaySession): RelaySessionStats {
    const now = performance.now();
    const streams: RelayStreamStats[] = [];
    const ports: number[] = [];
    for (const stream of session.streams) {
      if (stream === undefined) continue;
      ports.push(stream.faces[0].port, stream.faces[1].port);
      for (const side of [0, 1] as const) streams.push(this.directionStats(stream, side));
    }
    return {
      callId: session.callId,
      tags: [session.tags[0], session.tags[1]],
      ports,
      ageSeconds: (now - session.createdMs) / 1000,
      idleSeconds: (now - session.lastActivityMs) / 1000,
      streams,
    };
  }

  private directionStats(stream: RelayStream, side: 0 | 1): RelayStreamStats {
    const end = stream.ends[side];
    const snap = end.stats?.snapshot();
    const codec = codecName(stream, snap?.payloadTypes[0]);
    const lostPercent = snap && snap.rfcExpected > 0 ? (snap.rfcLost * 100) / snap.rfcExpected : 0;
    const jitterMs = snap ? (snap.rfcJitter * 1000) / stream.clockRate : 0;
    let mos: number | undefined;
    if (snap && (codec === 'PCMU' || codec === 'PCMA')) {
      mos = estimateMos({ codec, lossPct: Math.max(0, lostPercent), jitterMs }).mos;
    }
    return {
      index: stream.index,
      media: stream.media,
      from: stream.session.tags[side],
      to: stream.session.tags[side === 0 ? 1 : 0],
      relayPort: stream.faces[side].port,
      sdpAddress: end.sdpAddress ? { address: end.sdpAddress, port: end.sdpPort } : undefined,
      latched: end.rtpLatched ? { address: end.rtpAddress, port: end.rtpPort } : undefined,
      latchedRtcp: end.rtcpLatched ? { address: end.rtcpAddress, port: end.rtcpPort } : undefined,
      packets: end.packets,
      bytes: end.bytes,
      rtcpPackets: end.rtcpPackets,
      dropped: end.dropped,
      invalid: end.invalid,
      ssrc: end.ssrc === -1 ? undefined : end.ssrc,
      ssrcChanges: end.ssrcChanges,
      lost: snap?.rfcLost ?? 0,
      lostPercent,
      jitterMs,
      maxJitterMs: snap?.maxJitterMs ?? 0,
      duplicates: snap?.duplicates ?? 0,
      outOfOrder: snap?.outOfOrder ?? 0,
      codec,
      mos,
    };
  }
}
