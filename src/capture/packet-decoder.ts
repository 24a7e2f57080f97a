// Frame -> link layer -> IPv4/IPv6 (with fragment reassembly) -> UDP datagrams and TCP streams.
import { LinkType, type CaptureFrame } from './capture-frame.ts';
import { decodeHep3, HEP3_PORT, isHep3 } from './hep3.ts';
import { ipv4ToString, ipv6ToString } from './ip-address.ts';
import { FragmentReassembler, type FragmentLimits } from './ip-fragments.ts';
import { findNetworkLayer, type NetworkStart } from './link-layer.ts';
import type { Packet, TcpData } from './packet.ts';
import { TcpReassembler, type TcpLimits } from './tcp-reassembly.ts';

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

const SUPPORTED_LINK_TYPES = new Set<number>(Object.values(LinkType));
const HEP_TCP_STREAMS_LIMIT = 65536;

export interface PacketHandlers {
  onUdp(p: Packet): void;
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
 * reader reuses: copy what you keep. HEPv3 on UDP port 9060 is unwrapped: the handlers see the
 * inner packet with `hep` set.
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
  private readonly fragments: FragmentReassembler;
  private readonly tcp: TcpReassembler;
  private readonly unknownLinkTypes = new Set<number>();
  private readonly hepTcpStreams = new Map<string, number>();
  private nextHepStreamId = -1;
  private frame = 0;

  constructor(handlers: PacketHandlers, limits: DecoderLimits = {}) {
    this.handlers = handlers;
    const warn = (msg: string, frame: number): void => handlers.onWarning?.(msg, frame);
    this.fragments = new FragmentReassembler((msg) => warn(msg, this.frame), limits.fragments);
    this.tcp = new TcpReassembler(
      { onData: (d) => handlers.onTcpData(d), onEnd: (id) => handlers.onTcpEnd?.(id), warn },
      limits.tcp,
    );
  }

  decode(frame: CaptureFrame): void {
    this.stats.frames++;
    this.frame = frame.index;
    const net = this.net;
    const data = frame.data;
    findNetworkLayer(frame.linkType, data, net);
    if (net.version === 4) this.ipv4(frame, data, net.offset);
    else if (net.version === 6) this.ipv6(frame, data, net.offset);
    else {
      this.stats.other++;
      if (!SUPPORTED_LINK_TYPES.has(frame.linkType) && !this.unknownLinkTypes.has(frame.linkType)) {
        this.unknownLinkTypes.add(frame.linkType);
        this.handlers.onWarning?.(
          `link type ${frame.linkType} is not supported: frames skipped`,
          frame.index,
        );
      }
    }
  }

  /** Ends all TCP streams, delivering what is still held (skipping gaps, with a warning). */
  finish(): void {
    this.tcp.finish();
    for (const id of this.hepTcpStreams.values()) this.handlers.onTcpEnd?.(id);
    this.hepTcpStreams.clear();
  }

  private ipv4(frame: CaptureFrame, data: Buffer, p: number): void {
    if (data.length - p < V4_MIN_HEADER) {
      this.stats.malformed++;
      return;
    }
    const ihl = (data[p] & V4_IHL_MASK) * WORD_BYTES;
    const totalLength = (data[p + V4_TOTAL_LENGTH] << 8) | data[p + V4_TOTAL_LENGTH + 1];
    // Total length 0 happens with TCP segmentation offload: trust the captured length.
    let end = totalLength === 0 ? data.length : p + totalLength;
    if (end > data.length) end = data.length;
    if (ihl < V4_MIN_HEADER || p + ihl > end) {
      this.stats.malformed++;
      return;
    }
    const proto = data[p + V4_PROTOCOL];
    const src = ipv4ToString(data, p + V4_SRC);
    const dst = ipv4ToString(data, p + V4_DST);
    const flagsFrag = (data[p + V4_FLAGS_FRAG] << 8) | data[p + V4_FLAGS_FRAG + 1];
    if (flagsFrag & (V4_MORE_FRAGMENTS | V4_FRAG_OFFSET_MASK)) {
      this.stats.fragments++;
      const id = (data[p + V4_ID] << 8) | data[p + V4_ID + 1];
      const whole = this.fragments.add(
        `4 ${src} ${dst} ${id} ${proto}`,
        frame.ts,
        (flagsFrag & V4_FRAG_OFFSET_MASK) * FRAG_UNIT_BYTES,
        data.subarray(p + ihl, end),
        (flagsFrag & V4_MORE_FRAGMENTS) !== 0,
        proto,
      );
      if (!whole) return;
      this.stats.reassembled++;
      this.transport(frame, 4, src, dst, whole.proto, whole.payload, 0, whole.payload.length);
      return;
    }
    this.transport(frame, 4, src, dst, proto, data, p + ihl, end);
  }

  private ipv6(frame: CaptureFrame, data: Buffer, p: number): void {
    if (data.length - p < V6_HEADER) {
      this.stats.malformed++;
      return;
    }
    const payloadLength = (data[p + V6_PAYLOAD_LENGTH] << 8) | data[p + V6_PAYLOAD_LENGTH + 1];
    // Payload length 0 means a jumbogram (or offload): take what was captured.
    let end = payloadLength === 0 ? data.length : p + V6_HEADER + payloadLength;
    if (end > data.length) end = data.length;
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
    const src = ipv6ToString(data, p + V6_SRC);
    const dst = ipv6ToString(data, p + V6_DST);
    if (fragAt >= 0) {
      const offMore = (data[fragAt + 2] << 8) | data[fragAt + 3];
      const offset = offMore & V6_FRAG_OFFSET_MASK;
      const more = (offMore & V6_MORE_FRAGMENTS) !== 0;
      if (offset !== 0 || more) {
        this.stats.fragments++;
        const id = data.readUInt32BE(fragAt + V6_FRAG_ID);
        const whole = this.fragments.add(
          `6 ${src} ${dst} ${id}`,
          frame.ts,
          offset,
          data.subarray(q, end),
          more,
          offset === 0 ? next : -1,
        );
        if (!whole) return;
        this.stats.reassembled++;
        // The reassembled part may itself start with extension headers (destination options).
        this.ipv6Upper(frame, src, dst, whole.proto, whole.payload, 0, whole.payload.length);
        return;
      }
      // An atomic fragment (offset 0, no more): just a packet.
    }
    this.transport(frame, 6, src, dst, next, data, q, end);
  }

  private ipv6Upper(
    frame: CaptureFrame,
    src: string,
    dst: string,
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
    this.transport(frame, 6, src, dst, next, data, q, end);
  }

  private transport(
    frame: CaptureFrame,
    ipVersion: 4 | 6,
    src: string,
    dst: string,
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
      const payload = data.subarray(p + UDP_HEADER, stop);
      if ((srcPort === HEP3_PORT || dstPort === HEP3_PORT) && isHep3(payload)) {
        this.hep(frame, payload);
        return;
      }
      this.stats.udp++;
      this.handlers.onUdp({
        frame: frame.index,
        ts: frame.ts,
        ipVersion,
        src,
        dst,
        proto: 'udp',
        srcPort,
        dstPort,
        payload,
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
        frame: frame.index,
        ts: frame.ts,
        ipVersion,
        src,
        dst,
        srcPort: (data[p] << 8) | data[p + 1],
        dstPort: (data[p + 2] << 8) | data[p + 3],
        seq: data.readUInt32BE(p + TCP_SEQ),
        flags: data[p + TCP_FLAGS],
        payload: data.subarray(p + dataOffset, end),
        hep: undefined,
      });
    } else this.stats.other++;
  }

  private hep(frame: CaptureFrame, payload: Buffer): void {
    const inner = decodeHep3(payload, frame.index, frame.ts);
    if (!inner) {
      this.stats.malformed++;
      this.handlers.onWarning?.(
        'HEPv3 message without addresses, ports or payload: skipped',
        frame.index,
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
