// Builds Ethernet/IPv4/IPv6/UDP/TCP packets with valid lengths and checksums (tests, fixtures,
// bench/generate-capture.ts). Not a hot path.

/** '10.0.0.1' -> 4 bytes. */
export function ipv4Bytes(addr: string): Buffer {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255))
    throw new Error(`not an IPv4 address: ${addr}`);
  return Buffer.from(parts);
}

/** '2001:db8::1' (also '::ffff:1.2.3.4') -> 16 bytes. */
export function ipv6Bytes(addr: string): Buffer {
  let text = addr;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Bytes(dotted[1]);
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    text = text.slice(0, -dotted[1].length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) throw new Error(`not an IPv6 address: ${addr}`);
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const groups = [...head, ...rest, ...tail];
  const zeros = 8 - groups.length;
  if (zeros < 0 || (halves.length === 1 && zeros !== 0))
    throw new Error(`not an IPv6 address: ${addr}`);
  const all = [
    ...head,
    ...new Array<number>(halves.length === 2 ? zeros : 0).fill(0),
    ...rest,
    ...tail,
  ];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** One's complement sum of 16-bit words (RFC 1071), not yet folded and inverted. */
export function onesSum(buf: Buffer, start = 0, end = buf.length, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_FRAGMENT = 44;

function pseudoSum(src: Buffer, dst: Buffer, proto: number, length: number): number {
  let sum = onesSum(src) + onesSum(dst) + proto;
  sum += length > 0xffff ? Math.floor(length / 0x10000) + (length & 0xffff) : length;
  return sum;
}

/** A UDP header + payload with the checksum over the pseudo-header of src/dst. */
export function udpSegment(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  payload: Buffer,
): Buffer {
  const v6 = src.includes(':');
  const s = v6 ? ipv6Bytes(src) : ipv4Bytes(src);
  const d = v6 ? ipv6Bytes(dst) : ipv4Bytes(dst);
  const out = Buffer.alloc(8 + payload.length);
  out.writeUInt16BE(srcPort, 0);
  out.writeUInt16BE(dstPort, 2);
  out.writeUInt16BE(out.length & 0xffff, 4);
  payload.copy(out, 8);
  let ck = foldChecksum(onesSum(out, 0, out.length, pseudoSum(s, d, IPPROTO_UDP, out.length)));
  if (ck === 0) ck = 0xffff;
  out.writeUInt16BE(ck, 6);
  return out;
}

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
}

/** A TCP header (no options) + payload with its checksum. */
export function tcpSegment(src: string, dst: string, f: TcpFields, payload: Buffer): Buffer {
  const v6 = src.includes(':');
  const s = v6 ? ipv6Bytes(src) : ipv4Bytes(src);
  const d = v6 ? ipv6Bytes(dst) : ipv4Bytes(dst);
  const out = Buffer.alloc(20 + payload.length);
  out.writeUInt16BE(f.srcPort, 0);
  out.writeUInt16BE(f.dstPort, 2);
  out.writeUInt32BE(f.seq >>> 0, 4);
  out.writeUInt32BE((f.ack ?? 0) >>> 0, 8);
  out[12] = 5 << 4;
  out[13] = f.flags;
  out.writeUInt16BE(f.window ?? 65535, 14);
  payload.copy(out, 20);
  out.writeUInt16BE(
    foldChecksum(onesSum(out, 0, out.length, pseudoSum(s, d, IPPROTO_TCP, out.length))),
    16,
  );
  return out;
}

export interface Ipv4Options {
  id?: number;
  /** Fragment offset in bytes (multiple of 8). */
  fragOffset?: number;
  moreFragments?: boolean;
  dontFragment?: boolean;
  ttl?: number;
  /** Override the total length field (e.g. 0 as with segmentation offload). */
  totalLength?: number;
}

/** IPv4 header (no options) + payload, header checksum set. */
export function ipv4Packet(
  src: string,
  dst: string,
  proto: number,
  payload: Buffer,
  o: Ipv4Options = {},
): Buffer {
  const out = Buffer.alloc(20 + payload.length);
  out[0] = 0x45;
  out.writeUInt16BE(o.totalLength ?? out.length, 2);
  out.writeUInt16BE(o.id ?? 0, 4);
  const flags = (o.moreFragments ? 0x2000 : 0) | (o.dontFragment ? 0x4000 : 0);
  out.writeUInt16BE(flags | ((o.fragOffset ?? 0) >> 3), 6);
  out[8] = o.ttl ?? 64;
  out[9] = proto;
  ipv4Bytes(src).copy(out, 12);
  ipv4Bytes(dst).copy(out, 16);
  out.writeUInt16BE(foldChecksum(onesSum(out, 0, 20)), 10);
  payload.copy(out, 20);
  return out;
}

/** IPv6 header + already-built extension headers / upper layer. `next` is the first next-header. */
export function ipv6Packet(
  src: string,
  dst: string,
  next: number,
  payload: Buffer,
  hopLimit = 64,
): Buffer {
  const out = Buffer.alloc(40 + payload.length);
  out.writeUInt32BE(0x60000000, 0);
  out.writeUInt16BE(payload.length, 4);
  out[6] = next;
  out[7] = hopLimit;
  ipv6Bytes(src).copy(out, 8);
  ipv6Bytes(dst).copy(out, 24);
  payload.copy(out, 40);
  return out;
}

/** An IP packet (v4 or v6 from the address form) carrying a whole transport segment. */
export function ipPacket(src: string, dst: string, proto: number, segment: Buffer, id = 0): Buffer {
  return src.includes(':')
    ? ipv6Packet(src, dst, proto, segment)
    : ipv4Packet(src, dst, proto, segment, { id });
}

/** Splits a transport segment into IPv4 fragments of at most `chunk` payload bytes (multiple of 8). */
export function ipv4Fragments(
  src: string,
  dst: string,
  proto: number,
  segment: Buffer,
  chunk: number,
  id: number,
): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < segment.length; off += chunk) {
    const part = segment.subarray(off, Math.min(off + chunk, segment.length));
    out.push(
      ipv4Packet(src, dst, proto, part, {
        id,
        fragOffset: off,
        moreFragments: off + chunk < segment.length,
      }),
    );
  }
  return out;
}

/** Splits a transport segment into IPv6 fragments (Fragment extension header, RFC 8200 §4.5). */
export function ipv6Fragments(
  src: string,
  dst: string,
  proto: number,
  segment: Buffer,
  chunk: number,
  id: number,
): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < segment.length; off += chunk) {
    const part = segment.subarray(off, Math.min(off + chunk, segment.length));
    const frag = Buffer.alloc(8 + part.length);
    frag[0] = proto;
    frag.writeUInt16BE(off | (off + chunk < segment.length ? 1 : 0), 2);
    frag.writeUInt32BE(id >>> 0, 4);
    part.copy(frag, 8);
    out.push(ipv6Packet(src, dst, IPPROTO_FRAGMENT, frag));
  }
  return out;
}

export interface EthernetOptions {
  /** VLAN tags, outermost first: { tpid: 0x8100 | 0x88a8, vid }. */
  vlans?: { tpid: number; vid: number }[];
  /** Wrap in a PPPoE session header. */
  pppoe?: boolean;
  src?: Buffer;
  dst?: Buffer;
}

/** Ethernet II frame around an IP packet (EtherType from the IP version nibble). */
export function ethernetFrame(ip: Buffer, o: EthernetOptions = {}): Buffer {
  const v6 = ip[0] >> 4 === 6;
  const parts: Buffer[] = [
    o.dst ?? Buffer.from([0, 0x11, 0x22, 0x33, 0x44, 0x55]),
    o.src ?? Buffer.from([0, 0x66, 0x77, 0x88, 0x99, 0xaa]),
  ];
  for (const tag of o.vlans ?? []) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(tag.tpid, 0);
    t.writeUInt16BE(tag.vid & 0xfff, 2);
    parts.push(t);
  }
  const type = Buffer.alloc(2);
  if (o.pppoe) {
    type.writeUInt16BE(0x8864, 0);
    const h = Buffer.alloc(8);
    h[0] = 0x11; // version 1, type 1
    h[1] = 0x00; // session data
    h.writeUInt16BE(0x1234, 2);
    h.writeUInt16BE(ip.length + 2, 4);
    h.writeUInt16BE(v6 ? 0x0057 : 0x0021, 6);
    parts.push(type, h, ip);
  } else {
    type.writeUInt16BE(v6 ? 0x86dd : 0x0800, 0);
    parts.push(type, ip);
  }
  const frame = Buffer.concat(parts);
  // Ethernet pads to 60 bytes: the decoder must trust the IP length, not the frame length.
  return frame.length < 60 ? Buffer.concat([frame, Buffer.alloc(60 - frame.length)]) : frame;
}
