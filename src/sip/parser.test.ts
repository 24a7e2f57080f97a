import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SipParseError, SipRequest, SipResponse, parseMessage } from './index.ts';

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>;expires=60;q=0.5',
  'Content-Type: application/sdp; charset=utf-8',
  'Content-Length: 5',
  '',
  'v=0\r\n',
].join('\r\n');

test('parses a request: start line and core headers', () => {
  const m = parseMessage(Buffer.from(INVITE));
  assert.ok(m instanceof SipRequest);
  assert.equal(m.method, 'INVITE');
  assert.equal(m.uri, 'sip:bob@biloxi.example.com');
  assert.equal(m.requestUri.user, 'bob');
  assert.equal(m.requestUri.host, 'biloxi.example.com');
  assert.equal(m.topVia.transport, 'UDP');
  assert.equal(m.topVia.host, 'pc33.atlanta.example.com');
  assert.equal(m.topVia.branch, 'z9hG4bK776asdhds');
  assert.equal(m.topVia.rport, null);
  assert.equal(m.maxForwards, 70);
  assert.equal(m.to.displayName, 'Bob');
  assert.equal(m.to.tag, undefined);
  assert.equal(m.from.displayName, 'Alice A.');
  assert.equal(m.from.tag, '1928301774');
  assert.equal(m.callId, 'a84b4c76e66710@pc33.atlanta.example.com');
  assert.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
  assert.equal(m.contact[0]!.expires, 60);
  assert.equal(m.contact[0]!.q, 0.5);
  assert.equal(m.contentType, 'application/sdp');
  assert.equal(m.contentLength, 5);
  assert.equal(m.body.toString(), 'v=0\r\n');
});

test('parses a response with a string input and bare LF line ends', () => {
  const m = parseMessage('SIP/2.0 180 Ringing\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\nl: 0\n\n');
  assert.ok(m instanceof SipResponse);
  assert.equal(m.status, 180);
  assert.equal(m.reason, 'Ringing');
  assert.equal(m.contentLength, 0);
  assert.equal(m.get('Content-Length'), '0');
  assert.equal(
    m.toString(),
    'SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nl: 0\r\n\r\n',
  );
});

test('an unchanged message serializes to its own bytes', () => {
  const m = parseMessage(Buffer.from(INVITE));
  assert.equal(m.toString(), INVITE);
});

test('errors carry reason, line, column and header', () => {
  const bad = INVITE.replace('CSeq: 314159 INVITE', 'CSeq: 99999999999 INVITE');
  assert.throws(
    () => parseMessage(bad),
    (e: unknown) => {
      assert.ok(e instanceof SipParseError);
      assert.equal(e.reason, 'Invalid CSeq: sequence number is not a 32-bit integer');
      assert.equal(e.line, 7);
      assert.equal(e.column, 7);
      assert.equal(e.header, 'CSeq');
      return true;
    },
  );
});

test('a body shorter than Content-Length is an error naming both sizes', () => {
  const bad = INVITE.replace('Content-Length: 5', 'Content-Length: 150');
  assert.throws(() => parseMessage(bad), /Content-Length 150 exceeds body of 5 bytes/);
});

test('a datagram without Content-Length takes the rest as body', () => {
  const m = parseMessage('MESSAGE sip:a@b SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\r\nhello');
  assert.equal(m.body.toString(), 'hello');
  assert.equal(m.contentLength, 5);
});

test('maxSize rejects a large input', () => {
  assert.throws(() => parseMessage(INVITE, { maxSize: 100 }), SipParseError);
});

test('a raw control byte in a header value is refused, naming line and column', () => {
  const bad = INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 70').replace(
    'Content-Type: application/sdp; charset=utf-8',
    'Subject: hello\x01world\r\nContent-Type: application/sdp; charset=utf-8',
  );
  assert.throws(
    () => parseMessage(Buffer.from(bad)),
    (e: unknown) => {
      assert.ok(e instanceof SipParseError);
      assert.equal(e.reason, "Invalid header 'Subject': control character 0x01 in the value");
      assert.equal(e.line, 9);
      assert.equal(e.column, 15);
      assert.equal(e.header, 'Subject');
      return true;
    },
  );
  // the same for DEL, for a CR that ends no line, in a header the parser validates, and in a reason phrase
  for (const [text, reason] of [
    ['User-Agent: a\x7fb', "Invalid header 'User-Agent': control character 0x7f in the value"],
    ['X-Thing: a\rb', "Invalid header 'X-Thing': a CR not followed by LF in the value"],
    ['Call-ID: ab\x00c', "Invalid header 'Call-ID': control character 0x00 in the value"],
  ] as const) {
    const msg = INVITE.replace('Max-Forwards: 70', text);
    assert.throws(
      () => parseMessage(msg),
      (e: unknown) => e instanceof SipParseError && e.reason === reason && e.line === 3,
      text,
    );
  }
  assert.throws(
    () => parseMessage('SIP/2.0 200 O\x02K\r\nCSeq: 1 BYE\r\n\r\n'),
    (e: unknown) =>
      e instanceof SipParseError &&
      e.reason === 'Invalid status line: control character 0x02 in the reason phrase' &&
      e.column === 14,
  );
});

test('HTAB, folded lines and quoted-pair escapes of control bytes stay allowed', () => {
  const ok = INVITE.replace(
    'Max-Forwards: 70',
    'Subject:\tone\r\n\ttwo\r\nMax-Forwards: 70',
  ).replace('From: "Alice A."', 'From: "Alice \\\x07A."');
  const m = parseMessage(ok);
  assert.equal(m.get('Subject'), 'one two');
  assert.equal(m.from.displayName, 'Alice \x07A.');
  // the same byte unescaped, or escaped outside quotes, is refused
  assert.throws(() => parseMessage(INVITE.replace('"Alice A."', '"Alice \x07A."')), SipParseError);
  assert.throws(
    () => parseMessage(INVITE.replace('Max-Forwards: 70', 'Subject: a\\\x07')),
    SipParseError,
  );
});

test('messages inside a big buffer, at any offset, parse the same as on their own', () => {
  // a message cut out of a large ArrayBuffer (as from a capture file) at odd offsets
  const msg = Buffer.from(INVITE);
  const big = Buffer.alloc(300 * 1024);
  for (const at of [0, 1, 3, 4097, big.length - msg.length]) {
    msg.copy(big, at);
    const m = parseMessage(big.subarray(at, at + msg.length));
    assert.equal(m.toString(), INVITE);
    assert.equal(m.topVia.branch, 'z9hG4bK776asdhds');
    assert.equal(m.from.tag, '1928301774');
    big.fill(0x01, at, at + msg.length); // a control byte now: the next copy must stand alone
  }
  // a control byte found at the very end of an unaligned slice
  const tail = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nX: abc\x01');
  const holder = Buffer.alloc(tail.length + 3);
  tail.copy(holder, 3);
  assert.throws(() => parseMessage(holder.subarray(3)), /control character 0x01/);
});
