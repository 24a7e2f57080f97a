// Bytes a transaction keeps for a while (the last response for retransmissions, a shed message):
// small Buffers come out of Node's shared 8 KB pool, and one kept slice would keep its whole
// pool chunk alive (32 s for Timer J/L, with every other message serialized next to it). A kept
// slice is copied into memory of its own, of its own size.

/** `bytes` if it owns its memory, else a copy that does. */
export function ownBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}
