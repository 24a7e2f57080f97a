// Typed values (Via, name-addr) built straight from header bytes that the parser has already
// checked (syntax-check.ts), for the plain forms nearly every message uses:
//
//   Via:  SIP/2.0/UDP host[:port][;name[=token]]...            (first via-parm of the value)
//   From: ["quoted" | token] <sip:[user@]host[:port][;p[=v]]...>[;name[=token]]...
//
// The bytes are scanned once with byte loops, and every string is a slice of the message's header
// block string (no decoding call per piece). Anything outside the plain form (whitespace around
// separators, escapes, IPv6, quoted parameter values, passwords, URI headers, ...) returns
// undefined, and the caller falls back to the string parsers (via.ts, name-addr.ts, uri.ts), which
// remain the reference: the results are equal (src/sip/checked-values.test.ts holds them to it).

import { HOSTCHAR, PARAMCHAR, TOKEN, USER } from './grammar.ts';
import type { NameAddr } from './name-addr.ts';
import type { SipUri } from './uri.ts';
import type { Via } from './via.ts';

const SEMI = 0x3b;
const COLON = 0x3a;
const COMMA = 0x2c;
const EQUAL = 0x3d;
const DQUOTE = 0x22;
const LAQUOT = 0x3c;
const RAQUOT = 0x3e;
const SP = 0x20;
const AT = 0x40;

/** Bytes "SIP/2.0/" */
const SIP_2_0_SLASH = [0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x2f];
const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP'];

/** b[i, i + word.length) equals word (ASCII, exact case). */
function bytesAre(b: Uint8Array, i: number, end: number, word: string): boolean {
  const n = word.length;
  if (i + n > end) return false;
  for (let k = 0; k < n; k++) if (b[i + k] !== word.charCodeAt(k)) return false;
  return true;
}

function tokenEnd(b: Uint8Array, i: number, end: number): number {
  while (i < end && TOKEN[b[i]!] === 1) i++;
  return i;
}

/** End of a run of chars of a table (no escapes), from i. */
function runEnd(b: Uint8Array, i: number, end: number, table: Uint8Array): number {
  while (i < end && table[b[i]!] === 1) i++;
  return i;
}

/** A parameter name: the common ones (already lower case) without a new string. */
function paramName(
  b: Uint8Array,
  s: number,
  e: number,
  head: string,
  hs: number,
  common: readonly string[],
): string {
  const n = e - s;
  for (let k = 0; k < common.length; k++) {
    const p = common[k]!;
    if (p.length === n && b[s] === p.charCodeAt(0) && bytesAre(b, s, e, p)) return p;
  }
  return head.slice(s - hs, e - hs).toLowerCase();
}

const VIA_PARAMS = ['branch', 'received', 'rport', 'maddr', 'ttl'] as const;
const URI_PARAMS = ['transport', 'lr', 'user', 'maddr', 'method', 'ttl', 'ob', 'gr'] as const;
const HEADER_PARAMS = ['tag', 'expires', 'q', 'lr'] as const;

/**
 * The first via-parm of a checked Via value b[start, end) (trimmed), whose text is
 * head[start - hs, end - hs). Undefined when it is not in the plain form.
 */
export function viaFromBytes(
  b: Uint8Array,
  start: number,
  end: number,
  head: string,
  hs: number,
): Via | undefined {
  let i = start;
  if (i + 8 > end) return undefined;
  for (let k = 0; k < 8; k++) if (b[i + k] !== SIP_2_0_SLASH[k]) return undefined;
  i += 8;
  let j = tokenEnd(b, i, end);
  let transport: string | undefined;
  for (let k = 0; k < TRANSPORTS.length; k++) {
    const t = TRANSPORTS[k]!;
    if (t.length === j - i && b[i] === t.charCodeAt(0) && bytesAre(b, i, j, t)) {
      transport = t;
      break;
    }
  }
  if (transport === undefined || j >= end || b[j] !== SP) return undefined;
  i = j + 1;
  j = runEnd(b, i, end, HOSTCHAR);
  if (j === i) return undefined;
  let c = j < end ? b[j]! : COMMA;
  if (c !== COLON && c !== SEMI && c !== COMMA) return undefined;
  const via: Via = { protocol: 'SIP/2.0', transport, host: head.slice(i - hs, j - hs), params: {} };
  i = j;
  if (c === COLON) {
    let port = 0;
    j = i + 1;
    while (j < end && (c = b[j]!) >= 0x30 && c <= 0x39) {
      port = port * 10 + (c - 0x30);
      j++;
    }
    if (j === i + 1) return undefined;
    via.port = port;
    i = j;
  }
  const params = via.params;
  while (i < end && b[i] === SEMI) {
    const ns = i + 1;
    const ne = tokenEnd(b, ns, end);
    if (ne === ns) return undefined;
    const name = paramName(b, ns, ne, head, hs, VIA_PARAMS);
    if (ne < end && b[ne] === EQUAL) {
      const vs = ne + 1;
      let ve = vs;
      while (ve < end && (TOKEN[(c = b[ve]!)] === 1 || c === COLON)) ve++;
      if (ve === vs) return undefined;
      params[name] = head.slice(vs - hs, ve - hs);
      i = ve;
    } else {
      params[name] = null;
      i = ne;
    }
  }
  if (i < end && b[i] !== COMMA) return undefined;
  const branch = params.branch;
  if (branch !== undefined && branch !== null) via.branch = branch;
  const received = params.received;
  if (received !== undefined && received !== null) via.received = received;
  const rport = params.rport;
  if (rport !== undefined) via.rport = rport === null ? null : Number(rport);
  return via;
}

/**
 * A checked From/To value b[start, end) (trimmed; text head[start - hs, end - hs)) as a NameAddr,
 * or undefined when it is not in the plain form.
 */
export function nameAddrFromBytes(
  b: Uint8Array,
  start: number,
  end: number,
  head: string,
  hs: number,
): NameAddr | undefined {
  let i = start;
  let displayName: string | undefined;
  let c = i < end ? b[i]! : 0;
  if (c === DQUOTE) {
    let q = i + 1;
    while (q < end && (c = b[q]!) !== DQUOTE && c !== 0x5c) q++;
    if (q >= end || c !== DQUOTE) return undefined;
    displayName = head.slice(i + 1 - hs, q - hs);
    i = q + 1;
    while (i < end && b[i] === SP) i++;
  } else if (c !== LAQUOT) {
    const t = tokenEnd(b, i, end);
    if (t === i || t >= end || b[t] !== SP) return undefined;
    displayName = head.slice(i - hs, t - hs);
    i = t;
    while (i < end && b[i] === SP) i++;
  }
  if (i >= end || b[i] !== LAQUOT) return undefined;
  i++;
  // the URI: sip: or sips:, [user@] host [:port] *(;param[=value])
  let scheme: string;
  if (bytesAre(b, i, end, 'sip:')) {
    scheme = 'sip';
    i += 4;
  } else if (bytesAre(b, i, end, 'sips:')) {
    scheme = 'sips';
    i += 5;
  } else return undefined;
  const uri: SipUri = { scheme, host: '', params: {}, headers: {} };
  let j = runEnd(b, i, end, USER_PLAIN);
  if (j < end && b[j] === AT) {
    if (j === i) return undefined;
    uri.user = head.slice(i - hs, j - hs);
    i = j + 1;
    j = runEnd(b, i, end, HOSTCHAR);
  } else {
    // no user part: what was read must be the host
    j = runEnd(b, i, end, HOSTCHAR);
  }
  if (j === i) return undefined;
  c = j < end ? b[j]! : 0;
  if (c !== COLON && c !== SEMI && c !== RAQUOT) return undefined;
  uri.host = head.slice(i - hs, j - hs);
  i = j;
  if (c === COLON) {
    let port = 0;
    j = i + 1;
    while (j < end && (c = b[j]!) >= 0x30 && c <= 0x39) {
      port = port * 10 + (c - 0x30);
      j++;
    }
    if (j === i + 1) return undefined;
    uri.port = port;
    i = j;
  }
  while (i < end && b[i] === SEMI) {
    const ns = i + 1;
    const ne = runEnd(b, ns, end, PARAM_PLAIN);
    if (ne === ns) return undefined;
    const name = paramName(b, ns, ne, head, hs, URI_PARAMS);
    if (ne < end && b[ne] === EQUAL) {
      const ve = runEnd(b, ne + 1, end, PARAM_PLAIN);
      uri.params[name] = head.slice(ne + 1 - hs, ve - hs);
      i = ve;
    } else {
      uri.params[name] = null;
      i = ne;
    }
  }
  if (i >= end || b[i] !== RAQUOT) return undefined;
  i++;
  const na: NameAddr = { uri, params: {} };
  if (displayName !== undefined) na.displayName = displayName;
  const params = na.params;
  while (i < end && b[i] === SEMI) {
    const ns = i + 1;
    const ne = tokenEnd(b, ns, end);
    if (ne === ns) return undefined;
    const name = paramName(b, ns, ne, head, hs, HEADER_PARAMS);
    if (ne < end && b[ne] === EQUAL) {
      const ve = tokenEnd(b, ne + 1, end);
      if (ve === ne + 1) return undefined;
      params[name] = head.slice(ne + 1 - hs, ve - hs);
      i = ve;
    } else {
      params[name] = null;
      i = ne;
    }
  }
  if (i < end) return undefined;
  const tag = params.tag;
  if (tag !== undefined && tag !== null) na.tag = tag;
  return na;
}

/** user chars without the ones that need the full parser: ';' '?' ':' and '%' escapes. */
const USER_PLAIN = (() => {
  const t = USER.slice();
  t[SEMI] = 0;
  t[0x3f] = 0;
  t[COLON] = 0;
  t[0x25] = 0;
  return t;
})();

/** paramchar without '%' escapes (and without ':' '[' ']' that hosts in values would bring). */
const PARAM_PLAIN = (() => {
  const t = PARAMCHAR.slice();
  t[0x25] = 0;
  return t;
})();
