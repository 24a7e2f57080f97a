// Link layers: find where the IP packet starts in a frame.
import { LinkType } from './capture-frame.ts';

/** Where the network layer starts and which IP version it is (4 or 6), or version 0 for none. */
export interface NetworkStart {
  offset: number;
  version: 0 | 4 | 6;
}

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_QINQ_OLD = 0x9100;
export const ETHERTYPE_PPPOE_SESSION = 0x8864;
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
/** Ethernet type values below this are 802.3 lengths, not types. */
const ETHERTYPE_MIN = 0x0600;

/*
 Ethernet II:  dst MAC (6) | src MAC (6) | EtherType (2) | payload
 802.1Q/QinQ:  ... | TPID 0x8100/0x88a8 (2) | PCP,DEI,VID (2) | EtherType (2) | ...
 PPPoE session (RFC 2516): VER,TYPE (1) | CODE (1) | SESSION_ID (2) | LENGTH (2) | PPP protocol (2)
*/
const ETH_TYPE = 12;
const ETH_HEADER = 14;
const VLAN_TAG = 4;
const PPPOE_HEADER = 6;
const PPP_PROTOCOL = 2;
/*
 Linux cooked v1 (LINKTYPE_LINUX_SLL, 16 bytes):
   packet type (2) | ARPHRD (2) | address length (2) | address (8) | protocol (2)
 Linux cooked v2 (LINKTYPE_LINUX_SLL2, 20 bytes):
   protocol (2) | reserved (2) | interface index (4) | ARPHRD (2) | packet type (1) |
   address length (1) | address (8)
*/
const SLL_PROTOCOL = 14;
const SLL_HEADER = 16;
const SLL2_PROTOCOL = 0;
const SLL2_HEADER = 20;
/*
 BSD loopback (LINKTYPE_NULL): 4-byte address family in the capturing host's byte order.
 OpenBSD loopback (LINKTYPE_LOOP): the same in network byte order.
 AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
*/
const LOOP_HEADER = 4;
const AF_INET = 2;
const AF_INET6_LINUX = 10;
const AF_INET6_BSD = 24;
const AF_INET6_FREEBSD = 28;
const AF_INET6_DARWIN = 30;

/*
 Linux NFLOG (LINKTYPE_NFLOG): family (1) | version (1) | resource id (2, network order), then
 TLVs: length (2) | type (2) | value, padded to 4 bytes; length and type in the capturing host's
 byte order, length counting the 4-byte TLV header. The packet is in NFULA_PAYLOAD.
*/
const NFLOG_HEADER = 4;
const NFLOG_TLV_HEADER = 4;
const NFULA_PAYLOAD = 9;

/** Offset of the NFULA_PAYLOAD value in an NFLOG frame data[start, end), or -1. */
function nflogPayload(data: Buffer, start: number, end: number): number {
  for (const le of [true, false]) {
    let p = start + NFLOG_HEADER;
    while (p + NFLOG_TLV_HEADER <= end) {
      const len = le ? data.readUInt16LE(p) : data.readUInt16BE(p);
      const type = le ? data.readUInt16LE(p + 2) : data.readUInt16BE(p + 2);
      if (len < NFLOG_TLV_HEADER || p + len > end) break;
      if (type === NFULA_PAYLOAD) return p + NFLOG_TLV_HEADER;
      p += (len + 3) & ~3;
    }
  }
  return -1;
}

function familyVersion(af: number): 0 | 4 | 6 {
  if (af === AF_INET) return 4;
  if (
    af === AF_INET6_LINUX ||
    af === AF_INET6_BSD ||
    af === AF_INET6_FREEBSD ||
    af === AF_INET6_DARWIN
  )
    return 6;
  return 0;
}

function versionOfEtherType(type: number): 0 | 4 | 6 {
  return type === ETHERTYPE_IPV4 ? 4 : type === ETHERTYPE_IPV6 ? 6 : 0;
}

function rawVersion(data: Buffer, offset: number, end: number): 0 | 4 | 6 {
  if (offset >= end) return 0;
  const v = data[offset] >> 4;
  return v === 4 ? 4 : v === 6 ? 6 : 0;
}

/**
 * Fills `out` with the network-layer start of the frame data[start, end) for the link type
 * (`out.offset` is an offset into `data`); version 0 = not IP.
 */
export function findNetworkLayer(
  linkType: number,
  data: Buffer,
  out: NetworkStart,
  start = 0,
  end = data.length,
): void {
  out.version = 0;
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (end - start < ETH_HEADER) return;
      let p = start + ETH_TYPE;
      let type = (data[p] << 8) | data[p + 1];
      while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
        p += VLAN_TAG;
        if (p + 2 > end) return;
        type = (data[p] << 8) | data[p + 1];
      }
      p += 2;
      if (type === ETHERTYPE_PPPOE_SESSION) {
        if (p + PPPOE_HEADER + PPP_PROTOCOL > end) return;
        const ppp = (data[p + PPPOE_HEADER] << 8) | data[p + PPPOE_HEADER + 1];
        out.offset = p + PPPOE_HEADER + PPP_PROTOCOL;
        out.version = ppp === PPP_IPV4 ? 4 : ppp === PPP_IPV6 ? 6 : 0;
        return;
      }
      if (type < ETHERTYPE_MIN) return;
      out.offset = p;
      out.version = versionOfEtherType(type);
      return;
    }
    case LinkType.LINUX_SLL:
      if (end - start < SLL_HEADER) return;
      out.offset = start + SLL_HEADER;
      out.version = versionOfEtherType(
        (data[start + SLL_PROTOCOL] << 8) | data[start + SLL_PROTOCOL + 1],
      );
      return;
    case LinkType.LINUX_SLL2:
      if (end - start < SLL2_HEADER) return;
      out.offset = start + SLL2_HEADER;
      out.version = versionOfEtherType(
        (data[start + SLL2_PROTOCOL] << 8) | data[start + SLL2_PROTOCOL + 1],
      );
      return;
    case LinkType.RAW:
    case LinkType.RAW_OLD:
    case LinkType.RAW_OPENBSD:
      out.offset = start;
      out.version = rawVersion(data, start, end);
      return;
    case LinkType.IPV4:
      out.offset = start;
      out.version = rawVersion(data, start, end) === 4 ? 4 : 0;
      return;
    case LinkType.IPV6:
      out.offset = start;
      out.version = rawVersion(data, start, end) === 6 ? 6 : 0;
      return;
    case LinkType.NULL: {
      if (end - start < LOOP_HEADER) return;
      // Host byte order unknown: the family is small, so it sits in the first or the last byte.
      const af = data[start] !== 0 ? data.readUInt32LE(start) : data.readUInt32BE(start);
      out.offset = start + LOOP_HEADER;
      out.version = familyVersion(af);
      return;
    }
    case LinkType.LOOP:
      if (end - start < LOOP_HEADER) return;
      out.offset = start + LOOP_HEADER;
      out.version = familyVersion(data.readUInt32BE(start));
      return;
    case LinkType.NFLOG: {
      const at = nflogPayload(data, start, end);
      if (at < 0) return;
      out.offset = at;
      out.version = rawVersion(data, at, end);
      return;
    }
    default:
      return;
  }
}
