// name-addr / addr-spec with header parameters: From, To, Contact, Route, Record-Route, ...
// (RFC 3261 §20.10, §20.20, §20.39, §25.1).
//
//   from-spec  = ( name-addr / addr-spec ) *( SEMI from-param )
//   name-addr  = [ display-name ] LAQUOT addr-spec RAQUOT
//   display-name = *(token LWS) / quoted-string
//   generic-param = token [ EQUAL gen-value ]      gen-value = token / host / quoted-string
//
// Without angle brackets the URI ends at the first ';' (those parameters belong to the header),
// and it may hold neither ',' nor '?' (RFC 3261 §20.10).

import { TOKEN, isHost, isToken, lowerName, quote, quotedEnd, skipWs, unquote } from './grammar.ts';

const HEADER_PARAMS = ['tag', 'expires', 'q', 'lr'] as const;
import { valueError } from './parse-error.ts';
import { formatUri, parseCheckedUri, parseUri, type SipUri } from './uri.ts';

export interface NameAddr {
  /** Display name: unquoted and unescaped; an unquoted one with its LWS collapsed to one space. */
  displayName?: string;
  uri: SipUri;
  /** Header parameters; keys lower case; values as written (quoted ones keep their quotes). */
  params: Record<string, string | null>;
  /** The tag parameter (From, To). */
  tag?: string;
}

export interface Contact extends NameAddr {
  /** `Contact: *` (REGISTER removing every binding). */
  star?: boolean;
  expires?: number;
  q?: number;
}

/** Parses one name-addr or addr-spec with its parameters. */
export function parseNameAddr(text: string): NameAddr {
  return parseInto(text, false);
}

/** parseNameAddr for text the message parser already checked (syntax-check.ts). */
export function parseCheckedNameAddr(text: string): NameAddr {
  return parseInto(text, true);
}

function parseInto(text: string, checked: boolean): NameAddr {
  let i = skipWs(text, 0);
  const end = text.length;
  let displayName: string | undefined;
  let uriText: string;
  let c = text.charCodeAt(i);
  if (c === 0x22) {
    const qe = quotedEnd(text, i);
    if (qe < 0) throw valueError('Invalid name-addr: unterminated quoted display name', i);
    displayName = unquote(text.slice(i, qe));
    i = skipWs(text, qe);
    if (text.charCodeAt(i) !== 0x3c)
      throw valueError("Invalid name-addr: '<' expected after display name", i);
    c = 0x3c;
  }
  if (c !== 0x3c) {
    // Either tokens then '<', or a bare addr-spec.
    const lt = text.indexOf('<', i);
    if (lt >= 0 && !looksLikeBareUri(text, i, lt)) {
      const dn = text.slice(i, lt).trim();
      if (dn.length > 0 && isToken(dn)) displayName = dn;
      else if (dn.length > 0) {
        const words = dn.split(/[ \t\r\n]+/);
        for (const w of words) {
          if (!isToken(w))
            throw valueError('Invalid name-addr: display name must be tokens or quoted', i);
        }
        displayName = words.join(' ');
      }
      i = lt;
      c = 0x3c;
    }
  }
  if (c === 0x3c) {
    const gt = text.indexOf('>', i);
    if (gt < 0) throw valueError("Invalid name-addr: '>' missing", i);
    uriText = text.slice(i + 1, gt);
    try {
      const uri = checked ? parseCheckedUri(uriText) : parseUri(uriText);
      i = gt + 1;
      const na: NameAddr = { uri, params: {} };
      if (displayName !== undefined) na.displayName = displayName;
      parseGenericParams(text, i, na.params);
      if (na.params.tag !== undefined && na.params.tag !== null) na.tag = na.params.tag;
      return na;
    } catch (e) {
      throw shift(e, i + 1);
    }
  }
  // addr-spec: up to the first ';' (or whitespace)
  let j = i;
  while (j < end) {
    const d = text.charCodeAt(j);
    if (d === 0x3b || d === 0x20 || d === 0x09 || d === 0x0d || d === 0x0a) break;
    if (d === 0x2c || d === 0x3f)
      throw valueError(`Invalid name-addr: '${text[j]}' in a URI needs angle brackets`, j);
    j++;
  }
  let uri: SipUri;
  try {
    uri = checked ? parseCheckedUri(text.slice(i, j)) : parseUri(text.slice(i, j));
  } catch (e) {
    throw shift(e, i);
  }
  const na: NameAddr = { uri, params: {} };
  parseGenericParams(text, j, na.params);
  if (na.params.tag !== undefined && na.params.tag !== null) na.tag = na.params.tag;
  return na;
}

function looksLikeBareUri(text: string, from: number, lt: number): boolean {
  // "sip:a@b;p=<x>" style: a ':' before any whitespace and before '<' means an addr-spec.
  for (let k = from; k < lt; k++) {
    const d = text.charCodeAt(k);
    if (d === 0x3a) return true;
    if (d === 0x20 || d === 0x09 || d === 0x22) return false;
  }
  return false;
}

function shift(e: unknown, by: number): unknown {
  if (e instanceof Error && 'column' in e && 'reason' in e) {
    return valueError((e as { reason: string }).reason, (e as { column: number }).column - 1 + by);
  }
  return e;
}

/**
 * *( SEMI generic-param ) from text[i] to the end. Keys are lower-cased; values are kept as written
 * (a quoted-string keeps its quotes); a parameter without '=' is null.
 */
export function parseGenericParams(
  text: string,
  i: number,
  params: Record<string, string | null>,
): void {
  const end = text.length;
  i = skipWs(text, i);
  while (i < end) {
    if (text.charCodeAt(i) !== 0x3b)
      throw valueError(`Invalid parameter list: ';' expected, found '${text[i]}'`, i);
    i = skipWs(text, i + 1);
    let j = i;
    while (j < end && text.charCodeAt(j) < 128 && TOKEN[text.charCodeAt(j)] === 1) j++;
    if (j === i) throw valueError('Invalid parameter: name expected', i);
    const name = lowerName(text, i, j, HEADER_PARAMS);
    i = skipWs(text, j);
    if (i < end && text.charCodeAt(i) === 0x3d) {
      i = skipWs(text, i + 1);
      let v: string;
      if (text.charCodeAt(i) === 0x22) {
        const qe = quotedEnd(text, i);
        if (qe < 0) throw valueError(`Invalid parameter '${name}': unterminated quoted string`, i);
        v = text.slice(i, qe);
        i = qe;
      } else if (text.charCodeAt(i) === 0x5b) {
        const rb = text.indexOf(']', i);
        if (rb < 0 || !isHost(text.slice(i, rb + 1)))
          throw valueError(`Invalid parameter '${name}': bad IPv6 reference`, i);
        v = text.slice(i, rb + 1);
        i = rb + 1;
      } else {
        let k = i;
        while (k < end && text.charCodeAt(k) < 128 && TOKEN[text.charCodeAt(k)] === 1) k++;
        if (k === i) throw valueError(`Invalid parameter '${name}': value expected`, i);
        v = text.slice(i, k);
        i = k;
      }
      params[name] = v;
    } else params[name] = null;
    i = skipWs(text, i);
  }
}

/** Parses one Contact value: '*' or a name-addr with expires and q made numeric. */
export function parseContact(text: string, checked = false): Contact {
  const t = text.trim();
  if (t === '*')
    return { star: true, uri: { scheme: '', host: '', params: {}, headers: {} }, params: {} };
  const c: Contact = parseInto(text, checked);
  const ex = c.params.expires;
  if (ex !== undefined) {
    if (ex === null || !/^[0-9]+$/.test(ex))
      throw valueError('Invalid Contact: expires is not a number', 0);
    c.expires = Number(ex) > 4294967295 ? 3600 : Number(ex); // RFC 3261 §10.2.1.1: out of range = 3600
  }
  const q = c.params.q;
  if (q !== undefined) {
    if (q === null || !/^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(q))
      throw valueError('Invalid Contact: q is not between 0 and 1', 0);
    c.q = Number(q);
  }
  return c;
}

/** Serializes a name-addr (always with angle brackets). */
export function formatNameAddr(na: NameAddr | Contact): string {
  if ('star' in na && na.star) return '*';
  let s = '';
  if (na.displayName !== undefined && na.displayName !== '') s += quote(na.displayName) + ' ';
  s += '<' + formatUri(na.uri) + '>';
  const params = { ...na.params };
  if (na.tag !== undefined) params.tag = na.tag;
  s += formatParams(params);
  return s;
}

/** ;name[=value] for each entry, values written as stored. */
export function formatParams(params: Record<string, string | null>): string {
  let s = '';
  for (const k in params) {
    const v = params[k];
    s += ';' + k;
    if (v !== null && v !== undefined) s += '=' + v;
  }
  return s;
}
