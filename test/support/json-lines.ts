// What the live-analysis tests share: the JSON lines a `trapezoid analyze` child prints, and a
// wait on a condition over its output.

/** One JSON line of `trapezoid analyze` (live modes): read loosely, each test checks its fields. */
export type Line = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The JSON objects among a program's output lines. */
export function jsonLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

/** Waits until `ok()` holds, polling every 50 ms; after `ms` fails naming `what` and `why()`. */
export async function until(
  what: string,
  ok: () => boolean,
  ms: number,
  why: () => string,
): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > ms) throw new Error(`timeout waiting for ${what}: ${why()}`);
    await sleep(50);
  }
}
