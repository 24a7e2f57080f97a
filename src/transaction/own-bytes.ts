// Bytes a transaction keeps for a while (the last response for retransmissions, a shed message),
// up to 64*T1 (Timers J, L, M). They are kept as a one-byte string, each character one byte
// (latin1), not as a Buffer: a small Buffer is a slice of Node's shared 8 KB pool, and one kept
// slice would keep its whole pool chunk alive; a Buffer of its own costs two heap objects and an
// external allocation besides its bytes (about 300 bytes more per message, and an ArrayBuffer the
// collector must sweep), where the string is one heap object of its length plus 16 bytes. A
// kept message is turned back into a Buffer only when it is sent again or parsed again: rarely.
// A layer that retains the minimum keeps the responses it may resend in shared chunks outside
// the heap instead (ChunkBytes below).

/** Bytes as kept: one latin1 character per byte (exact for any bytes, UTF-8 included). */
export type KeptBytes = string;

export function keepBytes(bytes: Buffer): KeptBytes {
  return bytes.toString('latin1');
}

/** The kept bytes as a Buffer again, to send or parse. */
export function keptBuffer(kept: KeptBytes): Buffer {
  return Buffer.from(kept, 'latin1');
}

/** What reading a settled transaction's request says when the layer retains the minimum. */
export function notKept(method: string, state: string): Error {
  return new Error(
    `the ${method} transaction is ${state}: its request is not kept (layer retain 'minimum')`,
  );
}

/**
 * Bytes kept outside the V8 heap, for the many responses a proxy's settled transactions keep for
 * 64*T1 (layer retain 'minimum'): a place in a chunk shared with other kept messages. A string
 * of the bytes would be on the heap, which V8 lets grow to a multiple of what is live before it
 * collects: kept here they count once. A chunk goes when the last message kept in it goes (they
 * are kept for about the same time, in the order they came), so a message must only be kept
 * this way where its holder lives a bounded time, or it keeps its whole chunk.
 */
export class ChunkBytes {
  constructor(
    private readonly chunk: Buffer,
    private readonly offset: number,
    readonly length: number,
  ) {}

  /** The bytes, as a view (no copy). */
  get buffer(): Buffer {
    return this.chunk.subarray(this.offset, this.offset + this.length);
  }
}

/** Bytes per chunk (a few hundred responses). */
const CHUNK_SIZE = 64 * 1024;
/** A message larger than this gets a chunk of its own. */
const LARGEST_SHARED = 8 * 1024;

let chunk: Buffer | undefined;
let chunkUsed = 0;

/** Copies `bytes` into a shared chunk (see ChunkBytes). */
export function keepInChunk(bytes: Buffer): ChunkBytes {
  const length = bytes.length;
  if (length > LARGEST_SHARED) {
    const own = Buffer.allocUnsafeSlow(length);
    bytes.copy(own);
    return new ChunkBytes(own, 0, length);
  }
  if (chunk === undefined || chunkUsed + length > CHUNK_SIZE) {
    chunk = Buffer.allocUnsafeSlow(CHUNK_SIZE);
    chunkUsed = 0;
  }
  const offset = chunkUsed;
  bytes.copy(chunk, offset);
  chunkUsed += length;
  return new ChunkBytes(chunk, offset, length);
}
