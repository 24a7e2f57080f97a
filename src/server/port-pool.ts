// The media relay's UDP port pairs (RFC 3550 section 11: RTP on an even port, RTCP on the next
// odd one), taken from a configured range such as 20000-29999.
//
// A pair is named by its even RTP port. Free pairs are handed out first-in first-out, so a pair
// freed at the end of a call goes to the back of the queue and is reused as late as possible:
// stray packets of the old call then have time to die out before a new call gets the port.
// A pair whose bind failed (the port is used by another program) is given back the same way and
// retried only after every other pair.

export class PortPoolError extends Error {
  override name = 'PortPoolError';
}

export class PortPool {
  /** First and last port of the range as configured. */
  readonly first: number;
  readonly last: number;
  /** Number of even/odd pairs that fit in the range. */
  readonly capacity: number;

  /** Ring buffer of free RTP ports. */
  private readonly ring: Uint16Array;
  private head = 0;
  private count = 0;
  private readonly taken = new Set<number>();

  constructor(first: number, last: number) {
    if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1 || last > 65535) {
      throw new PortPoolError(`bad port range ${first}-${last}: ports are integers 1-65535`);
    }
    if (last < first) throw new PortPoolError(`bad port range ${first}-${last}: last < first`);
    this.first = first;
    this.last = last;
    const firstEven = first % 2 === 0 ? first : first + 1;
    // The pair (p, p+1) needs p+1 <= last.
    this.capacity = last >= firstEven + 1 ? Math.floor((last - firstEven + 1) / 2) : 0;
    if (this.capacity === 0) {
      throw new PortPoolError(`port range ${first}-${last} holds no even/odd pair`);
    }
    this.ring = new Uint16Array(this.capacity);
    for (let i = 0; i < this.capacity; i++) this.ring[i] = firstEven + 2 * i;
    this.count = this.capacity;
  }

  /** Parses "FIRST-LAST" as written in the configuration (media.ports). */
  static parse(range: string): PortPool {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(range);
    if (!m)
      throw new PortPoolError(`bad port range "${range}": write FIRST-LAST, e.g. 20000-29999`);
    return new PortPool(Number(m[1]), Number(m[2]));
  }

  /** Free pairs. */
  get available(): number {
    return this.count;
  }

  /** Pairs handed out and not yet given back. */
  get inUse(): number {
    return this.taken.size;
  }

  /** Takes a free pair and returns its RTP (even) port; RTCP is that + 1. Undefined when none. */
  take(): number | undefined {
    if (this.count === 0) return undefined;
    const port = this.ring[this.head]!;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.taken.add(port);
    return port;
  }

  /** Gives a pair back (by its RTP port). Giving back a pair that is not taken is a bug. */
  give(rtpPort: number): void {
    if (!this.taken.delete(rtpPort)) {
      throw new PortPoolError(`port ${rtpPort} given back but it was not taken from this pool`);
    }
    this.ring[(this.head + this.count) % this.capacity] = rtpPort;
    this.count++;
  }

  /** Whether this RTP port is currently handed out. */
  isTaken(rtpPort: number): boolean {
    return this.taken.has(rtpPort);
  }
}
