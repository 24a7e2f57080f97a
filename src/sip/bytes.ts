// Fast byte-to-string decoding. Buffer#toString(encoding, start, end) validates its arguments and
// dispatches on the encoding name on every call; Node's Buffer also carries the direct decoders
// (latin1Slice, utf8Slice) that it uses underneath. They are not in @types/node, hence the cast.

interface DirectSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Bytes [start, end) as Latin-1 (for text known to be ASCII: tokens, header names). */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as DirectSlices).latin1Slice(start, end);
}

/**
 * A copy of `s` that holds no other string alive. A header value read from a parsed message is
 * a slice of the whole header text, and V8 keeps that text for as long as the slice lives: a
 * Call-ID kept for a call (a map key, a call log entry) would hold every header of the message
 * it came from. Decoding the value's bytes again makes a flat string of its own length (about
 * 140 ns for a transaction key); `(' ' + s).slice(1)` would not pin the message either, but its
 * result is itself a 32-byte slice of a new copy (measured: 141 against 173 bytes per key held
 * in a Map). Text beyond Latin-1 cannot go through one-byte decoding: it takes the slice way.
 */
export function ownString(s: string): string {
  const copy = latin1(Buffer.from(s, 'latin1'), 0, s.length);
  return copy === s ? copy : (' ' + s).slice(1);
}

/** Bytes [start, end) as UTF-8. */
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as DirectSlices).utf8Slice(start, end);
}

/**
 * The SIP methods with a standard behind them: RFC 3261's six and the extensions' (RFC 3262
 * PRACK, 3265/6665 SUBSCRIBE NOTIFY, 3311 UPDATE, 3428 MESSAGE, 3515 REFER, 3903 PUBLISH, 6086
 * INFO). The parser takes their names from here (most used first), and the server's /metrics
 * counts only these under their own name.
 */
export const KNOWN_METHODS: readonly string[] = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'REGISTER',
  'OPTIONS',
  'SUBSCRIBE',
  'NOTIFY',
  'PRACK',
  'UPDATE',
  'INFO',
  'REFER',
  'MESSAGE',
  'PUBLISH',
];
const METHOD_BYTES = KNOWN_METHODS.map((m) => Buffer.from(m, 'latin1'));

/** A method name in buf[start, end): the common ones come from a table instead of a new string. */
export function methodName(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  for (let m = 0; m < METHOD_BYTES.length; m++) {
    const mb = METHOD_BYTES[m]!;
    if (mb.length !== n || mb[0] !== buf[start]) continue;
    let k = 1;
    while (k < n && mb[k] === buf[start + k]) k++;
    if (k === n) return KNOWN_METHODS[m]!;
  }
  return latin1(buf, start, end);
}
