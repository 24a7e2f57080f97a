// Bytes a transaction keeps for a while (the last response for retransmissions, a shed message),
// up to 64*T1 (Timers J, L, M). They are kept as a one-byte string, each character one byte
// (latin1), not as a Buffer: a small Buffer is a slice of Node's shared 8 KB pool, and one kept
// slice would keep its whole pool chunk alive; a Buffer of its own costs two heap objects and an
// external allocation besides its bytes (about 300 bytes more per message, and an ArrayBuffer the
// collector must sweep), where the string is one heap object of its length plus 16 bytes. A
// kept message is turned back into a Buffer only when it is sent again or parsed again: rarely.

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
