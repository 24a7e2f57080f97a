// A cheap look at a payload's first bytes to decide whether it is worth handing to the SIP parser.
// RFC 3261 §7.1/§7.2: a request starts with `Method SP Request-URI SP SIP-Version CRLF`, a response
// with `SIP-Version SP Status-Code SP Reason-Phrase CRLF`. Methods are tokens; every method in use
// is upper case letters, so "an upper case token then a space" is what a request looks like.
// The version is matched without regard to case and number ('sip/2.0', 'SIP/2', 'SIP/3.0'):
// such messages break the grammar, and the analyzer reads them tolerantly rather than lose them.

const CASE_BIT = 0x20;
const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const MAX_METHOD_LENGTH = 32;
const MIN_REQUEST_LENGTH = 'ACK x SIP/2.0'.length;
const CHAR_A = 0x41;
const CHAR_Z = 0x5a;
const CHAR_SPACE = 0x20;
const CHAR_DASH = 0x2d;

/** True when `buf` starts like a SIP request or response ('SIP/2.0 ' or an upper case token + space). */
export function looksLikeSip(buf: Uint8Array): boolean {
  if (buf.length < MIN_REQUEST_LENGTH) return false;
  const first = buf[0];
  if (isSipSlash(buf, 0)) {
    // 'SIP/' then a version number, a space and a status code digit
    let i = 4;
    while (i < 12 && ((buf[i] >= CHAR_0 && buf[i] <= CHAR_9) || buf[i] === 0x2e)) i++;
    return i > 4 && buf[i] === CHAR_SPACE && buf[i + 1] >= CHAR_0 && buf[i + 1] <= CHAR_9;
  }
  if (first < CHAR_A || first > CHAR_Z) return false;
  const end = Math.min(buf.length, MAX_METHOD_LENGTH + 1);
  for (let i = 1; i < end; i++) {
    const c = buf[i];
    if (c === CHAR_SPACE) return i >= 3 && containsSipVersion(buf, i + 1);
    if ((c < CHAR_A || c > CHAR_Z) && c !== CHAR_DASH) return false;
  }
  return false;
}

/** The request line must carry 'SIP/' before its first line end (an HTTP request does not). */
function containsSipVersion(buf: Uint8Array, from: number): boolean {
  const end = Math.min(buf.length - 3, from + 2048);
  for (let i = from; i < end; i++) {
    const c = buf[i];
    if (c === 0x0d || c === 0x0a) return false;
    if (isSipSlash(buf, i)) return true;
  }
  return false;
}

/** 'SIP/' in any case at buf[i]. */
function isSipSlash(buf: Uint8Array, i: number): boolean {
  return (
    (buf[i] | CASE_BIT) === 0x73 &&
    (buf[i + 1] | CASE_BIT) === 0x69 &&
    (buf[i + 2] | CASE_BIT) === 0x70 &&
    buf[i + 3] === 0x2f
  );
}
