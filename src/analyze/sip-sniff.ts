// A cheap look at a payload's first bytes to decide whether it is worth handing to the SIP parser.
// RFC 3261 §7.1/§7.2: a request starts with `Method SP Request-URI SP SIP-Version CRLF`, a response
// with `SIP-Version SP Status-Code SP Reason-Phrase CRLF`. Methods are tokens; every method in use
// is upper case letters, so "an upper case token then a space" is what a request looks like.

const SIP_VERSION_PREFIX = Buffer.from('SIP/2.0 ');
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
  if (first < CHAR_A || first > CHAR_Z) return false;
  if (first === 0x53 /* S */ && buf[1] === 0x49 && buf[2] === 0x50 && buf[3] === 0x2f) {
    for (let i = 4; i < SIP_VERSION_PREFIX.length; i++) {
      if (buf[i] !== SIP_VERSION_PREFIX[i]) return false;
    }
    return true;
  }
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
    if (c === 0x53 && buf[i + 1] === 0x49 && buf[i + 2] === 0x50 && buf[i + 3] === 0x2f)
      return true;
  }
  return false;
}
