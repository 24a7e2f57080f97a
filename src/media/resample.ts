// Sample-rate conversion by band-limited interpolation (windowed sinc).
//
// Each output sample at input position t = n * inRate / outRate is the sum of the input samples
// around t weighted by a low-pass kernel h(x) = fc * sinc(fc * x) * w(x / halfWidth), where fc
// is the cut-off as a fraction of the input rate's Nyquist frequency: 1 when upsampling,
// outRate / inRate (times a small guard band) when downsampling, so that nothing above the new
// Nyquist frequency folds back as aliasing. w is a Blackman window over +-halfWidth input
// samples (halfWidth = ZERO_CROSSINGS / fc), which keeps stop-band leakage near -74 dB.
//
// The kernel is tabulated at KERNEL_STEPS points per zero crossing and linearly interpolated,
// so the cost is about 2 * ZERO_CROSSINGS / fc multiply-adds per output sample.

/** Zero crossings of the sinc on each side of the centre. */
const ZERO_CROSSINGS = 16;
/** Table resolution: entries per zero crossing. */
const KERNEL_STEPS = 512;
/** Cut-off relative to the output Nyquist frequency when downsampling (guard band). */
const DOWNSAMPLE_CUTOFF = 0.92;

let kernelTable: Float64Array | undefined;

/** sinc(x) * Blackman(x / ZERO_CROSSINGS) for x = i / KERNEL_STEPS, i = 0..Z*STEPS. */
function kernel(): Float64Array {
  if (kernelTable) return kernelTable;
  const n = ZERO_CROSSINGS * KERNEL_STEPS;
  const table = new Float64Array(n + 2);
  for (let i = 0; i <= n; i++) {
    const x = i / KERNEL_STEPS;
    const sinc = i === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const r = x / ZERO_CROSSINGS; // 0..1 from the centre to the edge
    const window = 0.42 + 0.5 * Math.cos(Math.PI * r) + 0.08 * Math.cos(2 * Math.PI * r);
    table[i] = sinc * window;
  }
  table[n + 1] = 0;
  kernelTable = table;
  return table;
}

/**
 * Resamples one channel of float samples. Returns a new array of
 * round(input.length * outRate / inRate) samples.
 */
export function resample(input: Float32Array, inRate: number, outRate: number): Float32Array {
  if (!(inRate > 0) || !(outRate > 0))
    throw new RangeError(`bad sample rates ${inRate} -> ${outRate}`);
  if (inRate === outRate) return Float32Array.from(input);
  const table = kernel();
  const ratio = inRate / outRate; // input samples per output sample
  const cutoff = outRate < inRate ? (outRate / inRate) * DOWNSAMPLE_CUTOFF : 1;
  const halfWidth = ZERO_CROSSINGS / cutoff; // in input samples
  const outLength = Math.round((input.length * outRate) / inRate);
  const out = new Float32Array(outLength);
  const tableScale = cutoff * KERNEL_STEPS;
  const last = input.length - 1;
  for (let n = 0; n < outLength; n++) {
    const t = n * ratio;
    const first = Math.max(0, Math.ceil(t - halfWidth));
    const end = Math.min(last, Math.floor(t + halfWidth));
    let sum = 0;
    for (let k = first; k <= end; k++) {
      const pos = Math.abs(k - t) * tableScale;
      const index = Math.floor(pos);
      const frac = pos - index;
      const weight = table[index]! + (table[index + 1]! - table[index]!) * frac;
      sum += input[k]! * weight;
    }
    out[n] = sum * cutoff;
  }
  return out;
}
