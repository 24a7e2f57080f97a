import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { decodeHep3 } from '../capture/index.ts';
import { HepSender, parseHepCollector } from './hep-sender.ts';

test('parseHepCollector reads udp:HOST:PORT and refuses the rest', () => {
  assert.deepEqual(parseHepCollector('udp:127.0.0.1:9060'), { host: '127.0.0.1', port: 9060 });
  assert.deepEqual(parseHepCollector('udp:[::1]:9061'), { host: '::1', port: 9061 });
  assert.deepEqual(parseHepCollector('homer.example:9060'), { host: 'homer.example', port: 9060 });
  for (const bad of ['udp:127.0.0.1', 'tcp:1.2.3.4:9060x', 'udp:1.2.3.4:0', 'udp:1.2.3.4:70000'])
    assert.throws(() => parseHepCollector(bad), /udp:HOST:PORT/);
});

test('HepSender sends each SIP message as one HEPv3 datagram the decoder reads back', async () => {
  const collector = createSocket('udp4');
  collector.bind(0, '127.0.0.1');
  await once(collector, 'listening');
  const port = (collector.address() as AddressInfo).port;
  const got: Buffer[] = [];
  collector.on('message', (m) => got.push(m));
  const sender = new HepSender({ collector: `udp:127.0.0.1:${port}`, id: 2001 });
  const invite = Buffer.from('INVITE sip:1001@test SIP/2.0\r\nCall-ID: c1\r\n\r\n');
  const ts = 1_700_000_000_123;
  sender.sip(
    ts,
    { protocol: 'udp', address: '127.0.0.2', port: 5062 },
    { protocol: 'udp', address: '127.0.0.1', port: 5060 },
    invite,
  );
  sender.sip(
    ts + 1,
    { protocol: 'tcp', address: '127.0.0.1', port: 5060 },
    { protocol: 'tcp', address: '127.0.0.3', port: 41000 },
    invite,
  );
  for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  await sender.close();
  collector.close();
  assert.equal(got.length, 2);
  const [a, b] = got.map((g) => decodeHep3(g, 1, 0)!);
  assert.equal(a!.src, '127.0.0.2');
  assert.equal(a!.srcPort, 5062);
  assert.equal(a!.dstPort, 5060);
  assert.equal(a!.proto, 'udp');
  assert.equal(a!.hep?.captureId, 2001);
  assert.equal(a!.hep?.payloadType, 1);
  assert.ok(Math.abs(a!.ts - ts / 1000) < 1e-6);
  assert.ok(a!.payload.equals(invite));
  assert.equal(b!.proto, 'tcp');
  assert.equal(b!.dst, '127.0.0.3');
  assert.deepEqual(sender.stats, { sent: 2, failed: 0 });
});
