// Via (RFC 3261 §20.42, §25.1; rport: RFC 3581).
//
//   via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
//   sent-protocol = protocol-name SLASH protocol-version SLASH transport
//   sent-by       = host [ COLON port ]
//   via-params    = via-ttl / via-maddr / via-received / via-branch / response-port / via-extension
//
// SLASH, SEMI, COLON and EQUAL may have whitespace on either side.

import { TOKEN, isHost, isIPv4, isIPv6, quotedEnd, sameAt, skipWs } from './grammar.ts';
import { valueError } from './parse-error.ts';

export interface Via {
  /** 'SIP/2.0' (protocol name and version, upper case name). */
  protocol: string;
  /** Upper case: 'UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS', or an extension token. */
  transport: string;
  host: string;
  port?: number;
  /** Every parameter; keys lower case, a flag is null. */
  params: Record<string, string | null>;
  branch?: string;
  received?: string;
  /** undefined = absent, null = present without value, number = filled in. */
  rport?: number | null;
}

/** text[i, j) lower-cased, without a new string for the usual parameter names. */
function lowerToken(text: string, i: number, j: number): string {
  switch (j - i) {
    case 6:
      if (sameAt(text, i, 'branch')) return 'branch';
      break;
    case 8:
      if (sameAt(text, i, 'received')) return 'received';
      break;
    case 5:
      if (sameAt(text, i, 'rport')) return 'rport';
      if (sameAt(text, i, 'maddr')) return 'maddr';
      break;
    case 3:
      if (sameAt(text, i, 'ttl')) return 'ttl';
      break;
  }
  return text.slice(i, j).toLowerCase();
}

function token(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) break;
    i++;
  }
  return i;
}

function expect(text: string, i: number, ch: number, what: string): number {
  i = skipWs(text, i);
  if (text.charCodeAt(i) !== ch) throw valueError(`Invalid Via: ${what} expected`, i, 'Via');
  return skipWs(text, i + 1);
}

const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP'];

/** text[i, j) as a transport name, upper case; the known ones without a new string. */
function transportName(text: string, i: number, j: number): string {
  for (let k = 0; k < TRANSPORTS.length; k++) {
    const t = TRANSPORTS[k]!;
    if (t.length === j - i && sameAt(text, i, t)) return t;
  }
  return text.slice(i, j).toUpperCase();
}

/** Parses one via-parm (one element of a Via list). */
export function parseVia(text: string): Via {
  return parseViaParm(text, false);
}

/** parseVia for text the message parser already checked (syntax-check.ts): no re-validation. */
export function parseCheckedVia(text: string): Via {
  return parseViaParm(text, true);
}

function parseViaParm(text: string, checked: boolean): Via {
  let i = skipWs(text, 0);
  let j: number;
  let protocol: string;
  if (sameAt(text, i, 'SIP/2.0/')) {
    // the usual sent-protocol, without a string per part
    protocol = 'SIP/2.0';
    i += 8;
  } else {
    j = token(text, i);
    if (j === i) throw valueError('Invalid Via: protocol name expected', i, 'Via');
    const rawName = text.slice(i, j);
    const name = rawName === 'SIP' ? rawName : rawName.toUpperCase();
    i = expect(text, j, 0x2f, "'/'");
    j = token(text, i);
    if (j === i) throw valueError('Invalid Via: protocol version expected', i, 'Via');
    const version = text.slice(i, j);
    i = expect(text, j, 0x2f, "'/'");
    protocol = name === 'SIP' && version === '2.0' ? 'SIP/2.0' : `${name}/${version}`;
  }
  j = token(text, i);
  if (j === i) throw valueError('Invalid Via: transport expected', i, 'Via');
  const transport = transportName(text, i, j);
  i = j;
  const k = skipWs(text, i);
  if (k === i) throw valueError('Invalid Via: whitespace expected before sent-by', i, 'Via');
  i = k;
  // sent-by
  let hostEnd: number;
  if (text.charCodeAt(i) === 0x5b) {
    hostEnd = text.indexOf(']', i);
    if (hostEnd < 0) throw valueError('Invalid Via: unterminated IPv6 reference', i, 'Via');
    hostEnd++;
  } else {
    hostEnd = i;
    while (hostEnd < text.length) {
      const c = text.charCodeAt(hostEnd);
      if (c === 0x3a || c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) break;
      hostEnd++;
    }
  }
  const host = text.slice(i, hostEnd);
  if (!checked && !isHost(host))
    throw valueError(
      host ? `Invalid Via: bad host '${host}'` : 'Invalid Via: host expected',
      i,
      'Via',
    );
  const via: Via = { protocol, transport, host, params: {} };
  i = skipWs(text, hostEnd);
  if (text.charCodeAt(i) === 0x3a) {
    i = skipWs(text, i + 1);
    let pe = i;
    while (pe < text.length && text.charCodeAt(pe) >= 0x30 && text.charCodeAt(pe) <= 0x39) pe++;
    let port = 0;
    for (let k = i; k < pe && k - i < 6; k++) port = port * 10 + (text.charCodeAt(k) - 0x30);
    if (pe === i || pe - i > 5 || port > 65535) throw valueError('Invalid Via: bad port', i, 'Via');
    via.port = port;
    i = skipWs(text, pe);
  }
  // parameters
  while (i < text.length) {
    if (text.charCodeAt(i) === 0x28) {
      // a trailing comment (RFC 2543 allowed one): skip it
      const close = text.indexOf(')', i);
      if (close < 0) throw valueError('Invalid Via: unterminated comment', i, 'Via');
      i = skipWs(text, close + 1);
      continue;
    }
    if (text.charCodeAt(i) !== 0x3b)
      throw valueError(`Invalid Via: ';' expected, found '${text[i]}'`, i, 'Via');
    i = skipWs(text, i + 1);
    j = token(text, i);
    if (j === i) throw valueError('Invalid Via: parameter name expected', i, 'Via');
    const pname = lowerToken(text, i, j);
    i = skipWs(text, j);
    let value: string | null = null;
    if (text.charCodeAt(i) === 0x3d) {
      i = skipWs(text, i + 1);
      const vs = i;
      if (text.charCodeAt(i) === 0x22) {
        const qe = quotedEnd(text, i);
        if (qe < 0) throw valueError('Invalid Via: unterminated quoted string', i, 'Via');
        i = qe;
      } else if (text.charCodeAt(i) === 0x5b) {
        const rb = text.indexOf(']', i);
        if (rb < 0) throw valueError('Invalid Via: unterminated IPv6 reference', i, 'Via');
        i = rb + 1;
      } else {
        // token, or an IPv6 address written without brackets (received=2001:db8::1)
        while (i < text.length) {
          const c = text.charCodeAt(i);
          if ((c > 127 || TOKEN[c] === 0) && c !== 0x3a) break;
          i++;
        }
      }
      if (i === vs) throw valueError(`Invalid Via: value of '${pname}' expected`, vs, 'Via');
      value = text.slice(vs, i);
      if (!checked) checkParam(pname, value, vs);
      i = skipWs(text, i);
    } else if (pname === 'branch' || pname === 'received' || pname === 'ttl' || pname === 'maddr') {
      throw valueError(`Invalid Via: '${pname}' needs a value`, i, 'Via');
    }
    via.params[pname] = value;
  }
  const p = via.params;
  if (p.branch !== undefined && p.branch !== null) via.branch = p.branch;
  if (p.received !== undefined && p.received !== null) via.received = p.received;
  if (p.rport !== undefined) via.rport = p.rport === null ? null : Number(p.rport);
  return via;
}

function checkParam(name: string, value: string, at: number): void {
  switch (name) {
    case 'received': {
      const v = value.charCodeAt(0) === 0x5b ? value.slice(1, -1) : value;
      if (!isIPv4(v) && !isIPv6(v))
        throw valueError(`Invalid Via: received '${value}' is not an IP address`, at, 'Via');
      break;
    }
    case 'rport':
    case 'ttl': {
      const n = Number(value);
      const max = name === 'ttl' ? 255 : 65535;
      if (!/^[0-9]{1,5}$/.test(value) || n > max)
        throw valueError(`Invalid Via: bad ${name} '${value}'`, at, 'Via');
      break;
    }
    case 'maddr':
      if (!isHost(value)) throw valueError(`Invalid Via: bad maddr '${value}'`, at, 'Via');
      break;
    case 'branch':
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c > 127 || TOKEN[c] === 0)
          throw valueError('Invalid Via: branch is not a token', at + i, 'Via');
      }
      break;
  }
}

/** Serializes one via-parm. Parameters come from `params`, with branch/received/rport applied. */
export function formatVia(via: Via): string {
  let s = `${via.protocol}/${via.transport} ${via.host}`;
  if (via.port !== undefined) s += ':' + via.port;
  const params: Record<string, string | null> = { ...via.params };
  if (via.branch !== undefined) params.branch = via.branch;
  if (via.received !== undefined) params.received = via.received;
  if (via.rport !== undefined) params.rport = via.rport === null ? null : String(via.rport);
  for (const k in params) {
    const v = params[k];
    s += ';' + k;
    if (v !== null && v !== undefined) s += '=' + v;
  }
  return s;
}
