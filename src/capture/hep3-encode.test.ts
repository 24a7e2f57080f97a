import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHep3, encodeHep3 } from './hep3.ts';
import { PacketDecoder } from './packet-decoder.ts';
import type { Packet } from './packet.ts';

const sip = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n');

for (const [src, dst] of [
  ['192.0.2.1', '198.51.100.7'],
  ['2001:db8::1', '2001:db8:0:1::2'],
] as const) {
  test(`encodeHep3 and decodeHep3 are inverse (${src.includes(':') ? 'IPv6' : 'IPv4'})`, () => {
    for (const proto of ['udp', 'tcp'] as const) {
      const hep = encodeHep3({
        src,
        dst,
        srcPort: 5060,
        dstPort: 65000,
        proto,
        ts: 1767225600.123456,
        payload: sip,
        captureId: 7,
      });
      const p = decodeHep3(hep, 3, 0)!;
      assert.equal(p.src, src);
      assert.equal(p.dst, dst);
      assert.equal(p.srcPort, 5060);
      assert.equal(p.dstPort, 65000);
      assert.equal(p.proto, proto);
      assert.equal(p.ipVersion, src.includes(':') ? 6 : 4);
      assert.equal(p.ts, 1767225600.123456);
      assert.deepEqual(p.payload, sip);
      assert.deepEqual(p.hep, { version: 3, payloadType: 1, captureId: 7 });
    }
  });
}

test('decodeHep: a HEP message from a collector socket reaches the handlers as its inner packet', () => {
  const got: Packet[] = [];
  const decoder = new PacketDecoder({ onUdp: (p) => got.push(p), onTcpData: () => undefined });
  const hep = encodeHep3({
    src: '10.0.0.1',
    dst: '10.0.0.2',
    srcPort: 5060,
    dstPort: 5062,
    proto: 'udp',
    ts: 1767225600.5,
    payload: sip,
  });
  decoder.decodeHep(hep, 9, 0);
  decoder.decodeHep(Buffer.from('not hep at all'), 10, 0);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.frame, 9);
  assert.equal(got[0]!.src, '10.0.0.1');
  assert.deepEqual(got[0]!.payload, sip);
  assert.equal(decoder.stats.hep, 1);
  assert.equal(decoder.stats.frames, 2);
  assert.equal(decoder.stats.malformed, 1);
});
