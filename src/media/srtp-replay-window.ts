// Replay protection (RFC 3711 section 3.3.2): a receiver keeps, per SSRC, the highest packet
// index it has authenticated and a bit map of which of the `size` indices just below it it has
// seen. A packet with an index above the highest is new; one inside the window is new only if
// its bit is clear (else it is a replay); one below the window is too old to tell and is
// dropped as well.
//
//            too old               |<------------ window: size indices ------------>|  new
//   ... ---------------------------+------------------------------------------------+-- ...
//                                  highest - size + 1                         highest
//
// The window is only told about a packet (accept) after the packet has been authenticated, so
// forged packets can neither mark indices as seen nor move the window forward.
//
// The bit map is a ring of `size` bits: index i lives at bit (i mod size). Moving the highest
// index forward by d clears the bits of the d - 1 indices skipped over (all of them when d is at
// least the window size) and sets the bit of the new highest.

/** Window size when none is given: 128 packets. */
export const DEFAULT_REPLAY_WINDOW = 128;
/** RFC 3711 section 3.3.2: the window size MUST be at least 64. */
export const MIN_REPLAY_WINDOW = 64;

export type ReplayCheck = 'new' | 'replay' | 'too-old';

const BITS_PER_WORD = 32;
const WORD_SHIFT = 5;
const BIT_MASK = 31;

export class SrtpReplayWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  #highest = -1;

  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < MIN_REPLAY_WINDOW) {
      throw new RangeError(
        `replay window must be an integer of at least ${MIN_REPLAY_WINDOW} packets, got ${size}`,
      );
    }
    this.size = size;
    this.#bits = new Uint32Array(Math.ceil(size / BITS_PER_WORD));
  }

  /** The highest index accepted so far, undefined before the first. */
  get highest(): number | undefined {
    return this.#highest < 0 ? undefined : this.#highest;
  }

  /** Whether a packet with this index would be new, a replay, or too old. Changes nothing. */
  check(index: number): ReplayCheck {
    if (index > this.#highest) return 'new';
    if (this.#highest - index >= this.size) return 'too-old';
    return this.#isSet(index) ? 'replay' : 'new';
  }

  /** Records an authenticated packet: marks its index seen and moves the window if it is ahead. */
  accept(index: number): void {
    if (index > this.#highest) {
      const advance = this.#highest < 0 ? this.size : index - this.#highest;
      if (advance >= this.size) {
        this.#bits.fill(0);
      } else {
        for (let skipped = this.#highest + 1; skipped < index; skipped++) this.#clear(skipped);
      }
      this.#highest = index;
    } else if (this.#highest - index >= this.size) {
      return;
    }
    this.#set(index);
  }

  #isSet(index: number): boolean {
    const bit = index % this.size;
    return (this.#bits[bit >>> WORD_SHIFT]! & (1 << (bit & BIT_MASK))) !== 0;
  }

  #set(index: number): void {
    const bit = index % this.size;
    this.#bits[bit >>> WORD_SHIFT]! |= 1 << (bit & BIT_MASK);
  }

  #clear(index: number): void {
    const bit = index % this.size;
    this.#bits[bit >>> WORD_SHIFT]! &= ~(1 << (bit & BIT_MASK));
  }
}
