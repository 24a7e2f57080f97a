// Audio helpers for the end-to-end tests: a speech-band probe signal, the lag at which a
// recording best matches it (normalised cross-correlation), and a count of the samples that
// differ from PCMU encode+decode of the input (0 means bit-exact through G.711 mu-law).
import { chirpSamples, toneSamples, ulawDecode, ulawEncode } from '../../src/media/index.ts';

/** A speech-band probe: a 300 to 3400 Hz sweep then two tones. */
export function probeSignal(seconds = 1.5, rate = 8000): Int16Array {
  const sweep = chirpSamples(300, 3400, Math.round(seconds * 0.7 * rate), {
    sampleRate: rate,
    amplitude: 0.4,
  });
  const rest = Math.round(seconds * rate) - sweep.length;
  const a = toneSamples(697, Math.floor(rest / 2), { sampleRate: rate, amplitude: 0.3 });
  const b = toneSamples(1477, rest - a.length, { sampleRate: rate, amplitude: 0.3 });
  const out = new Int16Array(sweep.length + a.length + b.length);
  out.set(sweep);
  out.set(a, sweep.length);
  out.set(b, sweep.length + a.length);
  return out;
}

/** The lag (samples of `recorded` before `expected` starts) with the best normalised correlation. */
export function align(
  expected: Int16Array,
  recorded: Int16Array,
  maxLag = 4000,
): { lag: number; ncc: number } {
  let best = { lag: -1, ncc: -1 };
  let ee = 0;
  for (const x of expected) ee += x * x;
  for (let lag = 0; lag <= maxLag && lag < recorded.length; lag++) {
    let xy = 0;
    let yy = 0;
    const n = Math.min(expected.length, recorded.length - lag);
    for (let i = 0; i < n; i++) {
      const y = recorded[lag + i]!;
      xy += expected[i]! * y;
      yy += y * y;
    }
    const ncc = yy > 0 && ee > 0 ? xy / Math.sqrt(ee * yy) : 0;
    if (ncc > best.ncc) best = { lag, ncc };
  }
  return best;
}

/** Samples of `recorded` (from `lag`) that differ from PCMU encode+decode of `input`. */
export function pcmuMismatches(input: Int16Array, recorded: Int16Array, lag: number): number {
  let bad = 0;
  for (let i = 0; i < input.length; i++) {
    if (recorded[lag + i] !== ulawDecode(ulawEncode(input[i]!))) bad++;
  }
  return bad;
}
