// Bytes a transaction keeps for a while (the last response for retransmissions, a shed message),
// up to 64*T1 (Timers J, L, M). They are kept as a one-byte string, each character one byte
// (latin1), not as a Buffer: a small Buffer is a slice of Node's shared 8 KB pool, and one kept
// slice would keep its whole pool chunk alive; a Buffer of its own costs two heap objects and an
// external allocation besides its bytes (about 300 bytes more per message, and an ArrayBuffer the
// collector must sweep), where the string is one heap object of its length plus 16 bytes. A
// kept message is turned back into a Buffer only when it is sent again or parsed again: rarely.

import { SipRequest } from '../sip/index.ts';

/** Bytes as kept: one latin1 character per byte (exact for any bytes, UTF-8 included). */
export type KeptBytes = string;

export function keepBytes(bytes: Buffer): KeptBytes {
  return bytes.toString('latin1');
}

/** The kept bytes as a Buffer again, to send or parse. */
export function keptBuffer(kept: KeptBytes): Buffer {
  return Buffer.from(kept, 'latin1');
}

/**
 * What a transaction that retains the minimum keeps of its request once it is settled: the
 * request line and the headers a response is built from (§8.2.6.2: Via, From, To, Call-ID,
 * CSeq), no body. Enough for createResponse and for reading the method, Call-ID and CSeq.
 */
export function responseBasis(request: SipRequest): KeptBytes {
  const headers: [string, string][] = [];
  for (const v of request.getAll('Via')) headers.push(['Via', v]);
  for (const name of ['From', 'To', 'Call-ID', 'CSeq']) {
    const v = request.get(name);
    if (v !== undefined) headers.push([name, v]);
  }
  return keepBytes(new SipRequest(request.method, request.uri, headers).toBuffer());
}
