// ITU-T G.711 companding: 16-bit linear PCM <-> 8-bit mu-law (PCMU, RTP payload type 0) and
// A-law (PCMA, payload type 8). Both laws are piecewise linear approximations of a logarithm:
// a sign bit, a 3-bit segment (exponent) and a 4-bit step within the segment.
//
//   bit   7     6  5  4    3  2  1  0
//       +----+-----------+------------+
//       |sign|  segment  |  mantissa  |
//       +----+-----------+------------+
//
// mu-law works on 14-bit magnitudes with a bias of 33 (0x84 on the 16-bit scale) so that every
// segment starts at a power of two, and stores the one's complement of the code. A-law works on
// 12-bit magnitudes plus sign, segments 0 and 1 share the same step, and even bits are inverted
// (XOR 0x55).

const SIGN_BIT = 0x80;
const SEGMENT_SHIFT = 4;
const SEGMENT_MASK = 0x70;
const MANTISSA_MASK = 0x0f;

/** mu-law bias added to the magnitude before the segment search (33 on the 14-bit scale). */
const ULAW_BIAS = 0x84;
/** Largest magnitude mu-law can represent once the bias is added (8159 on the 14-bit scale). */
const ULAW_CLIP = 32635;

/** A-law inverts every even bit of the code word. */
const ALAW_EVEN_BIT_INVERSION = 0x55;

/** Position of the highest set bit (0-based) of a positive integer. */
function highestBit(value: number): number {
  return 31 - Math.clz32(value);
}

/** One 16-bit linear sample (-32768..32767) to a mu-law code byte. */
export function ulawEncode(sample: number): number {
  let magnitude = sample;
  let sign = 0;
  if (magnitude < 0) {
    sign = SIGN_BIT;
    magnitude = -magnitude;
  }
  if (magnitude > ULAW_CLIP) magnitude = ULAW_CLIP;
  magnitude += ULAW_BIAS;
  // The biased magnitude is in 0x84..0x7FFF: its top bit is bit 7 (segment 0) to bit 14 (7).
  const segment = highestBit(magnitude) - 7;
  const mantissa = (magnitude >> (segment + 3)) & MANTISSA_MASK;
  return ~(sign | (segment << SEGMENT_SHIFT) | mantissa) & 0xff;
}

/** One mu-law code byte to a 16-bit linear sample. */
export function ulawDecode(code: number): number {
  const inverted = ~code & 0xff;
  const segment = (inverted & SEGMENT_MASK) >> SEGMENT_SHIFT;
  const mantissa = inverted & MANTISSA_MASK;
  const magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
  // 0 - magnitude, not -magnitude: code 0x7f ("negative zero") decodes to 0, not -0.
  return inverted & SIGN_BIT ? 0 - magnitude : magnitude;
}

/**
 * One 16-bit linear sample (-32768..32767) to an A-law code byte. Negative samples are coded on
 * their magnitude (sign-magnitude, as most 16-bit implementations and alawmulaw do); the ITU-T
 * G.191 reference codes them on the one's complement instead, which moves the decision levels of
 * negative samples by one 16-bit step. Both decode identically.
 */
export function alawEncode(sample: number): number {
  let magnitude = sample;
  let sign = SIGN_BIT;
  if (sample < 0) {
    sign = 0;
    magnitude = sample === -32768 ? 32767 : -sample;
  }
  let code: number;
  if (magnitude < 256) {
    // Segments 0 and 1 share the same step size (16 on the 16-bit scale).
    code = magnitude >> 4;
  } else {
    const segment = highestBit(magnitude) - 7;
    code = (segment << SEGMENT_SHIFT) | ((magnitude >> (segment + 3)) & MANTISSA_MASK);
  }
  return (sign | code) ^ ALAW_EVEN_BIT_INVERSION;
}

/** One A-law code byte to a 16-bit linear sample. */
export function alawDecode(code: number): number {
  const value = code ^ ALAW_EVEN_BIT_INVERSION;
  const segment = (value & SEGMENT_MASK) >> SEGMENT_SHIFT;
  // Reconstruct at the middle of the step: half a step (8 on the 16-bit scale) above the bottom.
  let magnitude = ((value & MANTISSA_MASK) << 4) + 8;
  if (segment > 0) magnitude = (magnitude + 0x100) << (segment - 1);
  return value & SIGN_BIT ? magnitude : -magnitude;
}

/** mu-law bytes to linear samples. */
export function ulawDecodeBuffer(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = ulawDecode(codes[i]!);
  return out;
}

/** A-law bytes to linear samples. */
export function alawDecodeBuffer(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = alawDecode(codes[i]!);
  return out;
}

/** Linear samples to mu-law bytes. */
export function ulawEncodeBuffer(samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = ulawEncode(samples[i]!);
  return out;
}

/** Linear samples to A-law bytes. */
export function alawEncodeBuffer(samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = alawEncode(samples[i]!);
  return out;
}

/** The G.711 law of an RTP static payload type (0 = PCMU, 8 = PCMA), or undefined. */
export type G711Law = 'PCMU' | 'PCMA';

/** Decodes a G.711 payload of the given law. */
export function g711Decode(law: G711Law, payload: Uint8Array): Int16Array {
  return law === 'PCMU' ? ulawDecodeBuffer(payload) : alawDecodeBuffer(payload);
}

/** Encodes linear samples with the given law. */
export function g711Encode(law: G711Law, samples: Int16Array): Buffer {
  return law === 'PCMU' ? ulawEncodeBuffer(samples) : alawEncodeBuffer(samples);
}
