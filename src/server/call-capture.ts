// Per-call capture: the SIP the server sent and received for each call (and, with the media
// relay, the RTP it relayed, whole or headers only), kept in a bounded ring and handed out as a
// pcapng file that `trapezoid analyze` and tshark read (GET /api/calls/{id}/pcap).
//
// The ring is bounded three ways (config `capture`): calls kept, bytes kept, and age. A new
// packet first drops calls older than maxAgeSeconds, then the oldest calls until the bytes and
// the count fit. A call that alone outgrows the byte bound keeps its first packets and counts the
// rest as dropped. Nothing is written to a file until asked for: recording a packet is a push.
//
// The file: one raw-IP interface; each message as IPv4-or-IPv6/UDP-or-TCP with the endpoints the
// server saw (TLS, WS and WSS are shown as their TCP payload: the SIP in clear, as
// the server read it). TCP directions get consecutive sequence numbers from the first message.
import { LinkType, PacketFrames, writePcapng, type PcapngPacket } from '../capture/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { rtpHeaderLengthAt } from '../media/index.ts';
import type { RelayedPacket } from './media-relay.ts';

/** What to keep of relayed RTP: nothing, the RTP header only, or the whole packet. */
export type RtpCapture = 'none' | 'headers' | 'packets';

export interface CaptureLimits {
  /** Calls kept (the oldest go first). */
  maxCalls: number;
  /** Bytes kept over all calls: packet data, and a relayed packet's record too. */
  maxBytes: number;
  /** A call whose last packet is older than this is dropped. */
  maxAgeSeconds: number;
  rtp: RtpCapture;
}

export const DEFAULT_CAPTURE_LIMITS: CaptureLimits = {
  maxCalls: 1000,
  maxBytes: 64 * 1024 * 1024,
  maxAgeSeconds: 3600,
  rtp: 'headers',
};

export interface CapturedPacket {
  /** Milliseconds since the epoch. */
  readonly ts: number;
  readonly src: Endpoint;
  readonly dst: Endpoint;
  /**
   * What was captured (for RTP headers only: the header). SIP is kept as the bytes the call log
   * already holds (no copy per message); text, when given, becomes UTF-8 when a file is asked for.
   */
  readonly data: Buffer | string;
  /** The packet's length on the wire, when more than `data` (headers-only RTP). */
  readonly origLen?: number;
}

interface CallPackets {
  packets: CapturedPacket[];
  bytes: number;
  /** When the call last moved to the newest end: its newest packet's time, to REORDER_EVERY_MS. */
  last: number;
  dropped: number;
}

/**
 * How much of a relayed packet a headers-only capture keeps: its RTP header with CSRC list and
 * extension (media's reader, RFC 3550 §5.1, §5.3.1), or all of it when it is no RTP.
 */
export function rtpHeaderLength(packet: Buffer): number {
  const n = rtpHeaderLengthAt(packet);
  return n < 0 ? packet.length : n;
}

/**
 * What a kept relayed packet costs in memory besides its data (its record, its endpoints and
 * the Buffer object: about 230 bytes measured on Node 20 for a headers-only packet), counted
 * against maxBytes so the bound holds for many small RTP headers too.
 */
const RTP_ENTRY_OVERHEAD = 228;

/**
 * A call is moved to the newest end of the order at most this often: a call's messages come
 * close together, and moving it for each (a Map delete and set) cost more than keeping them.
 */
const REORDER_EVERY_MS = 1000;

/** Expired calls are looked for at most this often. */
const EXPIRE_EVERY_MS = 1000;

export class CallCapture {
  /** By Call-ID, least recently active first (a packet moves its call to the end). */
  private readonly calls = new Map<string, CallPackets>();
  private totalBytes = 0;
  private lastExpiry = 0;

  constructor(readonly limits: CaptureLimits = DEFAULT_CAPTURE_LIMITS) {}

  /** Bytes held now: packet data, and a relayed packet's record too (see RTP_ENTRY_OVERHEAD). */
  get bytes(): number {
    return this.totalBytes;
  }

  get callCount(): number {
    return this.calls.size;
  }

  has(callId: string): boolean {
    return this.calls.has(callId);
  }

  /** Records one SIP message of a call (text is written as UTF-8). */
  sip(callId: string, ts: number, src: Endpoint, dst: Endpoint, data: Buffer | string): void {
    this.add(callId, { ts, src, dst, data });
  }

  /** Keeps a packet as it is (the call log's own message: no record of its own per message). */
  keep(callId: string, p: CapturedPacket): void {
    this.add(callId, p);
  }

  /** Records one relayed RTP/RTCP packet of a call, as much of it as `limits.rtp` says. */
  rtp(callId: string, ts: number, src: Endpoint, dst: Endpoint, packet: Buffer): void {
    const mode = this.limits.rtp;
    if (mode === 'none' || !this.calls.has(callId)) return;
    if (mode === 'packets') return this.add(callId, { ts, src, dst, data: Buffer.from(packet) });
    const n = rtpHeaderLength(packet);
    this.add(callId, {
      ts,
      src,
      dst,
      data: Buffer.from(packet.subarray(0, n)),
      origLen: packet.length,
    });
  }

  /**
   * Records a packet the media relay passed on (MediaRelay.packetTap) as the server saw it: the
   * sender's packet to the relay, and the relay's to the receiver (when it was sent on), both
   * sharing one copy of the data. RTP as much as `limits.rtp` says; RTCP whole (it is all
   * header and report). Nothing for a call the ring holds no SIP of.
   */
  relayed(p: RelayedPacket, relayAddress: string): void {
    const mode = this.limits.rtp;
    if (mode === 'none' || !this.calls.has(p.callId)) return;
    const whole = mode === 'packets' || p.rtcp;
    const n = whole ? p.packet.length : rtpHeaderLength(p.packet);
    const data = Buffer.from(n === p.packet.length ? p.packet : p.packet.subarray(0, n));
    const origLen = n === p.packet.length ? undefined : p.packet.length;
    const cut = origLen === undefined ? {} : { origLen };
    const from: Endpoint = { protocol: 'udp', address: p.from.address, port: p.from.port };
    const relayIn: Endpoint = { protocol: 'udp', address: relayAddress, port: p.inPort };
    const size = data.length + RTP_ENTRY_OVERHEAD;
    this.add(p.callId, { ts: p.ts, src: from, dst: relayIn, data, ...cut }, size);
    if (p.to === undefined) return;
    const relayOut: Endpoint = { protocol: 'udp', address: relayAddress, port: p.outPort };
    const to: Endpoint = { protocol: 'udp', address: p.to.address, port: p.to.port };
    this.add(p.callId, { ts: p.ts, src: relayOut, dst: to, data, ...cut }, size);
  }

  /** Keeps a packet; `size` is what it counts against maxBytes (default: its data). */
  private add(callId: string, p: CapturedPacket, size = p.data.length): void {
    if (p.ts - this.lastExpiry >= EXPIRE_EVERY_MS) this.expire(p.ts);
    let call = this.calls.get(callId);
    if (!call) {
      call = { packets: [], bytes: 0, last: p.ts, dropped: 0 };
      this.calls.set(callId, call);
    } else if (p.ts - call.last >= REORDER_EVERY_MS) {
      // Most recently active last: expiry and eviction start with the calls idle longest.
      this.calls.delete(callId);
      this.calls.set(callId, call);
      call.last = p.ts;
    }
    if (size > this.limits.maxBytes - call.bytes) {
      call.dropped++;
      return;
    }
    call.packets.push(p);
    call.bytes += size;
    this.totalBytes += size;
    if (this.totalBytes > this.limits.maxBytes || this.calls.size > this.limits.maxCalls)
      this.evict(callId);
  }

  /** Drops calls until the ring is within its bounds: oldest first, never `keep`. */
  private evict(keep: string): void {
    for (const [id, c] of this.calls) {
      if (this.totalBytes <= this.limits.maxBytes && this.calls.size <= this.limits.maxCalls) break;
      if (id === keep) continue;
      this.drop(id, c);
    }
  }

  private expire(now: number): void {
    this.lastExpiry = now;
    const cutoff = now - this.limits.maxAgeSeconds * 1000;
    for (const [id, c] of this.calls) {
      if (c.last >= cutoff) break;
      this.drop(id, c);
    }
  }

  private drop(id: string, c: CallPackets): void {
    this.calls.delete(id);
    this.totalBytes -= c.bytes;
  }

  /** The packets kept for a call, in the order they were recorded. */
  packets(callId: string): readonly CapturedPacket[] | undefined {
    this.expire(Date.now());
    return this.calls.get(callId)?.packets;
  }

  /** Packets of the call not kept because it outgrew the byte bound. */
  dropped(callId: string): number {
    return this.calls.get(callId)?.dropped ?? 0;
  }

  /** The call's capture as a pcapng file, or undefined when the ring holds nothing of it. */
  pcapng(callId: string): Buffer | undefined {
    const packets = this.packets(callId);
    if (!packets || packets.length === 0) return undefined;
    return capturePcapng(packets);
  }
}

/** IPv4 text as IPv4-mapped IPv6 when the other side of the packet is IPv6. */
function sameFamily(a: string, b: string): [string, string] {
  const v6a = a.includes(':');
  const v6b = b.includes(':');
  if (v6a === v6b) return [a, b];
  return [v6a ? a : `::ffff:${a}`, v6b ? b : `::ffff:${b}`];
}

/** Packets (SIP and RTP) as one pcapng section of raw IP frames (capture/packet-frames.ts). */
export function capturePcapng(packets: readonly CapturedPacket[]): Buffer {
  const framer = new PacketFrames();
  const frames: PcapngPacket[] = packets.map((p) => {
    const [src, dst] = sameFamily(p.src.address, p.dst.address);
    const proto = p.src.protocol === 'udp' ? 'udp' : 'tcp';
    const ts = p.ts / 1000;
    const cut = p.origLen !== undefined && p.origLen > p.data.length && proto === 'udp';
    // Headers only: the frame says what was on the wire and is cut short after the header
    // (captured length < original length, as a snaplen does).
    const data = typeof p.data === 'string' ? Buffer.from(p.data, 'utf8') : p.data;
    const payload = cut ? Buffer.alloc(p.origLen!) : data;
    if (cut) data.copy(payload);
    const frame = framer.frame({
      proto,
      src,
      srcPort: p.src.port,
      dst,
      dstPort: p.dst.port,
      payload,
    });
    if (!cut) return { interfaceId: 0, ts, data: frame };
    const captured = frame.length - (p.origLen! - data.length);
    return { interfaceId: 0, ts, data: frame.subarray(0, captured), origLen: frame.length };
  });
  return writePcapng([
    { interfaces: [{ linkType: LinkType.RAW, snaplen: 262144 }], packets: frames },
  ]);
}
