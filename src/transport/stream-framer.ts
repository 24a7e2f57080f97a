// Splitting a stream transport's bytes (TCP, TLS, WebSocket) into SIP messages (RFC 3261 §18.3):
// on a stream, Content-Length is mandatory and marks where a message ends. CRLFs between messages
// are keep-alives (RFC 5626 §3.5.1: a double CRLF is a ping that wants a single CRLF pong back).
//
//   stream = *( keep-alive / message )
//   message = start-line *( header CRLF ) CRLF body      (body: Content-Length bytes)
//   keep-alive = CRLF CRLF (ping) / CRLF (pong)
//
// Imports nothing but node: it only needs to find the header block's end and Content-Length.

export class FramingError extends Error {
  /** What is wrong, fit for a log line or a 400/513 reason phrase. */
  readonly reason: string;
  /** The status that answers it: 513 for a message too large (§21.5.14), else 400. */
  readonly status: 400 | 513;
  /** The start of the offending message (its header block as far as it came), for the answer. */
  head: Buffer = EMPTY;
  /** Messages the same push completed before the break: still to be handled, in order. */
  framed: Buffer[] = [];

  constructor(reason: string, status: 400 | 513 = 400) {
    super(reason);
    this.name = 'FramingError';
    this.reason = reason;
    this.status = status;
  }
}

export interface StreamFramerOptions {
  /** Largest message accepted, header block and body together (default 65535). */
  maxMessageSize?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const EMPTY = Buffer.alloc(0);
/** Bytes of an offending message kept for its 400 (enough for the headers a response echoes). */
const MAX_HEAD_KEPT_BYTES = 8192;

export class StreamFramer {
  /** Double-CRLF pings received (RFC 5626) that still want a CRLF pong; the owner resets it. */
  pongsDue = 0;
  readonly maxMessageSize: number;
  private buf: Buffer = EMPTY;
  /** Where the search for the blank line resumes (no byte is scanned twice). */
  private scanFrom = 0;
  /** CRLFs seen in a row between messages. */
  private crlfRun = 0;
  /** Total length of the message being received once its header block is complete, else 0. */
  private need = 0;
  private failed: FramingError | undefined;

  constructor(options: StreamFramerOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? 65535;
  }

  /** Bytes held for a message not complete yet. */
  get buffered(): number {
    return this.buf.length;
  }

  /** The bytes of the message not complete yet (its header block and the body so far). */
  get pending(): Buffer {
    return this.buf;
  }

  /**
   * Adds bytes from the stream; returns every message they complete (each a Buffer of its own).
   * Throws FramingError on a message too large or without Content-Length, carrying the messages
   * completed before it (`framed`) and the start of the offending one (`head`); after that the
   * stream is out of step and every later push throws the same error: close the connection.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.failed) {
      this.failed.framed = [];
      throw this.failed;
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    try {
      for (;;) {
        const m = this.next();
        if (m === undefined) break;
        out.push(m);
      }
    } catch (e) {
      if (e instanceof FramingError) {
        e.framed = out;
        e.head = Buffer.from(this.buf.subarray(0, MAX_HEAD_KEPT_BYTES));
        this.failed = e;
        this.buf = EMPTY;
      }
      throw e;
    }
    // keep only what is left, detached from the caller's chunk
    if (this.buf.length > 0 && this.buf.buffer === chunk.buffer) this.buf = Buffer.from(this.buf);
    return out;
  }

  private next(): Buffer | undefined {
    let b = this.buf;
    if (this.need > 0) return b.length < this.need ? undefined : this.take(this.need);
    // keep-alives before a message
    let i = 0;
    while (i < b.length) {
      if (b[i] === CR) {
        if (i + 1 >= b.length) break; // wait for the LF
        if (b[i + 1] !== LF) break;
        i += 2;
      } else if (b[i] === LF) i += 1;
      else break;
      if (++this.crlfRun === 2) {
        this.pongsDue++;
        this.crlfRun = 0;
      }
    }
    if (i > 0) {
      b = this.buf = b.subarray(i);
      this.scanFrom = 0;
    }
    if (b.length === 0 || (b.length === 1 && b[0] === CR)) return undefined;
    // the blank line after the headers
    const end = findBlankLine(b, this.scanFrom);
    if (end < 0) {
      if (b.length > this.maxMessageSize)
        throw new FramingError(`Message header block exceeds ${this.maxMessageSize} bytes`, 513);
      this.scanFrom = Math.max(0, b.length - 3);
      return undefined;
    }
    this.crlfRun = 0;
    const bodyStart = end;
    const cl = contentLength(b, bodyStart);
    if (cl === -1)
      throw new FramingError('Missing Content-Length: it is mandatory on stream transports');
    if (cl === -2) throw new FramingError('Invalid Content-Length');
    const total = bodyStart + cl;
    if (total > this.maxMessageSize)
      throw new FramingError(
        `Message of ${total} bytes exceeds the limit of ${this.maxMessageSize}`,
        513,
      );
    if (b.length < total) {
      this.need = total; // the header block is not scanned again
      return undefined;
    }
    return this.take(total);
  }

  private take(total: number): Buffer {
    const msg = Buffer.from(this.buf.subarray(0, total));
    this.buf = this.buf.subarray(total);
    this.scanFrom = 0;
    this.need = 0;
    return msg;
  }
}

/**
 * Offset just after the empty line that ends the header block (CRLF CRLF, or LF LF), searching
 * from `from`; -1 when it has not arrived yet.
 */
function findBlankLine(b: Buffer, from: number): number {
  for (let i = from; i < b.length; i++) {
    if (b[i] !== LF) continue;
    // a line ends at i: is the next one empty?
    if (b[i + 1] === LF) return i + 2;
    if (b[i + 1] === CR && b[i + 2] === LF) return i + 3;
  }
  return -1;
}

/** Content-Length (or compact 'l') of the header block in b[0, headEnd); -1 absent, -2 invalid. */
function contentLength(b: Buffer, headEnd: number): number {
  let value = -1;
  let line = 0;
  while (line < headEnd) {
    let e = b.indexOf(LF, line);
    if (e < 0 || e > headEnd) e = headEnd;
    // name
    let n = line;
    while (n < e && b[n] !== COLON && b[n] !== SP && b[n] !== HTAB) n++;
    const len = n - line;
    if ((len === 14 && isContentLength(b, line)) || (len === 1 && (b[line]! | 0x20) === 0x6c)) {
      let v = n;
      while (v < e && (b[v] === SP || b[v] === HTAB)) v++;
      if (b[v] === COLON) {
        v++;
        while (v < e && (b[v] === SP || b[v] === HTAB)) v++;
        let digits = 0;
        let x = 0;
        while (v < e && b[v]! >= 0x30 && b[v]! <= 0x39) {
          x = x * 10 + (b[v]! - 0x30);
          v++;
          digits++;
        }
        while (v < e && (b[v] === SP || b[v] === HTAB || b[v] === CR)) v++;
        if (digits === 0 || digits > 10 || v < e) return -2;
        if (value >= 0 && value !== x) return -2; // two different lengths: cannot frame
        value = x;
      }
    }
    line = e + 1;
  }
  return value;
}

const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');

function isContentLength(b: Buffer, at: number): boolean {
  for (let k = 0; k < 14; k++) if ((b[at + k]! | 0x20) !== CONTENT_LENGTH[k]) return false;
  return true;
}
