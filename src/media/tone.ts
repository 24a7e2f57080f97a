// Test and source signals: a sine tone, and a linear chirp (a sweep, which correlates with
// itself at one lag only, so it is a good probe for aligning a recording with what was played).

export interface ToneOptions {
  /** Samples per second (default 8000). */
  sampleRate?: number;
  /** Peak amplitude as a fraction of full scale, 0..1 (default 0.3, about -10 dBFS). */
  amplitude?: number;
  /** Index of the first sample in the tone's own timeline (to continue a tone across frames). */
  startSample?: number;
}

const FULL_SCALE = 32767;

/** `count` samples of a sine at `frequencyHz`, 16-bit. */
export function toneSamples(
  frequencyHz: number,
  count: number,
  options: ToneOptions = {},
): Int16Array {
  const rate = options.sampleRate ?? 8000;
  const peak = (options.amplitude ?? 0.3) * FULL_SCALE;
  const start = options.startSample ?? 0;
  const out = new Int16Array(count);
  const step = (2 * Math.PI * frequencyHz) / rate;
  for (let i = 0; i < count; i++) {
    // The phase is reduced per sample index so that long tones keep their precision.
    // (whole seconds contribute only the fractional part of frequency * seconds of a turn).
    const n = (start + i) % rate;
    const seconds = Math.floor((start + i) / rate);
    const turns = (frequencyHz * seconds) % 1;
    out[i] = Math.round(peak * Math.sin(step * n + 2 * Math.PI * turns));
  }
  return out;
}

/** A linear sweep from `fromHz` to `toHz` over `count` samples, 16-bit. */
export function chirpSamples(
  fromHz: number,
  toHz: number,
  count: number,
  options: Omit<ToneOptions, 'startSample'> = {},
): Int16Array {
  const rate = options.sampleRate ?? 8000;
  const peak = (options.amplitude ?? 0.3) * FULL_SCALE;
  const seconds = count / rate;
  const slope = (toHz - fromHz) / seconds;
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) {
    const t = i / rate;
    out[i] = Math.round(peak * Math.sin(2 * Math.PI * (fromHz * t + (slope * t * t) / 2)));
  }
  return out;
}
