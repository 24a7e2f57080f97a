// Byte-level syntax checks of the core headers, run by the parser on the source buffer without
// decoding or allocating. They accept exactly what the string parsers (via.ts, name-addr.ts,
// uri.ts, message.ts) accept; when a check fails, the parser re-runs the string parser on that
// value to get a readable reason. The fuzz tests hold the two to agreeing.
//
// Every scanner takes [i, end) and returns the position after what it read, or a negative number
// -(offset + 1) naming the offending byte.

import { isIPv6 } from './grammar.ts';
import { HNVCHAR, HOSTCHAR, PARAMCHAR, PASSWORD, TOKEN, URIC, USER, WORD } from './grammar.ts';

const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const SEMI = 0x3b;
const COLON = 0x3a;
const COMMA = 0x2c;
const LAQUOT = 0x3c;
const RAQUOT = 0x3e;
const SLASH = 0x2f;
const EQUAL = 0x3d;
const QMARK = 0x3f;
const AT = 0x40;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const PERCENT = 0x25;
const AMP = 0x26;

const fail = (at: number): number => -(at + 1);

/** SP, HTAB, CR, LF (LWS once folded) as a 256-entry table. */
const WSP = (() => {
  const t = new Uint8Array(256);
  t[SP] = t[HTAB] = t[CR] = t[LF] = 1;
  return t;
})();

function isWsByte(c: number): boolean {
  return WSP[c] === 1;
}

function ws(b: Uint8Array, i: number, end: number): number {
  while (i < end && WSP[b[i]!] === 1) i++;
  return i;
}

/** A Via parameter value: token chars (1) or ':' (2, an IPv6 address written bare). */
const VIA_VALUE = (() => {
  const t = TOKEN.slice();
  t[COLON] = 2;
  return t;
})();

/** Bytes "SIP/2.0/" */
const SIP_2_0_SLASH = [0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x2f];

function tokenEnd(b: Uint8Array, i: number, end: number): number {
  while (i < end && TOKEN[b[i]!] === 1) i++;
  return i;
}

function isHexByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Chars of a table or %HH escapes over [i, end); -1 when all good, else the bad offset. */
function chars(b: Uint8Array, i: number, end: number, table: Uint8Array): number {
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === PERCENT) {
      if (i + 2 < end && isHexByte(b[i + 1]!) && isHexByte(b[i + 2]!)) {
        i += 2;
        continue;
      }
      return i;
    }
    if (table[c] === 0) return i;
  }
  return -1;
}

/** End (after the closing quote) of the quoted string at b[i] === '"', or -1. */
function quotedEnd(b: Uint8Array, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const c = b[j]!;
    if (c === 0x5c) j++;
    else if (c === DQUOTE) return j + 1;
  }
  return -1;
}

function isIPv6Bytes(b: Uint8Array, start: number, end: number): boolean {
  return isIPv6(Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1'));
}

/**
 * Scans and checks a host starting at i, in one pass. It ends at ':' ';' '?' (in a URI) or at
 * ':' ';' ',' and whitespace (in a Via), as the string parsers cut it; returns where it ended.
 */
function hostScan(b: Uint8Array, i: number, end: number, inVia: boolean): number {
  const start = i;
  if (b[i] === LBRACKET && i < end) {
    while (i < end && b[i] !== RBRACKET) i++;
    if (i >= end) return fail(start);
    i++;
    if (!isIPv6Bytes(b, start + 1, i - 1)) return fail(start);
    if (i < end) {
      const c = b[i]!;
      const stop = c === COLON || c === SEMI || (inVia ? c === COMMA || isWsByte(c) : c === QMARK);
      if (!stop) return fail(i);
    }
    return i;
  }
  let labelLen = 0;
  let prev = 0x2e;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x2e) {
      if (labelLen === 0 || prev === 0x2d) return fail(start);
      labelLen = 0;
    } else if (c === 0x2d) {
      if (labelLen === 0) return fail(start);
      labelLen++;
    } else if (HOSTCHAR[c] === 1) labelLen++;
    else if (c === COLON || c === SEMI || (inVia ? c === COMMA || isWsByte(c) : c === QMARK)) break;
    else return fail(start);
    prev = c;
  }
  if (i === start || prev === 0x2d) return fail(start);
  return i;
}

/** host = hostname / IPv4address / IPv6reference over exactly [start, end). */
export function hostOk(b: Uint8Array, start: number, end: number): boolean {
  if (end <= start) return false;
  if (b[start] === LBRACKET) return b[end - 1] === RBRACKET && isIPv6Bytes(b, start + 1, end - 1);
  let labelLen = 0;
  let prev = 0x2e;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 0x2e) {
      if (labelLen === 0 || prev === 0x2d) return false;
      labelLen = 0;
    } else if (c === 0x2d) {
      if (labelLen === 0) return false;
      labelLen++;
    } else if (c < 128 && HOSTCHAR[c] === 1) labelLen++;
    else return false;
    prev = c;
  }
  return prev !== 0x2d;
}

function ipv4Ok(b: Uint8Array, start: number, end: number): boolean {
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? b[i]! : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || value > 255) return false;
      parts++;
      digits = 0;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      value = value * 10 + (c - 0x30);
      digits++;
    } else return false;
  }
  return parts === 4;
}

/** Flags reported by uri(): the URI has headers (not allowed in a Request-URI). */
export let uriHadHeaders = false;

/** A whole URI over exactly [start, end) (uri.ts parseUri). Returns end or a failure. */
export function uri(b: Uint8Array, start: number, end: number): number {
  uriHadHeaders = false;
  let i = start;
  while (i < end && b[i] !== COLON) {
    const c = b[i]!;
    const ok =
      ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) ||
      (i > start && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e));
    if (!ok) return fail(i);
    i++;
  }
  if (i === start || i >= end) return fail(start);
  const colon = i;
  const len = colon - start;
  const s0 = b[start]! | 0x20;
  if (
    s0 === 0x73 &&
    (len === 3 || len === 4) &&
    (b[start + 1]! | 0x20) === 0x69 &&
    (b[start + 2]! | 0x20) === 0x70 &&
    (len === 3 || (b[start + 3]! | 0x20) === 0x73)
  )
    return sipUri(b, colon + 1, end);
  if (
    len === 3 &&
    s0 === 0x74 &&
    (b[start + 1]! | 0x20) === 0x65 &&
    (b[start + 2]! | 0x20) === 0x6c
  )
    return telUri(b, colon + 1, end);
  if (colon + 1 === end) return fail(colon);
  const bad = chars(b, colon + 1, end, URIC);
  return bad >= 0 ? fail(bad) : end;
}

/** Scans chars of a table and %HH escapes from i; returns where it stopped (or a failure on a bad escape). */
function scan(b: Uint8Array, i: number, end: number, table: Uint8Array): number {
  while (i < end) {
    const c = b[i]!;
    if (c === PERCENT) {
      if (i + 2 < end && isHexByte(b[i + 1]!) && isHexByte(b[i + 2]!)) {
        i += 3;
        continue;
      }
      return fail(i);
    }
    if (table[c] === 0) return i;
    i++;
  }
  return i;
}

function sipUri(b: Uint8Array, i: number, end: number): number {
  // userinfo = user [ ":" password ] "@": the user may hold ';' and '?', so try it first and fall
  // back to a plain hostport when no '@' ends it.
  const start = i;
  let u = scan(b, i, end, USER);
  if (u < 0) return u;
  if (u < end && b[u] === COLON) {
    const pw = scan(b, u + 1, end, PASSWORD);
    if (pw < 0) return pw;
    if (pw < end && b[pw] === AT) {
      if (u === start) return fail(start);
      i = pw + 1;
    }
  } else if (u < end && b[u] === AT) {
    if (u === start) return fail(start);
    i = u + 1;
  } else {
    // no '@' reached: the first '@' anywhere would still make a userinfo (as parseUri reads it)
    for (let k = u; k < end; k++) if (b[k] === AT) return fail(u);
  }
  u = 0;
  const hostEnd = hostScan(b, i, end, false);
  if (hostEnd < 0) return hostEnd;
  i = hostEnd;
  if (i < end && b[i] === COLON) {
    let pe = i + 1;
    let port = 0;
    while (pe < end && b[pe]! >= 0x30 && b[pe]! <= 0x39) {
      port = port * 10 + (b[pe]! - 0x30);
      pe++;
    }
    if (pe === i + 1 || port > 65535) return fail(i + 1);
    i = pe;
  }
  i = uriParams(b, i, end);
  if (i < 0) return i;
  if (i < end && b[i] === QMARK) {
    uriHadHeaders = true;
    i++;
    for (;;) {
      let j = i;
      let eq = -1;
      while (j < end && b[j] !== AMP) {
        if (b[j] === EQUAL && eq < 0) eq = j;
        j++;
      }
      if (eq <= i) return fail(i);
      const bad = chars(b, i, j, HNVCHAR_EQ);
      if (bad >= 0) return fail(bad);
      if (j >= end) return end;
      i = j + 1;
    }
  }
  return i < end ? fail(i) : end;
}

const HNVCHAR_EQ = (() => {
  const t = HNVCHAR.slice();
  t[EQUAL] = 1;
  return t;
})();

const TELCHAR = (() => {
  const t = PARAMCHAR.slice();
  t[0x2b] = 1;
  return t;
})();

function uriParams(b: Uint8Array, i: number, end: number): number {
  while (i < end && b[i] === SEMI) {
    let j = i + 1;
    while (j < end) {
      const c = b[j]!;
      if (c === SEMI || c === QMARK || c === EQUAL) break;
      j++;
    }
    if (j === i + 1) return fail(i + 1);
    let bad = chars(b, i + 1, j, PARAMCHAR);
    if (bad >= 0) return fail(bad);
    if (j < end && b[j] === EQUAL) {
      let k = j + 1;
      while (k < end && b[k] !== SEMI && b[k] !== QMARK) k++;
      bad = chars(b, j + 1, k, PARAMCHAR);
      if (bad >= 0) return fail(bad);
      i = k;
    } else i = j;
  }
  return i;
}

function telUri(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && b[i] !== SEMI) i++;
  if (i === start) return fail(start);
  const bad = chars(b, start, i, TELCHAR);
  if (bad >= 0) return fail(bad);
  i = uriParams(b, i, end);
  if (i < 0) return i;
  return i < end ? fail(i) : end;
}

// ---- Via (via.ts parseVia) ----

/** A Via value: one or more via-parms separated by commas. */
export function viaList(b: Uint8Array, i: number, end: number): number {
  for (;;) {
    i = viaParm(b, i, end);
    if (i < 0) return i;
    if (i >= end) return end;
    if (b[i] !== COMMA) return fail(i);
    i++;
  }
}

function viaParm(b: Uint8Array, i: number, end: number): number {
  i = ws(b, i, end);
  let j: number;
  let k = 0;
  // the usual sent-protocol in one comparison, the general form otherwise
  while (k < 8 && i + k < end && b[i + k] === SIP_2_0_SLASH[k]) k++;
  if (k === 8) i += 8;
  else {
    j = tokenEnd(b, i, end);
    if (j === i) return fail(i);
    i = ws(b, j, end);
    if (b[i] !== SLASH || i >= end) return fail(i);
    i = ws(b, i + 1, end);
    j = tokenEnd(b, i, end);
    if (j === i) return fail(i);
    i = ws(b, j, end);
    if (b[i] !== SLASH || i >= end) return fail(i);
    i = ws(b, i + 1, end);
  }
  j = tokenEnd(b, i, end);
  if (j === i) return fail(i);
  i = ws(b, j, end);
  if (i === j) return fail(i);
  const hostEnd = hostScan(b, i, end, true);
  if (hostEnd < 0) return hostEnd;
  i = ws(b, hostEnd, end);
  if (i < end && b[i] === COLON) {
    i = ws(b, i + 1, end);
    let pe = i;
    let port = 0;
    while (pe < end && b[pe]! >= 0x30 && b[pe]! <= 0x39) {
      port = port * 10 + (b[pe]! - 0x30);
      pe++;
    }
    if (pe === i || pe - i > 5 || port > 65535) return fail(i);
    i = ws(b, pe, end);
  }
  while (i < end) {
    const c = b[i]!;
    if (c === COMMA) return i;
    if (c === 0x28) {
      let close = i;
      while (close < end && b[close] !== 0x29) close++;
      if (close >= end) return fail(i);
      i = ws(b, close + 1, end);
      continue;
    }
    if (c !== SEMI) return fail(i);
    i = ws(b, i + 1, end);
    j = tokenEnd(b, i, end);
    if (j === i) return fail(i);
    const ns = i;
    const nl = j - i;
    i = ws(b, j, end);
    if (i < end && b[i] === EQUAL) {
      i = ws(b, i + 1, end);
      const vs = i;
      // 2 when a bare value held a ':' (then it is no token), 1 when it may be one
      let colons = 1;
      if (b[i] === DQUOTE && i < end) {
        const qe = quotedEnd(b, i, end);
        if (qe < 0) return fail(i);
        i = qe;
        colons = 2;
      } else if (b[i] === LBRACKET && i < end) {
        colons = 2;
        while (i < end && b[i] !== RBRACKET) i++;
        if (i >= end) return fail(vs);
        i++;
      } else {
        let t: number;
        while (i < end && (t = VIA_VALUE[b[i]!]!) !== 0) {
          colons |= t;
          i++;
        }
      }
      if (i === vs) return fail(vs);
      if (!viaParamOk(b, ns, nl, vs, i, colons)) return fail(vs);
      i = ws(b, i, end);
    } else if (
      (nl === 6 || nl === 8 || nl === 3 || nl === 5) &&
      (isNamed(b, ns, nl, 'branch') ||
        isNamed(b, ns, nl, 'received') ||
        isNamed(b, ns, nl, 'ttl') ||
        isNamed(b, ns, nl, 'maddr'))
    ) {
      return fail(i);
    }
  }
  return i;
}

function isNamed(b: Uint8Array, s: number, n: number, name: string): boolean {
  if (n !== name.length) return false;
  for (let k = 0; k < n; k++) if ((b[s + k]! | 0x20) !== name.charCodeAt(k)) return false;
  return true;
}

function viaParamOk(
  b: Uint8Array,
  ns: number,
  nl: number,
  vs: number,
  ve: number,
  colons: number,
): boolean {
  switch (nl) {
    case 8:
      if (isNamed(b, ns, nl, 'received')) {
        if (b[vs] === LBRACKET) return isIPv6Bytes(b, vs + 1, ve - 1);
        return ipv4Ok(b, vs, ve) || isIPv6Bytes(b, vs, ve);
      }
      return true;
    case 5:
      if (isNamed(b, ns, nl, 'rport')) return digitsMax(b, vs, ve, 65535);
      if (isNamed(b, ns, nl, 'maddr')) return hostOk(b, vs, ve);
      return true;
    case 3:
      if (isNamed(b, ns, nl, 'ttl')) return digitsMax(b, vs, ve, 255);
      return true;
    case 6:
      // branch = token: a bare value of token chars is one already
      if (isNamed(b, ns, nl, 'branch') && colons !== 1) {
        for (let k = vs; k < ve; k++) if (TOKEN[b[k]!] === 0) return false;
      }
      return true;
    default:
      return true;
  }
}

function digitsMax(b: Uint8Array, s: number, e: number, max: number): boolean {
  if (e === s || e - s > 5) return false;
  let v = 0;
  for (let k = s; k < e; k++) {
    const c = b[k]!;
    if (c < 0x30 || c > 0x39) return false;
    v = v * 10 + (c - 0x30);
  }
  return v <= max;
}

// ---- name-addr / addr-spec with parameters (name-addr.ts) ----

/** Contact flags for nameAddrList. */
export const STAR_OK = 1;
export const CONTACT_PARAMS = 2;

/** One name-addr (From, To): must cover [i, end). */
export function nameAddrOne(b: Uint8Array, i: number, end: number): number {
  const r = nameAddr(b, i, end, 0);
  if (r < 0) return r;
  return r < end ? fail(r) : end;
}

/** A comma list of name-addrs (Contact, Route, Record-Route). */
export function nameAddrList(b: Uint8Array, i: number, end: number, flags: number): number {
  for (;;) {
    i = nameAddr(b, i, end, flags);
    if (i < 0) return i;
    if (i >= end) return end;
    if (b[i] !== COMMA) return fail(i);
    i++;
  }
}

function nameAddr(b: Uint8Array, i: number, end: number, flags: number): number {
  i = ws(b, i, end);
  if (flags & STAR_OK && b[i] === 0x2a && i < end) {
    const k = ws(b, i + 1, end);
    if (k >= end || b[k] === COMMA) return k;
  }
  let c = i < end ? b[i]! : 0;
  if (c === DQUOTE) {
    const qe = quotedEnd(b, i, end);
    if (qe < 0) return fail(i);
    i = ws(b, qe, end);
    if (i >= end || b[i] !== LAQUOT) return fail(i);
    c = LAQUOT;
  } else if (c !== LAQUOT) {
    // tokens then '<' (display name), or a bare addr-spec: a ':' before any whitespace means a URI
    let k = tokenEnd(b, i, end);
    let bare = k < end && b[k] === COLON;
    if (!bare && k < end) {
      const d = b[k]!;
      if (d !== LAQUOT && d !== DQUOTE && !isWsByte(d)) {
        // a non-token char: still a URI when a ':' comes before whitespace, '"' or '<'
        while (k < end) {
          const e = b[k]!;
          if (e === COLON) {
            bare = true;
            break;
          }
          if (e === LAQUOT || e === DQUOTE || isWsByte(e)) break;
          k++;
        }
        if (!bare) return fail(i);
        k = i;
      }
    }
    if (!bare) {
      // display name: tokens separated by whitespace, up to '<' (the first token is already read)
      i = ws(b, k, end);
      for (;;) {
        if (i < end && b[i] === LAQUOT) break;
        const t = tokenEnd(b, i, end);
        if (t === i) return fail(i);
        i = ws(b, t, end);
      }
      c = LAQUOT;
    }
  }
  if (c === LAQUOT) {
    // a native search: faster than a byte loop beyond a few bytes
    const gt = (b as Buffer).indexOf(RAQUOT, i + 1);
    if (gt < 0 || gt >= end) return fail(i);
    const r = uri(b, i + 1, gt);
    if (r < 0) return r;
    i = gt + 1;
  } else {
    let j = i;
    while (j < end) {
      const d = b[j]!;
      if (d === SEMI || d === COMMA || isWsByte(d)) break;
      if (d === QMARK) return fail(j);
      j++;
    }
    const r = uri(b, i, j);
    if (r < 0) return r;
    i = j;
  }
  return genericParams(b, i, end, flags);
}

function genericParams(b: Uint8Array, i: number, end: number, flags: number): number {
  i = ws(b, i, end);
  while (i < end) {
    const c = b[i]!;
    if (c === COMMA) return i;
    if (c !== SEMI) return fail(i);
    i = ws(b, i + 1, end);
    const j = tokenEnd(b, i, end);
    if (j === i) return fail(i);
    const ns = i;
    const nl = j - i;
    i = ws(b, j, end);
    if (i < end && b[i] === EQUAL) {
      i = ws(b, i + 1, end);
      const vs = i;
      if (i < end && b[i] === DQUOTE) {
        const qe = quotedEnd(b, i, end);
        if (qe < 0) return fail(i);
        i = qe;
      } else if (i < end && b[i] === LBRACKET) {
        let rb = i;
        while (rb < end && b[rb] !== RBRACKET) rb++;
        if (rb >= end || !hostOk(b, i, rb + 1)) return fail(i);
        i = rb + 1;
      } else {
        const k = tokenEnd(b, i, end);
        if (k === i) return fail(i);
        i = k;
      }
      if (flags & CONTACT_PARAMS && (nl === 7 || nl === 1)) {
        if (isNamed(b, ns, nl, 'expires') && !allDigits(b, vs, i)) return fail(vs);
        if (isNamed(b, ns, nl, 'q') && !qOk(b, vs, i)) return fail(vs);
      }
    } else if (
      flags & CONTACT_PARAMS &&
      (nl === 7 || nl === 1) &&
      (isNamed(b, ns, nl, 'expires') || isNamed(b, ns, nl, 'q'))
    )
      return fail(i);
    i = ws(b, i, end);
  }
  return i;
}

function allDigits(b: Uint8Array, s: number, e: number): boolean {
  if (e === s) return false;
  for (let k = s; k < e; k++) if (b[k]! < 0x30 || b[k]! > 0x39) return false;
  return true;
}

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
function qOk(b: Uint8Array, s: number, e: number): boolean {
  const n = e - s;
  if (n < 1 || n > 5) return false;
  const first = b[s];
  if (first !== 0x30 && first !== 0x31) return false;
  if (n === 1) return true;
  if (b[s + 1] !== 0x2e) return false;
  for (let k = s + 2; k < e; k++) {
    const c = b[k]!;
    if (first === 0x31 ? c !== 0x30 : c < 0x30 || c > 0x39) return false;
  }
  return true;
}

// ---- scalars ----

/** callid = word [ "@" word ] over [i, end) (already trimmed). */
export function callId(b: Uint8Array, i: number, end: number): number {
  if (i >= end) return fail(i);
  let at = -1;
  for (let k = i; k < end; k++) {
    const c = b[k]!;
    if (c === AT && at < 0) {
      if (k === i || k + 1 === end) return fail(k);
      at = k;
    } else if (WORD[c] === 0) return fail(k);
  }
  return end;
}

/** 1*DIGIT with at most maxDigits digits; returns the value or -1. */
export function digitsValue(b: Uint8Array, i: number, end: number, maxDigits: number): number {
  if (end === i || end - i > maxDigits) return -1;
  let v = 0;
  for (let k = i; k < end; k++) {
    const c = b[k]!;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** m-type "/" m-subtype *(";" m-parameter) (media-type.ts). */
export function mediaType(b: Uint8Array, i: number, end: number): number {
  i = ws(b, i, end);
  let j = tokenEnd(b, i, end);
  if (j === i) return fail(i);
  i = ws(b, j, end);
  if (i >= end || b[i] !== SLASH) return fail(i);
  i = ws(b, i + 1, end);
  j = tokenEnd(b, i, end);
  if (j === i) return fail(i);
  i = ws(b, j, end);
  while (i < end) {
    if (b[i] !== SEMI) return fail(i);
    i = ws(b, i + 1, end);
    j = tokenEnd(b, i, end);
    if (j === i) return fail(i);
    i = ws(b, j, end);
    if (i >= end || b[i] !== EQUAL) return fail(i);
    i = ws(b, i + 1, end);
    if (i < end && b[i] === DQUOTE) {
      const qe = quotedEnd(b, i, end);
      if (qe < 0) return fail(i);
      i = qe;
    } else {
      j = tokenEnd(b, i, end);
      if (j === i) return fail(i);
      i = j;
    }
    i = ws(b, i, end);
  }
  return end;
}
