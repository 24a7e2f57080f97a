// HEPv3 (Homer Encapsulation Protocol, https://github.com/sipcapture/HEP docs: HEP3 Network
// Protocol Specification): a captured packet and its original addresses inside a UDP datagram.
import { inflateSync, gunzipSync } from 'node:zlib';
import { ipv4ToString, ipv6ToString } from './ip-address.ts';
import type { HepInfo, Packet } from './packet.ts';
import { ipv4Bytes as ipv4AddressBytes, ipv6Bytes } from './packet-builder.ts';

function ipBytes(address: string): Buffer {
  return address.includes(':') ? ipv6Bytes(address) : ipv4AddressBytes(address);
}

/*
 Header:
   0                   1                   2                   3
   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
  +---------------------------------------------------------------+
  |                     "HEP3" (0x48 0x45 0x50 0x33)              |
  +-------------------------------+-------------------------------+
  |        Total length           |  chunks ...
  +-------------------------------+
 Each chunk:
  +-------------------------------+-------------------------------+
  |        Vendor ID              |        Chunk type ID          |
  +-------------------------------+-------------------------------+
  |  Length (with this header)    |  Value (Length - 6 bytes) ...
  +-------------------------------+
*/
export const HEP3_PORT = 9060;
const HEP3_ID = 0x48455033; // "HEP3"
const HEADER_BYTES = 6;
const HDR_TOTAL_LENGTH = 4;
const CHUNK_HEADER_BYTES = 6;
const CHUNK_VENDOR = 0;
const CHUNK_TYPE = 2;
const CHUNK_LENGTH = 4;
const VENDOR_GENERIC = 0;

/** Generic chunk types (vendor 0). */
export const HepChunk = {
  IP_FAMILY: 1,
  IP_PROTO: 2,
  IPV4_SRC: 3,
  IPV4_DST: 4,
  IPV6_SRC: 5,
  IPV6_DST: 6,
  SRC_PORT: 7,
  DST_PORT: 8,
  TS_SEC: 9,
  TS_USEC: 10,
  PROTO_TYPE: 11,
  CAPTURE_ID: 12,
  KEEP_ALIVE: 13,
  AUTH_KEY: 14,
  PAYLOAD: 15,
  COMPRESSED_PAYLOAD: 16,
  CORRELATION_ID: 17,
} as const;

export const HEP_FAMILY_IPV4 = 2;
export const HEP_FAMILY_IPV6 = 10;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** True when the bytes start with the HEPv3 magic. */
export function isHep3(payload: Buffer): boolean {
  return payload.length >= HEADER_BYTES && payload.readUInt32BE(0) === HEP3_ID;
}

function inflate(data: Buffer): Buffer | undefined {
  try {
    return gunzipSync(data);
  } catch {
    try {
      return inflateSync(data);
    } catch {
      return undefined;
    }
  }
}

/**
 * Unwraps one HEPv3 message. Returns the inner packet (its own addresses, ports, time and
 * payload; `ts` is used when the message has no timestamp), or undefined when the message is
 * not HEPv3, is cut short, or lacks addresses, ports or payload.
 */
export function decodeHep3(payload: Buffer, frame: number, ts: number): Packet | undefined {
  if (!isHep3(payload)) return undefined;
  const total = Math.min(payload.readUInt16BE(HDR_TOTAL_LENGTH), payload.length);
  let family = 0;
  let ipProto = IPPROTO_UDP;
  let src: string | undefined;
  let dst: string | undefined;
  let srcPort = -1;
  let dstPort = -1;
  let sec = -1;
  let usec = 0;
  let body: Buffer | undefined;
  const hep: HepInfo = { version: 3 };
  let p = HEADER_BYTES;
  while (p + CHUNK_HEADER_BYTES <= total) {
    const vendor = payload.readUInt16BE(p + CHUNK_VENDOR);
    const type = payload.readUInt16BE(p + CHUNK_TYPE);
    const len = payload.readUInt16BE(p + CHUNK_LENGTH);
    if (len < CHUNK_HEADER_BYTES || p + len > total) return undefined;
    const v = p + CHUNK_HEADER_BYTES;
    const vlen = len - CHUNK_HEADER_BYTES;
    if (vendor === VENDOR_GENERIC) {
      switch (type) {
        case HepChunk.IP_FAMILY:
          if (vlen >= 1) family = payload[v];
          break;
        case HepChunk.IP_PROTO:
          if (vlen >= 1) ipProto = payload[v];
          break;
        case HepChunk.IPV4_SRC:
          if (vlen >= 4) src = ipv4ToString(payload, v);
          break;
        case HepChunk.IPV4_DST:
          if (vlen >= 4) dst = ipv4ToString(payload, v);
          break;
        case HepChunk.IPV6_SRC:
          if (vlen >= 16) src = ipv6ToString(payload, v);
          break;
        case HepChunk.IPV6_DST:
          if (vlen >= 16) dst = ipv6ToString(payload, v);
          break;
        case HepChunk.SRC_PORT:
          if (vlen >= 2) srcPort = payload.readUInt16BE(v);
          break;
        case HepChunk.DST_PORT:
          if (vlen >= 2) dstPort = payload.readUInt16BE(v);
          break;
        case HepChunk.TS_SEC:
          if (vlen >= 4) sec = payload.readUInt32BE(v);
          break;
        case HepChunk.TS_USEC:
          if (vlen >= 4) usec = payload.readUInt32BE(v);
          break;
        case HepChunk.PROTO_TYPE:
          if (vlen >= 1) hep.payloadType = payload[v];
          break;
        case HepChunk.CAPTURE_ID:
          if (vlen >= 4) hep.captureId = payload.readUInt32BE(v);
          break;
        case HepChunk.PAYLOAD:
          body = payload.subarray(v, v + vlen);
          break;
        case HepChunk.COMPRESSED_PAYLOAD:
          body = inflate(payload.subarray(v, v + vlen));
          if (!body) return undefined;
          break;
      }
    }
    p += len;
  }
  if (src === undefined || dst === undefined || srcPort < 0 || dstPort < 0 || !body)
    return undefined;
  const ipVersion: 4 | 6 =
    family === HEP_FAMILY_IPV6 || (family !== HEP_FAMILY_IPV4 && src.includes(':')) ? 6 : 4;
  return {
    frame,
    ts: sec >= 0 ? sec + usec / 1e6 : ts,
    ipVersion,
    src,
    dst,
    proto: ipProto === IPPROTO_TCP ? 'tcp' : 'udp',
    srcPort,
    dstPort,
    payload: body,
    hep,
  };
}

/** What a HEPv3 message carries (encodeHep3's input). */
export interface Hep3Message {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: 'udp' | 'tcp';
  /** Seconds since the epoch (µs kept). */
  ts: number;
  payload: Buffer;
  /** HEP protocol type (chunk 11): 1 SIP (default), 5 RTCP, ... */
  payloadType?: number;
  captureId?: number;
}

const HEP_PROTO_SIP = 1;

/** One HEPv3 message (the inverse of decodeHep3): IP family, addresses, ports, time, payload. */
export function encodeHep3(m: Hep3Message): Buffer {
  const v6 = m.src.includes(':');
  const addrLen = v6 ? 16 : 4;
  const sec = Math.floor(m.ts);
  const usec = Math.min(999999, Math.round((m.ts - sec) * 1e6));
  const sizes = [1, 1, addrLen, addrLen, 2, 2, 4, 4, 1, 4, m.payload.length];
  const total = HEADER_BYTES + sizes.reduce((n, v) => n + CHUNK_HEADER_BYTES + v, 0);
  const out = Buffer.alloc(total);
  out.writeUInt32BE(HEP3_ID, 0);
  out.writeUInt16BE(total, HDR_TOTAL_LENGTH);
  let p = HEADER_BYTES;
  const chunk = (type: number, length: number): number => {
    out.writeUInt16BE(VENDOR_GENERIC, p + CHUNK_VENDOR);
    out.writeUInt16BE(type, p + CHUNK_TYPE);
    out.writeUInt16BE(CHUNK_HEADER_BYTES + length, p + CHUNK_LENGTH);
    const at = p + CHUNK_HEADER_BYTES;
    p = at + length;
    return at;
  };
  out[chunk(HepChunk.IP_FAMILY, 1)] = v6 ? HEP_FAMILY_IPV6 : HEP_FAMILY_IPV4;
  out[chunk(HepChunk.IP_PROTO, 1)] = m.proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
  ipBytes(m.src).copy(out, chunk(v6 ? HepChunk.IPV6_SRC : HepChunk.IPV4_SRC, addrLen));
  ipBytes(m.dst).copy(out, chunk(v6 ? HepChunk.IPV6_DST : HepChunk.IPV4_DST, addrLen));
  out.writeUInt16BE(m.srcPort, chunk(HepChunk.SRC_PORT, 2));
  out.writeUInt16BE(m.dstPort, chunk(HepChunk.DST_PORT, 2));
  out.writeUInt32BE(sec >>> 0, chunk(HepChunk.TS_SEC, 4));
  out.writeUInt32BE(usec, chunk(HepChunk.TS_USEC, 4));
  out[chunk(HepChunk.PROTO_TYPE, 1)] = m.payloadType ?? HEP_PROTO_SIP;
  out.writeUInt32BE((m.captureId ?? 0) >>> 0, chunk(HepChunk.CAPTURE_ID, 4));
  m.payload.copy(out, chunk(HepChunk.PAYLOAD, m.payload.length));
  return out;
}
