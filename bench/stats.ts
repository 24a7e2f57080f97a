// Small statistics the benches share: machines here are shared and noisy, so a bench that runs
// a step several times reports its median.

/**
 * The median of `xs`: for an even count the mean of the two middle ones, so that medians of
 * several fields of the same runs stay consistent (of two runs, one that failed 5000 calls and
 * one that failed none, the median is 2500 failed and the mean completed share, not 100 % and
 * 5000). `xs` is not changed.
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
