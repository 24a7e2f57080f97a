// An RTP packet (RFC 3550 section 5.1) that can be read from and written to the wire.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                           timestamp                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           synchronization source (SSRC) identifier            |
// +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
// |            contributing source (CSRC) identifiers             |
// |                             ....                              |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |      defined by profile       |           length              |  (if X)
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                        header extension                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            payload                            |
// |                               +-------------------------------+
// |                               | padding ...   | padding count |  (if P)
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The extension is kept as its profile number and raw data (a multiple of 4 octets), whatever
// the profile (RFC 8285 one-byte 0xBEDE, two-byte 0x100x, or another).

import {
  parseRtpHeader,
  RTP_CSRC_LENGTH,
  RTP_EXTENSION_BIT as EXTENSION_BIT,
  RTP_EXTENSION_HEADER_LENGTH,
  RTP_FIXED_HEADER_LENGTH,
  RTP_MARKER_BIT as MARKER_BIT,
  RTP_MAX_CSRC as MAX_CSRC,
  RTP_PADDING_BIT as PADDING_BIT,
  RTP_SEQUENCE_OFFSET as SEQUENCE_OFFSET,
  RTP_SSRC_OFFSET as SSRC_OFFSET,
  RTP_TIMESTAMP_OFFSET as TIMESTAMP_OFFSET,
  RTP_VERSION,
  RTP_VERSION_SHIFT as VERSION_SHIFT,
} from './rtp-header.ts';

export class RtpParseError extends Error {
  override name = 'RtpParseError';
}

export interface RtpPacketFields {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  csrc?: number[];
  /** Profile number of the header extension; the extension is present when this is set. */
  extensionProfile?: number;
  /** Extension data, a multiple of 4 octets. */
  extensionData?: Uint8Array;
  payload?: Uint8Array;
  /** Octets of padding to append (0 = no P bit); 1..255. */
  paddingLength?: number;
}

export class RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  csrc: number[];
  extensionProfile: number | undefined;
  extensionData: Uint8Array | undefined;
  payload: Uint8Array;
  paddingLength: number;

  constructor(fields: RtpPacketFields) {
    this.payloadType = fields.payloadType;
    this.sequenceNumber = fields.sequenceNumber;
    this.timestamp = fields.timestamp;
    this.ssrc = fields.ssrc;
    this.marker = fields.marker ?? false;
    this.csrc = fields.csrc ?? [];
    this.extensionProfile = fields.extensionProfile;
    this.extensionData = fields.extensionData;
    this.payload = fields.payload ?? new Uint8Array(0);
    this.paddingLength = fields.paddingLength ?? 0;
  }

  /**
   * Reads a packet. The payload and extension data are views into `buf` (no copy): copy them
   * if the buffer is reused. Throws RtpParseError on a malformed packet.
   */
  static unmarshal(buf: Uint8Array): RtpPacket {
    const h = parseRtpHeader(buf);
    if (!h) throw new RtpParseError(describeBadPacket(buf));
    const packet = new RtpPacket({
      payloadType: h.payloadType,
      sequenceNumber: h.sequenceNumber,
      timestamp: h.timestamp,
      ssrc: h.ssrc,
      marker: h.marker,
      csrc: h.csrc,
      payload: buf.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength),
      paddingLength: h.paddingLength,
    });
    if (h.extension) {
      packet.extensionProfile = h.extensionProfile;
      packet.extensionData = h.extensionData;
    }
    return packet;
  }

  /** Octets marshal() will produce. */
  marshalSize(): number {
    const extension =
      this.extensionProfile !== undefined
        ? RTP_EXTENSION_HEADER_LENGTH + (this.extensionData?.length ?? 0)
        : 0;
    return (
      RTP_FIXED_HEADER_LENGTH +
      this.csrc.length * RTP_CSRC_LENGTH +
      extension +
      this.payload.length +
      this.paddingLength
    );
  }

  /** The packet as a new Buffer. */
  marshal(): Buffer {
    const out = Buffer.allocUnsafe(this.marshalSize());
    this.marshalTo(out, 0);
    return out;
  }

  /**
   * Writes the packet into `buf` at `offset` without allocating; returns the octets written.
   * Throws RangeError when it does not fit or a field is out of range.
   */
  marshalTo(buf: Uint8Array, offset = 0): number {
    const size = this.marshalSize();
    if (offset < 0 || offset + size > buf.length) {
      throw new RangeError(
        `RTP packet of ${size} octets does not fit at ${offset} in ${buf.length}`,
      );
    }
    if (this.csrc.length > MAX_CSRC) throw new RangeError(`${this.csrc.length} CSRCs (at most 15)`);
    if (this.payloadType < 0 || this.payloadType > 127) {
      throw new RangeError(`payload type ${this.payloadType}`);
    }
    if (this.paddingLength < 0 || this.paddingLength > 255) {
      throw new RangeError(`padding ${this.paddingLength}`);
    }
    const extensionLength = this.extensionData?.length ?? 0;
    if (extensionLength % 4 !== 0) {
      throw new RangeError(`extension data of ${extensionLength} octets is not a multiple of 4`);
    }
    const hasExtension = this.extensionProfile !== undefined;
    buf[offset] =
      (RTP_VERSION << VERSION_SHIFT) |
      (this.paddingLength > 0 ? PADDING_BIT : 0) |
      (hasExtension ? EXTENSION_BIT : 0) |
      this.csrc.length;
    buf[offset + 1] = (this.marker ? MARKER_BIT : 0) | this.payloadType;
    writeU16(buf, offset + SEQUENCE_OFFSET, this.sequenceNumber & 0xffff);
    writeU32(buf, offset + TIMESTAMP_OFFSET, this.timestamp >>> 0);
    writeU32(buf, offset + SSRC_OFFSET, this.ssrc >>> 0);
    let o = offset + RTP_FIXED_HEADER_LENGTH;
    for (const csrc of this.csrc) {
      writeU32(buf, o, csrc >>> 0);
      o += RTP_CSRC_LENGTH;
    }
    if (hasExtension) {
      writeU16(buf, o, this.extensionProfile! & 0xffff);
      writeU16(buf, o + 2, extensionLength / 4);
      o += RTP_EXTENSION_HEADER_LENGTH;
      if (this.extensionData) buf.set(this.extensionData, o);
      o += extensionLength;
    }
    buf.set(this.payload, o);
    o += this.payload.length;
    if (this.paddingLength > 0) {
      buf.fill(0, o, o + this.paddingLength - 1);
      buf[o + this.paddingLength - 1] = this.paddingLength;
      o += this.paddingLength;
    }
    return o - offset;
  }
}

function writeU16(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value >>> 8;
  buf[offset + 1] = value & 0xff;
}

function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value >>> 24;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
}

function describeBadPacket(buf: Uint8Array): string {
  if (buf.length < RTP_FIXED_HEADER_LENGTH)
    return `RTP packet of ${buf.length} octets is shorter than 12`;
  const version = buf[0]! >> VERSION_SHIFT;
  if (version !== RTP_VERSION) return `RTP version ${version}, expected 2`;
  return 'RTP header (CSRC list, extension or padding) runs past the end of the packet';
}
