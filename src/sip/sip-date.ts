// Date header (RFC 3261 §20.17): an RFC 1123 date, always in GMT.
//
//   Date = "Date" HCOLON SIP-date        SIP-date = rfc1123-date
//   rfc1123-date = wkday "," SP date1 SP time SP "GMT"
//   date1 = 2DIGIT SP month SP 4DIGIT    time = 2DIGIT ":" 2DIGIT ":" 2DIGIT

import { valueError } from './parse-error.ts';

const WKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** Parses an rfc1123-date; throws SipParseError naming what is wrong. */
export function parseSipDate(text: string): Date {
  const s = text.trim();
  // "Sat, 13 Nov 2010 23:29:00 GMT" is exactly 29 characters.
  if (s.length !== 29) throw valueError('Invalid Date: not an RFC 1123 date', 0, 'Date');
  const wk = WKDAYS.indexOf(s.slice(0, 3));
  if (wk < 0 || s[3] !== ',' || s[4] !== ' ')
    throw valueError('Invalid Date: bad weekday', 0, 'Date');
  const day = digits(s, 5, 2);
  const month = MONTHS.indexOf(s.slice(8, 11));
  const year = digits(s, 12, 4);
  if (s[7] !== ' ' || s[11] !== ' ' || day < 1 || day > 31 || month < 0 || year < 0)
    throw valueError('Invalid Date: bad day, month or year', 5, 'Date');
  const hh = digits(s, 17, 2);
  const mm = digits(s, 20, 2);
  const ss = digits(s, 23, 2);
  if (
    s[16] !== ' ' ||
    s[19] !== ':' ||
    s[22] !== ':' ||
    hh < 0 ||
    hh > 23 ||
    mm < 0 ||
    mm > 59 ||
    ss < 0 ||
    ss > 60
  )
    throw valueError('Invalid Date: bad time', 17, 'Date');
  if (s.slice(25) !== ' GMT') throw valueError('Invalid Date: time zone must be GMT', 26, 'Date');
  const d = new Date(Date.UTC(year, month, day, hh, mm, ss));
  if (d.getUTCDate() !== day) throw valueError('Invalid Date: no such day', 5, 'Date');
  return d;
}

/** Formats a Date as an rfc1123-date. */
export function formatSipDate(d: Date): string {
  return d.toUTCString();
}
