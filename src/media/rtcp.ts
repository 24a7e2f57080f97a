// RTCP packets (RFC 3550 section 6): sender report, receiver report, source description, BYE,
// read and written as compound packets. Other packet types (APP, feedback, XR) are carried
// through as raw data.
//
// Common header of every RTCP packet (6.4.1):
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |V=2|P|  count  |      PT       |   length (32-bit words - 1)   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// SR (PT=200), count = reception report blocks:
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                         SSRC of sender                        |
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
// |              NTP timestamp, most significant word             |
// |             NTP timestamp, least significant word             |
// |                         RTP timestamp                         |
// |                     sender's packet count                     |
// |                      sender's octet count                     |
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
// |                 report blocks, 24 octets each                 |
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
// |                  profile-specific extensions                  |
//
// RR (PT=201): SSRC of packet sender, then report blocks. A report block (6.4.1):
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
// |                 SSRC_n (SSRC of the reported source)          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | fraction lost |       cumulative number of packets lost       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           extended highest sequence number received           |
// |                      interarrival jitter                      |
// |                         last SR (LSR)                         |
// |                   delay since last SR (DLSR)                  |
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//
// SDES (PT=202), count = chunks; each chunk: SSRC/CSRC, then items <type:8><length:8><text>,
// ended by one to four zero octets so that the next chunk starts on a 32-bit boundary.
// BYE (PT=203), count = sources: the SSRC/CSRCs, then optionally <length:8><reason>, padded.

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;

/** SDES item types (RFC 3550 6.5). */
export const SDES_END = 0;
export const SDES_CNAME = 1;
export const SDES_NAME = 2;
export const SDES_EMAIL = 3;
export const SDES_PHONE = 4;
export const SDES_LOC = 5;
export const SDES_TOOL = 6;
export const SDES_NOTE = 7;
export const SDES_PRIV = 8;

const VERSION = 2;
const VERSION_SHIFT = 6;
const PADDING_BIT = 0x20;
const COUNT_MASK = 0x1f;
const HEADER_LENGTH = 4;
const SENDER_INFO_LENGTH = 20;
const REPORT_BLOCK_LENGTH = 24;
const MAX_COUNT = 31;
// Offsets in a report block.
const RB_SSRC = 0;
const RB_FRACTION = 4;
const RB_CUMULATIVE = 5;
const RB_HIGHEST = 8;
const RB_JITTER = 12;
const RB_LSR = 16;
const RB_DLSR = 20;

export class RtcpParseError extends Error {
  override name = 'RtcpParseError';
}

export interface ReceptionReport {
  /** The source this block is about. */
  ssrc: number;
  /** Fraction lost since the previous report, 8-bit fixed point (lost/expected * 256). */
  fractionLost: number;
  /** Cumulative packets lost, signed 24-bit. */
  cumulativeLost: number;
  extendedHighestSequence: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received from the source (0: none). */
  lastSr: number;
  /** Delay since that SR, in 1/65536 s. */
  delaySinceLastSr: number;
}

export interface SenderInfo {
  /** 64-bit NTP timestamp (seconds since 1900 in the high 32 bits, fraction in the low). */
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export interface SenderReport {
  type: 'sr';
  ssrc: number;
  senderInfo: SenderInfo;
  reports: ReceptionReport[];
  /** Profile-specific extension octets, if any. */
  extension?: Uint8Array;
}

export interface ReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: ReceptionReport[];
  extension?: Uint8Array;
}

export interface SdesItem {
  type: number;
  text: string;
}

export interface SourceDescription {
  type: 'sdes';
  chunks: { ssrc: number; items: SdesItem[] }[];
}

export interface Goodbye {
  type: 'bye';
  sources: number[];
  reason?: string;
}

/** APP, feedback, XR or anything else: header fields and the body after the header. */
export interface OtherRtcp {
  type: 'other';
  packetType: number;
  count: number;
  body: Uint8Array;
}

export type RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherRtcp;

function view(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

function readReport(b: Buffer, o: number): ReceptionReport {
  // Cumulative lost is a signed 24-bit number.
  let cumulative = b.readUIntBE(o + RB_CUMULATIVE, 3);
  if (cumulative & 0x800000) cumulative -= 0x1000000;
  return {
    ssrc: b.readUInt32BE(o + RB_SSRC),
    fractionLost: b[o + RB_FRACTION]!,
    cumulativeLost: cumulative,
    extendedHighestSequence: b.readUInt32BE(o + RB_HIGHEST),
    jitter: b.readUInt32BE(o + RB_JITTER),
    lastSr: b.readUInt32BE(o + RB_LSR),
    delaySinceLastSr: b.readUInt32BE(o + RB_DLSR),
  };
}

function readReports(
  b: Buffer,
  o: number,
  count: number,
  end: number,
  what: string,
): ReceptionReport[] {
  if (o + count * REPORT_BLOCK_LENGTH > end)
    throw new RtcpParseError(`${what}: ${count} report blocks do not fit`);
  const reports: ReceptionReport[] = [];
  for (let i = 0; i < count; i++) reports.push(readReport(b, o + i * REPORT_BLOCK_LENGTH));
  return reports;
}

/** Reads a compound RTCP packet (or a single one). Throws RtcpParseError when malformed. */
export function parseRtcp(buf: Uint8Array): RtcpPacket[] {
  const b = view(buf);
  const packets: RtcpPacket[] = [];
  let offset = 0;
  while (offset < b.length) {
    if (b.length - offset < HEADER_LENGTH)
      throw new RtcpParseError(`${b.length - offset} octets left, no room for a header`);
    const first = b[offset]!;
    if (first >> VERSION_SHIFT !== VERSION)
      throw new RtcpParseError(`RTCP version ${first >> VERSION_SHIFT}`);
    const count = first & COUNT_MASK;
    const packetType = b[offset + 1]!;
    const length = (b.readUInt16BE(offset + 2) + 1) * 4;
    if (offset + length > b.length)
      throw new RtcpParseError(`packet type ${packetType} of ${length} octets runs past the end`);
    let end = offset + length;
    if (first & PADDING_BIT) {
      const padding = b[end - 1]!;
      if (padding === 0 || padding > length - HEADER_LENGTH)
        throw new RtcpParseError(`bad padding ${padding}`);
      end -= padding;
    }
    const body = offset + HEADER_LENGTH;
    packets.push(parseOne(b, packetType, count, body, end));
    offset += length;
  }
  return packets;
}

function parseOne(
  b: Buffer,
  packetType: number,
  count: number,
  body: number,
  end: number,
): RtcpPacket {
  switch (packetType) {
    case RTCP_SR: {
      if (body + 4 + SENDER_INFO_LENGTH > end) throw new RtcpParseError('SR too short');
      const info = body + 4;
      const reportsAt = info + SENDER_INFO_LENGTH;
      const packet: SenderReport = {
        type: 'sr',
        ssrc: b.readUInt32BE(body),
        senderInfo: {
          ntpTimestamp: b.readBigUInt64BE(info),
          rtpTimestamp: b.readUInt32BE(info + 8),
          packetCount: b.readUInt32BE(info + 12),
          octetCount: b.readUInt32BE(info + 16),
        },
        reports: readReports(b, reportsAt, count, end, 'SR'),
      };
      const extensionAt = reportsAt + count * REPORT_BLOCK_LENGTH;
      if (extensionAt < end) packet.extension = b.subarray(extensionAt, end);
      return packet;
    }
    case RTCP_RR: {
      if (body + 4 > end) throw new RtcpParseError('RR too short');
      const packet: ReceiverReport = {
        type: 'rr',
        ssrc: b.readUInt32BE(body),
        reports: readReports(b, body + 4, count, end, 'RR'),
      };
      const extensionAt = body + 4 + count * REPORT_BLOCK_LENGTH;
      if (extensionAt < end) packet.extension = b.subarray(extensionAt, end);
      return packet;
    }
    case RTCP_SDES: {
      const chunks: SourceDescription['chunks'] = [];
      let o = body;
      for (let i = 0; i < count; i++) {
        if (o + 4 > end) throw new RtcpParseError(`SDES chunk ${i + 1} missing`);
        const chunk = { ssrc: b.readUInt32BE(o), items: [] as SdesItem[] };
        o += 4;
        for (;;) {
          if (o >= end) throw new RtcpParseError('SDES chunk without end item');
          const type = b[o]!;
          if (type === SDES_END) {
            // Skip the terminating zeros up to the next 32-bit boundary.
            o = body + Math.ceil((o + 1 - body) / 4) * 4;
            break;
          }
          if (o + 2 > end) throw new RtcpParseError('SDES item header cut short');
          const length = b[o + 1]!;
          if (o + 2 + length > end) throw new RtcpParseError('SDES item runs past the packet');
          // Some senders count a C-style terminating NUL in the item: drop it.
          const text = b.toString('utf8', o + 2, o + 2 + length).replace(/\0+$/, '');
          chunk.items.push({ type, text });
          o += 2 + length;
        }
        chunks.push(chunk);
      }
      return { type: 'sdes', chunks };
    }
    case RTCP_BYE: {
      if (body + count * 4 > end) throw new RtcpParseError(`BYE: ${count} sources do not fit`);
      const sources: number[] = [];
      for (let i = 0; i < count; i++) sources.push(b.readUInt32BE(body + i * 4));
      const packet: Goodbye = { type: 'bye', sources };
      const reasonAt = body + count * 4;
      if (reasonAt < end) {
        const length = b[reasonAt]!;
        if (reasonAt + 1 + length > end)
          throw new RtcpParseError('BYE reason runs past the packet');
        if (length > 0) packet.reason = b.toString('utf8', reasonAt + 1, reasonAt + 1 + length);
      }
      return packet;
    }
    default:
      return { type: 'other', packetType, count, body: b.subarray(body, end) };
  }
}

/** Octets a packet takes on the wire (always a multiple of 4). */
export function rtcpPacketSize(packet: RtcpPacket): number {
  switch (packet.type) {
    case 'sr':
      return (
        HEADER_LENGTH +
        4 +
        SENDER_INFO_LENGTH +
        packet.reports.length * REPORT_BLOCK_LENGTH +
        pad4(packet.extension?.length ?? 0)
      );
    case 'rr':
      return (
        HEADER_LENGTH +
        4 +
        packet.reports.length * REPORT_BLOCK_LENGTH +
        pad4(packet.extension?.length ?? 0)
      );
    case 'sdes': {
      let size = HEADER_LENGTH;
      for (const chunk of packet.chunks) {
        let chunkSize = 4;
        for (const item of chunk.items) chunkSize += 2 + Buffer.byteLength(item.text, 'utf8');
        size += pad4(chunkSize + 1); // at least one terminating zero
      }
      return size;
    }
    case 'bye': {
      const reason = packet.reason ? 1 + Buffer.byteLength(packet.reason, 'utf8') : 0;
      return HEADER_LENGTH + packet.sources.length * 4 + pad4(reason);
    }
    case 'other':
      return HEADER_LENGTH + pad4(packet.body.length);
  }
}

function pad4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function countOf(packet: RtcpPacket): number {
  switch (packet.type) {
    case 'sr':
    case 'rr':
      return packet.reports.length;
    case 'sdes':
      return packet.chunks.length;
    case 'bye':
      return packet.sources.length;
    case 'other':
      return packet.count;
  }
}

const PACKET_TYPES = { sr: RTCP_SR, rr: RTCP_RR, sdes: RTCP_SDES, bye: RTCP_BYE } as const;

function writeReport(b: Buffer, o: number, r: ReceptionReport): void {
  b.writeUInt32BE(r.ssrc >>> 0, o + RB_SSRC);
  b[o + RB_FRACTION] = Math.max(0, Math.min(255, r.fractionLost));
  const cumulative = Math.max(-0x800000, Math.min(0x7fffff, r.cumulativeLost));
  b.writeUIntBE(cumulative & 0xffffff, o + RB_CUMULATIVE, 3);
  b.writeUInt32BE(r.extendedHighestSequence >>> 0, o + RB_HIGHEST);
  b.writeUInt32BE(r.jitter >>> 0, o + RB_JITTER);
  b.writeUInt32BE(r.lastSr >>> 0, o + RB_LSR);
  b.writeUInt32BE(r.delaySinceLastSr >>> 0, o + RB_DLSR);
}

/**
 * Writes one packet into buf at offset without allocating; returns the octets written.
 * Throws RangeError when it does not fit or a count is above 31.
 */
export function marshalRtcpPacketTo(packet: RtcpPacket, buf: Uint8Array, offset = 0): number {
  const b = view(buf);
  const size = rtcpPacketSize(packet);
  if (offset + size > b.length) throw new RangeError(`RTCP packet of ${size} octets does not fit`);
  const count = countOf(packet);
  if (count > MAX_COUNT)
    throw new RangeError(`RTCP count ${count} above 31: split into several packets`);
  b.fill(0, offset, offset + size);
  b[offset] = (VERSION << VERSION_SHIFT) | count;
  b[offset + 1] = packet.type === 'other' ? packet.packetType : PACKET_TYPES[packet.type];
  b.writeUInt16BE(size / 4 - 1, offset + 2);
  let o = offset + HEADER_LENGTH;
  switch (packet.type) {
    case 'sr':
    case 'rr': {
      b.writeUInt32BE(packet.ssrc >>> 0, o);
      o += 4;
      if (packet.type === 'sr') {
        const info = packet.senderInfo;
        b.writeBigUInt64BE(BigInt.asUintN(64, info.ntpTimestamp), o);
        b.writeUInt32BE(info.rtpTimestamp >>> 0, o + 8);
        b.writeUInt32BE(info.packetCount >>> 0, o + 12);
        b.writeUInt32BE(info.octetCount >>> 0, o + 16);
        o += SENDER_INFO_LENGTH;
      }
      for (const report of packet.reports) {
        writeReport(b, o, report);
        o += REPORT_BLOCK_LENGTH;
      }
      if (packet.extension) b.set(packet.extension, o);
      break;
    }
    case 'sdes':
      for (const chunk of packet.chunks) {
        const start = o;
        b.writeUInt32BE(chunk.ssrc >>> 0, o);
        o += 4;
        for (const item of chunk.items) {
          const length = Buffer.byteLength(item.text, 'utf8');
          if (length > 255) throw new RangeError(`SDES item of ${length} octets (at most 255)`);
          b[o] = item.type;
          b[o + 1] = length;
          b.write(item.text, o + 2, 'utf8');
          o += 2 + length;
        }
        o = start + pad4(o - start + 1); // zeros already written by fill()
      }
      break;
    case 'bye':
      for (const source of packet.sources) {
        b.writeUInt32BE(source >>> 0, o);
        o += 4;
      }
      if (packet.reason) {
        const length = Buffer.byteLength(packet.reason, 'utf8');
        if (length > 255) throw new RangeError(`BYE reason of ${length} octets (at most 255)`);
        b[o] = length;
        b.write(packet.reason, o + 1, 'utf8');
      }
      break;
    case 'other':
      b.set(packet.body, o);
      break;
  }
  return size;
}

/** Writes a compound packet (the packets one after the other). */
export function marshalRtcp(packets: RtcpPacket[]): Buffer {
  const out = Buffer.alloc(packets.reduce((n, p) => n + rtcpPacketSize(p), 0));
  let offset = 0;
  for (const packet of packets) offset += marshalRtcpPacketTo(packet, out, offset);
  return out;
}

/** Seconds between 1900-01-01 (NTP era 0) and 1970-01-01 (Unix epoch). */
export const NTP_UNIX_OFFSET_SECONDS = 2208988800;

/** A Unix time in milliseconds as a 64-bit NTP timestamp. */
export function ntpFromUnixMs(ms: number): bigint {
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  return (BigInt(seconds + NTP_UNIX_OFFSET_SECONDS) << 32n) | BigInt(fraction);
}

/** A 64-bit NTP timestamp as Unix milliseconds. */
export function unixMsFromNtp(ntp: bigint): number {
  const seconds = Number(ntp >> 32n) - NTP_UNIX_OFFSET_SECONDS;
  const fraction = Number(ntp & 0xffffffffn) / 0x1_0000_0000;
  return (seconds + fraction) * 1000;
}

/** The middle 32 bits of an NTP timestamp, as LSR carries it. */
export function ntpMiddle32(ntp: bigint): number {
  return Number((ntp >> 16n) & 0xffffffffn);
}
