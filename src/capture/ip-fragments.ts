// IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5), bounded in time, bytes and datagrams.

export interface FragmentLimits {
  /** Seconds (capture time) a datagram may wait for its missing fragments. Default 30. */
  timeoutSeconds: number;
  /** Bytes of fragment data held at once over all datagrams. Default 16 MiB. */
  maxBytes: number;
  /** Datagrams under reassembly at once. Default 4096. */
  maxDatagrams: number;
}

export const DEFAULT_FRAGMENT_LIMITS: FragmentLimits = {
  timeoutSeconds: 30,
  maxBytes: 16 * 1024 * 1024,
  maxDatagrams: 4096,
};

/** Largest reassembled payload: the IPv4 total length (and IPv6 payload length) is 16 bits. */
const MAX_DATAGRAM = 65535;

interface Piece {
  offset: number;
  data: Buffer;
}

interface Pending {
  firstTs: number;
  pieces: Piece[];
  bytes: number;
  /** Total payload length, known once the last fragment (more-fragments clear) arrives. */
  total: number;
  /** Upper-layer protocol, from the fragment at offset 0 (IPv6 carries it there only). */
  proto: number;
}

export interface Reassembled {
  payload: Buffer;
  proto: number;
}

export class FragmentReassembler {
  private readonly limits: FragmentLimits;
  private readonly pending = new Map<string, Pending>();
  private heldBytes = 0;
  private readonly warn: (msg: string) => void;

  constructor(warn: (msg: string) => void, limits: Partial<FragmentLimits> = {}) {
    this.limits = { ...DEFAULT_FRAGMENT_LIMITS, ...limits };
    this.warn = warn;
  }

  /** Datagrams waiting for fragments right now. */
  get size(): number {
    return this.pending.size;
  }

  /** Bytes of fragment data held right now. */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * Adds one fragment (payload after the IP header; offset in bytes). `proto` is the upper-layer
   * protocol if this fragment says it (IPv4 always; IPv6 the offset-0 fragment), else -1.
   * Returns the whole payload when this fragment completes the datagram. `data` is copied.
   */
  add(
    key: string,
    ts: number,
    offset: number,
    data: Buffer,
    more: boolean,
    proto: number,
  ): Reassembled | undefined {
    this.expire(ts);
    if (offset + data.length > MAX_DATAGRAM) {
      this.warn(`fragment ends at ${offset + data.length}, beyond the largest datagram: dropped`);
      this.drop(key);
      return undefined;
    }
    let entry = this.pending.get(key);
    if (!entry) {
      while (
        this.pending.size >= this.limits.maxDatagrams ||
        (this.pending.size > 0 && this.heldBytes + data.length > this.limits.maxBytes)
      ) {
        this.evictOldest('too many fragments held');
      }
      entry = { firstTs: ts, pieces: [], bytes: 0, total: -1, proto: -1 };
      this.pending.set(key, entry);
    } else {
      while (this.heldBytes + data.length > this.limits.maxBytes && this.pending.size > 1) {
        const oldest = this.pending.keys().next().value as string;
        if (oldest === key) break;
        this.evictOldest('too many fragment bytes held');
      }
    }
    if (proto >= 0 && offset === 0) entry.proto = proto;
    else if (proto >= 0 && entry.proto < 0) entry.proto = proto;
    if (!more) entry.total = offset + data.length;
    entry.pieces.push({ offset, data: Buffer.from(data) });
    entry.bytes += data.length;
    this.heldBytes += data.length;
    if (entry.total < 0 || entry.proto < 0) return undefined;
    // Complete when the pieces cover [0, total) without a hole.
    const pieces = entry.pieces.slice().sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const piece of pieces) {
      if (piece.offset > covered) return undefined;
      covered = Math.max(covered, piece.offset + piece.data.length);
    }
    if (covered < entry.total) return undefined;
    const payload = Buffer.alloc(entry.total);
    // Copy in arrival order so that a later (retransmitted) overlap wins, as Linux does.
    for (const piece of entry.pieces) {
      const room = entry.total - piece.offset;
      if (room > 0) piece.data.copy(payload, piece.offset, 0, Math.min(room, piece.data.length));
    }
    this.drop(key);
    return { payload, proto: entry.proto };
  }

  private expire(ts: number): void {
    const limit = ts - this.limits.timeoutSeconds;
    for (const [key, entry] of this.pending) {
      if (entry.firstTs >= limit) break; // insertion order is arrival order
      this.warn(
        `fragments of a datagram never completed in ${this.limits.timeoutSeconds} s: dropped`,
      );
      this.drop(key);
    }
  }

  private evictOldest(why: string): void {
    const oldest = this.pending.keys().next().value;
    if (oldest === undefined) return;
    this.warn(`${why}: oldest incomplete datagram dropped`);
    this.drop(oldest);
  }

  private drop(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    this.heldBytes -= entry.bytes;
    this.pending.delete(key);
  }
}
