// Small statistics the benches share: machines here are shared and noisy, so a bench that runs
// a step several times reports its median.

/** The median of `xs` (the upper middle one for an even count); `xs` is not changed. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
