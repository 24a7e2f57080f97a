// Writes pcap and pcapng files in memory: for fixtures, tests and exporting selected frames.
import {
  PCAP_HEADER_BYTES,
  PCAP_MAGIC_MODIFIED,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
} from './pcap-file.ts';
import { BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB } from './pcapng-file.ts';

export interface FrameToWrite {
  ts: number;
  data: Buffer;
  /** Wire length; defaults to data.length. */
  origLen?: number;
}

export interface PcapOptions {
  linkType: number;
  nano?: boolean;
  bigEndian?: boolean;
  snaplen?: number;
  /** Kuznetzov's modified format (24-byte record headers, µs). */
  modified?: boolean;
}

function splitTs(ts: number, perSecond: number): [number, number] {
  let sec = Math.floor(ts);
  let frac = Math.round((ts - sec) * perSecond);
  if (frac >= perSecond) {
    sec++;
    frac -= perSecond;
  }
  return [sec, frac];
}

/** A whole pcap file (header + records). */
export function writePcap(frames: FrameToWrite[], opts: PcapOptions): Buffer {
  const rec = opts.modified ? 24 : 16;
  const size = PCAP_HEADER_BYTES + frames.reduce((n, f) => n + rec + f.data.length, 0);
  const out = Buffer.alloc(size);
  const w32 = (v: number, p: number): number =>
    opts.bigEndian ? out.writeUInt32BE(v >>> 0, p) : out.writeUInt32LE(v >>> 0, p);
  const w16 = (v: number, p: number): number =>
    opts.bigEndian ? out.writeUInt16BE(v, p) : out.writeUInt16LE(v, p);
  w32(opts.modified ? PCAP_MAGIC_MODIFIED : opts.nano ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
  w16(2, 4);
  w16(4, 6);
  w32(opts.snaplen ?? 262144, 16);
  w32(opts.linkType, 20);
  let p = PCAP_HEADER_BYTES;
  for (const f of frames) {
    const [sec, frac] = splitTs(f.ts, opts.nano ? 1e9 : 1e6);
    w32(sec, p);
    w32(frac, p + 4);
    w32(f.data.length, p + 8);
    w32(f.origLen ?? f.data.length, p + 12);
    f.data.copy(out, p + rec);
    p += rec + f.data.length;
  }
  return out;
}

export interface PcapngInterface {
  linkType: number;
  snaplen?: number;
  /** if_tsresol byte: 6 = µs (default), 9 = ns, 0x80 | n = 2^-n. */
  tsresol?: number;
  /** if_tsoffset in seconds. */
  tsoffset?: number;
}

export interface PcapngPacket extends FrameToWrite {
  interfaceId: number;
  /** Block kind: enhanced (default), simple, or the obsolete packet block. */
  block?: 'epb' | 'spb' | 'pb';
}

export interface PcapngSection {
  bigEndian?: boolean;
  interfaces: PcapngInterface[];
  packets: PcapngPacket[];
  /** Extra blocks of unknown type to interleave (tests that readers skip them). */
  unknownBlocks?: number;
}

const pad4 = (n: number): number => (n + 3) & ~3;

function ticksPerSecond(tsresol: number | undefined): number {
  if (tsresol === undefined) return 1e6;
  return tsresol & 0x80 ? 2 ** (tsresol & 0x7f) : 10 ** tsresol;
}

/** A whole pcapng file of one or more sections. */
export function writePcapng(sections: PcapngSection[]): Buffer {
  const blocks: Buffer[] = [];
  for (const section of sections) {
    const be = section.bigEndian === true;
    const block = (type: number, body: Buffer): void => {
      const len = 12 + pad4(body.length);
      const b = Buffer.alloc(len);
      if (be) {
        b.writeUInt32BE(type, 0);
        b.writeUInt32BE(len, 4);
        b.writeUInt32BE(len, len - 4);
      } else {
        b.writeUInt32LE(type, 0);
        b.writeUInt32LE(len, 4);
        b.writeUInt32LE(len, len - 4);
      }
      body.copy(b, 8);
      blocks.push(b);
    };
    const body = (n: number): Buffer => Buffer.alloc(n);
    const w32 = (b: Buffer, v: number, p: number): number =>
      be ? b.writeUInt32BE(v >>> 0, p) : b.writeUInt32LE(v >>> 0, p);
    const w16 = (b: Buffer, v: number, p: number): number =>
      be ? b.writeUInt16BE(v, p) : b.writeUInt16LE(v, p);
    const shb = body(16);
    w32(shb, 0x1a2b3c4d, 0);
    w16(shb, 1, 4);
    w16(shb, 0, 6);
    shb.fill(0xff, 8, 16); // section length unknown (-1)
    block(BT_SHB, shb);
    for (const ifc of section.interfaces) {
      const opts: Buffer[] = [];
      if (ifc.tsresol !== undefined) {
        const o = body(8);
        w16(o, 9, 0);
        w16(o, 1, 2);
        o[4] = ifc.tsresol;
        opts.push(o);
      }
      if (ifc.tsoffset !== undefined) {
        const o = body(12);
        w16(o, 14, 0);
        w16(o, 8, 2);
        if (be) o.writeBigInt64BE(BigInt(ifc.tsoffset), 4);
        else o.writeBigInt64LE(BigInt(ifc.tsoffset), 4);
        opts.push(o);
      }
      if (opts.length > 0) opts.push(body(4)); // opt_endofopt
      const idb = Buffer.concat([body(8), ...opts]);
      w16(idb, ifc.linkType, 0);
      w32(idb, ifc.snaplen ?? 0, 4);
      block(BT_IDB, idb);
    }
    let unknown = section.unknownBlocks ?? 0;
    for (const pkt of section.packets) {
      if (unknown > 0) {
        block(0x0bad0000 + unknown--, Buffer.from('skip me'));
      }
      const tps = ticksPerSecond(section.interfaces[pkt.interfaceId]?.tsresol);
      const off = section.interfaces[pkt.interfaceId]?.tsoffset ?? 0;
      const ticks = BigInt(Math.round((pkt.ts - off) * tps));
      const high = Number(ticks >> 32n);
      const low = Number(ticks & 0xffffffffn);
      const origLen = pkt.origLen ?? pkt.data.length;
      if (pkt.block === 'spb') {
        const b = body(4 + pad4(pkt.data.length));
        w32(b, origLen, 0);
        pkt.data.copy(b, 4);
        block(BT_SPB, b);
      } else if (pkt.block === 'pb') {
        const b = body(20 + pad4(pkt.data.length));
        w16(b, pkt.interfaceId, 0);
        w32(b, high, 4);
        w32(b, low, 8);
        w32(b, pkt.data.length, 12);
        w32(b, origLen, 16);
        pkt.data.copy(b, 20);
        block(BT_PB, b);
      } else {
        const b = body(20 + pad4(pkt.data.length));
        w32(b, pkt.interfaceId, 0);
        w32(b, high, 4);
        w32(b, low, 8);
        w32(b, pkt.data.length, 12);
        w32(b, origLen, 16);
        pkt.data.copy(b, 20);
        block(BT_EPB, b);
      }
    }
  }
  return Buffer.concat(blocks);
}
