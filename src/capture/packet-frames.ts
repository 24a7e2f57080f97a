// Frames for packets that arrived without one (HEPv3 gives the inner addresses and payload, not
// the wire bytes; a call exported from the analyzer has only its SIP messages): an IP packet
// (link type RAW, 101) with a UDP or TCP header. TCP gets a running sequence number per
// direction of each connection, so a reader reassembles the bytes in order.
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipPacket,
  tcpSegment,
  TcpFlag,
  udpSegment,
} from './packet-builder.ts';

/** The addresses and bytes of one transport payload. */
export interface FramedPayload {
  proto: 'udp' | 'tcp';
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Buffer;
}

/** Largest payload an IPv4 datagram carries (65535 - 20 IP - 8 UDP). */
const MAX_UDP_PAYLOAD = 65507;
/** Connections whose sequence numbers are remembered; the oldest is forgotten past this. */
const MAX_TCP_FLOWS = 65536;

export class PacketFrames {
  private readonly seq = new Map<string, number>();

  /** One IP packet carrying the payload (IPv4 or IPv6 after the address form). */
  frame(p: FramedPayload): Buffer {
    if (p.proto === 'udp') {
      const payload =
        p.payload.length > MAX_UDP_PAYLOAD ? p.payload.subarray(0, MAX_UDP_PAYLOAD) : p.payload;
      return ipPacket(
        p.src,
        p.dst,
        IPPROTO_UDP,
        udpSegment(p.src, p.dst, p.srcPort, p.dstPort, payload),
      );
    }
    const key = `${p.src} ${p.srcPort} ${p.dst} ${p.dstPort}`;
    const seq = this.seq.get(key) ?? 1;
    if (this.seq.size >= MAX_TCP_FLOWS && !this.seq.has(key)) {
      this.seq.delete(this.seq.keys().next().value as string);
    }
    this.seq.set(key, (seq + p.payload.length) >>> 0);
    const segment = tcpSegment(
      p.src,
      p.dst,
      { srcPort: p.srcPort, dstPort: p.dstPort, seq, flags: TcpFlag.PSH | TcpFlag.ACK },
      p.payload,
    );
    return ipPacket(p.src, p.dst, IPPROTO_TCP, segment);
  }
}
