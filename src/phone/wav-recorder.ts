// Writes received audio to a WAV file as it is played out (8000 Hz, mono, 16-bit PCM), in
// chunks, so that a long call takes no memory; the header's sizes are filled in on close.
import { closeSync, openSync, writeSync } from 'node:fs';
import { writeWav } from '../media/index.ts';

const RIFF_SIZE_OFFSET = 4;
const DATA_SIZE_OFFSET = 40;
const HEADER_LENGTH = 44;
/** Flush to the file every second of audio. */
const CHUNK_SAMPLES = 8000;
/** RIFF sizes are 32-bit: stop before the file would overflow them. */
const MAX_DATA_BYTES = 0xffffffff - HEADER_LENGTH;

export class WavRecorder {
  readonly path: string;
  private fd: number | undefined;
  private pending: Int16Array[] = [];
  private pendingSamples = 0;
  private dataBytes = 0;
  /** Samples written (or pending). */
  samples = 0;

  /** Creates (truncates) the file; throws the file system's error. */
  constructor(path: string, sampleRate = 8000) {
    this.path = path;
    this.fd = openSync(path, 'w');
    const header = writeWav({ sampleRate, channels: [new Int16Array(0)] });
    writeSync(this.fd, header, 0, header.length, 0);
  }

  write(frame: Int16Array): void {
    if (this.fd === undefined) return;
    if (this.dataBytes + (this.pendingSamples + frame.length) * 2 > MAX_DATA_BYTES) return;
    this.pending.push(frame);
    this.pendingSamples += frame.length;
    this.samples += frame.length;
    if (this.pendingSamples >= CHUNK_SAMPLES) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined || this.pendingSamples === 0) return;
    const out = Buffer.alloc(this.pendingSamples * 2);
    let o = 0;
    for (const frame of this.pending) for (const s of frame) o = out.writeInt16LE(s, o);
    writeSync(this.fd, out, 0, out.length, HEADER_LENGTH + this.dataBytes);
    this.dataBytes += out.length;
    this.pending = [];
    this.pendingSamples = 0;
  }

  /** Writes what is pending, fixes the header's sizes and closes the file. */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    const sizes = Buffer.alloc(4);
    sizes.writeUInt32LE(HEADER_LENGTH - 8 + this.dataBytes);
    writeSync(this.fd, sizes, 0, 4, RIFF_SIZE_OFFSET);
    sizes.writeUInt32LE(this.dataBytes);
    writeSync(this.fd, sizes, 0, 4, DATA_SIZE_OFFSET);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
