// Authorization, Proxy-Authorization, WWW-Authenticate and Proxy-Authenticate values
// (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1; RFC 2617).
//
//   challenge   = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
//   credentials = ("Digest" LWS digest-response) / other-response
//   auth-param  = auth-param-name EQUAL ( token / quoted-string )

import { TOKEN, quote, quotedEnd, skipWs, unquote } from './grammar.ts';
import { valueError } from './parse-error.ts';

/** One challenge: scheme ('Digest') and its parameters (keys lower case, values unquoted). */
export interface DigestChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** One set of credentials: scheme ('Digest') and its parameters (keys lower case, values unquoted). */
export interface DigestCredentials {
  scheme: string;
  params: Record<string, string>;
}

function tokenEnd(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) break;
    i++;
  }
  return i;
}

/**
 * Parses a header value holding one or more challenges/credentials. A new scheme starts where a
 * token is followed by whitespace and not by '=' (e.g. `Digest realm="a", Basic realm="b"`).
 */
export function parseAuthValue(text: string, header = 'Authorization'): DigestChallenge[] {
  const out: DigestChallenge[] = [];
  let i = skipWs(text, 0);
  let current: DigestChallenge | undefined;
  while (i < text.length) {
    const j = tokenEnd(text, i);
    if (j === i) throw valueError(`Invalid ${header}: token expected`, i, header);
    const word = text.slice(i, j);
    const k = skipWs(text, j);
    if (text.charCodeAt(k) !== 0x3d) {
      // a scheme
      if (current !== undefined && Object.keys(current.params).length === 0 && k < text.length)
        throw valueError(`Invalid ${header}: parameter expected after scheme`, k, header);
      current = { scheme: word, params: {} };
      out.push(current);
      i = k;
      if (i < text.length && text.charCodeAt(i) === 0x2c) i = skipWs(text, i + 1);
      continue;
    }
    if (current === undefined) throw valueError(`Invalid ${header}: scheme expected`, i, header);
    let v = skipWs(text, k + 1);
    let value: string;
    if (text.charCodeAt(v) === 0x22) {
      const qe = quotedEnd(text, v);
      if (qe < 0) throw valueError(`Invalid ${header}: unterminated quoted string`, v, header);
      value = unquote(text.slice(v, qe));
      v = qe;
    } else {
      const e = tokenEnd(text, v);
      // some implementations send unquoted URIs (uri=sip:x): accept up to ',' or whitespace
      let e2 = e;
      while (e2 < text.length && text.charCodeAt(e2) > 0x20 && text.charCodeAt(e2) !== 0x2c) e2++;
      if (e2 === v) throw valueError(`Invalid ${header}: value of '${word}' expected`, v, header);
      value = text.slice(v, e2);
      v = e2;
    }
    current.params[word.toLowerCase()] = value;
    i = skipWs(text, v);
    if (i < text.length) {
      if (text.charCodeAt(i) !== 0x2c)
        throw valueError(`Invalid ${header}: ',' expected`, i, header);
      i = skipWs(text, i + 1);
    }
  }
  if (out.length === 0) throw valueError(`Invalid ${header}: empty`, 0, header);
  return out;
}

const UNQUOTED = new Set(['algorithm', 'nc', 'qop', 'stale']);

/** Serializes a challenge or credentials. algorithm, nc, stale (and qop in credentials) stay unquoted. */
export function formatDigest(x: DigestChallenge | DigestCredentials): string {
  const isCredentials = 'response' in x.params || 'username' in x.params;
  const parts: string[] = [];
  for (const k in x.params) {
    const v = x.params[k]!;
    const bare = UNQUOTED.has(k) && (k !== 'qop' || isCredentials);
    parts.push(`${k}=${bare ? v : quote(v)}`);
  }
  return `${x.scheme} ${parts.join(', ')}`;
}
