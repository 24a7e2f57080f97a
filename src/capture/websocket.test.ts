import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { findHttpHeadEnd, isWebSocketUpgrade, WebSocketDeframer } from './websocket.ts';

/** One RFC 6455 frame, written by hand from §5.2. */
function wsFrame(
  opcode: number,
  payload: Buffer,
  o: { fin?: boolean; mask?: Buffer; rsv1?: boolean } = {},
): Buffer {
  const fin = o.fin ?? true;
  const head: number[] = [(fin ? 0x80 : 0) | (o.rsv1 ? 0x40 : 0) | opcode];
  const m = o.mask ? 0x80 : 0;
  if (payload.length < 126) head.push(m | payload.length);
  else if (payload.length < 65536) head.push(m | 126, payload.length >> 8, payload.length & 0xff);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push(
      (payload.length >>> 24) & 0xff,
      (payload.length >> 16) & 0xff,
      (payload.length >> 8) & 0xff,
      payload.length & 0xff,
    );
  }
  let body = payload;
  if (o.mask) {
    body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= o.mask[i & 3];
  }
  return Buffer.concat([Buffer.from(head), o.mask ?? Buffer.alloc(0), body]);
}

const REGISTER = Buffer.from(
  'REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid\r\nContent-Length: 0\r\n\r\n',
);
const KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

test('a masked text frame (browser to server) is unmasked', () => {
  const d = new WebSocketDeframer();
  assert.deepEqual(d.push(wsFrame(1, REGISTER, { mask: KEY })), [REGISTER]);
});

test('fragments are joined, control frames in between skipped, byte-by-byte arrival works', () => {
  const stream = Buffer.concat([
    wsFrame(9, Buffer.from('ping')),
    wsFrame(1, REGISTER.subarray(0, 10), { fin: false, mask: KEY }),
    wsFrame(10, Buffer.from('pong'), { mask: KEY }),
    wsFrame(0, REGISTER.subarray(10, 40), { fin: false, mask: KEY }),
    wsFrame(0, REGISTER.subarray(40), { mask: KEY }),
    wsFrame(2, Buffer.from('second')),
    wsFrame(8, Buffer.from([0x03, 0xe8])),
  ]);
  const whole = new WebSocketDeframer().push(stream);
  assert.deepEqual(whole, [REGISTER, Buffer.from('second')]);
  const d = new WebSocketDeframer();
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) out.push(...d.push(stream.subarray(i, i + 1)));
  assert.deepEqual(out, whole);
});

test('16-bit and 64-bit extended lengths', () => {
  const mid = Buffer.alloc(1000, 'a');
  const large = Buffer.alloc(70000, 'b');
  const d = new WebSocketDeframer();
  const out = d.push(Buffer.concat([wsFrame(1, mid), wsFrame(2, large, { mask: KEY })]));
  assert.deepEqual(out, [mid, large]);
});

test('permessage-deflate messages (RSV1) are inflated', () => {
  const compressed = deflateRawSync(REGISTER, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  // RFC 7692 §7.2.1: the sender removes the trailing 00 00 ff ff.
  const body = compressed.subarray(0, compressed.length - 4);
  const d = new WebSocketDeframer();
  assert.deepEqual(d.push(wsFrame(1, body, { rsv1: true, mask: KEY })), [REGISTER]);
});

test('an impossible frame length stops the deframer instead of buffering forever', () => {
  const d = new WebSocketDeframer();
  const bad = Buffer.from([0x81, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(d.push(bad), []);
  assert.equal(d.broken, true);
  assert.deepEqual(d.push(wsFrame(1, REGISTER)), []);
});

test('HTTP upgrade request and 101 response are recognised; the head end is found', () => {
  const req = Buffer.from(
    'GET / HTTP/1.1\r\nHost: sip-ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const res = Buffer.from(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n',
  );
  assert.equal(isWebSocketUpgrade(req), true);
  assert.equal(isWebSocketUpgrade(res), true);
  assert.equal(isWebSocketUpgrade(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), false);
  assert.equal(isWebSocketUpgrade(REGISTER), false);
  assert.equal(isWebSocketUpgrade(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), false);
  const both = Buffer.concat([req, wsFrame(1, REGISTER, { mask: KEY })]);
  const end = findHttpHeadEnd(both);
  assert.equal(end, req.length);
  assert.deepEqual(new WebSocketDeframer().push(both.subarray(end)), [REGISTER]);
  assert.equal(findHttpHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n')), -1);
});
