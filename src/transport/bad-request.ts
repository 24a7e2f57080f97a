// A 400 Bad Request for a request that failed to parse (RFC 3261 §8.2 / §16.3: a server answers
// what it cannot understand, and keeps running). Built straight from the raw text, since the
// parser gave up: only the lines a response must echo are looked for.

/** Compact and full header names echoed in a response (§8.2.6.2). */
const ECHOED: ReadonlyMap<string, string> = new Map([
  ['via', 'Via'],
  ['v', 'Via'],
  ['from', 'From'],
  ['f', 'From'],
  ['to', 'To'],
  ['t', 'To'],
  ['call-id', 'Call-ID'],
  ['i', 'Call-ID'],
  ['cseq', 'CSeq'],
]);

/** Longest reason phrase we write: enough to say what is wrong. */
const MAX_REASON_LENGTH = 120;

/** Whether the raw bytes start like a response (status line) rather than a request. */
export function looksLikeResponse(raw: Buffer): boolean {
  return raw.subarray(0, 4).toString('latin1') === 'SIP/';
}

/** A reason phrase safe to put on a status line: printable, one line, bounded. */
export function safeReason(reason: string): string {
  const cleaned = reason.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  const short =
    cleaned.length > MAX_REASON_LENGTH ? `${cleaned.slice(0, MAX_REASON_LENGTH - 3)}...` : cleaned;
  return short.length > 0 ? short : 'Bad Request';
}

/** How to answer: the status (400, or 513 for a message too large) and whether a Via is needed. */
export interface BadRequestOptions {
  /** 400 (default) or 513 Message Too Large (§21.5.14). */
  status?: 400 | 513;
  /**
   * Over UDP (the default) an answer without a Via has nowhere to go (§18.2.2) and is dropped;
   * on a stream connection it goes back on the connection, so `false` answers anyway.
   */
  requireVia?: boolean;
}

const NO_BAD_REQUEST_OPTIONS: BadRequestOptions = Object.freeze({});

/**
 * The bytes of a `400 <reason>` answering a request that failed to parse, or undefined when the
 * request has no Via to answer along (it is then dropped).
 */
export function badRequestFor(
  raw: Buffer,
  reason: string,
  options: BadRequestOptions = NO_BAD_REQUEST_OPTIONS,
): Buffer | undefined {
  if (looksLikeResponse(raw)) return undefined;
  const headerEnd = raw.indexOf('\r\n\r\n');
  const text = raw.subarray(0, headerEnd >= 0 ? headerEnd : raw.length).toString('latin1');
  const lines = text.split(/\r?\n/);
  const echoed: string[] = [];
  let sawVia = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === undefined || line.length === 0) break;
    if (line.startsWith(' ') || line.startsWith('\t')) continue; // folded continuation: skipped
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = ECHOED.get(line.slice(0, colon).trim().toLowerCase());
    if (!name) continue;
    const value = line.slice(colon + 1).trim();
    if (value.length === 0) continue;
    if (name === 'Via') sawVia = true;
    echoed.push(`${name}: ${value}`);
  }
  if (!sawVia && options.requireVia !== false) return undefined;
  const status = options.status ?? 400;
  const echoedLines = echoed.length > 0 ? `${echoed.join('\r\n')}\r\n` : '';
  const head = `SIP/2.0 ${status} ${safeReason(reason)}\r\n${echoedLines}Content-Length: 0\r\n\r\n`;
  return Buffer.from(head, 'latin1');
}
