// `trapezoid parse FILE|-`: reads one SIP message and shows its structure as the SIP layer
// sees it (start line, every header as received with its typed reading, the body), or exactly
// why it is invalid: the reason, the line and column, and the offending line with a caret. A
// request is invalid too when it lacks a header every request carries (RFC 3261 §8.1.1).
//
// Exit codes: 0 valid, 1 invalid, 2 usage error (missing or unreadable FILE, unknown flag).
import { Command, CommanderError } from 'commander';
import { readFile } from 'node:fs/promises';
import {
  BRANCH_COOKIE,
  canonicalHeaderName,
  formatUri,
  missingHeaders,
  parseMessage,
  SipParseError,
  SipRequest,
  type Contact,
  type DigestChallenge,
  type DigestCredentials,
  type NameAddr,
  type SipResponse,
  type SipUri,
  type Via,
} from '../sip/index.ts';

type Message = SipRequest | SipResponse;

export function register(program: Command): void {
  program
    .command('parse')
    .description('parse one SIP message: show its structure, or exactly why it is invalid')
    .argument('<file>', 'file holding the message, or - for standard input')
    .option('--json', 'print one JSON object instead of text')
    .addHelpText('after', '\nExit codes: 0 valid, 1 invalid (reason, line, column), 2 usage error.')
    .action(async (file: string, opts: { json?: boolean }) => {
      const input = await readInput(file);
      process.exitCode = runParse(input, opts.json === true, (s) => process.stdout.write(s));
    });
}

async function readInput(file: string): Promise<Buffer> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    return await readFile(file);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    process.stderr.write(`trapezoid parse: cannot read ${file === '-' ? 'stdin' : file}: ${why}\n`);
    // main.ts turns a CommanderError into exit code 2 (usage) without printing it again.
    throw new CommanderError(2, 'trapezoid.unreadableFile', why);
  }
}

/** Parses `input` and writes the result through `out`; returns the exit code (0 or 1). */
export function runParse(input: Buffer, json: boolean, out: (text: string) => void): number {
  let view: MessageView;
  try {
    // The whole view is built inside the try: a fault of the parser shows as an error line.
    const msg = parseMessage(input);
    checkMandatory(msg);
    view = viewOf(msg);
  } catch (err) {
    if (err instanceof SipParseError) {
      out(json ? JSON.stringify(invalidJson(err)) + '\n' : invalidText(err, input));
      return 1;
    }
    // Not a parse error: a fault of the parser itself. Say so plainly, no stack trace.
    const why = err instanceof Error ? err.message : String(err);
    out(
      json
        ? JSON.stringify({ valid: false, reason: `parser failure: ${why}` }) + '\n'
        : `error: the parser failed on this input: ${visible(why)}\n`,
    );
    return 1;
  }
  // Text goes to a terminal: control bytes from the message are shown escaped, never sent raw.
  out(json ? JSON.stringify(view.json) + '\n' : view.text.split('\n').map(visible).join('\n'));
  return 0;
}

// ---- invalid input -----------------------------------------------------------------------

/** Whether the request's top Via branch starts with the RFC 3261 magic cookie (§8.1.1.7). */
function claimsRfc3261(req: SipRequest): boolean {
  try {
    return (req.via[0]?.branch ?? '').startsWith(BRANCH_COOKIE);
  } catch (err) {
    if (err instanceof SipParseError) return false; // the view shows why the Via is unreadable
    throw err;
  }
}

/**
 * A request without Via, From, To, Call-ID, CSeq or Max-Forwards (RFC 3261 §8.1.1) is not a
 * valid request: thrown as a parse error with the reason a server's 400 gives (validateRequest
 * shares missingHeaders), pointing at the start line. Responses are read as they are. An RFC
 * 2543 request (no magic cookie in its top Via branch, §8.1.1.7) had no Max-Forwards to send,
 * and RFC 4475 §3.4.1 (inv2543) asks that it be accepted: only the other five are required.
 */
function checkMandatory(msg: Message): void {
  if (!(msg instanceof SipRequest)) return;
  const problem = missingHeaders(msg, { maxForwards: claimsRfc3261(msg) });
  if (!problem) return;
  const only = /^Missing ([\w-]+) header$/.exec(problem.reason)?.[1];
  throw new SipParseError(problem.reason, 1, 1, only);
}

function invalidJson(err: SipParseError): Record<string, unknown> {
  return {
    valid: false,
    reason: err.reason,
    line: err.line,
    column: err.column,
    ...(err.header !== undefined ? { header: err.header } : {}),
  };
}

const MAX_SHOWN = 100;

/**
 * `invalid: <reason> at line L, column C`, then the offending line (control bytes shown
 * escaped, long lines cut around the spot) and a caret under the column.
 */
function invalidText(err: SipParseError, input: Buffer): string {
  let text = `invalid: ${visible(err.reason)} at line ${err.line}, column ${err.column}\n`;
  const bytes = lineBytes(input, err.line);
  if (bytes === undefined) return text;
  const cut = Math.min(Math.max(err.column - 1, 0), bytes.length);
  let before = visible(bytes.subarray(0, cut).toString('utf8'));
  let after = visible(bytes.subarray(cut).toString('utf8'));
  const half = MAX_SHOWN / 2;
  if ([...before].length > half) before = '...' + [...before].slice(-half).join('');
  if ([...after].length > half) after = [...after].slice(0, half).join('') + '...';
  const gutter = `${err.line} | `;
  text += `${gutter}${before}${after}\n`;
  text += `${' '.repeat(gutter.length - 2)}| ${' '.repeat([...before].length)}^\n`;
  return text;
}

/** The bytes of 1-based line `n` (LF-separated, a trailing CR dropped), or undefined. */
function lineBytes(input: Buffer, n: number): Buffer | undefined {
  let start = 0;
  for (let line = 1; line < n; line++) {
    const lf = input.indexOf(0x0a, start);
    if (lf < 0) return undefined;
    start = lf + 1;
  }
  if (start > input.length) return undefined;
  let end = input.indexOf(0x0a, start);
  if (end < 0) end = input.length;
  if (end > start && input[end - 1] === 0x0d) end--;
  return input.subarray(start, end);
}

/**
 * Control characters (C0, DEL, C1) as escapes: the line prints on one line, the caret lines
 * up, and no escape sequence from the message reaches the terminal.
 */
function visible(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0');
  });
}

// ---- the view of a valid message -----------------------------------------------------------

interface MessageView {
  json: Record<string, unknown>;
  text: string;
}

/** A header's typed reading: the model's value (for JSON) and lines describing it (for text). */
interface Reading {
  value: unknown;
  lines: string[];
}

/** A typed reading with the model's member name, which is also its key in the JSON. */
interface Typed extends Reading {
  key: string;
}

/** Lower-case full name of a header name as written (compact forms expanded). */
function fullName(name: string): string {
  return canonicalHeaderName(name).toLowerCase();
}

const reading = (value: unknown, lines: string[]): Reading => ({ value, lines });

/** Header names the model reads into typed values: lower-case full name -> member and reader. */
const READERS: Record<string, { key: string; read(msg: Message): Reading }> = {
  via: { key: 'via', read: (m) => reading(m.via, m.via.map(viaText)) },
  from: { key: 'from', read: (m) => reading(m.from, [nameAddrText(m.from)]) },
  to: { key: 'to', read: (m) => reading(m.to, [nameAddrText(m.to)]) },
  'call-id': { key: 'callId', read: (m) => reading(m.callId, []) },
  cseq: {
    key: 'cseq',
    read: (m) => reading(m.cseq, [`seq ${m.cseq.seq}, method ${m.cseq.method}`]),
  },
  'max-forwards': { key: 'maxForwards', read: (m) => reading(m.maxForwards, [`${m.maxForwards}`]) },
  contact: { key: 'contact', read: (m) => reading(m.contact, m.contact.map(contactText)) },
  route: {
    key: 'route',
    read: (m) =>
      reading(
        m.route,
        m.route.map((r) => nameAddrText(r)),
      ),
  },
  'record-route': {
    key: 'recordRoute',
    read: (m) =>
      reading(
        m.recordRoute,
        m.recordRoute.map((r) => nameAddrText(r)),
      ),
  },
  'content-length': {
    key: 'contentLength',
    read: (m) => reading(m.contentLength, [`${m.contentLength} bytes`]),
  },
  'content-type': {
    key: 'contentType',
    read: (m) => reading(m.contentType, [`media type ${m.contentType}`]),
  },
  expires: { key: 'expires', read: (m) => reading(m.expires, [`${m.expires} s`]) },
  'min-expires': { key: 'minExpires', read: (m) => reading(m.minExpires, [`${m.minExpires} s`]) },
  authorization: {
    key: 'authorization',
    read: (m) => reading(m.authorization, m.authorization.map(digestText)),
  },
  'proxy-authorization': {
    key: 'proxyAuthorization',
    read: (m) => reading(m.proxyAuthorization, m.proxyAuthorization.map(digestText)),
  },
  'www-authenticate': {
    key: 'wwwAuthenticate',
    read: (m) => reading(m.wwwAuthenticate, m.wwwAuthenticate.map(digestText)),
  },
  'proxy-authenticate': {
    key: 'proxyAuthenticate',
    read: (m) => reading(m.proxyAuthenticate, m.proxyAuthenticate.map(digestText)),
  },
  allow: { key: 'allow', read: (m) => reading(m.allow, [m.allow.join(', ')]) },
  supported: { key: 'supported', read: (m) => reading(m.supported, [m.supported.join(', ')]) },
  require: { key: 'require', read: (m) => reading(m.require, [m.require.join(', ')]) },
  'proxy-require': {
    key: 'proxyRequire',
    read: (m) => reading(m.proxyRequire, [m.proxyRequire.join(', ')]),
  },
  accept: { key: 'accept', read: (m) => reading(m.accept, [m.accept.join(', ')]) },
  'user-agent': { key: 'userAgent', read: (m) => reading(m.userAgent, []) },
  server: { key: 'server', read: (m) => reading(m.server, []) },
  date: {
    key: 'date',
    read: (m) => reading(m.date, m.date ? [m.date.toISOString()] : []),
  },
};

/**
 * The typed reading of one header name (all its lines together), undefined for a header the
 * model keeps as text. When the model cannot read a value it parses lazily (say, a Request-URI
 * or Authorization of an unknown scheme) the reason is shown in place of the reading:
 * parseMessage accepted the message, so it stays valid.
 */
function typedReading(msg: Message, name: string): Typed | undefined {
  // Own keys only: a header may well be called `constructor` or `__proto__`.
  const reader = Object.hasOwn(READERS, name) ? READERS[name] : undefined;
  if (!reader) return undefined;
  try {
    return { key: reader.key, ...reader.read(msg) };
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    return {
      key: reader.key,
      value: { error: err.reason },
      lines: [`(not readable as typed: ${err.reason})`],
    };
  }
}

function viewOf(msg: Message): MessageView {
  const isRequest = msg instanceof SipRequest;
  const headerLines = msg.headerLines();

  // The last line of each header name: its typed reading is printed right after it.
  const lastLine = new Map<string, number>();
  headerLines.forEach((h, i) => lastLine.set(fullName(h.name), i));
  const typedByName = new Map<string, Typed>();
  for (const name of lastLine.keys()) {
    const t = typedReading(msg, name);
    if (t) typedByName.set(name, t);
  }

  // The Request-URI is parsed lazily; one the model cannot read (an unknown scheme, say)
  // leaves the message valid and is shown with the reason.
  let requestUri: { json: unknown; text: string } | undefined;
  if (isRequest) {
    try {
      requestUri = { json: msg.requestUri, text: uriText(msg.requestUri) };
    } catch (err) {
      if (!(err instanceof SipParseError)) throw err;
      requestUri = {
        json: { error: err.reason },
        text: `${msg.uri} (not readable as a URI: ${err.reason})`,
      };
    }
  }

  const body = msg.body;
  const contentType = msg.contentType;
  let parts: ReturnType<Message['multipart']>;
  let partsError: string | undefined;
  try {
    parts = msg.multipart();
  } catch (err) {
    if (!(err instanceof SipParseError)) throw err;
    partsError = err.reason;
  }

  // Text.
  let text = '';
  if (isRequest) {
    text += `${msg.method} ${msg.uri} ${msg.version}\n`;
    text += `    request: method ${msg.method}, Request-URI ${requestUri?.text}\n`;
  } else {
    text += `${msg.version} ${msg.status} ${msg.reason}\n`;
    text += `    response: status ${msg.status}, reason "${msg.reason}"\n`;
  }
  headerLines.forEach((h, i) => {
    text += `${h.name}: ${h.value}\n`;
    const name = fullName(h.name);
    const t = typedByName.get(name);
    if (t && lastLine.get(name) === i) for (const l of t.lines) text += `    ${l}\n`;
  });
  text += `body: ${body.length} bytes`;
  if (contentType !== undefined) text += `, ${contentType}`;
  if (parts) text += `, ${parts.length} parts`;
  if (partsError !== undefined) text += ` (parts not readable: ${partsError})`;
  text += '\n';
  if (parts) {
    parts.forEach((p, i) => {
      const type = p.headers.find((h) => h.name.toLowerCase() === 'content-type')?.value;
      text += `    part ${i + 1}: ${p.body.length} bytes${type ? `, ${type}` : ''}\n`;
    });
  }

  // JSON.
  const typedJson: Record<string, unknown> = {};
  for (const t of typedByName.values()) typedJson[t.key] = t.value;
  const json: Record<string, unknown> = { valid: true };
  if (isRequest) {
    Object.assign(json, {
      kind: 'request',
      method: msg.method,
      uri: msg.uri,
      requestUri: requestUri?.json,
      version: msg.version,
    });
  } else {
    Object.assign(json, {
      kind: 'response',
      status: msg.status,
      reason: msg.reason,
      version: msg.version,
    });
  }
  json.headers = typedJson;
  json.headerLines = headerLines;
  json.body = {
    length: body.length,
    ...(contentType !== undefined ? { contentType } : {}),
    ...bodyContent(body),
    ...(parts
      ? {
          parts: parts.map((p) => ({
            headers: p.headers,
            length: p.body.length,
            ...bodyContent(p.body),
          })),
        }
      : {}),
  };
  return { json, text };
}

/** A body as text when it is printable UTF-8, otherwise as base64. */
function bodyContent(body: Buffer): { text: string } | { base64: string } {
  const text = body.toString('utf8');
  const printable = !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.test(text);
  return printable ? { text } : { base64: body.toString('base64') };
}

// ---- typed values as text ------------------------------------------------------------------

function paramsText(params: Record<string, string | null>, skip: string[] = []): string[] {
  return Object.entries(params)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => (v === null ? k : `${k}=${v}`));
}

function uriText(uri: SipUri): string {
  const parts = [`scheme ${uri.scheme}`];
  if (uri.user !== undefined) parts.push(`user ${uri.user}`);
  if (uri.host !== '') parts.push(`host ${uri.host}`);
  if (uri.port !== undefined) parts.push(`port ${uri.port}`);
  const params = paramsText(uri.params);
  if (params.length) parts.push(`params ${params.join(' ')}`);
  const headers = Object.entries(uri.headers).map(([k, v]) => `${k}=${v}`);
  if (headers.length) parts.push(`headers ${headers.join(' ')}`);
  return `${formatUri(uri)} (${parts.join(', ')})`;
}

function viaText(via: Via): string {
  const parts = [`${via.protocol}/${via.transport} host ${via.host}`];
  if (via.port !== undefined) parts.push(`port ${via.port}`);
  parts.push(via.branch !== undefined ? `branch ${via.branch}` : 'no branch');
  if (via.received !== undefined) parts.push(`received ${via.received}`);
  if (via.rport !== undefined)
    parts.push(via.rport === null ? 'rport (asked)' : `rport ${via.rport}`);
  const params = paramsText(via.params, ['branch', 'received', 'rport']);
  if (params.length) parts.push(`params ${params.join(' ')}`);
  return parts.join(', ');
}

function nameAddrText(na: NameAddr, shownApart: string[] = ['tag']): string {
  const parts: string[] = [];
  if (na.displayName !== undefined) parts.push(`display name ${JSON.stringify(na.displayName)}`);
  parts.push(`uri ${formatUri(na.uri)}`);
  if (na.tag !== undefined) parts.push(`tag ${na.tag}`);
  const params = paramsText(na.params, shownApart);
  if (params.length) parts.push(`params ${params.join(' ')}`);
  return parts.join(', ');
}

function contactText(c: Contact): string {
  if (c.star) return '* (every binding)';
  let text = nameAddrText(c, ['tag', 'expires', 'q']);
  if (c.expires !== undefined) text += `, expires ${c.expires} s`;
  if (c.q !== undefined) text += `, q ${c.q}`;
  return text;
}

function digestText(d: DigestChallenge | DigestCredentials): string {
  const params = Object.entries(d.params).map(([k, v]) => `${k} "${v}"`);
  return `${d.scheme}: ${params.join(', ')}`;
}
