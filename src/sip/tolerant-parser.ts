// parseTolerant: the analyzer's reading of a SIP message the strict parser refuses.
//
// A server must answer such a message 400 (RFC 3261 §21.4.1) and parseMessage stays strict for
// that. A capture analyzer must still show it: Wireshark and sngrep draw calls whose phones break
// the grammar, and a spoofed or fuzzed request is exactly what a security analysis must count.
// So this reader repairs the message one refusal at a time and hands the repaired text back to
// the strict parser, which stays the only judge of what a SipRequest / SipResponse is:
//
//   round 0   parseMessage(original)            -> SipParseError e0: the deviation a user sees
//   round n   repair the line e(n-1) names      -> parseMessage(repaired text) -> ok or e(n)
//
// What a repair does, by where the strict parser stopped:
//   start line        re-read as words: METHOD URI VERSION or VERSION CODE REASON; stray and
//                     doubled whitespace dropped, the version written SIP/2.0 (lower case, SIP/2,
//                     SIP/3.0), the Request-URI repaired as below (or `sip:invalid` when nothing
//                     helps; the text as written is kept in `requestUri`)
//   URIs              an IPv6 address without brackets is bracketed ('sip:2001:db8::1' ->
//                     'sip:[2001:db8::1]'); an empty user part ('sip:@host') is dropped; bytes the
//                     user part may not hold are %-escaped; '<' '>' around a Request-URI removed
//   From, To,         the display name quoted when it is not tokens or a closed quoted-string;
//   Contact, Route    the URI repaired as above; From/To that still fail become `<sip:USER@invalid>`
//                     keeping the tag, Contact/Route lines are dropped
//   Via               the sent-by host repaired as above; else `SIP/2.0/UDP HOST;branch=B` from
//                     what can be read (host 'invalid' when none)
//   Call-ID           bytes outside `word` %-escaped (the text as written is the call key)
//   CSeq              '1INVITE' and friends read as number and method; a request's CSeq method
//                     is its method. No sequence number: the message cannot be read
//   Content-Length    not a number: dropped; longer than the body: the body's length
//   other headers     a line the strict parser refuses (Max-Forwards, Expires, Content-Type, a
//                     line with no name or colon) is dropped
//   missing headers   From, To, Via: a placeholder (host 'invalid', RFC 6761); no Call-ID or no
//                     CSeq: the message cannot be read (it has no call)
//
// A message that cannot be read (no start line, Call-ID or CSeq to be had) throws the strict
// parser's first SipParseError. Only refused messages come here, so the strict parser's speed on
// well-formed traffic is untouched.
import { isIPv6 } from 'node:net';
import { escapePercent, isToken, quote, USER, WORD } from './grammar.ts';
import { displayName as canonicalName } from './header-names.ts';
import { SipParseError } from './parse-error.ts';
import { parseMessage } from './parser.ts';
import { SipRequest } from './message.ts';
import type { SipResponse } from './message.ts';
import { parseUri } from './uri.ts';

/** One way the message breaks the grammar, as the strict parser words it, and what was done. */
export interface SipDeviation {
  reason: string;
  /** 1-based line and column in the original message. */
  line: number;
  column: number;
  header?: string;
  /** What the tolerant reading did about it. */
  repair: string;
}

export interface TolerantReading {
  message: SipRequest | SipResponse;
  /** The first is the strict parser's refusal of the original; the others follow repairs. */
  deviations: SipDeviation[];
  /** The Call-ID as written (trimmed): the call key, even when it had to be escaped. */
  callId: string;
  /** The Request-URI as written, when the message is a request. */
  requestUri?: string;
}

/** Rounds of repair before giving up: more than a message has broken lines. */
const MAX_ROUNDS = 64;
/** Host of placeholders: a name that can never resolve (RFC 6761 §6.4). */
const PLACEHOLDER_HOST = 'invalid';
const PLACEHOLDER_URI = `sip:${PLACEHOLDER_HOST}`;

interface Line {
  text: string;
  /** 1-based line number in the original message (0 for lines the reader added). */
  original: number;
  /** Times the strict parser stopped on this line. */
  failures: number;
}

/**
 * Reads a message the strict parser refuses, repairing it as described above. `strictError` is
 * the refusal already in hand (saves a parse). Throws SipParseError when even a tolerant reading
 * finds no start line, Call-ID or CSeq.
 */
export function parseTolerant(input: Buffer | string, strictError?: unknown): TolerantReading {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let first: SipParseError | undefined =
    strictError instanceof SipParseError ? strictError : undefined;
  if (first === undefined) {
    try {
      const message = parseMessage(buf);
      const missing = missingHeader(message);
      if (missing === undefined) {
        return { message, deviations: [], callId: message.callId, ...uriOf(message) };
      }
      first = missing;
    } catch (e) {
      if (!(e instanceof SipParseError)) throw e;
      first = e;
    }
  }
  const reader = new Repairer(buf.toString('latin1'), first);
  return reader.read();
}

/** The strict parser's answer, or the tolerant reading when it refuses: what the analyzer reads. */
export function readSipMessage(input: Buffer | string): TolerantReading {
  return parseTolerant(input);
}

function uriOf(m: SipRequest | SipResponse): { requestUri?: string } {
  return m instanceof SipRequest ? { requestUri: m.uri } : {};
}

/** The error the getters would throw for a message missing a header the analyzer reads. */
function missingHeader(m: SipRequest | SipResponse): SipParseError | undefined {
  for (const name of ['Call-ID', 'CSeq', 'From', 'To', 'Via']) {
    if (!m.has(name)) return new SipParseError(`Missing ${name} header`, 1, 1, name);
  }
  // The typed values are read now, so a problem the byte checks let through shows here.
  try {
    void m.from;
    void m.to;
    void m.topVia;
    void m.cseq;
    void m.callId;
  } catch (e) {
    if (e instanceof SipParseError) return e;
    throw e;
  }
  return undefined;
}

class Repairer {
  private readonly lines: Line[] = [];
  private body: string;
  private readonly deviations: SipDeviation[] = [];
  private callId: string | undefined;
  private requestUri: string | undefined;
  private method: string | undefined;

  constructor(
    text: string,
    private readonly first: SipParseError,
  ) {
    // Lines before the blank line; CRLF or bare LF; leading blank lines skipped (§7.5).
    let at = 0;
    while (at < text.length && (text[at] === '\r' || text[at] === '\n')) at++;
    const blank = /\r?\n\r?\n/g;
    blank.lastIndex = at;
    const m = blank.exec(text);
    const head = m ? text.slice(at, m.index) : text.slice(at);
    this.body = m ? text.slice(m.index + m[0].length) : '';
    let number = text.slice(0, at).split('\n').length - 1;
    for (const raw of head.split('\n')) {
      number++;
      this.lines.push({ text: raw.replace(/\r$/, ''), original: number, failures: 0 });
    }
  }

  read(): TolerantReading {
    this.normalizeLines();
    let error: SipParseError = this.first;
    this.note(error, true);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (!this.repair(error)) throw this.first;
      const text = this.lines.map((l) => l.text).join('\r\n') + '\r\n\r\n' + this.body;
      let message: SipRequest | SipResponse;
      try {
        message = parseMessage(Buffer.from(text, 'latin1'));
      } catch (e) {
        if (!(e instanceof SipParseError)) throw e;
        error = e;
        this.note(error, false);
        continue;
      }
      const missing = missingHeader(message);
      if (missing) {
        error = missing;
        this.note(error, false);
        continue;
      }
      return {
        message,
        deviations: this.deviations,
        callId: this.callId ?? message.callId,
        ...(message instanceof SipRequest ? { requestUri: this.requestUri ?? message.uri } : {}),
      };
    }
    throw this.first;
  }

  /** Records a refusal (once per line and reason); the repair is filled in by repair(). */
  private note(e: SipParseError, original: boolean): void {
    const line = original ? e.line : (this.lines[e.line - 1]?.original ?? 0);
    if (this.deviations.some((d) => d.reason === e.reason && d.line === line)) return;
    this.deviations.push({
      reason: e.reason,
      line,
      column: original ? e.column : 0,
      ...(e.header !== undefined ? { header: e.header } : {}),
      repair: '',
    });
  }

  private done(repair: string): true {
    const last = this.deviations[this.deviations.length - 1];
    if (last && last.repair === '') last.repair = repair;
    return true;
  }

  /**
   * Folds continuation lines into their header (legal, no deviation), trims a header line that
   * starts with whitespace right after the start line, and blanks control bytes in values.
   */
  private normalizeLines(): void {
    for (let i = this.lines.length - 1; i >= 2; i--) {
      const l = this.lines[i]!;
      if (/^[ \t]/.test(l.text) && l.text.trim() !== '') {
        this.lines[i - 1]!.text += ' ' + l.text.trim();
        this.lines.splice(i, 1);
      }
    }
    for (const l of this.lines) {
      l.text = l.text.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' ');
    }
  }

  /** Repairs what the error names; false when the message cannot be read. */
  private repair(e: SipParseError): boolean {
    // Errors of the rebuilt text name its lines; the first error names the original's, which
    // differ only where leading blank lines or folds were removed: find the line by number.
    const index =
      e === this.first
        ? this.lines.findIndex((l) => l.original >= e.line)
        : Math.min(e.line - 1, this.lines.length - 1);
    const missing = /^Missing (\S+) header$/.exec(e.reason);
    if (missing) return this.addMissing(missing[1]!);
    // A header error always names its header; the start line's errors name none.
    if (
      e.header === undefined &&
      (index <= 0 || /request line|status line|Request-URI|SIP version/.test(e.reason))
    ) {
      if (this.lines[0]!.failures++ > 0) return false;
      return this.repairStartLine();
    }
    let i = index;
    if (e.header !== undefined) {
      // The getters' errors carry no line: find the header's first line.
      const found = this.findHeader(e.header, e.line > 1 ? index : -1);
      if (found < 0) return false;
      i = found;
    }
    if (i <= 0 || i >= this.lines.length) return false;
    return this.repairHeader(i, e);
  }

  private findHeader(name: string, hint: number): number {
    const lower = name.toLowerCase();
    if (hint > 0 && hint < this.lines.length && headerName(this.lines[hint]!.text) === lower)
      return hint;
    return this.lines.findIndex((l, k) => k > 0 && headerName(l.text) === lower);
  }

  private repairStartLine(): boolean {
    const l = this.lines[0]!;
    const words = l.text.trim().split(/[ \t]+/);
    if (words.length === 0 || words[0] === '') return false;
    if (/^sip\//i.test(words[0]!)) {
      const code = words[1] ?? '';
      if (!/^[1-6]\d\d$/.test(code)) return false;
      const reason = words.slice(2).join(' ');
      l.text = `SIP/2.0 ${code}${reason ? ' ' + reason : ''}`;
      return this.done('status line re-read as SIP/2.0 CODE REASON');
    }
    const method = words[0]!;
    if (!isToken(method)) return false;
    const hasVersion = words.length >= 3 && /^sip\/\S*$/i.test(words[words.length - 1]!);
    const uriWords = hasVersion ? words.slice(1, -1) : words.slice(1);
    const written = uriWords.join('');
    if (written === '') return false;
    this.method = method;
    this.requestUri = written;
    const uri = repairUri(written.replace(/^<(.*)>$/, '$1'));
    l.text = `${method} ${uri ?? PLACEHOLDER_URI} SIP/2.0`;
    return this.done(
      uri === undefined
        ? `Request-URI '${written}' unreadable: read as ${PLACEHOLDER_URI}`
        : `request line re-read as ${l.text}`,
    );
  }

  private repairHeader(i: number, e: SipParseError): boolean {
    const l = this.lines[i]!;
    if (/^[ \t]/.test(l.text)) {
      l.text = l.text.trim();
      return this.done('leading whitespace removed');
    }
    const failures = l.failures++;
    const colon = l.text.indexOf(':');
    const rawName = colon > 0 ? l.text.slice(0, colon).trim() : '';
    if (!isToken(rawName)) return this.drop(i, 'line without a header name dropped');
    const name = canonicalName(rawName);
    const value = l.text.slice(colon + 1).trim();
    const set = (v: string, what: string): boolean => {
      l.text = `${name}: ${v}`;
      return this.done(what);
    };
    switch (name) {
      case 'Call-ID': {
        if (value === '') return false;
        this.callId = value;
        return set(escapeWord(value), 'Call-ID escaped (the call keeps it as written)');
      }
      case 'CSeq': {
        const m = /^(\d{1,10})\s*([^\s]*)/.exec(value);
        if (!m || Number(m[1]) > 0x7fffffff) return false;
        const method = this.method ?? requestMethod(this.lines[0]!.text) ?? m[2]!;
        if (!isToken(method)) return false;
        return set(`${m[1]} ${method}`, `CSeq read as ${m[1]} ${method}`);
      }
      case 'Content-Length': {
        if (!/^\d+$/.test(value) || failures > 0) return this.drop(i, 'Content-Length dropped');
        return set(
          String(this.body.length),
          `Content-Length set to the body's ${this.body.length} bytes`,
        );
      }
      case 'From':
      case 'To': {
        if (failures === 0) {
          const fixed = repairNameAddr(value);
          if (fixed !== undefined && fixed !== value) return set(fixed, `${name} repaired`);
        }
        const tag = /;\s*tag\s*=\s*([^;\s>,]+)/i.exec(value)?.[1];
        const user = /\b[a-z][a-z0-9+.-]*:([^@;>\s]+)@/i.exec(value)?.[1];
        const placeholder =
          `<sip:${user ? escapePercent(user, USER) + '@' : ''}${PLACEHOLDER_HOST}>` +
          (tag && isToken(tag) ? `;tag=${tag}` : '');
        if (failures > 1) return false;
        return set(placeholder, `${name} unreadable: read as ${placeholder}`);
      }
      case 'Via': {
        if (failures === 0) {
          const fixed = repairVia(value);
          if (fixed !== undefined && fixed !== value) return set(fixed, 'Via repaired');
        }
        if (failures > 1) return this.drop(i, 'Via dropped');
        const via = placeholderVia(value);
        return set(via, `Via unreadable: read as ${via}`);
      }
      case 'Contact':
      case 'Route':
      case 'Record-Route': {
        if (failures === 0) {
          const parts = splitTopLevel(value).map((p) =>
            p.trim() === '*' ? '*' : (repairNameAddr(p.trim()) ?? p),
          );
          const fixed = parts.join(', ');
          if (fixed !== value) return set(fixed, `${name} repaired`);
        }
        return this.drop(i, `${name} dropped`);
      }
      default:
        void e;
        return this.drop(i, `${name} dropped`);
    }
  }

  private drop(i: number, what: string): boolean {
    this.lines.splice(i, 1);
    return this.done(what);
  }

  private addMissing(name: string): boolean {
    if (name === 'Call-ID' || name === 'CSeq') return false;
    if (
      this.lines.some(
        (l, k) => k > 0 && l.original === 0 && headerName(l.text) === name.toLowerCase(),
      )
    )
      return false;
    const value = name === 'Via' ? `SIP/2.0/UDP ${PLACEHOLDER_HOST}` : `<${PLACEHOLDER_URI}>`;
    this.lines.splice(1, 0, { text: `${name}: ${value}`, original: 0, failures: 0 });
    return this.done(`${name}: ${value} assumed`);
  }
}

function headerName(line: string): string {
  const colon = line.indexOf(':');
  return colon > 0 ? canonicalName(line.slice(0, colon).trim()).toLowerCase() : '';
}

function requestMethod(startLine: string): string | undefined {
  const w = startLine.trim().split(/[ \t]+/)[0];
  return w && !/^sip\//i.test(w) && isToken(w) ? w : undefined;
}

/** Top-level commas only (not inside quotes or <...>). */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') angle = true;
    else if (!quoted && c === '>') angle = false;
    else if (!quoted && !angle && c === ',') {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function escapeWord(s: string): string {
  return escapePercent(s.replace(/\s+/g, ' '), WORD);
}

function parses(uri: string): boolean {
  try {
    parseUri(uri);
    return true;
  } catch {
    return false;
  }
}

/** A host (or host:port) written as a bare IPv6 address, bracketed; undefined when it is not one. */
export function bracketIPv6(hostport: string): string | undefined {
  if (hostport.startsWith('[') || hostport.indexOf(':') === hostport.lastIndexOf(':'))
    return undefined;
  if (isIPv6(hostport)) return `[${hostport}]`;
  // '2001:db8::1:5060' is itself an address; only a last group that cannot be hex is a port
  // for certain, otherwise the whole is taken as the address (as Wireshark reads it).
  const colon = hostport.lastIndexOf(':');
  const port = hostport.slice(colon + 1);
  if (/^\d+$/.test(port) && isIPv6(hostport.slice(0, colon))) {
    return `[${hostport.slice(0, colon)}]:${port}`;
  }
  return undefined;
}

/**
 * A URI the strict grammar refuses, repaired: IPv6 without brackets, empty or odd user part.
 * Undefined when no repair makes it parse.
 */
export function repairUri(text: string): string | undefined {
  const uri = text.trim();
  if (parses(uri)) return uri;
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(uri);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') return undefined;
  let rest = m[2]!;
  const q = rest.indexOf('?');
  const headers = q >= 0 ? rest.slice(q) : '';
  if (q >= 0) rest = rest.slice(0, q);
  const at = rest.lastIndexOf('@');
  let user = at >= 0 ? rest.slice(0, at) : '';
  let hostPart = at >= 0 ? rest.slice(at + 1) : rest;
  const semi = hostPart.indexOf(';');
  const params = semi >= 0 ? hostPart.slice(semi) : '';
  if (semi >= 0) hostPart = hostPart.slice(0, semi);
  hostPart = bracketIPv6(hostPart) ?? hostPart;
  let password = '';
  const pw = user.indexOf(':');
  if (pw >= 0) {
    password = user.slice(pw);
    user = user.slice(0, pw);
  }
  user = escapePercent(user.replace(/%(?![0-9a-fA-F]{2})/g, '%25'), USER);
  const userinfo = user === '' ? '' : `${user}${password}@`;
  const fixed = `${scheme}:${userinfo}${hostPart}${params}${headers}`;
  if (parses(fixed)) return fixed;
  // Parameters or headers past repair: the address alone.
  const bare = `${scheme}:${userinfo}${hostPart}`;
  return parses(bare) ? bare : undefined;
}

/**
 * A name-addr or addr-spec (From, To, Contact, Route) repaired: display name quoted, URI repaired.
 * Undefined when it has no URI to be read.
 */
export function repairNameAddr(value: string): string | undefined {
  const open = value.indexOf('<');
  if (open >= 0) {
    const close = value.indexOf('>', open);
    if (close < 0) return undefined;
    const uri = repairUri(value.slice(open + 1, close));
    if (uri === undefined) return undefined;
    let display = value.slice(0, open).trim();
    if (display !== '' && !isDisplayName(display)) {
      display = quote(display.replace(/^"|"$/g, '').replace(/\\(.)/g, '$1'));
    }
    return `${display ? display + ' ' : ''}<${uri}>${value.slice(close + 1)}`;
  }
  // addr-spec: the URI runs to the first ';' (what follows are header parameters).
  const semi = value.indexOf(';');
  const spec = semi >= 0 ? value.slice(0, semi) : value;
  const uri = repairUri(spec);
  if (uri === undefined) return undefined;
  // A repaired URI may now hold ';' or brackets: the name-addr form keeps them apart.
  return uri === spec.trim() ? value : `<${uri}>${semi >= 0 ? value.slice(semi) : ''}`;
}

/** display-name = *(token LWS) / quoted-string */
function isDisplayName(s: string): boolean {
  if (/^"([^"\\]|\\.)*"$/.test(s)) return true;
  return s.split(/[ \t]+/).every(isToken);
}

/** A Via value with its sent-by host repaired (IPv6 without brackets). */
export function repairVia(value: string): string | undefined {
  const parts = splitTopLevel(value).map((part) => {
    const m = /^(\s*SIP\s*\/\s*2\.0\s*\/\s*[A-Za-z-]+\s+)([^;\s]+)(.*)$/i.exec(part);
    if (!m) return part;
    const host = bracketIPv6(m[2]!) ?? m[2]!;
    return `${m[1]!
      .replace(/\s*\/\s*/g, '/')
      .replace(/^\s+/, '')
      .toUpperCase()}${host}${m[3]}`;
  });
  return parts.join(',');
}

/** `SIP/2.0/UDP HOST;branch=B` from what a broken Via lets be read. */
function placeholderVia(value: string): string {
  const transport = /SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z-]+)/i.exec(value)?.[1]?.toUpperCase() ?? 'UDP';
  const rawHost = /SIP\s*\/\s*[\d.]+\s*\/\s*[A-Za-z-]+\s+([^;\s,]+)/i.exec(value)?.[1];
  let host = PLACEHOLDER_HOST;
  if (rawHost) {
    const bracketed = bracketIPv6(rawHost) ?? rawHost;
    if (parses(`sip:${bracketed}`)) host = bracketed;
  }
  const branch = /;\s*branch\s*=\s*([^;\s,]+)/i.exec(value)?.[1];
  return `SIP/2.0/${isToken(transport) ? transport : 'UDP'} ${host}${branch && isToken(branch) ? `;branch=${branch}` : ''}`;
}
