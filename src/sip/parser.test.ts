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
