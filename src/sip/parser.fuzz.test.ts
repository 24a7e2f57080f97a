// Property-based tests (fast-check): whatever the input, parseMessage returns or throws a
// SipParseError, promptly; what it accepts, the typed getters can read (the byte-level checks and
// the string parsers agree); generated valid messages round-trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { SipParseError, SipRequest, parseMessage, type SipMessage } from './index.ts';
import { sharedDir } from '../../test/support/peers.ts';

const SEED_MESSAGES: Buffer[] = (() => {
  const dir = join(sharedDir, 'sip-torture');
  const out: Buffer[] = [];
  try {
    for (const f of readdirSync(dir)) if (f.endsWith('.dat')) out.push(readFileSync(join(dir, f)));
  } catch {
    /* the shared folder is optional here: the built-in seed below is enough */
  }
  out.push(
    Buffer.from(
      'INVITE sip:bob@example.com;transport=tcp SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=192.0.2.1;rport=5060, SIP/2.0/TCP b.example.com\r\n' +
        'From: "A \\"q\\"" <sip:alice@example.com>;tag=1\r\n' +
        'To: sip:bob@example.com\r\n' +
        'Call-ID: x@y\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n' +
        'Contact: <sip:a@[::1]:5070>;expires=60;q=0.5, *\r\n' +
        'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n' +
        'Expires: 30\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n' +
        'Content-Type: application/sdp;charset="utf-8"\r\nContent-Length: 4\r\n\r\nv=0\n',
    ),
  );
  return out;
})();

/** Reads every typed getter of a header the message has; they must not throw after a parse. */
function readAll(m: SipMessage): void {
  void m.via;
  void m.contact;
  void m.route;
  void m.recordRoute;
  void m.contentLength;
  void m.contentType;
  void m.expires;
  void m.minExpires;
  void m.maxForwards;
  void m.date;
  if (m.has('From')) void m.from;
  if (m.has('To')) void m.to;
  if (m.has('Call-ID')) void m.callId;
  if (m.has('CSeq')) void m.cseq;
  if (m instanceof SipRequest) void m.requestUri;
}

/** parse must return or throw SipParseError; a parsed message must be readable and re-serializable. */
function check(input: Buffer): void {
  let m: SipMessage;
  try {
    m = parseMessage(input);
  } catch (e) {
    if (e instanceof SipParseError) {
      assert.ok(e.line >= 1 && e.column >= 1 && e.reason.length > 0);
      return;
    }
    throw e;
  }
  readAll(m);
  // serialization: the same headers (Content-Length set to the body's size) and the same body
  const again = parseMessage(m.toBuffer());
  const notLength = (h: { name: string }): boolean => !/^(content-length|l)$/i.test(h.name);
  assert.deepEqual(again.headerLines().filter(notLength), m.headerLines().filter(notLength));
  assert.deepEqual(again.body, m.body);
  assert.equal(again.contentLength, m.body.length);
}

const SIGNIFICANT = [...':;,<>"@ \r\n\t%=/[]?&\\*.0-9az'].map((c) => c.charCodeAt(0));

const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.array(fc.oneof(fc.constantFrom(...SIGNIFICANT), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 6,
    }),
  }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 40 }),
  }),
);

type Mutation =
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'duplicate'; at: number; len: number };

function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = buf;
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.kind === 'insert')
      b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
  }
  return b;
}

test('random bytes: only SipParseError', { timeout: 60000 }, () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => check(Buffer.from(bytes))),
    { numRuns: 2000 },
  );
});

test('random text built from SIP-looking lines: only SipParseError', { timeout: 60000 }, () => {
  const line = fc.oneof(
    fc.constantFrom(
      'Via',
      'v',
      'From',
      'To',
      't',
      'Contact',
      'm',
      'CSeq',
      'Call-ID',
      'Route',
      'Content-Length',
      'Expires',
      'Date',
      'Max-Forwards',
      'X',
    ),
  );
  const value = fc.stringMatching(/^[ -~\t]{0,40}$/);
  fc.assert(
    fc.property(
      fc.constantFrom('INVITE sip:a@b SIP/2.0', 'SIP/2.0 200 OK'),
      fc.array(fc.tuple(line, value), { maxLength: 8 }),
      fc.string({ maxLength: 20 }),
      (start, headers, body) => {
        check(
          Buffer.from(
            `${start}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\n\r\n${body}`,
          ),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

test(
  'mutated real messages: only SipParseError, and what parses is readable',
  { timeout: 60000 },
  () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SEED_MESSAGES),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (seed, ms) => {
          check(mutate(seed, ms));
        },
      ),
      { numRuns: 3000 },
    );
  },
);

// ---- generated valid messages round-trip with their values ----

const token = fc.stringMatching(/^[A-Za-z0-9\-.!%*_+`'~]{1,12}$/);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const hostname = fc
  .array(label, { minLength: 1, maxLength: 3 })
  .map((ls) => ls.join('.') + '.example');
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const host = fc.oneof(hostname, ipv4, fc.constantFrom('[2001:db8::1]', '[::1]', '[fe80::1:2:3]'));
const user = fc.stringMatching(/^[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,12}$/);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const quotedText = fc.stringMatching(/^[ -~]{0,16}$/);

const generated = fc.record({
  method: fc.oneof(fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'BYE'), token),
  scheme: fc.constantFrom('sip', 'sips'),
  ruser: fc.option(user, { nil: undefined }),
  rhost: host,
  rport: port,
  vias: fc.array(
    fc.record({ transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS'), host, port, branch: token }),
    { minLength: 1, maxLength: 3 },
  ),
  display: fc.option(quotedText, { nil: undefined }),
  fromUser: user,
  fromHost: host,
  fromTag: token,
  toTag: fc.option(token, { nil: undefined }),
  callId: fc
    .tuple(token, fc.option(token, { nil: undefined }))
    .map(([a, b]) => (b ? `${a}@${b}` : a)),
  seq: fc.integer({ min: 0, max: 2147483647 }),
  maxForwards: fc.integer({ min: 0, max: 255 }),
  expires: fc.option(fc.integer({ min: 0, max: 4294967295 }), { nil: undefined }),
  body: fc.uint8Array({ maxLength: 64 }),
  compact: fc.boolean(),
});

test('generated valid messages parse to their values and round-trip', { timeout: 60000 }, () => {
  fc.assert(
    fc.property(generated, (g) => {
      const esc = (s: string): string => s.replace(/(["\\])/g, '\\$1');
      const ruri = `${g.scheme}:${g.ruser !== undefined ? g.ruser + '@' : ''}${g.rhost}${g.rport !== undefined ? ':' + g.rport : ''}`;
      const lines = [`${g.method} ${ruri} SIP/2.0`];
      for (const v of g.vias)
        lines.push(
          `${g.compact ? 'v' : 'Via'}: SIP/2.0/${v.transport} ${v.host}${v.port !== undefined ? ':' + v.port : ''};branch=${v.branch}`,
        );
      lines.push(
        `${g.compact ? 'f' : 'From'}: ${g.display !== undefined ? `"${esc(g.display)}" ` : ''}<sip:${g.fromUser}@${g.fromHost}>;tag=${g.fromTag}`,
      );
      lines.push(`To: <sip:x@${g.rhost}>${g.toTag !== undefined ? ';tag=' + g.toTag : ''}`);
      lines.push(
        `${g.compact ? 'i' : 'Call-ID'}: ${g.callId}`,
        `CSeq: ${g.seq} ${g.method}`,
        `Max-Forwards: ${g.maxForwards}`,
      );
      if (g.expires !== undefined) lines.push(`Expires: ${g.expires}`);
      lines.push(`${g.compact ? 'l' : 'Content-Length'}: ${g.body.length}`, '', '');
      const wire = Buffer.concat([Buffer.from(lines.join('\r\n')), g.body]);
      const m = parseMessage(wire) as SipRequest;
      assert.equal(m.method, g.method);
      assert.equal(m.requestUri.host, g.rhost);
      assert.equal(m.requestUri.user, g.ruser);
      assert.equal(m.requestUri.port, g.rport);
      assert.deepEqual(
        m.via.map((v) => [v.transport, v.host, v.port, v.branch]),
        g.vias.map((v) => [v.transport, v.host, v.port, v.branch]),
      );
      assert.equal(m.from.displayName, g.display);
      assert.equal(m.from.uri.user, g.fromUser);
      assert.equal(m.from.tag, g.fromTag);
      assert.equal(m.to.tag, g.toTag);
      assert.equal(m.callId, g.callId);
      assert.deepEqual(m.cseq, { seq: g.seq, method: g.method });
      assert.equal(m.maxForwards, g.maxForwards);
      assert.equal(m.expires, g.expires);
      assert.deepEqual(m.body, Buffer.from(g.body));
      assert.deepEqual(m.toBuffer(), wire);
      // a mutation re-renders only what changed
      m.set('Max-Forwards', String(Math.max(0, g.maxForwards - 1)));
      const again = parseMessage(m.toBuffer());
      assert.equal(again.maxForwards, Math.max(0, g.maxForwards - 1));
      assert.deepEqual(again.via, m.via);
      assert.deepEqual(again.from, m.from);
    }),
    { numRuns: 1500 },
  );
});
