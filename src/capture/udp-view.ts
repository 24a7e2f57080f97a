// One UDP datagram as ranges of the reader's buffer: the decoder's allocation-free hand-out for
// hot paths (RTP). A single UdpView is reused for every datagram: read what you need during the
// call, keep nothing of it (copy the payload if kept). Address text is built only when asked for.
import { ipv4ToString, ipv6ToString } from './ip-address.ts';

const EMPTY = Buffer.alloc(0);
const V6_WORD_BYTES = 4;

export class UdpView {
  /** Frame number (1-based). */
  frame = 0;
  ts = 0;
  ipVersion: 4 | 6 = 4;
  /** The buffer holding the IP addresses, and their offsets in it (4 or 16 bytes each). */
  addr: Buffer = EMPTY;
  srcAt = 0;
  dstAt = 0;
  srcPort = 0;
  dstPort = 0;
  /** The buffer holding the payload, and its range `data[start, end)`. */
  data: Buffer = EMPTY;
  start = 0;
  end = 0;

  /** Canonical source address text ('10.0.0.1', '2001:db8::1'), as Packet.src. */
  get src(): string {
    return this.ipVersion === 4
      ? ipv4ToString(this.addr, this.srcAt)
      : ipv6ToString(this.addr, this.srcAt);
  }

  get dst(): string {
    return this.ipVersion === 4
      ? ipv4ToString(this.addr, this.dstAt)
      : ipv6ToString(this.addr, this.dstAt);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The payload as a Buffer view (valid only during the call, like Packet.payload). */
  payload(): Buffer {
    return this.data.subarray(this.start, this.end);
  }

  /**
   * Word `i` (0-3) of the source address as an unsigned 32-bit number: IPv4 has only word 0,
   * IPv6 four. With `addressWord` of the destination, identifies a flow without building text.
   */
  srcWord(i: number): number {
    return addressWord(this.addr, this.srcAt, this.ipVersion, i);
  }

  dstWord(i: number): number {
    return addressWord(this.addr, this.dstAt, this.ipVersion, i);
  }
}

function addressWord(buf: Buffer, at: number, version: 4 | 6, i: number): number {
  if (version === 4 && i > 0) return 0;
  const p = at + i * V6_WORD_BYTES;
  return ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) + buf[p] * 0x1000000;
}
