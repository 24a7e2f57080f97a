import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactCredentials, redactCredentialValue } from './redact.ts';
import { parseMessage } from './parser.ts';

const invite = [
  'INVITE sip:1001@demo.trapezoid SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1',
  'From: <sip:1000@demo.trapezoid>;tag=a',
  'To: <sip:1001@demo.trapezoid>',
  'Call-ID: c1',
  'CSeq: 2 INVITE',
  'Max-Forwards: 70',
  'Proxy-Authorization: Digest username="1000", realm="demo.trapezoid", nonce="n1",',
  ' uri="sip:1001@demo.trapezoid", response="0123456789abcdef0123456789abcdef",',
  ' algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001',
  'authorization: Basic dXNlcjpwYXNz',
  'Content-Length: 4',
  '',
  'body',
].join('\r\n');

test('redaction: digest response and cnonce go (folded lines too), user and realm stay', () => {
  const out = redactCredentials(invite);
  assert.ok(!out.includes('0123456789abcdef0123456789abcdef'));
  assert.ok(!out.includes('c0ffee'));
  assert.ok(!out.includes('dXNlcjpwYXNz'));
  assert.match(out, /username="1000"/);
  assert.match(out, /realm="demo.trapezoid"/);
  assert.match(out, /response="<redacted>"/);
  assert.match(out, /authorization: Basic <redacted>/);
  // Still a message that parses, with its body untouched.
  const msg = parseMessage(Buffer.from(out.replace('Content-Length: 4', 'Content-Length: 4')));
  assert.equal(msg.body.toString(), 'body');
});

test('redaction: a message without credentials is returned as it was', () => {
  const plain = invite
    .replace(/\r\nProxy-Authorization:[^]*?nc=00000001/, '')
    .replace(/\r\nauthorization:[^\r]*/, '');
  assert.equal(redactCredentials(plain), plain);
  assert.equal(redactCredentialValue('Digest response=abc'), 'Digest response="<redacted>"');
});
