// RIFF/WAVE files: writing 16-bit PCM, reading the common encodings.
//
// A WAVE file is a RIFF container: "RIFF" <size> "WAVE" followed by chunks, each
// <4-octet id> <32-bit little-endian size> <data> <pad octet if size is odd>.
//
//   offset  size  field (little-endian)           "fmt " chunk
//   0       2     format tag (1 PCM, 3 IEEE float, 6 A-law, 7 mu-law, 0xFFFE extensible)
//   2       2     channels
//   4       4     sample rate
//   8       4     byte rate = sample rate * block align
//   12      2     block align = channels * bits / 8
//   14      2     bits per sample
//   16      2     extension size (cbSize)                 (formats other than PCM)
//   18      2     valid bits per sample                   (extensible only)
//   20      4     channel mask                            (extensible only)
//   24      16    sub-format GUID: first 2 octets = tag   (extensible only)
//
// The "data" chunk holds interleaved frames. 8-bit PCM is unsigned (128 = silence); wider PCM
// is signed two's complement.

import { resample } from './resample.ts';
import { alawDecode, ulawDecode } from './g711.ts';

export const WAVE_FORMAT_PCM = 1;
export const WAVE_FORMAT_IEEE_FLOAT = 3;
export const WAVE_FORMAT_ALAW = 6;
export const WAVE_FORMAT_MULAW = 7;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

const RIFF_HEADER_LENGTH = 12;
const CHUNK_HEADER_LENGTH = 8;
const FMT_PCM_LENGTH = 16;
// Offsets inside the "fmt " chunk body.
const FMT_TAG = 0;
const FMT_CHANNELS = 2;
const FMT_SAMPLE_RATE = 4;
const FMT_BYTE_RATE = 8;
const FMT_BLOCK_ALIGN = 12;
const FMT_BITS = 14;
const FMT_EXTENSIBLE_SUBFORMAT = 24;

export class WavFormatError extends Error {
  override name = 'WavFormatError';
}

export interface WavInput {
  sampleRate: number;
  /** One array per channel, all the same length: 1 = mono, 2 = stereo (left, right). */
  channels: Int16Array[];
}

/** A 16-bit PCM WAVE file of the given channels (interleaved when more than one). */
export function writeWav(input: WavInput): Buffer {
  const { sampleRate, channels } = input;
  if (channels.length === 0) throw new RangeError('writeWav needs at least one channel');
  const frames = channels[0]!.length;
  if (channels.some((c) => c.length !== frames))
    throw new RangeError('writeWav channels differ in length');
  const blockAlign = channels.length * 2;
  const dataLength = frames * blockAlign;
  const out = Buffer.alloc(
    RIFF_HEADER_LENGTH + CHUNK_HEADER_LENGTH + FMT_PCM_LENGTH + CHUNK_HEADER_LENGTH + dataLength,
  );
  let o = 0;
  o = out.write('RIFF', o, 'latin1');
  o = out.writeUInt32LE(out.length - 8, o);
  o += out.write('WAVE', o, 'latin1');
  o += out.write('fmt ', o, 'latin1');
  o = out.writeUInt32LE(FMT_PCM_LENGTH, o);
  const fmt = o;
  out.writeUInt16LE(WAVE_FORMAT_PCM, fmt + FMT_TAG);
  out.writeUInt16LE(channels.length, fmt + FMT_CHANNELS);
  out.writeUInt32LE(sampleRate, fmt + FMT_SAMPLE_RATE);
  out.writeUInt32LE(sampleRate * blockAlign, fmt + FMT_BYTE_RATE);
  out.writeUInt16LE(blockAlign, fmt + FMT_BLOCK_ALIGN);
  out.writeUInt16LE(16, fmt + FMT_BITS);
  o = fmt + FMT_PCM_LENGTH;
  o += out.write('data', o, 'latin1');
  o = out.writeUInt32LE(dataLength, o);
  for (let i = 0; i < frames; i++) {
    for (const channel of channels) o = out.writeInt16LE(channel[i]!, o);
  }
  return out;
}

export interface WavReadOptions {
  /** Mix all channels down to one (average). */
  mono?: boolean;
  /** Resample to this rate (for example 8000 for G.711). */
  sampleRate?: number;
}

export interface WavAudio {
  sampleRate: number;
  channels: Int16Array[];
  /** What the file held before mixing and resampling. */
  source: { format: number; bitsPerSample: number; sampleRate: number; channels: number };
}

interface FmtChunk {
  format: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

/**
 * Reads a WAVE file: PCM 8/16/24/32-bit, IEEE float 32/64-bit, A-law, mu-law, plain or
 * WAVE_FORMAT_EXTENSIBLE, any number of channels. Optionally mixes to mono and resamples.
 */
export function readWav(buf: Buffer, options: WavReadOptions = {}): WavAudio {
  if (
    buf.length < RIFF_HEADER_LENGTH ||
    buf.toString('latin1', 0, 4) !== 'RIFF' ||
    buf.toString('latin1', 8, 12) !== 'WAVE'
  ) {
    throw new WavFormatError('not a RIFF/WAVE file');
  }
  let fmt: FmtChunk | undefined;
  let data: Buffer | undefined;
  let offset = RIFF_HEADER_LENGTH;
  while (offset + CHUNK_HEADER_LENGTH <= buf.length) {
    const id = buf.toString('latin1', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + CHUNK_HEADER_LENGTH;
    // Some writers leave a data size of 0 or 0xFFFFFFFF when streaming: take the rest.
    const end = Math.min(buf.length, body + size);
    if (id === 'fmt ') {
      if (end - body < FMT_PCM_LENGTH) throw new WavFormatError('fmt chunk too short');
      let format = buf.readUInt16LE(body + FMT_TAG);
      if (format === WAVE_FORMAT_EXTENSIBLE) {
        if (end - body < FMT_EXTENSIBLE_SUBFORMAT + 2)
          throw new WavFormatError('extensible fmt chunk too short');
        format = buf.readUInt16LE(body + FMT_EXTENSIBLE_SUBFORMAT);
      }
      fmt = {
        format,
        channels: buf.readUInt16LE(body + FMT_CHANNELS),
        sampleRate: buf.readUInt32LE(body + FMT_SAMPLE_RATE),
        blockAlign: buf.readUInt16LE(body + FMT_BLOCK_ALIGN),
        bitsPerSample: buf.readUInt16LE(body + FMT_BITS),
      };
    } else if (id === 'data') {
      data = buf.subarray(body, size === 0 || size === 0xffffffff ? buf.length : end);
      if (fmt) break;
    }
    offset = body + size + (size & 1);
  }
  if (!fmt) throw new WavFormatError('no fmt chunk');
  if (!data) throw new WavFormatError('no data chunk');
  if (fmt.channels === 0) throw new WavFormatError('0 channels');
  if (!(fmt.sampleRate > 0)) throw new WavFormatError('sample rate 0');

  let channels = decodeFrames(fmt, data);
  if (options.mono && channels.length > 1) channels = [mixDown(channels)];
  let sampleRate = fmt.sampleRate;
  if (options.sampleRate !== undefined && options.sampleRate !== sampleRate) {
    channels = channels.map((c) => resample(c, fmt.sampleRate, options.sampleRate!));
    sampleRate = options.sampleRate;
  }
  return {
    sampleRate,
    channels: channels.map(toInt16),
    source: {
      format: fmt.format,
      bitsPerSample: fmt.bitsPerSample,
      sampleRate: fmt.sampleRate,
      channels: fmt.channels,
    },
  };
}

/** Deinterleaves the data chunk into float channels in -1..1. */
function decodeFrames(fmt: FmtChunk, data: Buffer): Float32Array[] {
  const bytes = fmt.bitsPerSample / 8;
  const width = Math.ceil(fmt.bitsPerSample / 8);
  const blockAlign = fmt.blockAlign || width * fmt.channels;
  if (blockAlign < width * fmt.channels)
    throw new WavFormatError(`block align ${blockAlign} too small`);
  const frames = Math.floor(data.length / blockAlign);
  const read = sampleReader(fmt.format, fmt.bitsPerSample);
  if (!Number.isInteger(bytes) && fmt.format !== WAVE_FORMAT_PCM) {
    throw new WavFormatError(`unsupported ${fmt.bitsPerSample}-bit samples`);
  }
  const out: Float32Array[] = [];
  for (let c = 0; c < fmt.channels; c++) out.push(new Float32Array(frames));
  for (let f = 0; f < frames; f++) {
    const base = f * blockAlign;
    for (let c = 0; c < fmt.channels; c++) out[c]![f] = read(data, base + c * width);
  }
  return out;
}

/** A function reading one sample at an offset as a float in -1..1. */
function sampleReader(format: number, bits: number): (data: Buffer, offset: number) => number {
  if (format === WAVE_FORMAT_PCM) {
    if (bits === 8) return (d, o) => (d[o]! - 128) / 128;
    if (bits === 16) return (d, o) => d.readInt16LE(o) / 32768;
    if (bits === 24) return (d, o) => d.readIntLE(o, 3) / 8388608;
    if (bits === 32) return (d, o) => d.readInt32LE(o) / 2147483648;
  } else if (format === WAVE_FORMAT_IEEE_FLOAT) {
    if (bits === 32) return (d, o) => d.readFloatLE(o);
    if (bits === 64) return (d, o) => d.readDoubleLE(o);
  } else if (format === WAVE_FORMAT_ALAW && bits === 8) {
    return (d, o) => alawDecode(d[o]!) / 32768;
  } else if (format === WAVE_FORMAT_MULAW && bits === 8) {
    return (d, o) => ulawDecode(d[o]!) / 32768;
  }
  throw new WavFormatError(`unsupported WAVE format ${format} with ${bits}-bit samples`);
}

function mixDown(channels: Float32Array[]): Float32Array {
  const out = new Float32Array(channels[0]!.length);
  for (const channel of channels) for (let i = 0; i < out.length; i++) out[i]! += channel[i]!;
  for (let i = 0; i < out.length; i++) out[i]! /= channels.length;
  return out;
}

function toInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i]! * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
