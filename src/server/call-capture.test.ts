import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureReader, PacketDecoder, type Packet, type TcpData } from '../capture/index.ts';
import { CallCapture, rtpHeaderLength } from './call-capture.ts';
import type { Endpoint } from '../transport/index.ts';

const phone: Endpoint = { protocol: 'udp', address: '127.0.0.2', port: 5062 };
const server: Endpoint = { protocol: 'udp', address: '127.0.0.1', port: 5060 };
const tcpPhone: Endpoint = { protocol: 'tcp', address: '::1', port: 40000 };
const tcpServer: Endpoint = { protocol: 'tcp', address: '::1', port: 5060 };

const sip = (method: string, callId: string) =>
  Buffer.from(`${method} sip:1001@test SIP/2.0\r\nCall-ID: ${callId}\r\nContent-Length: 0\r\n\r\n`);

/** The datagrams and TCP bytes of a pcapng file, read by the capture layer's own decoder. */
function read(file: Buffer): { udp: Packet[]; tcp: TcpData[]; frames: number[] } {
  const udp: Packet[] = [];
  const tcp: TcpData[] = [];
  const frames: number[] = [];
  const decoder = new PacketDecoder({
    onUdp: (p) => udp.push({ ...p, payload: Buffer.from(p.payload) }),
    onTcpData: (d) => tcp.push({ ...d, payload: Buffer.from(d.payload) }),
    onTcpEnd: () => {},
    onWarning: (w) => assert.fail(w),
  });
  const reader = new CaptureReader((f) => {
    frames.push(f.origLen ?? f.data.length);
    decoder.decode(f);
  });
  reader.push(file);
  const { error } = reader.end();
  assert.equal(error, undefined);
  decoder.finish();
  return { udp, tcp, frames };
}

test('a call capture is a pcapng of its SIP over UDP and TCP, with addresses, ports and times', () => {
  const cap = new CallCapture();
  const t0 = Date.now();
  cap.sip('call-1', t0, phone, server, sip('INVITE', 'call-1'));
  cap.sip('call-2', t0 + 1, phone, server, sip('INVITE', 'call-2'));
  cap.sip('call-1', t0 + 20, server, phone, sip('BYE', 'call-1'));
  cap.sip('call-1', t0 + 30, tcpPhone, tcpServer, sip('OPTIONS', 'call-1'));
  cap.sip('call-1', t0 + 40, tcpPhone, tcpServer, sip('INFO', 'call-1'));
  const file = cap.pcapng('call-1');
  assert.ok(file);
  const { udp, tcp } = read(file);
  assert.deepEqual(
    udp.map((p) => [p.src, p.srcPort, p.dst, p.dstPort, p.payload.toString().split(' ')[0]]),
    [
      ['127.0.0.2', 5062, '127.0.0.1', 5060, 'INVITE'],
      ['127.0.0.1', 5060, '127.0.0.2', 5062, 'BYE'],
    ],
  );
  assert.ok(Math.abs(udp[0]!.ts - t0 / 1000) < 1e-3);
  // The two TCP messages are one in-order byte stream of one direction.
  const bytes = Buffer.concat(tcp.map((d) => d.payload)).toString();
  assert.equal(bytes, `${sip('OPTIONS', 'call-1')}${sip('INFO', 'call-1')}`);
  assert.equal(tcp[0]!.src, '::1');
  assert.equal(cap.pcapng('no-such-call'), undefined);
});

test('the ring keeps at most maxCalls calls and maxBytes bytes, oldest dropped first', () => {
  const cap = new CallCapture({ maxCalls: 2, maxBytes: 1000, maxAgeSeconds: 3600, rtp: 'none' });
  const now = Date.now();
  cap.sip('a', now, phone, server, Buffer.alloc(100));
  cap.sip('b', now, phone, server, Buffer.alloc(100));
  cap.sip('c', now, phone, server, Buffer.alloc(100));
  assert.deepEqual([cap.has('a'), cap.has('b'), cap.has('c')], [false, true, true]);
  cap.sip('c', now, phone, server, Buffer.alloc(850));
  assert.equal(cap.has('b'), false, 'b made room for c');
  assert.equal(cap.bytes, 950);
  // One call alone beyond the bound keeps its first packets and counts the rest.
  cap.sip('c', now, phone, server, Buffer.alloc(100));
  assert.equal(cap.packets('c')!.length, 2);
  assert.equal(cap.dropped('c'), 1);
  assert.ok(cap.bytes <= 1000);
});

test('the call idle longest goes first: a packet a second or more later makes a call newest', () => {
  const cap = new CallCapture({ maxCalls: 2, maxBytes: 1e6, maxAgeSeconds: 3600, rtp: 'none' });
  const t0 = Date.now();
  cap.sip('a', t0, phone, server, Buffer.alloc(10));
  cap.sip('b', t0 + 10, phone, server, Buffer.alloc(10));
  cap.sip('a', t0 + 1500, phone, server, Buffer.alloc(10)); // a is active again
  cap.sip('c', t0 + 1600, phone, server, Buffer.alloc(10));
  assert.deepEqual([cap.has('a'), cap.has('b'), cap.has('c')], [true, false, true]);
  // Within a second the order stays that of the first packets (a call is not moved per packet).
  cap.sip('c', t0 + 1700, phone, server, Buffer.alloc(10));
  cap.sip('d', t0 + 1800, phone, server, Buffer.alloc(10));
  assert.deepEqual([cap.has('a'), cap.has('c'), cap.has('d')], [false, true, true]);
});

test('calls older than maxAgeSeconds are dropped', () => {
  const cap = new CallCapture({ maxCalls: 10, maxBytes: 1e6, maxAgeSeconds: 60, rtp: 'none' });
  const now = Date.now();
  cap.sip('old', now - 61_000, phone, server, Buffer.alloc(10));
  cap.sip('new', now, phone, server, Buffer.alloc(10));
  assert.equal(cap.has('old'), false);
  assert.equal(cap.bytes, 10);
});

test('relayed RTP: headers only are cut after the header, the wire length kept; off keeps none', () => {
  const rtp = Buffer.alloc(172);
  rtp[0] = 0x80;
  rtp[1] = 0;
  rtp.writeUInt16BE(7, 2);
  assert.equal(rtpHeaderLength(rtp), 12);
  const a: Endpoint = { protocol: 'udp', address: '127.0.0.2', port: 4000 };
  const b: Endpoint = { protocol: 'udp', address: '127.0.0.1', port: 30000 };
  const cap = new CallCapture({ maxCalls: 10, maxBytes: 1e6, maxAgeSeconds: 60, rtp: 'headers' });
  cap.rtp('x', Date.now(), a, b, rtp); // no SIP of x yet: not a call the ring knows
  assert.equal(cap.has('x'), false);
  cap.sip('x', Date.now(), phone, server, sip('INVITE', 'x'));
  cap.rtp('x', Date.now(), a, b, rtp);
  assert.equal(cap.packets('x')![1]!.data.length, 12);
  const { udp, frames } = read(cap.pcapng('x')!);
  assert.equal(frames[1], 20 + 8 + 172, 'original length: IP + UDP + the whole RTP packet');
  assert.equal(udp[1]!.srcPort, 4000);
  const off = new CallCapture({ maxCalls: 10, maxBytes: 1e6, maxAgeSeconds: 60, rtp: 'none' });
  off.sip('x', Date.now(), phone, server, sip('INVITE', 'x'));
  off.rtp('x', Date.now(), a, b, rtp);
  assert.equal(off.packets('x')!.length, 1);
});
