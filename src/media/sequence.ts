// Serial-number arithmetic for RTP's 16-bit sequence numbers and 32-bit timestamps (RFC 3550
// section 5.1; RFC 1982 style comparison): values wrap, so "newer" means "ahead by less than
// half the number space".

const SEQUENCE_SPACE = 0x10000;
const HALF_SEQUENCE_SPACE = 0x8000;
const TIMESTAMP_SPACE = 0x1_0000_0000;
const HALF_TIMESTAMP_SPACE = 0x8000_0000;

/** a + n modulo 2^16. */
export function sequenceAdd(a: number, n: number): number {
  return (((a + n) % SEQUENCE_SPACE) + SEQUENCE_SPACE) % SEQUENCE_SPACE;
}

/** Signed distance from a to b in the 16-bit space (-32768..32767): positive when b is ahead. */
export function sequenceDiff(a: number, b: number): number {
  const d = (b - a) & 0xffff;
  return d >= HALF_SEQUENCE_SPACE ? d - SEQUENCE_SPACE : d;
}

/** a + n modulo 2^32. */
export function timestampAdd(a: number, n: number): number {
  return (((a + n) % TIMESTAMP_SPACE) + TIMESTAMP_SPACE) % TIMESTAMP_SPACE;
}

/** Signed distance from a to b in the 32-bit timestamp space: positive when b is ahead. */
export function timestampDiff(a: number, b: number): number {
  const d = (b - a) >>> 0;
  return d >= HALF_TIMESTAMP_SPACE ? d - TIMESTAMP_SPACE : d;
}

/**
 * Unwraps a stream of 16-bit sequence numbers (or, with bits = 32, timestamps) into a growing
 * extended value: each value is placed nearest to the last extended value.
 */
export class SerialUnwrapper {
  private last: number | undefined;
  private readonly bits: 16 | 32;

  constructor(bits: 16 | 32 = 16) {
    this.bits = bits;
  }

  /** The extended value of `value`. */
  unwrap(value: number): number {
    if (this.last === undefined) {
      this.last = value;
      return value;
    }
    const low = this.bits === 16 ? this.last % SEQUENCE_SPACE : this.last % TIMESTAMP_SPACE;
    const step = this.bits === 16 ? sequenceDiff(low, value) : timestampDiff(low, value);
    const extended = this.last + step;
    if (extended > this.last) this.last = extended;
    return extended;
  }
}
