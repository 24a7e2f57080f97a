import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { LinkType } from './capture-frame.ts';
import { decodeHep3, HepChunk } from './hep3.ts';
import {
  ethernetFrame,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipPacket,
  ipv4Bytes,
  ipv6Bytes,
  tcpSegment,
  TcpFlag,
  udpSegment,
} from './packet-builder.ts';
import type { Packet, TcpData } from './packet.ts';
import { PacketDecoder } from './packet-decoder.ts';

function chunk(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt16BE(6 + value.length, 4);
  return Buffer.concat([h, value]);
}
const u8 = (v: number): Buffer => Buffer.from([v]);
const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};

interface HepFields {
  src: string;
  dst: string;
  sp: number;
  dp: number;
  proto?: number;
  sec?: number;
  usec?: number;
  payload: Buffer;
  compress?: boolean;
  captureId?: number;
}

/** A HEPv3 message, built from the chunk table of the HEP3 specification. */
function hep3(f: HepFields): Buffer {
  const v6 = f.src.includes(':');
  const chunks = [
    chunk(HepChunk.IP_FAMILY, u8(v6 ? 10 : 2)),
    chunk(HepChunk.IP_PROTO, u8(f.proto ?? 17)),
    chunk(v6 ? HepChunk.IPV6_SRC : HepChunk.IPV4_SRC, v6 ? ipv6Bytes(f.src) : ipv4Bytes(f.src)),
    chunk(v6 ? HepChunk.IPV6_DST : HepChunk.IPV4_DST, v6 ? ipv6Bytes(f.dst) : ipv4Bytes(f.dst)),
    chunk(HepChunk.SRC_PORT, u16(f.sp)),
    chunk(HepChunk.DST_PORT, u16(f.dp)),
    chunk(HepChunk.TS_SEC, u32(f.sec ?? 1700000000)),
    chunk(HepChunk.TS_USEC, u32(f.usec ?? 250000)),
    chunk(HepChunk.PROTO_TYPE, u8(1)),
    chunk(HepChunk.CAPTURE_ID, u32(f.captureId ?? 2001)),
    chunk(0x0fff, Buffer.from('unknown chunk, skipped')),
    f.compress
      ? chunk(HepChunk.COMPRESSED_PAYLOAD, gzipSync(f.payload))
      : chunk(HepChunk.PAYLOAD, f.payload),
  ];
  const body = Buffer.concat(chunks);
  const head = Buffer.from('HEP3\0\0');
  head.writeUInt16BE(6 + body.length, 4);
  return Buffer.concat([head, body]);
}

const INVITE = Buffer.from(
  'INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: hep-1\r\nContent-Length: 0\r\n\r\n',
);

test('decodeHep3: inner IPv4 addresses, ports, time, capture id and payload', () => {
  const p = decodeHep3(
    hep3({ src: '198.51.100.1', dst: '198.51.100.2', sp: 5060, dp: 5080, payload: INVITE }),
    7,
    1,
  );
  assert.ok(p);
  assert.equal(p.frame, 7);
  assert.equal(p.ts, 1700000000.25);
  assert.equal(p.ipVersion, 4);
  assert.equal(p.src, '198.51.100.1');
  assert.equal(p.dst, '198.51.100.2');
  assert.equal(p.srcPort, 5060);
  assert.equal(p.dstPort, 5080);
  assert.equal(p.proto, 'udp');
  assert.deepEqual(p.payload, INVITE);
  assert.deepEqual(p.hep, { version: 3, captureId: 2001, payloadType: 1 });
});

test('decodeHep3: IPv6, TCP and a compressed payload', () => {
  const p = decodeHep3(
    hep3({
      src: '2001:db8::5',
      dst: '2001:db8::6',
      sp: 5061,
      dp: 5060,
      proto: 6,
      payload: INVITE,
      compress: true,
    }),
    1,
    1,
  );
  assert.ok(p);
  assert.equal(p.ipVersion, 6);
  assert.equal(p.src, '2001:db8::5');
  assert.equal(p.proto, 'tcp');
  assert.deepEqual(p.payload, INVITE);
});

test('decodeHep3: cut short or not HEP gives undefined, never a throw', () => {
  const good = hep3({ src: '10.0.0.1', dst: '10.0.0.2', sp: 1, dp: 2, payload: INVITE });
  for (let cut = 0; cut < good.length; cut++) {
    const p = decodeHep3(good.subarray(0, cut), 1, 1);
    // Only a cut inside the payload chunk could still parse, and it must then not claim more bytes.
    if (p) assert.ok(p.payload.length < INVITE.length);
  }
  assert.equal(decodeHep3(Buffer.from('HEP2 nope'), 1, 1), undefined);
});

test('the decoder unwraps HEP on UDP 9060: UDP to onUdp, TCP to onTcpData per inner flow', () => {
  const outer = (hep: Buffer): Buffer =>
    ethernetFrame(
      ipPacket(
        '10.10.10.10',
        '10.10.10.20',
        IPPROTO_UDP,
        udpSegment('10.10.10.10', '10.10.10.20', 40000, 9060, hep),
      ),
    );
  const udp: Packet[] = [];
  const tcp: TcpData[] = [];
  const ended: number[] = [];
  const decoder = new PacketDecoder({
    onUdp: (p) => udp.push(p),
    onTcpData: (d) => tcp.push(d),
    onTcpEnd: (id) => ended.push(id),
  });
  const frames = [
    hep3({ src: '192.0.2.1', dst: '192.0.2.2', sp: 5060, dp: 5060, payload: INVITE }),
    hep3({ src: '192.0.2.1', dst: '192.0.2.2', sp: 40001, dp: 5060, proto: 6, payload: INVITE }),
    hep3({ src: '192.0.2.1', dst: '192.0.2.2', sp: 40001, dp: 5060, proto: 6, payload: INVITE }),
  ];
  frames.forEach((h, i) =>
    decoder.decode({
      index: i + 1,
      ts: 5,
      linkType: LinkType.ETHERNET,
      data: outer(h),
      origLen: 0,
      interfaceId: 0,
    }),
  );
  decoder.finish();
  assert.equal(udp.length, 1);
  assert.equal(udp[0].src, '192.0.2.1');
  assert.equal(udp[0].hep?.version, 3);
  assert.deepEqual(udp[0].payload, INVITE);
  assert.equal(tcp.length, 2);
  assert.equal(tcp[0].streamId, tcp[1].streamId);
  assert.equal(tcp[0].srcPort, 40001);
  assert.deepEqual(ended, [tcp[0].streamId]);
});

test('HEP over TCP to port 9060: messages cut and joined across segments are unwrapped', () => {
  const msgs = [
    hep3({ src: '192.0.2.1', dst: '192.0.2.2', sp: 5060, dp: 5060, payload: INVITE }),
    hep3({
      src: '2001:db8::7',
      dst: '2001:db8::8',
      sp: 5060,
      dp: 5062,
      payload: INVITE,
      compress: true,
    }),
    hep3({ src: '192.0.2.1', dst: '192.0.2.2', sp: 40001, dp: 5060, proto: 6, payload: INVITE }),
  ];
  const bytes = Buffer.concat(msgs);
  const cuts = [0, 3, 100, msgs[0].length, msgs[0].length + 1, bytes.length - 2, bytes.length];
  const A = '10.0.0.1';
  const B = '10.0.0.2';
  const frames = [
    tcpSegment(
      A,
      B,
      { srcPort: 45000, dstPort: 9060, seq: 10, flags: TcpFlag.SYN },
      Buffer.alloc(0),
    ),
  ];
  for (let i = 0; i + 1 < cuts.length; i++) {
    frames.push(
      tcpSegment(
        A,
        B,
        { srcPort: 45000, dstPort: 9060, seq: 11 + cuts[i], flags: TcpFlag.ACK },
        bytes.subarray(cuts[i], cuts[i + 1]),
      ),
    );
  }
  frames.push(
    tcpSegment(
      A,
      B,
      { srcPort: 45000, dstPort: 9060, seq: 11 + bytes.length, flags: TcpFlag.FIN | TcpFlag.ACK },
      Buffer.alloc(0),
    ),
  );
  const udp: Packet[] = [];
  const tcp: TcpData[] = [];
  const ended: number[] = [];
  const decoder = new PacketDecoder({
    onUdp: (p) => udp.push(p),
    onTcpData: (d) => tcp.push(d),
    onTcpEnd: (id) => ended.push(id),
  });
  // Out of order on the wire: the reassembly puts them back before the HEP framing.
  const order = [0, 1, 3, 2, 4, 6, 5, 7];
  order.forEach((k, i) => {
    const data = ethernetFrame(ipPacket(A, B, IPPROTO_TCP, frames[k]));
    decoder.decode({
      index: i + 1,
      ts: 9,
      linkType: LinkType.ETHERNET,
      data,
      origLen: data.length,
      interfaceId: 0,
    });
  });
  decoder.finish();
  assert.deepEqual(
    udp.map((p) => `${p.src} ${p.dstPort}`),
    ['192.0.2.1 5060', '2001:db8::7 5062'],
  );
  assert.ok(udp.every((p) => p.payload.equals(INVITE) && p.hep?.version === 3));
  assert.equal(tcp.length, 1, 'only the inner TCP payload, not the HEP stream itself');
  assert.equal(tcp[0].srcPort, 40001);
  assert.deepEqual(ended, [tcp[0].streamId], 'the HEP carrier stream is not announced');
});
