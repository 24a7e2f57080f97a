// pcapng files (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html).
import type { FormatParser, ParseState } from './parse-state.ts';
import { MAX_RECORD_BYTES, u16, u32 } from './parse-state.ts';

/*
 Every block:
    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   +---------------------------------------------------------------+
 0 |                          Block Type                           |
   +---------------------------------------------------------------+
 4 |                      Block Total Length                       |
   +---------------------------------------------------------------+
 8 /                          Block Body                           /
   +---------------------------------------------------------------+
   |                      Block Total Length                       |
   +---------------------------------------------------------------+

 Section Header Block body: Byte-Order Magic (0x1A2B3C4D), Major u16, Minor u16,
 Section Length i64, options.
 Interface Description Block body: LinkType u16, Reserved u16, SnapLen u32, options
 (if_tsresol = 9, if_tsoffset = 14).
 Enhanced Packet Block body:
 8 |                         Interface ID                          |
12 |                        Timestamp (High)                       |
16 |                        Timestamp (Low)                        |
20 |                    Captured Packet Length                     |
24 |                    Original Packet Length                     |
28 /                          Packet Data (padded to 32 bits)      /
 Simple Packet Block body: Original Packet Length u32, Packet Data.
 Packet Block (obsolete) body: Interface ID u16, Drops Count u16, Timestamp High u32,
 Timestamp Low u32, Captured Length u32, Packet Length u32, Packet Data.
 Options: Code u16, Length u16, Value padded to 32 bits; code 0 ends the list.
*/
export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_PB = 0x00000002;
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_HEAD = 8;
const BLOCK_TAIL = 4;
const MIN_BLOCK = BLOCK_HEAD + BLOCK_TAIL;
const SHB_BOM = 8;
const SHB_MIN = 28;
const IDB_LINKTYPE = 8;
const IDB_SNAPLEN = 12;
const IDB_OPTIONS = 16;
const EPB_IF = 8;
const EPB_TS_HIGH = 12;
const EPB_TS_LOW = 16;
const EPB_CAPLEN = 20;
const EPB_ORIGLEN = 24;
const EPB_DATA = 28;
const SPB_ORIGLEN = 8;
const SPB_DATA = 12;
const PB_IF = 8;
const PB_TS_HIGH = 12;
const PB_TS_LOW = 16;
const PB_CAPLEN = 20;
const PB_ORIGLEN = 24;
const PB_DATA = 28;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
const TSRESOL_POWER_OF_TWO = 0x80;
const TWO_32 = 4294967296;

interface Interface {
  /** Number across all sections, as CaptureFrame.interfaceId. */
  id: number;
  linkType: number;
  snaplen: number;
  ticksPerSecond: number;
  offsetSeconds: number;
}

export class PcapngParser implements FormatParser {
  private readonly state: ParseState;
  private le = true;
  private inSection = false;
  private interfaces: Interface[] = [];
  private interfaceCount = 0;
  private lastTs = 0;

  constructor(state: ParseState) {
    this.state = state;
  }

  parse(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    const state = this.state;
    while (end - pos >= MIN_BLOCK) {
      let type = u32(buf, pos, this.le);
      if (type === BT_SHB) {
        // The byte order can change with each section: read it before trusting the length.
        const leBom = u32(buf, pos + SHB_BOM, true);
        if (leBom === BYTE_ORDER_MAGIC) this.le = true;
        else if (u32(buf, pos + SHB_BOM, false) === BYTE_ORDER_MAGIC) this.le = false;
        else {
          state.fail('section header block has a bad byte-order magic', fileOffset + pos);
          return pos;
        }
        type = BT_SHB;
      } else if (!this.inSection) {
        state.fail('pcapng file does not start with a section header block', fileOffset + pos);
        return pos;
      }
      const le = this.le;
      const len = u32(buf, pos + 4, le);
      if (len < MIN_BLOCK || len % 4 !== 0 || len > MAX_RECORD_BYTES) {
        state.fail(
          `block of type 0x${type.toString(16)} has a bad length ${len}`,
          fileOffset + pos,
        );
        return pos;
      }
      if (end - pos < len) break;
      if (u32(buf, pos + len - BLOCK_TAIL, le) !== len) {
        state.fail(
          `block of type 0x${type.toString(16)}: trailing length differs from leading length`,
          fileOffset + pos,
        );
        return pos;
      }
      if (type === BT_EPB) {
        if (len < EPB_DATA + BLOCK_TAIL) {
          state.fail(`enhanced packet block too short (${len} bytes)`, fileOffset + pos);
          return pos;
        }
        const ifIndex = u32(buf, pos + EPB_IF, le);
        const ifc = this.interfaces[ifIndex];
        const caplen = u32(buf, pos + EPB_CAPLEN, le);
        if (!ifc) {
          state.fail(
            `packet names interface ${ifIndex}, which the section has not described`,
            fileOffset + pos,
          );
          return pos;
        }
        if (caplen > len - EPB_DATA - BLOCK_TAIL) {
          state.fail(
            `enhanced packet block: captured length ${caplen} exceeds the block`,
            fileOffset + pos,
          );
          return pos;
        }
        const ts = this.timestamp(
          ifc,
          u32(buf, pos + EPB_TS_HIGH, le),
          u32(buf, pos + EPB_TS_LOW, le),
        );
        this.emit(ifc, ts, buf, pos + EPB_DATA, caplen, u32(buf, pos + EPB_ORIGLEN, le));
      } else if (type === BT_SPB) {
        const ifc = this.interfaces[0];
        if (!ifc) {
          state.fail('simple packet block before any interface description', fileOffset + pos);
          return pos;
        }
        const origLen = u32(buf, pos + SPB_ORIGLEN, le);
        let caplen = Math.min(origLen, len - SPB_DATA - BLOCK_TAIL);
        if (ifc.snaplen > 0 && caplen > ifc.snaplen) caplen = ifc.snaplen;
        // A simple packet block has no timestamp: keep the previous frame's time.
        this.emit(ifc, this.lastTs, buf, pos + SPB_DATA, caplen, origLen);
      } else if (type === BT_PB) {
        if (len < PB_DATA + BLOCK_TAIL) {
          state.fail(`packet block too short (${len} bytes)`, fileOffset + pos);
          return pos;
        }
        const ifIndex = u16(buf, pos + PB_IF, le);
        const ifc = this.interfaces[ifIndex];
        const caplen = u32(buf, pos + PB_CAPLEN, le);
        if (!ifc) {
          state.fail(
            `packet names interface ${ifIndex}, which the section has not described`,
            fileOffset + pos,
          );
          return pos;
        }
        if (caplen > len - PB_DATA - BLOCK_TAIL) {
          state.fail(`packet block: captured length ${caplen} exceeds the block`, fileOffset + pos);
          return pos;
        }
        const ts = this.timestamp(
          ifc,
          u32(buf, pos + PB_TS_HIGH, le),
          u32(buf, pos + PB_TS_LOW, le),
        );
        this.emit(ifc, ts, buf, pos + PB_DATA, caplen, u32(buf, pos + PB_ORIGLEN, le));
      } else if (type === BT_SHB) {
        if (len < SHB_MIN) {
          state.fail(`section header block too short (${len} bytes)`, fileOffset + pos);
          return pos;
        }
        this.inSection = true;
        this.interfaces = [];
      } else if (type === BT_IDB) {
        if (len < IDB_OPTIONS + BLOCK_TAIL) {
          state.fail(`interface description block too short (${len} bytes)`, fileOffset + pos);
          return pos;
        }
        this.interfaces.push(this.describeInterface(buf, pos, len));
      }
      // Other block types (name resolution, statistics, secrets, custom) carry no frames.
      pos += len;
    }
    return pos;
  }

  truncation(buf: Buffer, pos: number, end: number): string {
    if (end - pos < MIN_BLOCK) return `file ends inside a block header (${end - pos} bytes left)`;
    let le = this.le;
    if (u32(buf, pos, le) === BT_SHB && end - pos >= SHB_BOM + 4)
      le = u32(buf, pos + SHB_BOM, true) === BYTE_ORDER_MAGIC;
    const len = u32(buf, pos + 4, le);
    return `file ends inside a block of type 0x${u32(buf, pos, le).toString(16)} (${end - pos} of ${len} bytes)`;
  }

  private emit(
    ifc: Interface,
    ts: number,
    buf: Buffer,
    start: number,
    caplen: number,
    origLen: number,
  ): void {
    const state = this.state;
    const index = ++state.frames;
    this.lastTs = ts;
    state.emit(buf, start, start + caplen, index, ts, ifc.linkType, origLen, ifc.id);
  }

  private timestamp(ifc: Interface, high: number, low: number): number {
    const tps = ifc.ticksPerSecond;
    // Microsecond ticks since 1970 stay below 2^53: one exact division.
    if (tps === 1e6) return (high * TWO_32 + low) / 1e6 + ifc.offsetSeconds;
    // Split to keep the integer seconds exact before rounding the fraction to µs.
    const ticks = high * TWO_32 + low;
    const sec = Math.floor(ticks / tps);
    let frac = (ticks - sec * tps) / tps;
    if (tps > 1e6) frac = Math.round(frac * 1e6) / 1e6;
    return sec + frac + ifc.offsetSeconds;
  }

  private describeInterface(buf: Buffer, pos: number, len: number): Interface {
    const le = this.le;
    const ifc: Interface = {
      id: this.interfaceCount++,
      linkType: u16(buf, pos + IDB_LINKTYPE, le),
      snaplen: u32(buf, pos + IDB_SNAPLEN, le),
      ticksPerSecond: 1e6,
      offsetSeconds: 0,
    };
    const optEnd = pos + len - BLOCK_TAIL;
    let p = pos + IDB_OPTIONS;
    while (optEnd - p >= 4) {
      const code = u16(buf, p, le);
      const olen = u16(buf, p + 2, le);
      if (code === OPT_END || p + 4 + olen > optEnd) break;
      if (code === OPT_IF_TSRESOL && olen >= 1) {
        const v = buf[p + 4];
        const exp = v & ~TSRESOL_POWER_OF_TWO;
        ifc.ticksPerSecond = v & TSRESOL_POWER_OF_TWO ? 2 ** exp : 10 ** exp;
      } else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        const lo = u32(buf, p + 4 + (le ? 0 : 4), le);
        const hi = le ? buf.readInt32LE(p + 8) : buf.readInt32BE(p + 4);
        ifc.offsetSeconds = hi * TWO_32 + lo;
      }
      p += 4 + ((olen + 3) & ~3);
    }
    return ifc;
  }
}
