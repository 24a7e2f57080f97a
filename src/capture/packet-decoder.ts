// Frame -> link layer -> IPv4/IPv6 (with fragment reassembly) -> UDP datagrams and TCP streams.
import { LinkType, type CaptureFrame } from './capture-frame.ts';
import { decodeHep3, HEP3_PORT, isHep3 } from './hep3.ts';
import { ipv4ToString, ipv6ToString } from './ip-address.ts';
import { FragmentReassembler, type FragmentLimits } from './ip-fragments.ts';
import { findNetworkLayer, type NetworkStart } from './link-layer.ts';
import type { Packet, TcpData } from './packet.ts';
import { TcpReassembler, type TcpLimits } from './tcp-reassembly.ts';
import { UdpView } from './udp-view.ts';

/*
 IPv4 header (RFC 791 §3.1):
    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 0 |Version|  IHL  |Type of Service|          Total Length         |
 4 |         Identification        |Flags|      Fragment Offset    |
 8 |  Time to Live |    Protocol   |         Header Checksum       |
12 |                       Source Address                          |
16 |                    Destination Address                        |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
*/
const V4_IHL_MASK = 0x0f;
const V4_TOTAL_LENGTH = 2;
const V4_ID = 4;
const V4_FLAGS_FRAG = 6;
const V4_MORE_FRAGMENTS = 0x2000;
const V4_FRAG_OFFSET_MASK = 0x1fff;
const V4_PROTOCOL = 9;
const V4_SRC = 12;
const V4_DST = 16;
const V4_MIN_HEADER = 20;
/** IHL and TCP data offset count 32-bit words; the fragment offset counts 8-byte units. */
const WORD_BYTES = 4;
const FRAG_UNIT_BYTES = 8;
/*
 IPv6 header (RFC 8200 §3), 40 bytes:
 0 | Version | Traffic Class | Flow Label                             |
 4 | Payload Length (16)             | Next Header (8) | Hop Limit (8) |
 8 | Source Address (128)                                             |
24 | Destination Address (128)                                        |
 Extension headers: Next Header (8) | Hdr Ext Len (8) | ...
 Fragment header (RFC 8200 §4.5):
 0 | Next Header | Reserved | Fragment Offset (13) | Res (2) | M |
 4 | Identification (32)                                           |
*/
const V6_PAYLOAD_LENGTH = 4;
const V6_NEXT_HEADER = 6;
const V6_SRC = 8;
const V6_DST = 24;
const V6_HEADER = 40;
const V6_FRAG_HEADER = 8;
const V6_FRAG_OFFSET_MASK = 0xfff8;
const V6_MORE_FRAGMENTS = 0x0001;
const V6_FRAG_ID = 4;
const EXT_LEN_UNIT = 8;
const AH_LEN_UNIT = 4;
const IPPROTO_HOPOPTS = 0;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_DSTOPTS = 60;
const IPPROTO_MOBILITY = 135;
const IPPROTO_HIP = 139;
const IPPROTO_SHIM6 = 140;
/*
 UDP (RFC 768): Source Port (16) | Destination Port (16) | Length (16) | Checksum (16)
 TCP (RFC 9293 §3.1):
 0 | Source Port | Destination Port |
 4 | Sequence Number                |
 8 | Acknowledgment Number          |
12 | Data Offset (4) | Rsrvd (4) | Flags (8) | Window (16) |
*/
const UDP_LENGTH = 4;
const UDP_HEADER = 8;
const TCP_SEQ = 4;
const TCP_DATA_OFFSET = 12;
const TCP_FLAGS = 13;
const TCP_MIN_HEADER = 20;

/*
 Tunnels. IP in IP (RFC 2003, protocol 4) and IPv6 in IP (RFC 4213, protocol 41): the inner
 packet follows the outer header. GRE (RFC 2784, RFC 2890), protocol 47:
    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   |C| |K|S| Reserved0       | Ver |         Protocol Type         |
   |      Checksum (if C)          |       Reserved1 (if C)        |
   |                         Key (if K)                            |
   |                 Sequence Number (if S)                        |
 Protocol Type 0x0800/0x86DD: IP; 0x6558: Ethernet; 0x88BE: ERSPAN (type I without S, else
 type II with an 8-byte header); 0x22EB: ERSPAN type III (12-byte header, 8 more if its O bit).
 VXLAN (RFC 7348), UDP port 4789: Flags (8, I = 0x08) | Reserved (24) | VNI (24) | Reserved (8),
 then an Ethernet frame.
*/
const IPPROTO_IPIP = 4;
const IPPROTO_IPV6 = 41;
const IPPROTO_GRE = 47;
const GRE_HEADER = 4;
const GRE_C = 0x80;
const GRE_K = 0x20;
const GRE_S = 0x10;
const GRE_VERSION_MASK = 0x07;
const GRE_OPTION = 4;
const GRE_IPV4 = 0x0800;
const GRE_IPV6 = 0x86dd;
const GRE_ETHERNET = 0x6558;
const GRE_ERSPAN_2 = 0x88be;
const GRE_ERSPAN_3 = 0x22eb;
const ERSPAN_2_HEADER = 8;
const ERSPAN_3_HEADER = 12;
const ERSPAN_3_SUBHEADER = 8;
const ERSPAN_3_O_BIT = 0x01;
const VXLAN_PORT = 4789;
const VXLAN_HEADER = 8;
const VXLAN_FLAG_I = 0x08;
const MAX_TUNNEL_DEPTH = 4;

const SUPPORTED_LINK_TYPES = new Set<number>(Object.values(LinkType));
const HEP_TCP_STREAMS_LIMIT = 65536;
const HEP3_MAGIC = 0x48455033; // "HEP3"
const HEP3_MAGIC_BYTES = 4;
const HEP3_MAGIC_TEXT = Buffer.from('HEP3');
/** "HEP3" and the 16-bit total length. */
const HEP3_HEADER_BYTES = 6;
const EMPTY = Buffer.alloc(0);

export interface PacketHandlers {
  onUdp(p: Packet): void;
  /**
   * Optional fast path, tried before onUdp for each datagram read straight from a frame (not
   * HEP-unwrapped): one UdpView reused for all of them, nothing allocated. Return true when
   * handled; false lets the datagram go on to onUdp as a Packet.
   */
  onUdpView?(v: UdpView): boolean;
  onTcpData(p: TcpData): void;
  onTcpEnd?(streamId: number): void;
  onWarning?(msg: string, frame: number): void;
}

export interface DecoderLimits {
  fragments?: Partial<FragmentLimits>;
  tcp?: Partial<TcpLimits>;
}

/** Counters of what the decoder saw, for reports. */
export interface DecoderStats {
  frames: number;
  udp: number;
  tcpSegments: number;
  hep: number;
  /** Frames that are not IP, or IP that is neither UDP nor TCP. */
  other: number;
  /** Frames too short for the headers they claim. */
  malformed: number;
  fragments: number;
  reassembled: number;
}

/**
 * Decodes frames into UDP datagrams and in-order TCP bytes. Handlers are called synchronously
 * from `decode` (and `finish`); the payload buffers they get are views into the frame, which the
 * reader reuses: copy what you keep. Tunnels (IP in IP, GRE, ERSPAN, VXLAN) are opened, and
 * HEPv3 (UDP port 9060, or TCP to port 9060) is unwrapped: the handlers see the inner packet,
 * with `hep` set for HEP.
 */
export class PacketDecoder {
  readonly stats: DecoderStats = {
    frames: 0,
    udp: 0,
    tcpSegments: 0,
    hep: 0,
    other: 0,
    malformed: 0,
    fragments: 0,
    reassembled: 0,
  };
  private readonly handlers: PacketHandlers;
  private readonly net: NetworkStart = { offset: 0, version: 0 };
  private readonly innerNet: NetworkStart = { offset: 0, version: 0 };
  private depth = 0;
  private readonly fragments: FragmentReassembler;
  private readonly tcp: TcpReassembler;
  private readonly unknownLinkTypes = new Set<number>();
  private readonly hepTcpStreams = new Map<string, number>();
  /** TCP streams to port 9060 that carry HEP: bytes of an unfinished message, or null if broken. */
  private readonly hepOverTcp = new Map<number, Buffer | null>();
  private nextHepStreamId = -1;
  private frame = 0;
  private ts = 0;
  /** The reused view for handlers.onUdpView, when there is one. */
  private readonly view: UdpView | undefined;

  constructor(handlers: PacketHandlers, limits: DecoderLimits = {}) {
    this.handlers = handlers;
    this.view = handlers.onUdpView ? new UdpView() : undefined;
    const warn = (msg: string, frame: number): void => handlers.onWarning?.(msg, frame);
    this.fragments = new FragmentReassembler((msg) => warn(msg, this.frame), limits.fragments);
    this.tcp = new TcpReassembler(
      { onData: (d) => this.tcpData(d), onEnd: (id) => this.tcpEnd(id), warn },
      limits.tcp,
    );
  }

  decode(frame: CaptureFrame): void {
    const data = frame.data;
    this.decodeRecord(data, 0, data.length, frame.index, frame.ts, frame.linkType);
  }

  /**
   * `decode` for a frame given as the range data[start, end) of the reader's buffer (see
   * readCaptureRecords): no object is made per frame.
   */
  decodeRecord(
    data: Buffer,
    start: number,
    end: number,
    index: number,
    ts: number,
    linkType: number,
  ): void {
    this.stats.frames++;
    this.frame = index;
    this.ts = ts;
    const net = this.net;
    findNetworkLayer(linkType, data, net, start, end);
    if (net.version === 4) this.ipv4(data, net.offset, end);
    else if (net.version === 6) this.ipv6(data, net.offset, end);
    else {
      this.stats.other++;
      if (!SUPPORTED_LINK_TYPES.has(linkType) && !this.unknownLinkTypes.has(linkType)) {
        this.unknownLinkTypes.add(linkType);
        this.handlers.onWarning?.(`link type ${linkType} is not supported: frames skipped`, index);
      }
    }
  }

  /**
   * One HEPv3 message received as it is (a HEP collector's socket, not a captured frame): its
   * inner packet goes to the handlers as if unwrapped from a frame numbered `index`.
   */
  decodeHep(payload: Buffer, index: number, ts: number): void {
    this.stats.frames++;
    this.frame = index;
    this.ts = ts;
    this.hep(index, ts, payload);
  }

  /** Ends all TCP streams, delivering what is still held (skipping gaps, with a warning). */
  finish(): void {
    this.tcp.finish();
    for (const id of this.hepTcpStreams.values()) this.handlers.onTcpEnd?.(id);
    this.hepTcpStreams.clear();
  }

  /** The IPv4 packet at data[p], within data[..limit). */
  private ipv4(data: Buffer, p: number, limit: number): void {
    if (limit - p < V4_MIN_HEADER) {
      this.stats.malformed++;
      return;
    }
    const ihl = (data[p] & V4_IHL_MASK) * WORD_BYTES;
    const totalLength = (data[p + V4_TOTAL_LENGTH] << 8) | data[p + V4_TOTAL_LENGTH + 1];
    // Total length 0 happens with TCP segmentation offload: trust the captured length.
    let end = totalLength === 0 ? limit : p + totalLength;
    if (end > limit) end = limit;
    if (ihl < V4_MIN_HEADER || p + ihl > end) {
      this.stats.malformed++;
      return;
    }
    const proto = data[p + V4_PROTOCOL];
    const flagsFrag = (data[p + V4_FLAGS_FRAG] << 8) | data[p + V4_FLAGS_FRAG + 1];
    if (flagsFrag & (V4_MORE_FRAGMENTS | V4_FRAG_OFFSET_MASK)) {
      this.stats.fragments++;
      const src = ipv4ToString(data, p + V4_SRC);
      const dst = ipv4ToString(data, p + V4_DST);
      const id = (data[p + V4_ID] << 8) | data[p + V4_ID + 1];
      const whole = this.fragments.add(
        `4 ${src} ${dst} ${id} ${proto}`,
        this.ts,
        (flagsFrag & V4_FRAG_OFFSET_MASK) * FRAG_UNIT_BYTES,
        data.subarray(p + ihl, end),
        (flagsFrag & V4_MORE_FRAGMENTS) !== 0,
        proto,
      );
      if (!whole) return;
      this.stats.reassembled++;
      this.transport(
        4,
        data,
        p + V4_SRC,
        p + V4_DST,
        whole.proto,
        whole.payload,
        0,
        whole.payload.length,
      );
      return;
    }
    this.transport(4, data, p + V4_SRC, p + V4_DST, proto, data, p + ihl, end);
  }

  /** The IPv6 packet at data[p], within data[..limit). */
  private ipv6(data: Buffer, p: number, limit: number): void {
    if (limit - p < V6_HEADER) {
      this.stats.malformed++;
      return;
    }
    const payloadLength = (data[p + V6_PAYLOAD_LENGTH] << 8) | data[p + V6_PAYLOAD_LENGTH + 1];
    // Payload length 0 means a jumbogram (or offload): take what was captured.
    let end = payloadLength === 0 ? limit : p + V6_HEADER + payloadLength;
    if (end > limit) end = limit;
    let next = data[p + V6_NEXT_HEADER];
    let q = p + V6_HEADER;
    let fragAt = -1;
    for (;;) {
      if (
        next === IPPROTO_HOPOPTS ||
        next === IPPROTO_ROUTING ||
        next === IPPROTO_DSTOPTS ||
        next === IPPROTO_MOBILITY ||
        next === IPPROTO_HIP ||
        next === IPPROTO_SHIM6
      ) {
        if (q + 2 > end) break;
        next = data[q];
        q += (data[q + 1] + 1) * EXT_LEN_UNIT;
      } else if (next === IPPROTO_AH) {
        if (q + 2 > end) break;
        next = data[q];
        q += (data[q + 1] + 2) * AH_LEN_UNIT;
      } else if (next === IPPROTO_FRAGMENT) {
        if (q + V6_FRAG_HEADER > end) break;
        fragAt = q;
        next = data[q];
        q += V6_FRAG_HEADER;
        break; // what follows is (part of) the fragmentable part
      } else break;
    }
    if (q > end) {
      this.stats.malformed++;
      return;
    }
    if (fragAt >= 0) {
      const offMore = (data[fragAt + 2] << 8) | data[fragAt + 3];
      const offset = offMore & V6_FRAG_OFFSET_MASK;
      const more = (offMore & V6_MORE_FRAGMENTS) !== 0;
      if (offset !== 0 || more) {
        this.stats.fragments++;
        const src = ipv6ToString(data, p + V6_SRC);
        const dst = ipv6ToString(data, p + V6_DST);
        const id = data.readUInt32BE(fragAt + V6_FRAG_ID);
        const whole = this.fragments.add(
          `6 ${src} ${dst} ${id}`,
          this.ts,
          offset,
          data.subarray(q, end),
          more,
          offset === 0 ? next : -1,
        );
        if (!whole) return;
        this.stats.reassembled++;
        // The reassembled part may itself start with extension headers (destination options).
        this.ipv6Upper(data, p, whole.proto, whole.payload, 0, whole.payload.length);
        return;
      }
      // An atomic fragment (offset 0, no more): just a packet.
    }
    this.transport(6, data, p + V6_SRC, p + V6_DST, next, data, q, end);
  }

  private ipv6Upper(
    header: Buffer,
    p: number,
    next: number,
    data: Buffer,
    q: number,
    end: number,
  ): void {
    while (
      (next === IPPROTO_DSTOPTS || next === IPPROTO_ROUTING || next === IPPROTO_HOPOPTS) &&
      q + 2 <= end
    ) {
      const n = data[q];
      q += (data[q + 1] + 1) * EXT_LEN_UNIT;
      next = n;
    }
    if (q > end) {
      this.stats.malformed++;
      return;
    }
    this.transport(6, header, p + V6_SRC, p + V6_DST, next, data, q, end);
  }

  /**
   * The transport header at data[p, end). The addresses are in `addr` at srcAt and dstAt (the
   * frame, which differs from `data` after reassembly); their text is only built when needed.
   */
  private transport(
    ipVersion: 4 | 6,
    addr: Buffer,
    srcAt: number,
    dstAt: number,
    proto: number,
    data: Buffer,
    p: number,
    end: number,
  ): void {
    if (proto === IPPROTO_UDP) {
      if (end - p < UDP_HEADER) {
        this.stats.malformed++;
        return;
      }
      const srcPort = (data[p] << 8) | data[p + 1];
      const dstPort = (data[p + 2] << 8) | data[p + 3];
      const udpLength = (data[p + UDP_LENGTH] << 8) | data[p + UDP_LENGTH + 1];
      let stop = udpLength >= UDP_HEADER ? p + udpLength : end;
      if (stop > end) stop = end;
      const from = p + UDP_HEADER;
      if (dstPort === VXLAN_PORT && stop - from >= VXLAN_HEADER && data[from] & VXLAN_FLAG_I) {
        this.ethernet(data.subarray(from + VXLAN_HEADER, stop));
        return;
      }
      if (srcPort === HEP3_PORT || dstPort === HEP3_PORT) {
        const payload = data.subarray(from, stop);
        if (isHep3(payload)) {
          this.hep(this.frame, this.ts, payload);
          return;
        }
      }
      this.stats.udp++;
      const view = this.view;
      if (view) {
        view.frame = this.frame;
        view.ts = this.ts;
        view.ipVersion = ipVersion;
        view.addr = addr;
        view.srcAt = srcAt;
        view.dstAt = dstAt;
        view.srcPort = srcPort;
        view.dstPort = dstPort;
        view.data = data;
        view.start = from;
        view.end = stop;
        const taken = this.handlers.onUdpView!(view);
        // Let go of the buffers: the view must not keep the reader's chunk alive.
        view.addr = EMPTY;
        view.data = EMPTY;
        if (taken) return;
      }
      this.handlers.onUdp({
        frame: this.frame,
        ts: this.ts,
        ipVersion,
        src: addressText(ipVersion, addr, srcAt),
        dst: addressText(ipVersion, addr, dstAt),
        proto: 'udp',
        srcPort,
        dstPort,
        payload: data.subarray(from, stop),
        hep: undefined,
      });
    } else if (proto === IPPROTO_TCP) {
      if (end - p < TCP_MIN_HEADER) {
        this.stats.malformed++;
        return;
      }
      const dataOffset = (data[p + TCP_DATA_OFFSET] >> 4) * WORD_BYTES;
      if (dataOffset < TCP_MIN_HEADER || p + dataOffset > end) {
        this.stats.malformed++;
        return;
      }
      this.stats.tcpSegments++;
      this.tcp.segment({
        frame: this.frame,
        ts: this.ts,
        ipVersion,
        src: addressText(ipVersion, addr, srcAt),
        dst: addressText(ipVersion, addr, dstAt),
        srcPort: (data[p] << 8) | data[p + 1],
        dstPort: (data[p + 2] << 8) | data[p + 3],
        seq: data.readUInt32BE(p + TCP_SEQ),
        flags: data[p + TCP_FLAGS],
        payload: data.subarray(p + dataOffset, end),
        hep: undefined,
      });
    } else if (proto === IPPROTO_IPIP) this.tunnel(4, data.subarray(p, end));
    else if (proto === IPPROTO_IPV6) this.tunnel(6, data.subarray(p, end));
    else if (proto === IPPROTO_GRE) this.gre(data.subarray(p, end));
    else this.stats.other++;
  }

  /** The IP packet inside a tunnel; nesting is bounded. */
  private tunnel(version: 4 | 6, inner: Buffer): void {
    if (this.depth >= MAX_TUNNEL_DEPTH) {
      this.stats.malformed++;
      return;
    }
    this.depth++;
    if (version === 4) this.ipv4(inner, 0, inner.length);
    else this.ipv6(inner, 0, inner.length);
    this.depth--;
  }

  /** An Ethernet frame inside a tunnel (GRE, ERSPAN, VXLAN). */
  private ethernet(inner: Buffer): void {
    const net = this.innerNet;
    findNetworkLayer(LinkType.ETHERNET, inner, net);
    if (net.version === 0) this.stats.other++;
    else this.tunnel(net.version, inner.subarray(net.offset));
  }

  private gre(g: Buffer): void {
    if (g.length < GRE_HEADER || (g[1] & GRE_VERSION_MASK) !== 0) {
      this.stats.other++;
      return;
    }
    const flags = g[0];
    const type = (g[2] << 8) | g[3];
    let p = GRE_HEADER;
    if (flags & GRE_C) p += GRE_OPTION;
    if (flags & GRE_K) p += GRE_OPTION;
    if (flags & GRE_S) p += GRE_OPTION;
    if (type === GRE_ERSPAN_2 && flags & GRE_S) p += ERSPAN_2_HEADER;
    else if (type === GRE_ERSPAN_3) {
      if (p + ERSPAN_3_HEADER > g.length) {
        this.stats.malformed++;
        return;
      }
      const withSub = (g[p + ERSPAN_3_HEADER - 1] & ERSPAN_3_O_BIT) !== 0;
      p += ERSPAN_3_HEADER + (withSub ? ERSPAN_3_SUBHEADER : 0);
    }
    if (p > g.length) {
      this.stats.malformed++;
      return;
    }
    const inner = g.subarray(p);
    if (type === GRE_IPV4) this.tunnel(4, inner);
    else if (type === GRE_IPV6) this.tunnel(6, inner);
    else if (type === GRE_ETHERNET || type === GRE_ERSPAN_2 || type === GRE_ERSPAN_3)
      this.ethernet(inner);
    else this.stats.other++;
  }

  /** In-order TCP bytes: HEP messages sent over TCP to port 9060 are unwrapped, the rest passed on. */
  private tcpData(d: TcpData): void {
    let pending = this.hepOverTcp.get(d.streamId);
    if (pending === undefined) {
      // The first segment may be shorter than the magic: a prefix of it is enough to wait.
      const hep =
        (d.srcPort === HEP3_PORT || d.dstPort === HEP3_PORT) &&
        d.payload.length > 0 &&
        HEP3_MAGIC_TEXT.subarray(0, Math.min(d.payload.length, HEP3_MAGIC_BYTES)).equals(
          d.payload.subarray(0, HEP3_MAGIC_BYTES),
        );
      if (!hep) {
        this.handlers.onTcpData(d);
        return;
      }
      pending = EMPTY;
    }
    if (pending === null) return;
    const buf = pending.length > 0 ? Buffer.concat([pending, d.payload]) : d.payload;
    let p = 0;
    while (buf.length - p >= HEP3_HEADER_BYTES) {
      const len = buf.readUInt16BE(p + HEP3_MAGIC_BYTES);
      if (buf.readUInt32BE(p) !== HEP3_MAGIC || len < HEP3_HEADER_BYTES) {
        this.handlers.onWarning?.(
          `HEP over TCP stream ${d.streamId} lost its framing: rest ignored`,
          d.frame,
        );
        this.hepOverTcp.set(d.streamId, null);
        return;
      }
      if (buf.length - p < len) break;
      this.hep(d.frame, d.ts, buf.subarray(p, p + len));
      p += len;
    }
    this.hepOverTcp.set(d.streamId, p < buf.length ? Buffer.from(buf.subarray(p)) : EMPTY);
  }

  private tcpEnd(streamId: number): void {
    if (this.hepOverTcp.delete(streamId)) return; // the handlers never saw this stream
    this.handlers.onTcpEnd?.(streamId);
  }

  private hep(frame: number, ts: number, payload: Buffer): void {
    const inner = decodeHep3(payload, frame, ts);
    if (!inner) {
      this.stats.malformed++;
      this.handlers.onWarning?.(
        'HEPv3 message without addresses, ports or payload: skipped',
        frame,
      );
      return;
    }
    this.stats.hep++;
    if (inner.proto === 'udp') {
      this.handlers.onUdp(inner);
      return;
    }
    // HEP carries whole TCP payloads without sequence numbers: each one is the next bytes.
    const key = `${inner.src} ${inner.srcPort} ${inner.dst} ${inner.dstPort}`;
    let streamId = this.hepTcpStreams.get(key);
    if (streamId === undefined) {
      if (this.hepTcpStreams.size >= HEP_TCP_STREAMS_LIMIT) {
        const [oldKey, oldId] = this.hepTcpStreams.entries().next().value as [string, number];
        this.hepTcpStreams.delete(oldKey);
        this.handlers.onTcpEnd?.(oldId);
      }
      streamId = this.nextHepStreamId--;
      this.hepTcpStreams.set(key, streamId);
    }
    this.handlers.onTcpData({ ...inner, proto: 'tcp', streamId });
  }
}

function addressText(version: 4 | 6, buf: Buffer, at: number): string {
  return version === 4 ? ipv4ToString(buf, at) : ipv6ToString(buf, at);
}
