// Push-based capture reader: auto-detects pcap or pcapng and turns bytes into frames.
import type { CaptureError, CaptureFrame } from './capture-frame.ts';
import {
  frameRecords,
  ParseState,
  type FormatParser,
  type FrameRecordHandler,
} from './parse-state.ts';
import { PcapParser, pcapMagic } from './pcap-file.ts';
import { BT_SHB, PcapngParser } from './pcapng-file.ts';

const MAGIC_BYTES = 4;

/**
 * The format-independent part of reading: picks the parser from the first bytes, then feeds it.
 * Used by CaptureReader (chunks pushed by the caller) and readCaptureFile (chunks read from disk).
 */
export class CaptureParser {
  readonly state: ParseState;
  private parser: FormatParser | undefined;

  /** `emit` gets each frame as a range of the input; `frameRecords(onFrame)` makes frame objects. */
  constructor(emit: FrameRecordHandler) {
    this.state = new ParseState(emit);
  }

  get frames(): number {
    return this.state.frames;
  }

  get error(): CaptureError | undefined {
    return this.state.error;
  }

  /** Parses whole records in buf[pos, end); returns where the unconsumed bytes start. */
  feed(buf: Buffer, pos: number, end: number, fileOffset: number): number {
    if (this.state.error) return pos;
    if (!this.parser) {
      if (end - pos < MAGIC_BYTES) return pos;
      if (pcapMagic(buf, pos)) this.parser = new PcapParser(this.state);
      else if (buf.readUInt32BE(pos) === BT_SHB) this.parser = new PcapngParser(this.state);
      else {
        this.state.fail('not a pcap or pcapng file (unknown magic number)', fileOffset + pos);
        return pos;
      }
    }
    return this.parser.parse(buf, pos, end, fileOffset);
  }

  /** Call at the end of input with the bytes left over (if any). */
  finish(buf: Buffer, pos: number, end: number, fileOffset: number): void {
    if (this.state.error) return;
    if (!this.parser) {
      if (end - pos === 0 && fileOffset + pos === 0) this.state.fail('empty file', 0);
      else this.state.fail(`file too short to be a capture (${end - pos} bytes)`, fileOffset + pos);
      return;
    }
    if (end > pos) this.state.fail(this.parser.truncation(buf, pos, end), fileOffset + pos);
  }
}

/**
 * Push-based reader with the same parser as readCaptureFile. `onFrame` is called synchronously
 * from `push` for each whole frame; its `data` is a view into the pushed chunk (copy if kept).
 */
export class CaptureReader {
  private readonly parser: CaptureParser;
  private pending: Buffer | undefined;
  /** File offset of the first byte not yet consumed. */
  private offset = 0;

  constructor(onFrame: (f: CaptureFrame) => void) {
    this.parser = new CaptureParser(frameRecords(onFrame));
  }

  push(chunk: Buffer): void {
    if (this.parser.error || chunk.length === 0) return;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const pos = this.parser.feed(buf, 0, buf.length, this.offset);
    this.offset += pos;
    // Keep a copy of the incomplete tail: the caller may reuse its chunk.
    this.pending =
      pos < buf.length && !this.parser.error ? Buffer.from(buf.subarray(pos)) : undefined;
  }

  end(): { frames: number; error?: CaptureError } {
    const rest = this.pending ?? Buffer.alloc(0);
    this.parser.finish(rest, 0, rest.length, this.offset);
    this.pending = undefined;
    const error = this.parser.error;
    return error ? { frames: this.parser.frames, error } : { frames: this.parser.frames };
  }
}
