// Character classes and small scanners of the SIP grammar (RFC 3261 §25.1), shared by the value
// parsers. Tables are indexed by char code; everything above 0x7f is "not in the class" unless the
// grammar says UTF8-NONASCII is allowed (quoted strings, reason phrases, comments).

function table(chars: string, alnum = true): Uint8Array {
  // 256 entries (bytes above 0x7f are 0): byte loops can index with any byte, no range test
  const t = new Uint8Array(256);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = table("-.!%*_+`'~");
/** word = 1*(token chars / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}") */
export const WORD = table('-.!%*_+`\'~()<>:\\"/[]?{}');
/** unreserved = alphanum / mark */
export const UNRESERVED = table("-_.!~*'()");
/** user = 1*( unreserved / escaped / user-unreserved ) */
export const USER = table("-_.!~*'()&=+$,;?/");
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD = table("-_.!~*'()&=+$,");
/** paramchar = param-unreserved / unreserved / escaped */
export const PARAMCHAR = table("-_.!~*'()[]/:&+$");
/** hname / hvalue = *( hnv-unreserved / unreserved / escaped ) */
export const HNVCHAR = table("-_.!~*'()[]/?:+$");
/** hostname characters (plus IPv4 digits and dots) */
export const HOSTCHAR = table('-._');
/** uric (for opaque parts of absoluteURI) */
export const URIC = table(";/?:@&=+$,-_.!~*'()%[]");

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) return false;
  }
  return true;
}

export function isWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || WORD[c] === 0) return false;
  }
  return true;
}

export function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Index of the first non-whitespace char at or after i. */
export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/**
 * End index (exclusive, after the closing DQUOTE) of the quoted-string starting at s[i] === '"',
 * or -1 when it is not closed. quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F).
 */
export function quotedEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c) j++;
    else if (c === 0x22) return j + 1;
  }
  return -1;
}

/** The content of a quoted-string (with its quotes), quoted-pairs resolved. */
export function unquote(q: string): string {
  if (q.length < 2 || q.charCodeAt(0) !== 0x22) return q;
  const inner = q.slice(1, -1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === '\\' && i + 1 < inner.length) out += inner[++i];
    else out += c;
  }
  return out;
}

/** Quotes a string as a quoted-string, escaping '"' and '\'. */
export function quote(s: string): string {
  return '"' + s.replace(/(["\\])/g, '\\$1') + '"';
}

/**
 * Where the next comma at the top level of a header value is, from `from` (which must not be
 * inside <...> or a quoted string): commas inside quoted strings or <...> do not count. -1 when
 * there is none (an unterminated quoted string ends the search).
 */
function nextListComma(s: string, from: number): number {
  let angle = false;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) {
      const e = quotedEnd(s, i);
      if (e < 0) return -1;
      i = e - 1;
    } else if (c === 0x3c) angle = true;
    else if (c === 0x3e) angle = false;
    else if (c === 0x2c && !angle) return i;
  }
  return -1;
}

/** How many parts splitList(s) gives, without making them. */
export function countList(s: string): number {
  if (s.indexOf(',') < 0) return 1;
  let n = 1;
  for (let i = nextListComma(s, 0); i >= 0; i = nextListComma(s, i + 1)) n++;
  return n;
}

/**
 * Splits a header value at top-level commas: commas inside quoted strings or <...> do not
 * split. Parts are trimmed; empty parts are kept (so callers can report them).
 */
export function splitList(s: string): string[] {
  if (s.indexOf(',') < 0) return [s.trim()];
  const out: string[] = [];
  let start = 0;
  for (let i = nextListComma(s, 0); i >= 0; i = nextListComma(s, i + 1)) {
    out.push(s.slice(start, i).trim());
    start = i + 1;
  }
  out.push(s.slice(start).trim());
  return out;
}

/** Resolves %HH escapes; leaves a malformed escape as it is (the caller validated). */
export function unescapePercent(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (
      c === 0x25 &&
      i + 2 < s.length &&
      isHex(s.charCodeAt(i + 1)) &&
      isHex(s.charCodeAt(i + 2))
    ) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Escapes every char of s not in the allowed table as %HH (UTF-8 bytes). */
export function escapePercent(s: string, allowed: Uint8Array): string {
  let ok = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || allowed[c] === 0) {
      ok = false;
      break;
    }
  }
  if (ok) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b < 128 && allowed[b] === 1) out += String.fromCharCode(b);
    else out += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

export function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Checks that s[from, to) uses only chars of the table or valid %HH escapes; -1 or bad index. */
export function badCharIndex(
  s: string,
  from: number,
  to: number,
  allowed: Uint8Array,
  escapes = true,
): number {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && escapes) {
      if (i + 2 < to && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
        i += 2;
        continue;
      }
      return i;
    }
    if (c > 127 || allowed[c] === 0) return i;
  }
  return -1;
}

/** IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT (each 0-255) */
export function isIPv4(s: string): boolean {
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
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

/** IPv6address (RFC 3261 §25.1, RFC 4291 text forms), without brackets. */
export function isIPv6(s: string): boolean {
  if (s.length < 2) return false;
  let groups = s;
  let v4Groups = 0;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    if (!isIPv4(s.slice(lastColon + 1))) return false;
    groups = s.slice(0, lastColon + 1) + '0';
    v4Groups = 1;
  }
  const dbl = groups.indexOf('::');
  if (dbl >= 0 && groups.indexOf('::', dbl + 1) >= 0) return false;
  const parts = groups.split(':');
  let count = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p === '') {
      // only allowed as part of '::' (at start, end, or middle)
      if (dbl < 0) return false;
      continue;
    }
    if (p.length > 4) return false;
    for (let j = 0; j < p.length; j++) if (!isHex(p.charCodeAt(j))) return false;
    count++;
  }
  count += v4Groups;
  return dbl >= 0 ? count <= 7 : count === 8;
}

/**
 * hostname = *( domainlabel "." ) toplabel [ "." ]; also IPv4address and IPv6reference.
 * domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum (underscores tolerated).
 */
export function isHost(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  if (s.charCodeAt(0) === 0x5b) return s.charCodeAt(n - 1) === 0x5d && isIPv6(s.slice(1, -1));
  let labelLen = 0;
  let prev = 0x2e;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
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

/**
 * text[i, j) lower-cased; the names in `common` (lower case) come back without a new string.
 * (Parameter names are case-insensitive; most messages use a handful of them.)
 */
export function lowerName(text: string, i: number, j: number, common: readonly string[]): string {
  const n = j - i;
  for (let k = 0; k < common.length; k++) {
    const p = common[k]!;
    if (p.length === n && sameAt(text, i, p)) return p;
  }
  return text.slice(i, j).toLowerCase();
}

/** text holds word at i (a char loop: cheaper than startsWith for the short words of the grammar). */
export function sameAt(text: string, i: number, word: string): boolean {
  const n = word.length;
  if (i + n > text.length) return false;
  for (let k = 0; k < n; k++) if (text.charCodeAt(i + k) !== word.charCodeAt(k)) return false;
  return true;
}
