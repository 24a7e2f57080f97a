// SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), plus any other absoluteURI kept
// opaque (RFC 4475 §3.3.1 expects an unknown scheme to parse so an element can answer 416).
//
//   SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
//   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
//   hostport = host [ ":" port ]         host = hostname / IPv4address / IPv6reference
//   uri-parameters = *( ";" uri-parameter )      headers = "?" header *( "&" header )

import {
  HNVCHAR,
  PARAMCHAR,
  PASSWORD,
  URIC,
  USER,
  badCharIndex,
  escapePercent,
  isDigits,
  isHost,
  lowerName,
  sameAt,
  unescapePercent,
} from './grammar.ts';

const URI_PARAMS = ['transport', 'lr', 'user', 'maddr', 'method', 'ttl', 'ob', 'gr'] as const;
import { valueError } from './parse-error.ts';

export interface SipUri {
  /** Lower case: 'sip', 'sips', 'tel', or another scheme (then `opaque` holds the rest). */
  scheme: string;
  /** Unescaped user part (tel: the number). */
  user?: string;
  /** Unescaped password. */
  password?: string;
  /** Host as written (lower case not forced); IPv6 keeps its brackets. '' for tel and opaque URIs. */
  host: string;
  port?: number;
  /** URI parameters; keys lower case, values unescaped, a flag parameter is null. */
  params: Record<string, string | null>;
  /** URI headers (after '?'); names as written, values unescaped. */
  headers: Record<string, string>;
  /** Everything after 'scheme:' for schemes other than sip, sips and tel. */
  opaque?: string;
}

/** While set, the character checks are skipped: the text passed the parser's byte checks already. */
let trusted = false;

function badAt(text: string, from: number, to: number, allowed: Uint8Array): number {
  return trusted ? -1 : badCharIndex(text, from, to, allowed);
}

/** parseUri for text that the message parser already checked (syntax-check.ts): no re-validation. */
export function parseCheckedUri(text: string): SipUri {
  trusted = true;
  try {
    return parseUri(text);
  } finally {
    trusted = false;
  }
}

/** Parses a URI. Throws SipParseError (column = 1-based index into text) when malformed. */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0) throw valueError('Invalid URI: no scheme', 0);
  for (let i = 0; i < colon; i++) {
    const c = text.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (i > 0 && ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e));
    if (!ok) throw valueError('Invalid URI: bad scheme', i);
  }
  const scheme =
    colon === 3 && sameAt(text, 0, 'sip')
      ? 'sip'
      : colon === 4 && sameAt(text, 0, 'sips')
        ? 'sips'
        : text.slice(0, colon).toLowerCase();
  if (scheme === 'sip' || scheme === 'sips') return parseSip(text, scheme, colon + 1);
  if (scheme === 'tel') return parseTel(text, colon + 1);
  const badIndex = badAt(text, colon + 1, text.length, URIC);
  if (badIndex >= 0 || colon + 1 === text.length)
    throw valueError('Invalid URI: bad character', Math.max(badIndex, colon));
  return { scheme, host: '', params: {}, headers: {}, opaque: text.slice(colon + 1) };
}

function parseSip(text: string, scheme: string, start: number): SipUri {
  const uri: SipUri = { scheme, host: '', params: {}, headers: {} };
  let i = start;
  const end = text.length;
  const at = text.indexOf('@', start);
  if (at >= 0) {
    // userinfo: the user may hold ';' and '?' (user-unreserved), so it runs up to the '@'.
    const pw = text.indexOf(':', start);
    const userEnd = pw >= 0 && pw < at ? pw : at;
    if (userEnd === start) throw valueError('Invalid URI: empty user part', start);
    const bu = badAt(text, start, userEnd, USER);
    if (bu >= 0) throw valueError('Invalid URI: bad character in user part', bu);
    uri.user = unescapePercent(text.slice(start, userEnd));
    if (userEnd < at) {
      const bp = badAt(text, userEnd + 1, at, PASSWORD);
      if (bp >= 0) throw valueError('Invalid URI: bad character in password', bp);
      uri.password = unescapePercent(text.slice(userEnd + 1, at));
    }
    i = at + 1;
  }
  // host
  let hostEnd: number;
  if (text.charCodeAt(i) === 0x5b) {
    hostEnd = text.indexOf(']', i);
    if (hostEnd < 0) throw valueError('Invalid URI: unterminated IPv6 reference', i);
    hostEnd++;
  } else {
    hostEnd = i;
    while (hostEnd < end) {
      const c = text.charCodeAt(hostEnd);
      if (c === 0x3a || c === 0x3b || c === 0x3f) break;
      hostEnd++;
    }
  }
  const host = text.slice(i, hostEnd);
  if (!trusted && !isHost(host))
    throw valueError(host ? `Invalid URI: bad host '${host}'` : 'Invalid URI: no host', i);
  uri.host = host;
  i = hostEnd;
  if (text.charCodeAt(i) === 0x3a) {
    let pe = i + 1;
    while (pe < end && text.charCodeAt(pe) >= 0x30 && text.charCodeAt(pe) <= 0x39) pe++;
    const port = text.slice(i + 1, pe);
    if (!isDigits(port) || Number(port) > 65535) throw valueError('Invalid URI: bad port', i + 1);
    uri.port = Number(port);
    i = pe;
  }
  i = parseParams(text, i, uri.params);
  if (i < end && text.charCodeAt(i) === 0x3f) i = parseHeaders(text, i + 1, uri.headers);
  if (i < end) throw valueError(`Invalid URI: unexpected '${text[i]}'`, i);
  return uri;
}

/** ;name[=value] pairs up to '?' or the end; returns the index where they stop. */
function parseParams(text: string, i: number, params: Record<string, string | null>): number {
  const end = text.length;
  while (i < end && text.charCodeAt(i) === 0x3b) {
    let j = i + 1;
    while (j < end) {
      const c = text.charCodeAt(j);
      if (c === 0x3b || c === 0x3f || c === 0x3d) break;
      j++;
    }
    if (j === i + 1) throw valueError('Invalid URI: empty parameter', i + 1);
    const bn = badAt(text, i + 1, j, PARAMCHAR);
    if (bn >= 0) throw valueError('Invalid URI: bad character in parameter name', bn);
    const name =
      text.indexOf('%', i + 1) < 0 || text.indexOf('%', i + 1) >= j
        ? lowerName(text, i + 1, j, URI_PARAMS)
        : unescapePercent(text.slice(i + 1, j)).toLowerCase();
    if (j < end && text.charCodeAt(j) === 0x3d) {
      let k = j + 1;
      while (k < end) {
        const c = text.charCodeAt(k);
        if (c === 0x3b || c === 0x3f) break;
        k++;
      }
      const bv = badAt(text, j + 1, k, PARAMCHAR);
      if (bv >= 0) throw valueError('Invalid URI: bad character in parameter value', bv);
      params[name] = unescapePercent(text.slice(j + 1, k));
      i = k;
    } else {
      params[name] = null;
      i = j;
    }
  }
  return i;
}

function parseHeaders(text: string, i: number, headers: Record<string, string>): number {
  const end = text.length;
  for (;;) {
    let j = i;
    while (j < end && text.charCodeAt(j) !== 0x26) j++;
    const pair = text.slice(i, j);
    const eq = pair.indexOf('=');
    if (eq <= 0) throw valueError('Invalid URI: bad header', i);
    const badIndex = badAt(text, i, j, HNVCHAR_EQ);
    if (badIndex >= 0) throw valueError('Invalid URI: bad character in header', badIndex);
    headers[unescapePercent(pair.slice(0, eq))] = unescapePercent(pair.slice(eq + 1));
    if (j >= end) return j;
    i = j + 1;
  }
}

const HNVCHAR_EQ = (() => {
  const t = HNVCHAR.slice();
  t[0x3d] = 1;
  return t;
})();

// tel URI (RFC 3966): telephone-subscriber *par; the number keeps its visual separators.
const TELCHAR = (() => {
  const t = PARAMCHAR.slice();
  t[0x2b] = 1;
  return t;
})();

function parseTel(text: string, start: number): SipUri {
  let i = start;
  while (i < text.length && text.charCodeAt(i) !== 0x3b) i++;
  const num = text.slice(start, i);
  if (num.length === 0) throw valueError('Invalid URI: empty telephone number', start);
  const badIndex = badAt(text, start, i, TELCHAR);
  if (badIndex >= 0) throw valueError('Invalid URI: bad character in telephone number', badIndex);
  const uri: SipUri = {
    scheme: 'tel',
    user: unescapePercent(num),
    host: '',
    params: {},
    headers: {},
  };
  i = parseParams(text, i, uri.params);
  if (i < text.length) throw valueError(`Invalid URI: unexpected '${text[i]}'`, i);
  return uri;
}

/** Serializes a URI (escaping what must be escaped). */
export function formatUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  let s = uri.scheme + ':';
  if (uri.scheme === 'tel') s += escapePercent(uri.user ?? '', TELCHAR);
  else {
    if (uri.user !== undefined) {
      s += escapePercent(uri.user, USER);
      if (uri.password !== undefined) s += ':' + escapePercent(uri.password, PASSWORD);
      s += '@';
    }
    s += uri.host;
    if (uri.port !== undefined) s += ':' + uri.port;
  }
  for (const k in uri.params) {
    const v = uri.params[k];
    s += ';' + escapePercent(k, PARAMCHAR);
    if (v !== null && v !== undefined) s += '=' + escapePercent(v, PARAMCHAR);
  }
  let first = true;
  for (const k in uri.headers) {
    s +=
      (first ? '?' : '&') +
      escapePercent(k, HNVCHAR) +
      '=' +
      escapePercent(uri.headers[k]!, HNVCHAR);
    first = false;
  }
  return s;
}
