// State shared by the pcap and pcapng record parsers: the frame counter, the callback, the error.
import { CaptureError, type CaptureFrame } from './capture-frame.ts';

/** Largest record (pcap packet or pcapng block) a parser accepts before calling the file corrupt. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/**
 * One frame as a range of the reader's buffer, with no object made for it: `buf[start, end)` are
 * the captured bytes (valid only during the call). The fast form of a frame callback.
 */
export type FrameRecordHandler = (
  buf: Buffer,
  start: number,
  end: number,
  index: number,
  ts: number,
  linkType: number,
  origLen: number,
  interfaceId: number,
) => void;

/** A record handler that hands out CaptureFrame objects (a fresh object and view per frame). */
export function frameRecords(onFrame: (f: CaptureFrame) => void): FrameRecordHandler {
  return (buf, start, end, index, ts, linkType, origLen, interfaceId) =>
    onFrame({ index, ts, linkType, data: buf.subarray(start, end), origLen, interfaceId });
}

export class ParseState {
  frames = 0;
  error: CaptureError | undefined = undefined;
  readonly emit: FrameRecordHandler;

  constructor(emit: FrameRecordHandler) {
    this.emit = emit;
  }

  fail(reason: string, offset: number): void {
    if (!this.error) this.error = new CaptureError(reason, offset, this.frames);
  }
}

/**
 * A parser for one file format. `parse` consumes whole records from buf[pos, end) and returns
 * the position after the last whole record (or where it stopped on an error, see `state.error`).
 * `fileOffset` is the file offset of buf[0], for error reports.
 */
export interface FormatParser {
  parse(buf: Buffer, pos: number, end: number, fileOffset: number): number;
  /** Why the bytes left over at the end of the file cannot be a whole record. */
  truncation(buf: Buffer, pos: number, end: number): string;
}

export function u16(buf: Buffer, p: number, le: boolean): number {
  return le ? buf[p] | (buf[p + 1] << 8) : (buf[p] << 8) | buf[p + 1];
}

export function u32(buf: Buffer, p: number, le: boolean): number {
  return le
    ? (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)) + buf[p + 3] * 0x1000000
    : ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) + buf[p] * 0x1000000;
}
