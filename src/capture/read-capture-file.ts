// Reads a capture file from disk in large chunks into one reused buffer.
import { open } from 'node:fs/promises';
import type { CaptureError, CaptureFrame } from './capture-frame.ts';
import { CaptureParser } from './capture-reader.ts';

const CHUNK_BYTES = 4 * 1024 * 1024;

export interface ReadCaptureOptions {
  /** Called after each chunk with the bytes read so far and the file size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Size of the read buffer (default 4 MiB); grows if one record is larger. */
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
export async function readCaptureFile(
  path: string,
  onFrame: (f: CaptureFrame) => void,
  opts: ReadCaptureOptions = {},
): Promise<ReadCaptureResult> {
  const parser = new CaptureParser(onFrame);
  const fh = await open(path, 'r');
  let bytes = 0;
  try {
    const total = (await fh.stat()).size;
    let buf = Buffer.allocUnsafe(opts.chunkBytes ?? CHUNK_BYTES);
    let have = 0; // bytes in buf not yet consumed, starting at buf[0]
    let fileOffset = 0; // file offset of buf[0]
    for (;;) {
      if (have === buf.length) {
        // One record is larger than the buffer: grow it (the parsers cap a record's size).
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, have, buf.length - have, null);
      if (bytesRead === 0) break;
      bytes += bytesRead;
      const end = have + bytesRead;
      const pos = parser.feed(buf, 0, end, fileOffset);
      if (parser.error) break;
      if (pos < end) buf.copy(buf, 0, pos, end);
      have = end - pos;
      fileOffset += pos;
      opts.onProgress?.(bytes, total);
    }
    if (!parser.error) parser.finish(buf, 0, have, fileOffset);
  } finally {
    await fh.close();
  }
  const error = parser.error;
  return error ? { frames: parser.frames, bytes, error } : { frames: parser.frames, bytes };
}
