import { test } from 'node:test';
import assert from 'node:assert/strict';
import { looksLikeSip } from './sip-sniff.ts';

test('looksLikeSip: requests and responses', () => {
  for (const text of [
    'INVITE sip:bob@example.com SIP/2.0\r\n',
    'ACK sip:b@h SIP/2.0\r\n',
    'SIP/2.0 180 Ringing\r\n',
    'X-CUSTOM sip:a@b SIP/2.0\r\n',
    // odd or lower-case versions: malformed SIP, read tolerantly rather than lost
    'SIP/2.1 200 OK\r\n',
    'sip/2.0 200 OK\r\n',
    'SIP/2 180 Ringing\r\n',
    'INVITE sip:bob@example.com sip/2.0\r\n',
  ]) {
    assert.equal(looksLikeSip(Buffer.from(text)), true, text);
  }
});

test('looksLikeSip: HTTP, RTP, lower case and short payloads are not SIP', () => {
  for (const bytes of [
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from('HTTP/1.1 101 Switching Protocols\r\n'),
    Buffer.from('invite sip:bob@example.com SIP/2.0\r\n'),
    Buffer.from('SIP/ 200 OK\r\n'),
    Buffer.from('SIP/2.0 OK\r\n'),
    Buffer.from('\r\n\r\n'),
    Buffer.from([0x80, 0x00, 0x12, 0x34, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
    Buffer.from('INVITE sip:bob@example.com\r\nSIP/2.0'),
  ]) {
    assert.equal(looksLikeSip(bytes), false, JSON.stringify(bytes.toString('latin1')));
  }
});
