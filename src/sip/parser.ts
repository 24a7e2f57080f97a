// parseMessage: bytes (or a string) to a SipRequest or SipResponse (RFC 3261 §7, §25.1).
//
//   generic-message = start-line *message-header CRLF [ message-body ]
//   Request-Line    = Method SP Request-URI SP SIP-Version CRLF
//   Status-Line     = SIP-Version SP Status-Code SP Reason-Phrase CRLF
//   message-header  = field-name *(SP / HTAB) ":" SWS field-value CRLF   (folded lines continue
//                     with SP or HTAB at the start of the next line)
//
// The scan works on bytes: a byte loop reads the name up to the colon, then scanSpecial() runs over
// the value eight or four bytes at a time (SWAR) to the next byte that is not printable ASCII,
// which gives the line end, folds, and any forbidden control byte in one pass. Each header's
// offsets go into a compact number table (message.ts, HT_*). The core headers are checked here on
// the bytes (syntax-check.ts) without decoding; nothing is decoded to strings until asked for, and
// then from one Latin-1 string of the whole header block (message.ts) or, for the plain forms of
// Via/From/To, straight from the checked bytes (checked-values.ts).

import { latin1, methodName } from './bytes.ts';
import { TOKEN } from './grammar.ts';
import {
  H,
  canonicalName,
  displayName as canonicalHeaderName,
  kindOfBytes,
} from './header-names.ts';
import {
  HT_FOLDED,
  HT_KIND_MASK,
  HT_STRIDE,
  HT_VALUE_END,
  HT_VALUE_START,
  SipRequest,
  SipResponse,
  parseCSeq,
  parseCallId,
  parseContentLength,
  parseDeltaSeconds,
  parseMaxForwards,
} from './message.ts';
import { parseMediaType } from './media-type.ts';
import { parseContact, parseNameAddr } from './name-addr.ts';
import * as check from './syntax-check.ts';
import { SipParseError, positionOf } from './parse-error.ts';
import { parseSipDate } from './sip-date.ts';
import { splitList } from './grammar.ts';
import { parseUri } from './uri.ts';
import { parseVia } from './via.ts';

export interface ParseOptions {
  /** Reject input longer than this many bytes. */
  maxSize?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

function fail(buf: Buffer, offset: number, reason: string, header?: string): never {
  const { line, column } = positionOf(buf, offset);
  throw new SipParseError(reason, line, column, header);
}

/** Parses one SIP message. Throws SipParseError (and nothing else) for bad input. */
export function parseMessage(
  input: Buffer | string,
  options?: ParseOptions,
): SipRequest | SipResponse {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const len = buf.length;
  if (options?.maxSize !== undefined && len > options.maxSize)
    throw new SipParseError(
      `Message too large: ${len} bytes exceeds the limit of ${options.maxSize}`,
      1,
      1,
    );
  let pos = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  while (pos < len && (buf[pos] === CR || buf[pos] === LF)) pos++;
  if (pos >= len) fail(buf, pos, 'Empty message');
  const messageStart = pos;
  let lf = buf.indexOf(LF, pos);
  if (lf < 0) lf = len;
  const startEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
  // a Status-Line starts with "SIP/" (0x53 0x49 0x50 0x2f)
  const isResponse =
    startEnd - pos >= 4 &&
    buf[pos] === 0x53 &&
    buf[pos + 1] === 0x49 &&
    buf[pos + 2] === 0x50 &&
    buf[pos + 3] === 0x2f;
  const msg = isResponse
    ? parseStatusLine(buf, pos, startEnd)
    : parseRequestLine(buf, pos, startEnd);

  // ---- header block ----
  // One pass over the header bytes: scanSpecial() (four bytes per step) finds the next byte that
  // is not plain printable ASCII (CR, LF, HTAB, another control, DEL, or a non-ASCII byte); the
  // line ends, folds and forbidden control bytes all come out of that pass. Offsets go to a reused
  // scratch table first, then one exact-size copy is kept.
  // a DataView for the word reads: the cached one when buf lies in its ArrayBuffer (see viewOf)
  let view = viewOf(buf);
  let base = buf.byteOffset;
  if (view === null) {
    view = new DataView(buf.buffer, buf.byteOffset, len);
    base = 0;
  }
  const scratch = SCRATCH;
  let n = 0;
  let p = lf + 1;
  const headStart = p;
  let headEnd = p;
  let bodyStart = len;
  let crlfOnly = buf[lf - 1] === CR;
  let ascii = true;
  for (;;) {
    if (p >= len) {
      // no blank line: the headers end with the input (lenient with truncated datagrams)
      headEnd = len;
      bodyStart = len;
      break;
    }
    let c = buf[p]!;
    if (c === CR || c === LF) {
      // the blank line that ends the headers
      if (c === CR && buf[p + 1] !== LF) fail(buf, p, 'Invalid header: stray CR');
      headEnd = p;
      bodyStart = c === CR ? p + 2 : p + 1;
      if (c === LF) crlfOnly = false;
      break;
    }
    if (c === SP || c === HTAB)
      fail(buf, p, 'Invalid header: line starts with whitespace but continues no header');
    let q = p;
    while (q < len && TOKEN[buf[q]!] === 1) q++;
    const nameEnd = q;
    if (q === p) fail(buf, p, 'Invalid header: name expected');
    while (q < len && ((c = buf[q]!) === SP || c === HTAB)) q++;
    if (q >= len || c !== COLON)
      fail(buf, q, `Invalid header '${latin1(buf, p, nameEnd)}': ':' expected after the name`);
    q++;
    // the value runs to the line end, and on over continuation lines (starting with SP or HTAB)
    let flags = 0;
    let lineEnd = len;
    let next = len;
    let e = q;
    for (;;) {
      e = scanSpecial(buf, view, base, e, len);
      if (e >= len) {
        lineEnd = len;
        next = len;
        break;
      }
      c = buf[e]!;
      if (c === HTAB) {
        e++;
        continue;
      }
      if (c >= 0x80) {
        ascii = false;
        e++;
        continue;
      }
      if (c === LF) {
        lineEnd = e;
        next = e + 1;
        crlfOnly = false;
      } else if (c === CR && buf[e + 1] === LF) {
        lineEnd = e;
        next = e + 2;
      } else if (c !== CR && quotedPair(buf, q, e)) {
        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): an escaped control inside quotes is fine
        e++;
        continue;
      } else controlByte(buf, e, p, nameEnd);
      if (next < len && ((c = buf[next]!) === SP || c === HTAB)) {
        flags = HT_FOLDED;
        e = next;
        continue;
      }
      break;
    }
    let ve = lineEnd;
    while (ve > q && ((c = buf[ve - 1]!) === SP || c === HTAB || c === CR || c === LF)) ve--;
    while (q < ve && ((c = buf[q]!) === SP || c === HTAB || c === CR || c === LF)) q++;
    scratch[n] = kindOfBytes(buf, p, nameEnd) | flags;
    scratch[n + 1] = p;
    scratch[n + 2] = nameEnd;
    scratch[n + 3] = q;
    scratch[n + 4] = ve;
    scratch[n + 5] = lineEnd;
    n += HT_STRIDE;
    p = next;
  }

  msg._src = buf;
  const ht = scratch.slice(0, n);
  msg._ht = ht;
  msg._lines = null;
  msg._ascii = ascii;
  msg._headStart = headStart;
  msg._headEnd = headEnd;

  // ---- core headers: validated now, their typed values cached ----
  const contentLength = validateCore(msg, buf, ht);

  // ---- body ----
  if (contentLength >= 0) {
    const have = len - bodyStart;
    if (contentLength > have) {
      const i = msg._first(H.contentLength);
      fail(
        buf,
        ht[i * HT_STRIDE + HT_VALUE_START]!,
        `Content-Length ${contentLength} exceeds body of ${have} bytes`,
        'Content-Length',
      );
    }
    msg._setParsedBody(bodyStart, bodyStart + contentLength);
  } else msg._setParsedBody(bodyStart, len);
  msg._wireStart = messageStart;
  msg._wireEnd = msg._bodyEnd;
  msg._pristine = crlfOnly && contentLength >= 0 && countKind(ht, H.contentLength) === 1;
  return msg;
}

/** Scratch header table reused by every parse (JavaScript runs one parse at a time). */
const SCRATCH: number[] = [];

/**
 * A DataView over the whole ArrayBuffer under buf. Creating one costs about as much as scanning a
 * short header block, so the last one is kept: buffers cut from one pool or one stream chunk share
 * it. Only small ArrayBuffers are kept (Node's 8 KB Buffer pool, a datagram, a stream chunk), so a
 * message cut from a big capture file never keeps that file alive; for those, null (the caller makes
 * a view of the message alone).
 */
const MAX_KEPT_VIEW = 256 * 1024;
let lastView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
function viewOf(buf: Buffer): DataView<ArrayBufferLike> | null {
  const ab = buf.buffer;
  if (lastView.buffer === ab) return lastView;
  if (ab.byteLength > MAX_KEPT_VIEW) return null;
  return (lastView = new DataView(ab));
}

/**
 * Index of the first byte at or after i that is below 0x20, DEL (0x7f) or above 0x7f, or len.
 * Four bytes per step while it can (SWAR): a word holds such a byte exactly when one of
 *   (w - 0x20202020) & ~w     a byte below 0x20 borrows, which sets its top bit
 *   w                         a byte at or above 0x80 has its top bit set
 *   (x - 0x01010101) & ~x     with x = w ^ 0x7f7f7f7f: a zero byte in x is a 0x7f in w
 * has a top bit (0x80 of some byte) set; then the bytes of that word are looked at one by one.
 */
function scanSpecial(
  buf: Buffer,
  view: DataView<ArrayBufferLike>,
  base: number,
  i: number,
  len: number,
): number {
  // eight bytes per step while it can, then four
  const last8 = len - 8;
  while (i <= last8) {
    const w = view.getInt32(base + i, true);
    const v = view.getInt32(base + i + 4, true);
    const x = w ^ 0x7f7f7f7f;
    const y = v ^ 0x7f7f7f7f;
    const hit =
      (((w - 0x20202020) | 0) & ~w) |
      w |
      (((x - 0x01010101) | 0) & ~x) |
      (((v - 0x20202020) | 0) & ~v) |
      v |
      (((y - 0x01010101) | 0) & ~y);
    if (hit & 0x80808080) break;
    i += 8;
  }
  const last = len - 4;
  while (i <= last) {
    const w = view.getInt32(base + i, true);
    const x = w ^ 0x7f7f7f7f;
    if (((((w - 0x20202020) | 0) & ~w) | w | (((x - 0x01010101) | 0) & ~x)) & 0x80808080) break;
    i += 4;
  }
  for (; i < len; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c >= 0x7f) return i;
  }
  return len;
}

/** A control byte in a header line (TEXT-UTF8 and the grammar allow none but HTAB there). */
function controlByte(buf: Buffer, at: number, nameStart: number, nameEnd: number): never {
  const c = buf[at]!;
  const hex = c.toString(16).padStart(2, '0');
  const what = c === CR ? 'a CR not followed by LF' : `control character 0x${hex}`;
  fail(
    buf,
    at,
    `Invalid header '${latin1(buf, nameStart, nameEnd)}': ${what} in the value`,
    canonicalHeaderName(latin1(buf, nameStart, nameEnd)),
  );
}

/** The byte at `at` is escaped by a backslash inside a quoted-string that opens after `from`. */
function quotedPair(buf: Buffer, from: number, at: number): boolean {
  let inQuote = false;
  for (let k = from; k < at; k++) {
    const d = buf[k]!;
    if (inQuote) {
      if (d === 0x5c) {
        if (k + 1 === at) return true;
        k++;
      } else if (d === 0x22) inQuote = false;
    } else if (d === 0x22) inQuote = true;
  }
  return false;
}

function countKind(ht: number[], kind: number): number {
  let n = 0;
  for (let o = 0; o < ht.length; o += HT_STRIDE) if ((ht[o]! & HT_KIND_MASK) === kind) n++;
  return n;
}

function parseRequestLine(buf: Buffer, start: number, end: number): SipRequest {
  const sp1 = buf.indexOf(SP, start);
  if (sp1 < 0 || sp1 >= end)
    fail(buf, start, 'Invalid request line: expected "Method Request-URI SIP/2.0"');
  for (let i = start; i < sp1; i++) {
    const c = buf[i]!;
    if (c >= 128 || TOKEN[c] !== 1) fail(buf, i, 'Invalid request line: method is not a token');
  }
  if (sp1 === start) fail(buf, start, 'Invalid request line: method expected');
  const uriStart = sp1 + 1;
  if (buf[uriStart] === SP)
    fail(buf, uriStart, 'Invalid request line: more than one space before the Request-URI');
  const sp2 = buf.indexOf(SP, uriStart);
  if (sp2 < 0 || sp2 >= end) fail(buf, uriStart, 'Invalid request line: SIP version missing');
  const verStart = sp2 + 1;
  for (let i = verStart; i < end; i++) {
    const c = buf[i]!;
    if (c === SP || c === HTAB) {
      fail(
        buf,
        i,
        i === verStart
          ? 'Invalid request line: more than one space before the SIP version'
          : 'Invalid request line: whitespace in the Request-URI or after the SIP version',
      );
    }
  }
  checkVersion(buf, verStart, end);
  const method = methodName(buf, start, sp1);
  const r = check.uri(buf, uriStart, sp2);
  if (r < 0) {
    if (buf[uriStart] === 0x3c)
      fail(buf, uriStart, "Invalid Request-URI: it must not be enclosed in '<' and '>'");
    let reason = 'Invalid Request-URI';
    try {
      parseUri(buf.toString('utf8', uriStart, sp2));
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      reason = e.reason.replace('Invalid URI', 'Invalid Request-URI');
    }
    fail(buf, -r - 1, reason);
  }
  if (check.uriHadHeaders)
    fail(
      buf,
      buf.indexOf(0x3f, uriStart),
      'Invalid Request-URI: headers are not allowed in a Request-URI',
    );
  // decoded on first use; the check above admits ASCII only, so Latin-1 decoding will be exact
  const req = new SipRequest(method, '');
  req._setParsedUri(uriStart, sp2);
  return req;
}

// "SIP/2.0" as bytes
const SIP_2_0 = [0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30];

function checkVersion(buf: Buffer, start: number, end: number): void {
  if (end - start === 7) {
    let k = 0;
    while (k < 7 && buf[start + k] === SIP_2_0[k]) k++;
    if (k === 7) return;
  }
  const v = latin1(buf, start, end);
  if (v === 'SIP/2.0') return;
  if (/^sip\/2\.0$/i.test(v)) return;
  if (/^SIP\/[0-9]+\.[0-9]+$/i.test(v)) fail(buf, start, `Unsupported SIP version '${v}'`);
  fail(buf, start, `Invalid SIP version '${v}'`);
}

function parseStatusLine(buf: Buffer, start: number, end: number): SipResponse {
  const sp1 = buf.indexOf(SP, start);
  if (sp1 < 0 || sp1 >= end)
    fail(buf, start, 'Invalid status line: expected "SIP/2.0 Status-Code Reason-Phrase"');
  checkVersion(buf, start, sp1);
  let i = sp1 + 1;
  let status = 0;
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) {
    status = status * 10 + (buf[i]! - 0x30);
    i++;
  }
  if (i - (sp1 + 1) !== 3 || (i < end && buf[i] !== SP))
    fail(buf, sp1 + 1, 'Invalid status line: status code must be 3 digits');
  if (status < 100 || status > 699)
    fail(buf, sp1 + 1, `Invalid status line: status code ${status} is out of range`);
  const res = new SipResponse(status, '');
  if (i < end) {
    // Reason-Phrase: text, SP and HTAB, but no control bytes
    for (let k = i + 1; k < end; k++) {
      const c = buf[k]!;
      if ((c < 0x20 && c !== HTAB) || c === 0x7f)
        fail(
          buf,
          k,
          `Invalid status line: control character 0x${c.toString(16).padStart(2, '0')} in the reason phrase`,
        );
    }
    res._setParsedReason(i + 1, end);
  }
  return res;
}

/**
 * Checks the headers the core relies on, on the bytes, without decoding (syntax-check.ts).
 * Returns the first Content-Length, or -1 when there is none.
 */
function validateCore(msg: SipRequest | SipResponse, buf: Buffer, ht: number[]): number {
  let contentLength = -1;
  let seenCSeq = false;
  let seenFlags = 0;
  for (let o = 0; o < ht.length; o += HT_STRIDE) {
    const kind = ht[o]! & HT_KIND_MASK;
    if (kind === 0 || kind > H.date) continue;
    const vs = ht[o + HT_VALUE_START]!;
    const ve = ht[o + HT_VALUE_END]!;
    let r = 0;
    switch (kind) {
      case H.via:
        r = check.viaList(buf, vs, ve);
        break;
      case H.from:
      case H.to:
        r = check.nameAddrOne(buf, vs, ve);
        break;
      case H.contact:
        r = check.nameAddrList(buf, vs, ve, check.STAR_OK | check.CONTACT_PARAMS);
        break;
      case H.route:
      case H.recordRoute:
        r = check.nameAddrList(buf, vs, ve, 0);
        break;
      case H.callId:
        r = check.callId(buf, vs, ve);
        break;
      case H.cseq:
        if (!seenCSeq) {
          seenCSeq = true;
          r = checkCSeq(buf, vs, ve, msg instanceof SipRequest ? msg.method : undefined);
        } else r = checkCSeq(buf, vs, ve, undefined);
        break;
      case H.maxForwards: {
        const v = check.digitsValue(buf, vs, ve, 10);
        if (v < 0 || v > 255) r = -(vs + 1);
        break;
      }
      case H.contentLength: {
        const v = check.digitsValue(buf, vs, ve, 10);
        if (v < 0) r = -(vs + 1);
        else if ((seenFlags & 1) === 0) {
          seenFlags |= 1;
          contentLength = v;
        }
        break;
      }
      case H.contentType:
        r = check.mediaType(buf, vs, ve);
        break;
      case H.expires:
      case H.minExpires:
        if (check.digitsValue(buf, vs, ve, 4096) < 0) r = -(vs + 1);
        break;
      case H.date:
        try {
          parseSipDate(msg._valueAt(o / HT_STRIDE));
        } catch {
          r = -(vs + 1);
        }
        break;
    }
    if (r < 0) report(msg, buf, o / HT_STRIDE, kind, -r - 1);
  }
  return contentLength;
}

const CSEQ_MAX = 2147483647; // RFC 3261 §8.1.1.5: less than 2**31

/** CSeq = 1*DIGIT LWS Method, and Method equal to the request's. */
function checkCSeq(buf: Buffer, vs: number, ve: number, method: string | undefined): number {
  let i = vs;
  let seq = 0;
  let c = 0;
  while (i < ve && (c = buf[i]!) >= 0x30 && c <= 0x39) {
    seq = seq * 10 + (c - 0x30);
    i++;
  }
  if (i === vs || i - vs > 10 || seq > CSEQ_MAX) return -(vs + 1);
  const ws = i;
  while (i < ve && ((c = buf[i]!) === SP || c === HTAB || c === CR || c === LF)) i++;
  if (i === ws) return -(i + 1);
  const ms = i;
  while (i < ve && (c = buf[i]!) < 128 && TOKEN[c] === 1) i++;
  if (i === ms || i < ve) return -(i + 1);
  if (method !== undefined) {
    if (i - ms !== method.length) return -(ms + 1);
    for (let k = 0; k < method.length; k++)
      if (buf[ms + k] !== method.charCodeAt(k)) return -(ms + 1);
  }
  return 0;
}

/** Words a value parser's reason for a header: 'Invalid URI: bad host' in To -> 'Invalid To: bad host in URI'. */
function inHeader(name: string, reason: string): string {
  if (reason.startsWith(`Invalid ${name}`) || reason.startsWith('CSeq method')) return reason;
  const m = /^Invalid ([^:]+): (.*)$/.exec(reason);
  if (!m) return `Invalid ${name}: ${reason}`;
  const [, what, detail] = m;
  if (what === 'URI') return `Invalid ${name}: ${detail} in URI`;
  if (what === 'name-addr' || what === 'parameter list') return `Invalid ${name}: ${detail}`;
  return `Invalid ${name}: ${what!.toLowerCase()} ${detail}`;
}

/** Throws the SipParseError for a header that failed its byte check, with the string parser's reason. */
function report(
  msg: SipRequest | SipResponse,
  buf: Buffer,
  i: number,
  kind: number,
  at: number,
): never {
  const name = canonicalName(kind);
  let reason = `Invalid ${name}`;
  const value = msg._valueAt(i);
  try {
    switch (kind) {
      case H.via:
        for (const v of splitList(value)) parseVia(v);
        break;
      case H.from:
      case H.to:
        parseNameAddr(value);
        break;
      case H.contact:
        for (const v of splitList(value)) parseContact(v);
        break;
      case H.route:
      case H.recordRoute:
        for (const v of splitList(value)) parseNameAddr(v);
        break;
      case H.callId:
        parseCallId(value);
        break;
      case H.cseq: {
        const cs = parseCSeq(value);
        if (msg instanceof SipRequest && cs.method !== msg.method)
          reason = `CSeq method '${cs.method}' does not match the request method '${msg.method}'`;
        break;
      }
      case H.maxForwards:
        parseMaxForwards(value);
        break;
      case H.contentLength:
        parseContentLength(value);
        break;
      case H.contentType:
        parseMediaType(value);
        break;
      case H.expires:
      case H.minExpires:
        parseDeltaSeconds(value, name);
        break;
      case H.date:
        parseSipDate(value);
        break;
    }
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
    reason = inHeader(name, e.reason);
  }
  fail(buf, at, reason, name);
}
