// Header names: canonical spellings, compact forms (RFC 3261 §7.3.3 and later RFCs), which
// headers are comma-separated lists (§7.3.1), and a byte-level recogniser for the parser.

import { isToken } from './grammar.ts';

/** Canonical spelling of the headers this layer knows. The index + 1 is the header's kind. */
export const KNOWN_HEADERS = [
  'Via',
  'From',
  'To',
  'Call-ID',
  'CSeq',
  'Max-Forwards',
  'Contact',
  'Content-Length',
  'Content-Type',
  'Route',
  'Record-Route',
  'Expires',
  'Min-Expires',
  'Authorization',
  'Proxy-Authorization',
  'WWW-Authenticate',
  'Proxy-Authenticate',
  'Allow',
  'Supported',
  'Require',
  'Proxy-Require',
  'Accept',
  'User-Agent',
  'Server',
  'Date',
  'Subject',
  'Content-Encoding',
  'Event',
  'Refer-To',
  'Allow-Events',
  'Referred-By',
  'Session-Expires',
  'Accept-Contact',
  'Reject-Contact',
  'Request-Disposition',
  'Identity',
  'Identity-Info',
  'Unsupported',
  'Accept-Encoding',
  'Accept-Language',
  'Content-Language',
  'Content-Disposition',
  'MIME-Version',
  'Warning',
  'Path',
  'Service-Route',
  'In-Reply-To',
  'Alert-Info',
  'Call-Info',
  'Error-Info',
  'Organization',
  'Priority',
  'Reply-To',
  'Retry-After',
  'Timestamp',
  'Authentication-Info',
  'Subscription-State',
  'RSeq',
  'RAck',
  'P-Asserted-Identity',
  'Privacy',
  'Min-SE',
] as const;

export type KnownHeader = (typeof KNOWN_HEADERS)[number];

/** Header kinds used on the hot path (index into KNOWN_HEADERS + 1). 0 = unknown. */
export const H = {
  via: 1,
  from: 2,
  to: 3,
  callId: 4,
  cseq: 5,
  maxForwards: 6,
  contact: 7,
  contentLength: 8,
  contentType: 9,
  route: 10,
  recordRoute: 11,
  expires: 12,
  minExpires: 13,
  authorization: 14,
  proxyAuthorization: 15,
  wwwAuthenticate: 16,
  proxyAuthenticate: 17,
  allow: 18,
  supported: 19,
  require: 20,
  proxyRequire: 21,
  accept: 22,
  userAgent: 23,
  server: 24,
  date: 25,
} as const;

const COMPACT: Record<string, string> = {
  i: 'Call-ID',
  m: 'Contact',
  f: 'From',
  t: 'To',
  v: 'Via',
  l: 'Content-Length',
  c: 'Content-Type',
  k: 'Supported',
  s: 'Subject',
  e: 'Content-Encoding',
  o: 'Event',
  r: 'Refer-To',
  u: 'Allow-Events',
  b: 'Referred-By',
  x: 'Session-Expires',
  a: 'Accept-Contact',
  j: 'Reject-Contact',
  d: 'Request-Disposition',
  y: 'Identity',
  n: 'Identity-Info',
};

const KIND_BY_LOWER = new Map<string, number>();
KNOWN_HEADERS.forEach((name, i) => KIND_BY_LOWER.set(name.toLowerCase(), i + 1));
for (const [letter, name] of Object.entries(COMPACT)) {
  KIND_BY_LOWER.set(letter, KIND_BY_LOWER.get(name.toLowerCase()) as number);
}

/** Comma-separated list headers (RFC 3261 §7.3.1): getAll() splits their values. */
const LIST_HEADERS = new Set<number>(
  [
    'Via',
    'Contact',
    'Route',
    'Record-Route',
    'Allow',
    'Supported',
    'Require',
    'Proxy-Require',
    'Accept',
    'Allow-Events',
    'Content-Encoding',
    'Accept-Contact',
    'Reject-Contact',
    'Request-Disposition',
    'Unsupported',
    'Accept-Encoding',
    'Accept-Language',
    'Content-Language',
    'Warning',
    'Path',
    'Service-Route',
    'In-Reply-To',
    'Alert-Info',
    'Call-Info',
    'Error-Info',
    'P-Asserted-Identity',
    'Privacy',
  ].map((n) => (KIND_BY_LOWER.get(n.toLowerCase()) as number) || 0),
);

export function isListKind(kind: number): boolean {
  return LIST_HEADERS.has(kind);
}

/** Kind of a header name (any case, compact forms accepted), 0 when unknown. */
export function kindOfName(name: string): number {
  return KIND_BY_LOWER.get(name.toLowerCase()) ?? 0;
}

/** Canonical spelling of a known kind. */
export function canonicalName(kind: number): string {
  return KNOWN_HEADERS[kind - 1] as string;
}

export interface HeaderKey {
  readonly kind: number;
  readonly key: string;
  /** The name as given is a token (RFC 3261 §25.1), so it may be written as a header name. */
  readonly token: boolean;
}

/**
 * Keys already made, by the name as given: get/has/set are called with a few literal names for
 * every message, and each call would otherwise make two lowercased strings and an object. Only
 * so many are kept (names from elsewhere, a config's say, are made each time past that).
 */
const KEYS = new Map<string, HeaderKey>();
const MAX_KEYS = 512;

/** Lookup key of a header name: the canonical name lowercased, or the name lowercased. */
export function headerKey(name: string): HeaderKey {
  const known = KEYS.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  const kind = KIND_BY_LOWER.get(lower) ?? 0;
  const made: HeaderKey = Object.freeze({
    kind,
    key: kind ? (KNOWN_HEADERS[kind - 1] as string).toLowerCase() : lower,
    token: isToken(name),
  });
  if (KEYS.size < MAX_KEYS) KEYS.set(name, made);
  return made;
}

/** Canonical spelling for display of any name: known ones canonical, others as given. */
export function displayName(name: string): string {
  const kind = kindOfName(name);
  return kind ? canonicalName(kind) : name;
}

// Recogniser: candidates bucketed by name length; compared byte by byte with ASCII case folding
// (b | 0x20), which is exact here because header names are tokens (validated by the parser).
const BY_LENGTH: { bytes: Uint8Array; kind: number }[][] = [];
for (const [lower, kind] of KIND_BY_LOWER) {
  const bucket = (BY_LENGTH[lower.length] ??= []);
  bucket.push({ bytes: Buffer.from(lower, 'latin1'), kind });
}
// Most frequent headers first within each bucket.
for (const bucket of BY_LENGTH) bucket?.sort((a, b) => a.kind - b.kind);

/** Kind of the header name in buf[start, end), 0 when unknown. */
export function kindOfBytes(buf: Uint8Array, start: number, end: number): number {
  const bucket = BY_LENGTH[end - start];
  if (bucket === undefined) return 0;
  const first = buf[start]! | 0x20;
  for (let c = 0; c < bucket.length; c++) {
    const cand = bucket[c]!;
    const b = cand.bytes;
    if (b[0] !== first) continue;
    let i = 1;
    const n = b.length;
    while (i < n && (buf[start + i]! | 0x20) === b[i]) i++;
    if (i === n) return cand.kind;
  }
  return 0;
}
