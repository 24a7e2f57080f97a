// Classic libpcap files (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html).
import type { FormatParser, ParseState } from './parse-state.ts';
import { MAX_RECORD_BYTES, u32 } from './parse-state.ts';

/*
 File header (24 bytes), in the byte order of the writer:
    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 0 |                          Magic Number                         |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 4 |          Major Version        |         Minor Version         |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 8 |                           Reserved1                           |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
12 |                           Reserved2                           |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
16 |                            SnapLen                            |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
20 | FCS |f|0 0 0 0 0 0 0 0 0 0 0 0|         LinkType              |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

 Packet record header (16 bytes), then Captured Packet Length bytes of data:
 0 |                      Timestamp (Seconds)                      |
 4 |            Timestamp (Microseconds or nanoseconds)            |
 8 |                    Captured Packet Length                     |
12 |                    Original Packet Length                     |
*/
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Alexey Kuznetzov's patched libpcap: µs, and 8 more bytes per record header (ifindex, protocol, pkt_type, pad). */
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const MODIFIED_EXTRA_BYTES = 8;
export const PCAP_HEADER_BYTES = 24;
const HDR_SNAPLEN = 16;
const HDR_LINKTYPE = 20;
const LINKTYPE_MASK = 0xffff;
const RECORD_HEADER_BYTES = 16;
const REC_TS_SEC = 0;
const REC_TS_FRAC = 4;
const REC_CAPLEN = 8;
const REC_ORIGLEN = 12;
/** Wireshark's own upper bound for a packet in a pcap file. */
const MAX_STANDARD_PACKET = 262144;

/** Byte order and resolution of a pcap file from its first 4 bytes, or undefined if not pcap. */
export function pcapMagic(
  buf: Buffer,
  p: number,
): { le: boolean; nano: boolean; modified: boolean } | undefined {
  for (const le of [true, false]) {
    const magic = u32(buf, p, le);
    if (magic === PCAP_MAGIC_US) return { le, nano: false, modified: false };
    if (magic === PCAP_MAGIC_NS) return { le, nano: true, modified: false };
    if (magic === PCAP_MAGIC_MODIFIED) return { le, nano: false, modified: true };
  }
  return undefined;
}

export class PcapParser implements FormatParser {
  private readonly state: ParseState;
  private headerDone = false;
  private le = true;
  private nano = false;
  private linkType = 0;
  private maxCaplen = MAX_STANDARD_PACKET;
  private recordHeader = RECORD_HEADER_BYTES;

  constructor(state: ParseState) {
    this.state = state;
  }

  parse(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    const state = this.state;
    if (!this.headerDone) {
      if (end - pos < PCAP_HEADER_BYTES) return pos;
      const magic = pcapMagic(buf, pos);
      if (!magic) {
        state.fail('not a pcap file (bad magic number)', fileOffset + pos);
        return pos;
      }
      this.le = magic.le;
      this.nano = magic.nano;
      if (magic.modified) this.recordHeader = RECORD_HEADER_BYTES + MODIFIED_EXTRA_BYTES;
      this.linkType = u32(buf, pos + HDR_LINKTYPE, this.le) & LINKTYPE_MASK;
      const snaplen = u32(buf, pos + HDR_SNAPLEN, this.le);
      this.maxCaplen = Math.min(Math.max(snaplen, MAX_STANDARD_PACKET), MAX_RECORD_BYTES);
      this.headerDone = true;
      pos += PCAP_HEADER_BYTES;
    }
    const le = this.le;
    const nano = this.nano;
    const linkType = this.linkType;
    const maxCaplen = this.maxCaplen;
    const recordHeader = this.recordHeader;
    const emit = state.emit;
    let frames = state.frames;
    while (end - pos >= recordHeader) {
      const caplen = u32(buf, pos + REC_CAPLEN, le);
      if (caplen > maxCaplen) {
        state.frames = frames;
        state.fail(
          `packet record claims ${caplen} captured bytes (limit ${maxCaplen})`,
          fileOffset + pos,
        );
        return pos;
      }
      const dataStart = pos + recordHeader;
      if (end - dataStart < caplen) break;
      const sec = u32(buf, pos + REC_TS_SEC, le);
      const frac = u32(buf, pos + REC_TS_FRAC, le);
      const origLen = u32(buf, pos + REC_ORIGLEN, le);
      const ts = nano ? sec + Math.round(frac / 1000) / 1e6 : sec + frac / 1e6;
      frames++;
      state.frames = frames;
      emit(buf, dataStart, dataStart + caplen, frames, ts, linkType, origLen, 0);
      pos = dataStart + caplen;
    }
    state.frames = frames;
    return pos;
  }

  truncation(buf: Buffer, pos: number, end: number): string {
    if (!this.headerDone) return `file ends inside the pcap file header (${end - pos} of 24 bytes)`;
    if (end - pos < this.recordHeader)
      return `file ends inside a packet record header (${end - pos} of ${this.recordHeader} bytes)`;
    const caplen = u32(buf, pos + REC_CAPLEN, this.le);
    return `file ends inside packet data (${end - pos - this.recordHeader} of ${caplen} bytes)`;
  }
}
