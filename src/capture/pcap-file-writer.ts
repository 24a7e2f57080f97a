// Writes a pcap file as frames arrive (live capture, stdin, HEP), in order, with rotation by
// size: `limitBytes` starts a new file once the current one would grow past it, and `files`
// keeps only that many (a ring, as tcpdump's -C/-W). Files: FILE, then FILE.1, FILE.2, ...
// (the newest has the highest number; with a ring the oldest is removed).
//
// The classic pcap layout (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap): one
// 24-byte header with the link type, then per frame a 16-byte record header (seconds,
// microseconds, captured length, original length) and the bytes.
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { PCAP_HEADER_BYTES, PCAP_MAGIC_US } from './pcap-file.ts';

const RECORD_HEADER_BYTES = 16;
const VERSION_MAJOR = 2;
const VERSION_MINOR = 4;
const HDR_VERSION_MAJOR = 4;
const HDR_VERSION_MINOR = 6;
const HDR_SNAPLEN = 16;
const HDR_LINKTYPE = 20;
const REC_TS_SEC = 0;
const REC_TS_USEC = 4;
const REC_CAPTURED = 8;
const REC_ORIGINAL = 12;
const SNAPLEN = 262144;
/** Writes are gathered in a buffer this large (one write(2) per buffer, not per frame). */
const BUFFER_BYTES = 1 << 20;

export interface PcapFileWriterOptions {
  /** LINKTYPE_* of every frame written. */
  linkType: number;
  /** Start a new file when the current one would pass this many bytes (0: never). */
  limitBytes?: number;
  /** With limitBytes: keep at most this many files, removing the oldest (0: keep all). */
  files?: number;
}

export class PcapFileWriter {
  readonly path: string;
  /** Frames written over all files. */
  frames = 0;
  /** Files started so far (1 for the first). */
  fileCount = 0;
  private fd = -1;
  private fileBytes = 0;
  private readonly buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private readonly linkType: number;
  private readonly limit: number;
  private readonly ring: number;
  /** Numbers of the files on disk, oldest first (0 is the bare path). */
  private readonly onDisk: number[] = [];

  constructor(path: string, options: PcapFileWriterOptions) {
    this.path = path;
    this.linkType = options.linkType;
    this.limit = options.limitBytes ?? 0;
    this.ring = options.files ?? 0;
    this.open();
  }

  /** The name of the n-th file (0-based). */
  fileName(n: number): string {
    return n === 0 ? this.path : `${this.path}.${n}`;
  }

  /** Appends one frame (`ts` seconds since the epoch; `origLen` defaults to the bytes' length). */
  write(ts: number, data: Buffer, start = 0, end = data.length, origLen = end - start): void {
    const length = end - start;
    const size = RECORD_HEADER_BYTES + length;
    if (this.limit > 0 && this.fileBytes > PCAP_HEADER_BYTES && this.fileBytes + size > this.limit)
      this.rotate();
    if (this.used + size > BUFFER_BYTES) this.flush();
    let sec = Math.floor(ts);
    let usec = Math.round((ts - sec) * 1e6);
    if (usec >= 1e6) {
      sec++;
      usec -= 1e6;
    }
    if (size > BUFFER_BYTES) {
      const head = Buffer.alloc(RECORD_HEADER_BYTES);
      this.recordHeader(head, 0, sec, usec, length, origLen);
      writeSync(this.fd, head);
      writeSync(this.fd, data, start, length);
    } else {
      this.recordHeader(this.buf, this.used, sec, usec, length, origLen);
      data.copy(this.buf, this.used + RECORD_HEADER_BYTES, start, end);
      this.used += size;
    }
    this.fileBytes += size;
    this.frames++;
  }

  /** Writes what is buffered to the file. */
  flush(): void {
    if (this.used > 0 && this.fd >= 0) {
      writeSync(this.fd, this.buf, 0, this.used);
      this.used = 0;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }

  private recordHeader(
    b: Buffer,
    p: number,
    sec: number,
    usec: number,
    length: number,
    origLen: number,
  ): void {
    b.writeUInt32LE(sec >>> 0, p + REC_TS_SEC);
    b.writeUInt32LE(usec, p + REC_TS_USEC);
    b.writeUInt32LE(length, p + REC_CAPTURED);
    b.writeUInt32LE(origLen >>> 0, p + REC_ORIGINAL);
  }

  private open(): void {
    const n = this.fileCount++;
    const name = this.fileName(n);
    this.fd = openSync(name, 'w');
    const head = Buffer.alloc(PCAP_HEADER_BYTES);
    head.writeUInt32LE(PCAP_MAGIC_US, 0);
    head.writeUInt16LE(VERSION_MAJOR, HDR_VERSION_MAJOR);
    head.writeUInt16LE(VERSION_MINOR, HDR_VERSION_MINOR);
    head.writeUInt32LE(SNAPLEN, HDR_SNAPLEN);
    head.writeUInt32LE(this.linkType, HDR_LINKTYPE);
    writeSync(this.fd, head);
    this.fileBytes = PCAP_HEADER_BYTES;
    this.onDisk.push(n);
    while (this.ring > 0 && this.onDisk.length > this.ring) {
      rmSync(this.fileName(this.onDisk.shift()!), { force: true });
    }
  }

  private rotate(): void {
    this.close();
    this.open();
  }
}
