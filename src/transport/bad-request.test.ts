import { test } from 'node:test';
import assert from 'node:assert/strict';
import { badRequestFor, safeReason } from './bad-request.ts';

const BROKEN = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc',
  'v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKdef',
  'f: <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>',
  'Call-ID: x@y',
  'CSeq: nonsense',
  'Max-Forwards: not-a-number',
  'Subject: kept out',
  '',
  '',
].join('\r\n');

test('a broken request gets a 400 that echoes Via, From, To, Call-ID, CSeq and names the problem', () => {
  const answer = badRequestFor(Buffer.from(BROKEN), 'Invalid Max-Forwards: not a number');
  assert.ok(answer);
  const text = answer.toString('latin1');
  const lines = text.split('\r\n');
  assert.equal(lines[0], 'SIP/2.0 400 Invalid Max-Forwards: not a number');
  assert.deepEqual(lines.slice(1, 7), [
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc',
    'Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKdef',
    'From: <sip:alice@example.com>;tag=1',
    'To: <sip:bob@example.com>',
    'Call-ID: x@y',
    'CSeq: nonsense',
  ]);
  assert.ok(!text.includes('Subject'));
  assert.ok(text.endsWith('Content-Length: 0\r\n\r\n'));
});

test('no 400 without a Via to send it along, and none for a broken response', () => {
  assert.equal(
    badRequestFor(Buffer.from('OPTIONS sip:a SIP/2.0\r\nTo: <sip:a>\r\n\r\n'), 'x'),
    undefined,
  );
  assert.equal(
    badRequestFor(Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n'), 'x'),
    undefined,
  );
});

test('reason phrases are made safe for a status line', () => {
  assert.equal(safeReason('bad\r\nInjected: header'), 'bad Injected: header');
  assert.equal(safeReason(''), 'Bad Request');
  assert.ok(safeReason('x'.repeat(500)).length <= 120);
});

test('a 513 for a message too large; on a stream, an answer even without a Via', () => {
  const tooBig = badRequestFor(Buffer.from(BROKEN), 'Message too large', { status: 513 });
  assert.match(tooBig!.toString('latin1'), /^SIP\/2\.0 513 Message too large\r\nVia: /);
  const garbage = Buffer.from('\x00\x01garbage\r\n\r\n', 'latin1');
  assert.equal(badRequestFor(garbage, 'Missing Content-Length'), undefined);
  assert.equal(
    badRequestFor(garbage, 'Missing Content-Length', { requireVia: false })?.toString('latin1'),
    'SIP/2.0 400 Missing Content-Length\r\nContent-Length: 0\r\n\r\n',
  );
});
