// Content-Type (RFC 3261 §20.15): m-type SLASH m-subtype *(SEMI m-parameter).

import { TOKEN, quotedEnd, skipWs, unquote } from './grammar.ts';
import { valueError } from './parse-error.ts';

export interface MediaType {
  /** 'application/sdp', lower case, without parameters. */
  type: string;
  /** Parameters; keys lower case, quoted values unquoted. */
  params: Record<string, string>;
}

function tokenEnd(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) break;
    i++;
  }
  return i;
}

export function parseMediaType(text: string, header = 'Content-Type'): MediaType {
  let i = skipWs(text, 0);
  let j = tokenEnd(text, i);
  if (j === i) throw valueError(`Invalid ${header}: media type expected`, i, header);
  const type = text.slice(i, j);
  i = skipWs(text, j);
  if (text.charCodeAt(i) !== 0x2f) throw valueError(`Invalid ${header}: '/' expected`, i, header);
  i = skipWs(text, i + 1);
  j = tokenEnd(text, i);
  if (j === i) throw valueError(`Invalid ${header}: media subtype expected`, i, header);
  const mt: MediaType = { type: `${type}/${text.slice(i, j)}`.toLowerCase(), params: {} };
  i = skipWs(text, j);
  while (i < text.length) {
    if (text.charCodeAt(i) !== 0x3b) throw valueError(`Invalid ${header}: ';' expected`, i, header);
    i = skipWs(text, i + 1);
    j = tokenEnd(text, i);
    if (j === i) throw valueError(`Invalid ${header}: parameter name expected`, i, header);
    const name = text.slice(i, j).toLowerCase();
    i = skipWs(text, j);
    if (text.charCodeAt(i) !== 0x3d) throw valueError(`Invalid ${header}: '=' expected`, i, header);
    i = skipWs(text, i + 1);
    if (text.charCodeAt(i) === 0x22) {
      const e = quotedEnd(text, i);
      if (e < 0) throw valueError(`Invalid ${header}: unterminated quoted string`, i, header);
      mt.params[name] = unquote(text.slice(i, e));
      i = e;
    } else {
      j = tokenEnd(text, i);
      if (j === i) throw valueError(`Invalid ${header}: parameter value expected`, i, header);
      mt.params[name] = text.slice(i, j);
      i = j;
    }
    i = skipWs(text, i);
  }
  return mt;
}
