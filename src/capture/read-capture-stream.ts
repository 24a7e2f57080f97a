// Reads a pcap or pcapng capture from a stream that has no end yet (stdin, a capture tool's
// pipe): each frame is handed over as soon as its record is whole.
import type { Readable } from 'node:stream';
import type { CaptureError } from './capture-frame.ts';
import { CaptureParser } from './capture-reader.ts';
import type { FrameRecordHandler } from './parse-state.ts';

export interface CaptureStreamResult {
  frames: number;
  bytes: number;
  /** Where the stream stopped being a capture (frames before it were delivered). */
  error?: CaptureError;
}

/**
 * Feeds the stream's bytes through the pcap/pcapng parser; `onRecord` gets each frame as a range
 * of a buffer valid only during the call (as readCaptureRecords). Resolves at the end of the
 * stream, or at the first byte that is not a capture (the rest of the stream is not read).
 */
export function readCaptureStream(
  input: Readable,
  onRecord: FrameRecordHandler,
): Promise<CaptureStreamResult> {
  const parser = new CaptureParser(onRecord);
  let pending: Buffer | undefined;
  let offset = 0;
  let bytes = 0;
  return new Promise((resolve, reject) => {
    const done = (): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      const error = parser.error;
      resolve(error ? { frames: parser.frames, bytes, error } : { frames: parser.frames, bytes });
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      const pos = parser.feed(buf, 0, buf.length, offset);
      offset += pos;
      if (parser.error) {
        input.pause();
        done();
        return;
      }
      // The tail is an unfinished record: keep a copy (the stream may reuse its chunk).
      pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : undefined;
    };
    const onEnd = (): void => {
      const rest = pending ?? Buffer.alloc(0);
      parser.finish(rest, 0, rest.length, offset);
      done();
    };
    const onError = (err: Error): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      reject(err);
    };
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
  });
}
