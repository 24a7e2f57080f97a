// Fast byte-to-string decoding. Buffer#toString(encoding, start, end) validates its arguments and
// dispatches on the encoding name on every call; Node's Buffer also carries the direct decoders
// (latin1Slice, utf8Slice) that it uses underneath. They are not in @types/node, hence the cast.

interface DirectSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Bytes [start, end) as Latin-1 (for text known to be ASCII: tokens, header names). */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as DirectSlices).latin1Slice(start, end);
}

/** Bytes [start, end) as UTF-8. */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as DirectSlices).utf8Slice(start, end);
}
