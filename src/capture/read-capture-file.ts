// Reads a capture file from disk in large chunks into one reused buffer.
import { open } from 'node:fs/promises';
import type { CaptureError, CaptureFrame } from './capture-frame.ts';
import { CaptureParser } from './capture-reader.ts';
import { frameRecords, type FrameRecordHandler } from './parse-state.ts';

const CHUNK_BYTES = 4 * 1024 * 1024;
/** Room kept in front of each chunk for a record that continues from the previous chunk. */
const MIN_RESERVE_BYTES = 256 * 1024;

export interface ReadCaptureOptions {
  /** Called after each chunk with the bytes read so far and the file size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Bytes read at a time (default 4 MiB). Any record size is handled, whatever this is. */
  chunkBytes?: number;
}

export interface ReadCaptureResult {
  frames: number;
  bytes: number;
  error?: CaptureError;
}

/**
 * Reads a pcap or pcapng file and calls `onFrame` synchronously for every frame, in file order.
 * `frame.data` is a view into a buffer that the next chunk overwrites: copy what you keep.
 * A truncated or corrupt file does not throw: the frames before the break are delivered and
 * `error` says where it broke. Failing to open or read the file rejects as usual.
 */
export function readCaptureFile(
  path: string,
  onFrame: (f: CaptureFrame) => void,
  opts: ReadCaptureOptions = {},
): Promise<ReadCaptureResult> {
  return readCaptureRecords(path, frameRecords(onFrame), opts);
}

/**
 * readCaptureFile without a frame object per frame: `onRecord` gets the reader's buffer and the
 * frame's range in it (`buf[start, end)`, valid only during the call). For hot loops.
 */
export async function readCaptureRecords(
  path: string,
  onRecord: FrameRecordHandler,
  opts: ReadCaptureOptions = {},
): Promise<ReadCaptureResult> {
  const parser = new CaptureParser(onRecord);
  const chunk = opts.chunkBytes ?? CHUNK_BYTES;
  const reserve = Math.max(chunk, MIN_RESERVE_BYTES);
  const fh = await open(path, 'r');
  let bytes = 0;
  try {
    const total = (await fh.stat()).size;
    // Two buffers: the next chunk is read into one while the frames of the other are parsed.
    // Each has `reserve` bytes in front of its chunk for the unfinished record left over from
    // the previous chunk; a record longer than that is carried in a separate buffer.
    const bufs = [Buffer.allocUnsafe(reserve + chunk), Buffer.allocUnsafe(reserve + chunk)];
    let cur = 0;
    let leftover = 0; // bytes of the previous chunk's unfinished record, just before `reserve`
    let carry: Buffer | undefined; // the unfinished record when it is longer than `reserve`
    let fileOffset = 0; // file offset of the first unconsumed byte
    let reading = fh.read(bufs[cur], reserve, chunk, null);
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      bytes += bytesRead;
      const next = 1 - cur;
      reading = fh.read(bufs[next], reserve, chunk, null);
      let data = bufs[cur];
      let from = reserve - leftover;
      let end = reserve + bytesRead;
      if (carry) {
        data = Buffer.concat([carry, bufs[cur].subarray(reserve, end)]);
        from = 0;
        end = data.length;
        carry = undefined;
      }
      const pos = parser.feed(data, from, end, fileOffset - from);
      if (parser.error) {
        await reading.catch(() => undefined);
        break;
      }
      fileOffset += pos - from;
      leftover = end - pos;
      if (leftover > reserve) {
        carry = Buffer.from(data.subarray(pos, end));
        leftover = 0;
      } else if (leftover > 0) data.copy(bufs[next], reserve - leftover, pos, end);
      cur = next;
      opts.onProgress?.(bytes, total);
    }
    if (!parser.error) {
      const rest = carry ?? bufs[cur].subarray(reserve - leftover, reserve);
      parser.finish(rest, 0, rest.length, fileOffset);
    }
  } finally {
    await fh.close();
  }
  const error = parser.error;
  return error ? { frames: parser.frames, bytes, error } : { frames: parser.frames, bytes };
}
