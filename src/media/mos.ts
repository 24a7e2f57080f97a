// Listening-quality estimate (MOS-CQE) of a G.711 call from network figures, with the ITU-T
// G.107 E-model (06/2015), reduced to the terms that the network changes:
//
//   R = Ro - Is - Id - Ie,eff + A
//
// - Ro - Is: with all other G.107 parameters at their defaults (table 3) this is 93.2, the R of
//   a perfect narrowband connection. A (advantage factor) is 0 for wired phones.
// - Id, delay impairment: only Idd, the impairment of absolute one-way delay Ta (G.107 7.3),
//   is modelled; with the default echo parameters (TELR 65 dB, WEPL 110 dB) Idte and Idle are
//   already folded into the 93.2 for short delays.
//     Idd = 0                                                             for Ta <= 100 ms
//     Idd = 25 * ((1 + X^6)^(1/6) - 3 * (1 + (X/3)^6)^(1/6) + 2),  X = log2(Ta / 100)
// - Ie,eff, equipment impairment with random packet loss (G.107 7.4):
//     Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)
//   with Ie = 0 for G.711 and the packet-loss robustness Bpl from G.113 appendix I (table I.3):
//   4.3 without packet-loss concealment, 25.1 with it. BurstR = 1 (random loss).
//
// Ppl, the effective loss, is the network loss plus the packets a receiver's jitter buffer
// discards for arriving too late. The buffer is assumed adaptive with a depth of
// max(minimum, JITTER_BUFFER_FACTOR * J), J being the RFC 3550 interarrival jitter. If transit
// times vary normally with standard deviation sigma, the mean absolute difference of two
// transits (what J estimates) is 2 * sigma / sqrt(pi), so sigma = J * sqrt(pi) / 2, and the
// share of packets later than the buffer depth B is Q(B / sigma) (the normal tail).
// This discard model is this project's simplification, not part of G.107.
//
// Ta = network one-way delay + packetization (ptime) + jitter buffer depth.
//
// R to MOS (G.107 annex B):
//   MOS = 1                                             for R < 0
//   MOS = 1 + 0.035 R + R (R - 60) (100 - R) * 7e-6     for 0 <= R <= 100
//   MOS = 4.5                                           for R > 100

const R_DEFAULT = 93.2;
/** G.113 appendix I: G.711 has no equipment impairment. */
const IE_G711 = 0;
/** G.113 appendix I table I.3: Bpl of G.711 with packet-loss concealment. */
const BPL_G711_PLC = 25.1;
/** G.113 appendix I table I.3: Bpl of G.711 without packet-loss concealment. */
const BPL_G711_NO_PLC = 4.3;
const JITTER_BUFFER_FACTOR = 2;
const MIN_JITTER_BUFFER_MS = 20;

export interface MosInput {
  codec: 'PCMU' | 'PCMA';
  /** Network packet loss, percent (0-100). */
  lossPct: number;
  /** RFC 3550 interarrival jitter, milliseconds. */
  jitterMs: number;
  /** One-way network delay, milliseconds (default 0: unknown, only buffering counted). */
  delayMs?: number;
  /** Packetization interval, milliseconds (default 20). */
  ptimeMs?: number;
  /** Whether the receiver conceals lost packets (default true). */
  plc?: boolean;
  /** Fixed jitter buffer depth in ms, instead of the adaptive estimate. */
  jitterBufferMs?: number;
}

export interface MosEstimate {
  /** Mean opinion score, 1-4.5 (conversational quality, estimated). */
  mos: number;
  /** E-model transmission rating. */
  r: number;
  /** Loss after jitter-buffer discards, percent. */
  effectiveLossPct: number;
  /** Mouth-to-ear delay used, ms. */
  delayMs: number;
  /** Delay impairment Idd. */
  id: number;
  /** Effective equipment impairment Ie,eff. */
  ieEff: number;
}

/** Upper tail of the standard normal distribution (Abramowitz-Stegun 7.1.26 via erfc). */
function normalTail(z: number): number {
  if (z <= 0) return 0.5;
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return 0.5 * poly * Math.exp(-x * x);
}

/** G.107 Idd for a one-way delay in ms. */
export function delayImpairment(delayMs: number): number {
  if (delayMs <= 100) return 0;
  const x = Math.log2(delayMs / 100);
  return 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2);
}

/** G.107 annex B: R to MOS. */
export function rToMos(r: number): number {
  if (r < 0) return 1;
  if (r > 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

/** Estimates MOS for a G.711 stream; see the comment at the top of this file. */
export function estimateMos(input: MosInput): MosEstimate {
  const loss = Math.min(100, Math.max(0, input.lossPct));
  const jitter = Math.max(0, input.jitterMs);
  const ptime = input.ptimeMs ?? 20;
  const buffer =
    input.jitterBufferMs ?? Math.max(MIN_JITTER_BUFFER_MS, JITTER_BUFFER_FACTOR * jitter);
  const sigma = (jitter * Math.sqrt(Math.PI)) / 2;
  const discardPct = sigma > 0 ? 100 * normalTail(buffer / sigma) : 0;
  const effectiveLossPct = Math.min(100, loss + ((100 - loss) * discardPct) / 100);
  const delayMs = Math.max(0, input.delayMs ?? 0) + ptime + buffer;

  const bpl = input.plc === false ? BPL_G711_NO_PLC : BPL_G711_PLC;
  const ieEff = IE_G711 + ((95 - IE_G711) * effectiveLossPct) / (effectiveLossPct + bpl);
  const id = delayImpairment(delayMs);
  const r = R_DEFAULT - id - ieEff;
  return { mos: rToMos(r), r, effectiveLossPct, delayMs, id, ieEff };
}
