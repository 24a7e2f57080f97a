// Settled transactions as rows of a table, for a layer that retains the minimum (a proxy:
// transaction-context.ts `retain`). An INVITE server transaction in Accepted and a non-INVITE
// one in Completed only absorb retransmissions for 64*T1 (Timers L and J): an Accepted one passes
// nothing but the TU's 2xx retransmissions (sent by the TU through the route it keeps), a
// Completed one resends the bytes of its last response. An INVITE client transaction in
// Accepted only passes later 2xx to a handler its TU handed it over to (Timer M). At 2000
// calls/s a proxy holds some 190,000 of them. As objects each cost its object, its key string, a Map
// entry and an end-timer entry on the V8 heap, which the collector lets grow to a multiple of
// what is live; as rows they cost their key's bytes, the response's bytes and a few numbers,
// outside the heap, counted once.
//
// Every row lives the same time (64*T1), so rows are kept in the order they came, in a ring,
// and end from its head (a row added a little after its time started, as a client transaction
// handed over once its TU's commit is done, may end that little late: a few ms). A row is found by its key through an open
// addressing index (linear probing, deletion by backward shift) of a hash seeded per table,
// checked against the key's own bytes. A row's bytes (its key, then the response it resends)
// are copied into shared chunks, which the collector frees once no row points into them.
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../transport/index.ts';

/** Where a settled transaction's responses go: shared by the many that go to one place. */
export interface ResponseRoute {
  readonly target: Endpoint;
  readonly local: Endpoint;
  readonly connectionId: string | undefined;
}

/** An INVITE server transaction in Accepted (RFC 6026): absorbs INVITEs, passes ACKs on. */
export const ACCEPTED = 1;
/** A non-INVITE server transaction in Completed: resends its response to a retransmission. */
export const COMPLETED = 2;
export type SettledKind = typeof ACCEPTED | typeof COMPLETED;

/** Keys longer than this (in UTF-8 bytes) stay transactions; branches are short. */
export const MAX_KEY_BYTES = 255;
/** Responses longer than this stay transactions (UDP's limit; a row keeps its length in 16 bits). */
export const MAX_RESPONSE_BYTES = 65_535;

const CHUNK_SIZE = 64 * 1024;
const INITIAL_ROWS = 1024;

/** What `find` returns when no row has the key. */
export const NO_ROW = -1;

/**
 * The farthest from its home place a row is put in the index. The hash is seeded per table but
 * is no keyed PRF: keys crafted to collide (a flood of requests with chosen branches) could
 * build long runs; past this a row is refused (its transaction stays an object, in a Map) and
 * no lookup probes further than the farthest row placed.
 */
export const MAX_PROBE = 32;

/** FNV-1a over the key's UTF-16 code units, from `seed`. */
export function settledHash(seed: number, key: string): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class SettledTable {
  /** How long a row lives, ms. */
  readonly ms: number;
  // The ring of rows: slot = seq & mask; rows head..tail-1 are held (ended ones have kind 0).
  private mask = INITIAL_ROWS - 1;
  private head = 0;
  private tail = 0;
  private kinds = new Uint8Array(INITIAL_ROWS);
  private hashes = new Uint32Array(INITIAL_ROWS);
  private offsets = new Uint32Array(INITIAL_ROWS);
  private keyLengths = new Uint8Array(INITIAL_ROWS);
  private responseLengths = new Uint16Array(INITIAL_ROWS);
  /** When each row ends (ms on the performance clock, rounded up). */
  private dues = new Float64Array(INITIAL_ROWS);
  private chunks: (Buffer | undefined)[] = new Array<Buffer | undefined>(INITIAL_ROWS);
  /** A server row's ResponseRoute, a client row's handler. */
  private refs: unknown[] = new Array<unknown>(INITIAL_ROWS);
  /** slot + 1 of the row at each place, 0 where empty; at most half full. */
  private index = new Int32Array(INITIAL_ROWS * 2);
  private live = 0;
  /** The farthest any placed row is from its home place (see MAX_PROBE). */
  private maxProbe = 0;
  private chunk: Buffer | undefined;
  private chunkUsed = 0;
  private readonly seed: number;
  /** The key being looked for, as bytes (see find). */
  private scratch = Buffer.allocUnsafeSlow(MAX_KEY_BYTES);

  /** `seed`: the hash's, random unless given (tests). */
  constructor(ms: number, seed?: number) {
    this.ms = ms;
    this.seed = seed ?? randomBytes(4).readUInt32LE(0);
  }

  /** Rows held (ended ones not counted). */
  get size(): number {
    return this.live;
  }

  /** When the oldest held row ends (ms, performance clock), or undefined when none is held. */
  get nextDue(): number | undefined {
    return this.head < this.tail ? this.dues[this.head & this.mask] : undefined;
  }

  /**
   * Adds a row for `key` (which no row may have yet), ending `ms` from now or at `due`
   * (performance clock). `ref`: a server row's ResponseRoute, a client row's handler;
   * `response`: the bytes a COMPLETED row resends. Returns false, adding nothing, when the key
   * or the response is too long for a row, or the key's place in the index too far from its
   * home (MAX_PROBE).
   */
  add(key: string, kind: SettledKind, ref: unknown, response?: Buffer, due?: number): boolean {
    const keyLength = Buffer.byteLength(key);
    const responseLength = response?.length ?? 0;
    if (keyLength > MAX_KEY_BYTES || responseLength > MAX_RESPONSE_BYTES) return false;
    if (this.tail - this.head > this.mask) this.growRows();
    if ((this.live + 1) * 2 > this.index.length) this.rebuildIndex(this.index.length * 2);
    const hash = settledHash(this.seed, key);
    const distance = this.distanceToFree(hash, MAX_PROBE);
    if (distance > MAX_PROBE) return false;
    const size = keyLength + responseLength;
    let chunk = this.chunk;
    if (chunk === undefined || this.chunkUsed + size > CHUNK_SIZE) {
      chunk = this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_SIZE, size));
      this.chunkUsed = 0;
    }
    const offset = this.chunkUsed;
    chunk.write(key, offset, keyLength, 'utf8');
    if (response !== undefined) response.copy(chunk, offset + keyLength);
    this.chunkUsed += size;

    const slot = this.tail & this.mask;
    this.kinds[slot] = kind;
    this.hashes[slot] = hash;
    this.offsets[slot] = offset;
    this.keyLengths[slot] = keyLength;
    this.responseLengths[slot] = responseLength;
    this.dues[slot] = Math.ceil(due ?? performance.now() + this.ms);
    this.chunks[slot] = chunk;
    this.refs[slot] = ref;
    this.tail++;
    this.live++;
    this.put(slot, hash, distance);
    return true;
  }

  /** The row holding `key` (a handle for kind/route/response), or NO_ROW. */
  find(key: string): number {
    if (this.live === 0) return NO_ROW;
    const keyLength = Buffer.byteLength(key);
    if (keyLength > MAX_KEY_BYTES) return NO_ROW;
    const scratch = this.scratch;
    scratch.write(key, 0, keyLength, 'utf8');
    const index = this.index;
    const imask = index.length - 1;
    const hash = settledHash(this.seed, key);
    const farthest = this.maxProbe;
    for (let d = 0, at = hash & imask; d <= farthest; d++, at = (at + 1) & imask) {
      const entry = index[at]!;
      if (entry === 0) return NO_ROW;
      const slot = entry - 1;
      if (
        this.hashes[slot] === hash &&
        this.keyLengths[slot] === keyLength &&
        this.chunks[slot]!.compare(
          scratch,
          0,
          keyLength,
          this.offsets[slot]!,
          this.offsets[slot]! + keyLength,
        ) === 0
      )
        return slot;
    }
    return NO_ROW;
  }

  kind(row: number): SettledKind {
    return this.kinds[row] as SettledKind;
  }

  /** A server row's route. */
  route(row: number): ResponseRoute {
    return this.refs[row] as ResponseRoute;
  }

  /** A client row's handler. */
  handler<T>(row: number): T {
    return this.refs[row] as T;
  }

  /** The bytes a COMPLETED row resends, as a view (no copy); undefined for an ACCEPTED row. */
  response(row: number): Buffer | undefined {
    const length = this.responseLengths[row]!;
    if (length === 0) return undefined;
    const start = this.offsets[row]! + this.keyLengths[row]!;
    return this.chunks[row]!.subarray(start, start + length);
  }

  /** Ends a row before its time (its response could not be sent). */
  end(row: number): void {
    if (this.kinds[row] === 0) return;
    this.unplace(row);
    this.release(row);
  }

  /** Ends every row whose time has come by `now` (performance clock). Returns how many. */
  expire(now: number): number {
    const dues = this.dues;
    const mask = this.mask;
    let ended = 0;
    while (this.head < this.tail) {
      const slot = this.head & mask;
      if (dues[slot]! > now) break;
      if (this.kinds[slot] !== 0) {
        this.unplace(slot);
        this.release(slot);
        ended++;
      }
      this.head++;
    }
    if (this.head === this.tail) {
      this.head = this.tail = 0;
      this.chunk = undefined; // nothing points into it: a new one next time
      this.chunkUsed = 0;
    }
    return ended;
  }

  /** Drops every row. */
  clear(): void {
    this.kinds.fill(0);
    this.chunks.fill(undefined);
    this.refs.fill(undefined);
    this.index.fill(0);
    this.maxProbe = 0;
    this.head = this.tail = this.live = 0;
    this.chunk = undefined;
    this.chunkUsed = 0;
  }

  private release(slot: number): void {
    this.kinds[slot] = 0;
    this.chunks[slot] = undefined;
    this.refs[slot] = undefined;
    this.live--;
  }

  /**
   * How far from its home the first free place for `hash` is; the search stops at `limit + 1`
   * (the index is at most half full, so without a limit it always ends).
   */
  private distanceToFree(hash: number, limit = Infinity): number {
    const index = this.index;
    const imask = index.length - 1;
    let d = 0;
    for (let at = hash & imask; index[at] !== 0 && d <= limit; at = (at + 1) & imask) d++;
    return d;
  }

  /** Puts the row in the free place `distance` from its home (distanceToFree). */
  private put(slot: number, hash: number, distance: number): void {
    this.index[(hash + distance) & (this.index.length - 1)] = slot + 1;
    if (distance > this.maxProbe) this.maxProbe = distance;
  }

  private place(slot: number, hash: number): void {
    this.put(slot, hash, this.distanceToFree(hash));
  }

  /** Takes the row out of the index, shifting back the entries probed past it. */
  private unplace(slot: number): void {
    const index = this.index;
    const imask = index.length - 1;
    let hole = this.hashes[slot]! & imask;
    while (index[hole] !== slot + 1) hole = (hole + 1) & imask;
    for (let at = (hole + 1) & imask; ; at = (at + 1) & imask) {
      const entry = index[at]!;
      if (entry === 0) break;
      const home = this.hashes[entry - 1]! & imask;
      // The entry stays if its home lies cyclically in (hole, at].
      const stays = hole <= at ? home > hole && home <= at : home > hole || home <= at;
      if (stays) continue;
      index[hole] = entry;
      hole = at;
    }
    index[hole] = 0;
  }

  private rebuildIndex(size: number): void {
    this.index = new Int32Array(size);
    this.maxProbe = 0;
    for (let seq = this.head; seq < this.tail; seq++) {
      const slot = seq & this.mask;
      if (this.kinds[slot] !== 0) this.place(slot, this.hashes[slot]!);
    }
  }

  /** Doubles the ring, rows keeping their order (slots change, so the index is rebuilt). */
  private growRows(): void {
    const oldMask = this.mask;
    const size = (oldMask + 1) * 2;
    const mask = size - 1;
    const kinds = new Uint8Array(size);
    const hashes = new Uint32Array(size);
    const offsets = new Uint32Array(size);
    const keyLengths = new Uint8Array(size);
    const responseLengths = new Uint16Array(size);
    const dues = new Float64Array(size);
    const chunks = new Array<Buffer | undefined>(size);
    const refs = new Array<unknown>(size);
    for (let seq = this.head; seq < this.tail; seq++) {
      const from = seq & oldMask;
      const to = seq & mask;
      kinds[to] = this.kinds[from]!;
      hashes[to] = this.hashes[from]!;
      offsets[to] = this.offsets[from]!;
      keyLengths[to] = this.keyLengths[from]!;
      responseLengths[to] = this.responseLengths[from]!;
      dues[to] = this.dues[from]!;
      chunks[to] = this.chunks[from];
      refs[to] = this.refs[from];
    }
    this.mask = mask;
    this.kinds = kinds;
    this.hashes = hashes;
    this.offsets = offsets;
    this.keyLengths = keyLengths;
    this.responseLengths = responseLengths;
    this.dues = dues;
    this.chunks = chunks;
    this.refs = refs;
    this.rebuildIndex(Math.max(this.index.length, size * 2));
  }
}
