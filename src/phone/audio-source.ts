// What the phone sends: a WAV file (any rate and channel count, mixed to mono and resampled to
// the codec's 8000 Hz), a tone ("tone:HZ"), or silence. After a file ends, silence follows.
import { readFile } from 'node:fs/promises';
import { readWav, toneSamples, WavFormatError } from '../media/index.ts';

export interface AudioSource {
  /** What it is, for events: a file name, "tone:440" or "silence". */
  readonly description: string;
  /** The next `count` samples at 8000 Hz. */
  next(count: number): Int16Array;
}

/** `--play SPEC: reason`; `reason` alone for a usage message that names the flag already. */
export class PlayError extends Error {
  override name = 'PlayError';
  constructor(
    spec: string,
    readonly reason: string,
  ) {
    super(`--play ${spec}: ${reason}`);
  }
}

const TONE_PREFIX = /^tone:/i;
const TONE = /^tone:(\d+(?:\.\d+)?)$/i;
const RATE = 8000;

/**
 * The frequency of a "tone:HZ" spec, undefined for anything else (a file; "./tone:x" is the file
 * named so). Throws PlayError for "tone:" followed by anything but a frequency the codec carries.
 */
export function toneFrequency(spec: string): number | undefined {
  if (!TONE_PREFIX.test(spec)) return undefined;
  const hz = Number(TONE.exec(spec)?.[1]);
  if (!(hz > 0 && hz < RATE / 2)) {
    throw new PlayError(spec, `expected tone:HZ, HZ a frequency between 0 and ${RATE / 2} Hz`);
  }
  return hz;
}

export function silence(): AudioSource {
  return { description: 'silence', next: (count) => new Int16Array(count) };
}

export function toneSource(hz: number): AudioSource {
  let at = 0;
  return {
    description: `tone:${hz}`,
    next(count) {
      const out = toneSamples(hz, count, { startSample: at, sampleRate: RATE });
      at += count;
      return out;
    },
  };
}

export function samplesSource(samples: Int16Array, description: string): AudioSource {
  let at = 0;
  return {
    description,
    next(count) {
      const out = new Int16Array(count);
      if (at < samples.length) out.set(samples.subarray(at, Math.min(samples.length, at + count)));
      at += count;
      return out;
    },
  };
}

/** Opens `--play`: "tone:HZ" or a WAV file path. Throws PlayError with the reason. */
export async function openAudioSource(spec: string): Promise<AudioSource> {
  const hz = toneFrequency(spec);
  if (hz !== undefined) return toneSource(hz);
  let buf: Buffer;
  try {
    buf = await readFile(spec);
  } catch (err) {
    throw new PlayError(spec, err instanceof Error ? err.message : String(err));
  }
  try {
    const wav = readWav(buf, { mono: true, sampleRate: RATE });
    return samplesSource(wav.channels[0] ?? new Int16Array(0), spec);
  } catch (err) {
    if (err instanceof WavFormatError || err instanceof RangeError) {
      throw new PlayError(spec, err.message);
    }
    throw err;
  }
}
