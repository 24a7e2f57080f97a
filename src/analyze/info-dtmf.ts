// DTMF carried in SIP INFO bodies (no RFC; the two forms in the field):
//   application/dtmf-relay   "Signal=5\r\nDuration=160\r\n"   (Cisco, Asterisk, FreeSWITCH)
//   application/dtmf         "5"                                (a bare digit or event name)

const DTMF_SYMBOLS = '0123456789*#ABCD';
/** RFC 4733 event numbers 10 and 11 are '*' and '#'; some phones send those numbers in INFO too. */
const EVENT_STAR = 10;
const EVENT_POUND = 11;

/** The digit signalled by a SIP INFO body, or undefined when the body is not DTMF. */
export function dtmfFromInfo(contentType: string | undefined, body: string): string | undefined {
  if (contentType === 'application/dtmf-relay') {
    const m = /^\s*signal\s*=\s*(\S+)/im.exec(body);
    return m ? normalizeSignal(m[1]) : undefined;
  }
  if (contentType === 'application/dtmf') {
    return normalizeSignal(body.trim());
  }
  return undefined;
}

function normalizeSignal(value: string): string | undefined {
  const v = value.trim().toUpperCase();
  if (v.length === 1 && DTMF_SYMBOLS.includes(v)) return v;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n === EVENT_STAR) return '*';
    if (n === EVENT_POUND) return '#';
    if (n >= 12 && n <= 15) return DTMF_SYMBOLS[n];
  }
  return undefined;
}
