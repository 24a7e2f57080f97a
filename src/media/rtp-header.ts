// RTP fixed header (RFC 3550 section 5.1) and the validity heuristics used to spot RTP and RTCP
// in captured UDP payloads (RFC 3550 appendix A.1 and A.2, RFC 5761 section 4).
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
//
// Header extension (RFC 3550 section 5.3.1), present when X is set, after the CSRC list:
//
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |      defined by profile       |           length              |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                        header extension                       |
// |                             ....                              |
//
// length counts 32-bit words of extension data, not including the 4-byte extension header.
// With P set, the last payload octet says how many octets of padding (itself included) to drop.
//
// The one place the RTP header is read: media, SRTP, the phone, the call server's relay and the
// capture analyzer all read it here. The rtp*At readers read one field in place at an offset,
// allocating nothing (the analyzer's and the relay's hot paths); parseRtpHeader reads them all.

export const RTP_VERSION = 2;
export const RTP_FIXED_HEADER_LENGTH = 12;
export const RTP_CSRC_LENGTH = 4;
export const RTP_EXTENSION_HEADER_LENGTH = 4;

// Octet 0
export const RTP_VERSION_SHIFT = 6;
export const RTP_PADDING_BIT = 0x20;
export const RTP_EXTENSION_BIT = 0x10;
const CSRC_COUNT_MASK = 0x0f;
export const RTP_MAX_CSRC = 15;
// Octet 1
export const RTP_MARKER_BIT = 0x80;
const PAYLOAD_TYPE_MASK = 0x7f;
// Offsets of the fixed header fields
export const RTP_SEQUENCE_OFFSET = 2;
export const RTP_TIMESTAMP_OFFSET = 4;
export const RTP_SSRC_OFFSET = 8;
/** Offset of the extension's length (in 32-bit words) within its 4-octet header. */
const EXTENSION_LENGTH_OFFSET = 2;
const WORD = 4;

/** RTCP packet types SR (200) .. XR (207): RFC 3550, RFC 4585, RFC 3611. */
export const RTCP_TYPE_FIRST = 200;
export const RTCP_TYPE_LAST = 207;
/**
 * RTP payload types that read as RTCP when RTP and RTCP share a port (RFC 5761 §4): with the
 * marker bit set, PT 72-79 is the second byte of RTCP packet types 200-207 (SR, RR, SDES, BYE,
 * APP, and RFC 4585's RTPFB/PSFB and RFC 3611's XR). Such a packet is taken for RTCP.
 */
const RTCP_COLLIDING_PT_FIRST = 72;
const RTCP_COLLIDING_PT_LAST = 79;

/** Whether an RTP payload type (the 7 bits after the marker) is one of RTCP's (RFC 5761 §4). */
export function isRtcpPayloadType(payloadType: number): boolean {
  return payloadType >= RTCP_COLLIDING_PT_FIRST && payloadType <= RTCP_COLLIDING_PT_LAST;
}

/** Whether the octet at `at` starts an RTP (or RTCP) packet: version 2. */
export function isRtpVersion2At(buf: Uint8Array, at = 0): boolean {
  return buf[at]! >> RTP_VERSION_SHIFT === RTP_VERSION;
}

/** The payload type (7 bits) of the packet at `at`. */
export function rtpPayloadTypeAt(buf: Uint8Array, at = 0): number {
  return buf[at + 1]! & PAYLOAD_TYPE_MASK;
}

/** The marker bit of the packet at `at`. */
export function rtpMarkerAt(buf: Uint8Array, at = 0): boolean {
  return (buf[at + 1]! & RTP_MARKER_BIT) !== 0;
}

/** The sequence number of the packet at `at`. */
export function rtpSequenceAt(buf: Uint8Array, at = 0): number {
  return (buf[at + RTP_SEQUENCE_OFFSET]! << 8) | buf[at + RTP_SEQUENCE_OFFSET + 1]!;
}

function u32At(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** The timestamp of the packet at `at`. */
export function rtpTimestampAt(buf: Uint8Array, at = 0): number {
  return u32At(buf, at + RTP_TIMESTAMP_OFFSET);
}

/** The SSRC of the packet at `at` (unsigned). */
export function rtpSsrcAt(buf: Uint8Array, at = 0): number {
  return u32At(buf, at + RTP_SSRC_OFFSET);
}

/**
 * Octets of header (fixed part, CSRCs, extension) of the version-2 packet in buf[at, end), or
 * -1 when it is not version 2 or its header does not fit. Padding is not looked at.
 */
export function rtpHeaderLengthAt(buf: Uint8Array, at = 0, end = buf.length): number {
  if (end - at < RTP_FIXED_HEADER_LENGTH) return -1;
  const b0 = buf[at]!;
  if (b0 >> RTP_VERSION_SHIFT !== RTP_VERSION) return -1;
  let length = RTP_FIXED_HEADER_LENGTH + (b0 & CSRC_COUNT_MASK) * RTP_CSRC_LENGTH;
  if (b0 & RTP_EXTENSION_BIT) {
    if (end - at < length + RTP_EXTENSION_HEADER_LENGTH) return -1;
    const o = at + length + EXTENSION_LENGTH_OFFSET;
    const words = (buf[o]! << 8) | buf[o + 1]!;
    length += RTP_EXTENSION_HEADER_LENGTH + words * WORD;
  }
  return end - at >= length ? length : -1;
}

/**
 * The payload of an RTP packet, a view after its CSRCs and header extension with its padding
 * removed. Lenient, for captures: a header extension or padding count that runs past the end is
 * clipped rather than refused (parseRtpHeader refuses such a packet).
 */
export function rtpPayload(buf: Buffer): Buffer {
  const b0 = buf[0]!;
  let offset = RTP_FIXED_HEADER_LENGTH + (b0 & CSRC_COUNT_MASK) * RTP_CSRC_LENGTH;
  if (b0 & RTP_EXTENSION_BIT && buf.length >= offset + RTP_EXTENSION_HEADER_LENGTH) {
    const words =
      (buf[offset + EXTENSION_LENGTH_OFFSET]! << 8) | buf[offset + EXTENSION_LENGTH_OFFSET + 1]!;
    offset += RTP_EXTENSION_HEADER_LENGTH + words * WORD;
  }
  let end = buf.length;
  if (b0 & RTP_PADDING_BIT && end > offset) end -= Math.min(buf[end - 1]!, end - offset);
  return buf.subarray(Math.min(offset, end), end);
}

export interface RtpHeader {
  version: number;
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrc: number[];
  /** The 16-bit "defined by profile" field of the header extension, when X is set. */
  extensionProfile?: number;
  /** Extension data (without its 4-byte header), a view into the parsed buffer. */
  extensionData?: Buffer;
  /** Octets of header: fixed header, CSRCs and the extension. */
  headerLength: number;
  /** Octets of padding at the end (0 when P is clear). */
  paddingLength: number;
  /** Where the payload starts in the parsed buffer. */
  payloadOffset: number;
  /** Payload octets, padding removed. */
  payloadLength: number;
}

/**
 * Reads an RTP header. Returns undefined when the buffer cannot be an RTP packet: shorter than
 * its header, version not 2, or padding longer than the payload.
 */
export function parseRtpHeader(buf: Uint8Array): RtpHeader | undefined {
  if (buf.length < RTP_FIXED_HEADER_LENGTH) return undefined;
  const b0 = buf[0]!;
  const version = b0 >> RTP_VERSION_SHIFT;
  if (version !== RTP_VERSION) return undefined;
  const padding = (b0 & RTP_PADDING_BIT) !== 0;
  const extension = (b0 & RTP_EXTENSION_BIT) !== 0;
  const csrcCount = b0 & CSRC_COUNT_MASK;
  const b1 = buf[1]!;
  const view = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);

  let offset = RTP_FIXED_HEADER_LENGTH;
  if (buf.length < offset + csrcCount * RTP_CSRC_LENGTH) return undefined;
  const csrc: number[] = [];
  for (let i = 0; i < csrcCount; i++) {
    csrc.push(view.readUInt32BE(offset));
    offset += RTP_CSRC_LENGTH;
  }

  let extensionProfile: number | undefined;
  let extensionData: Buffer | undefined;
  if (extension) {
    if (buf.length < offset + RTP_EXTENSION_HEADER_LENGTH) return undefined;
    extensionProfile = view.readUInt16BE(offset);
    const words = view.readUInt16BE(offset + 2);
    offset += RTP_EXTENSION_HEADER_LENGTH;
    if (buf.length < offset + words * 4) return undefined;
    extensionData = view.subarray(offset, offset + words * 4);
    offset += words * 4;
  }

  let paddingLength = 0;
  if (padding) {
    if (buf.length === offset) return undefined;
    paddingLength = buf[buf.length - 1]!;
    if (paddingLength === 0 || offset + paddingLength > buf.length) return undefined;
  }

  const header: RtpHeader = {
    version,
    padding,
    extension,
    csrcCount,
    marker: (b1 & RTP_MARKER_BIT) !== 0,
    payloadType: b1 & PAYLOAD_TYPE_MASK,
    sequenceNumber: rtpSequenceAt(buf),
    timestamp: rtpTimestampAt(buf),
    ssrc: rtpSsrcAt(buf),
    csrc,
    headerLength: offset,
    paddingLength,
    payloadOffset: offset,
    payloadLength: buf.length - offset - paddingLength,
  };
  if (extension) {
    header.extensionProfile = extensionProfile;
    header.extensionData = extensionData;
  }
  return header;
}

/**
 * Heuristic: could this UDP payload be an RTP packet? Version 2, a header that fits, padding
 * that fits, and a payload type that is not 72-76 (which would be RTCP SR..APP with the marker
 * bit, RFC 5761 section 4). An SSRC of 0 with a zero timestamp and sequence is rejected too:
 * that is what zero-filled keepalives look like.
 */
export function looksLikeRtp(buf: Uint8Array): boolean {
  const header = parseRtpHeader(buf);
  if (!header) return false;
  if (isRtcpPayloadType(header.payloadType)) return false;
  if (header.ssrc === 0 && header.timestamp === 0 && header.sequenceNumber === 0) return false;
  return true;
}

// RTCP common header (RFC 3550 section 6.4.1):
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |V=2|P|    RC   |   PT=SR=200   |             length            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// length is the packet size in 32-bit words minus one.

const RTCP_HEADER_LENGTH = 4;
const RTCP_TYPE_OFFSET = 1;
const RTCP_LENGTH_OFFSET = 2;

/**
 * Heuristic: could this UDP payload be a (compound) RTCP packet? Version 2 in every packet, the
 * first packet type in SR..XR (200-207), and the length fields walk exactly to the end of the
 * buffer (RFC 3550 appendix A.2, relaxed to allow a first packet that is not SR/RR, as
 * reduced-size RTCP of RFC 5506 does).
 */
export function looksLikeRtcp(buf: Uint8Array): boolean {
  if (buf.length < RTCP_HEADER_LENGTH * 2 || buf.length % 4 !== 0) return false;
  let offset = 0;
  let first = true;
  while (offset < buf.length) {
    if (buf.length - offset < RTCP_HEADER_LENGTH) return false;
    if (!isRtpVersion2At(buf, offset)) return false;
    const type = buf[offset + RTCP_TYPE_OFFSET]!;
    if (first && (type < RTCP_TYPE_FIRST || type > RTCP_TYPE_LAST)) return false;
    // Later packets may be of types we do not know (for example APP = 204 or future ones).
    if (type < 192 || type > 223) return false;
    const words = (buf[offset + RTCP_LENGTH_OFFSET]! << 8) | buf[offset + RTCP_LENGTH_OFFSET + 1]!;
    offset += (words + 1) * 4;
    first = false;
  }
  return offset === buf.length;
}
