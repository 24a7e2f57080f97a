// Property tests: no input makes the readers or the decoder throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinkType } from './capture-frame.ts';
import { CaptureReader } from './capture-reader.ts';
import { writePcap, writePcapng } from './capture-writer.ts';
import { decodeHep3 } from './hep3.ts';
import {
  ethernetFrame,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipPacket,
  ipv6Fragments,
  tcpSegment,
  udpSegment,
} from './packet-builder.ts';
import { PacketDecoder } from './packet-decoder.ts';
import { WebSocketDeframer } from './websocket.ts';

const LINK_TYPES = [...Object.values(LinkType), 147];

function decoder(): PacketDecoder {
  return new PacketDecoder({
    onUdp: () => undefined,
    onTcpData: () => undefined,
    onTcpEnd: () => undefined,
    onWarning: () => undefined,
  });
}

const seeds = [
  ethernetFrame(
    ipPacket(
      '10.0.0.1',
      '10.0.0.2',
      IPPROTO_UDP,
      udpSegment('10.0.0.1', '10.0.0.2', 5060, 9060, Buffer.from('HEP3\x00\x20')),
    ),
  ),
  ethernetFrame(
    ipPacket(
      '10.0.0.1',
      '10.0.0.2',
      IPPROTO_TCP,
      tcpSegment(
        '10.0.0.1',
        '10.0.0.2',
        { srcPort: 1, dstPort: 2, seq: 5, flags: 0x18 },
        Buffer.from('x'.repeat(50)),
      ),
    ),
  ),
  ...ipv6Fragments(
    '2001:db8::1',
    '2001:db8::2',
    IPPROTO_UDP,
    udpSegment('2001:db8::1', '2001:db8::2', 1, 2, Buffer.alloc(300)),
    128,
    1,
  ).map((ip) => ethernetFrame(ip, { vlans: [{ tpid: 0x8100, vid: 1 }] })),
];

test('decode never throws on random or mutated frames of any link type', () => {
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.nat(),
    )
    .map(([seed, flips, cut]) => {
      const b = Buffer.from(seed);
      for (const [at, v] of flips) b[at % b.length] = v;
      return b.subarray(0, b.length - (cut % 8));
    });
  const anyFrame = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
    mutated,
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(...LINK_TYPES), anyFrame), { maxLength: 20 }),
      (frames) => {
        const d = decoder();
        frames.forEach(([linkType, data], i) =>
          d.decode({ index: i + 1, ts: i, linkType, data, origLen: data.length, interfaceId: 0 }),
        );
        d.finish();
      },
    ),
    { numRuns: 2000 },
  );
});

test('the readers never throw on mutated pcap and pcapng files, and report an error or frames', () => {
  const frames = seeds.map((data, i) => ({ ts: 1000 + i, data }));
  const files = [
    writePcap(frames, { linkType: 1 }),
    writePcap(frames, { linkType: 1, nano: true, bigEndian: true }),
    writePcapng([
      {
        interfaces: [{ linkType: 1 }, { linkType: 1, tsresol: 9 }],
        packets: frames.map((f, i) => ({ ...f, interfaceId: i % 2 })),
      },
    ]),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...files),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.integer({ min: 1, max: 300 }),
      (file, flips, chunk) => {
        const b = Buffer.from(file);
        for (const [at, v] of flips) b[at % b.length] = v;
        const d = decoder();
        const reader = new CaptureReader((f) => d.decode(f));
        for (let p = 0; p < b.length; p += chunk) reader.push(b.subarray(p, p + chunk));
        const r = reader.end();
        d.finish();
        assert.ok(r.frames >= 0);
        if (r.error)
          assert.ok(
            r.error.offset >= 0 && r.error.offset <= b.length && r.error.frame === r.frames,
          );
      },
    ),
    { numRuns: 1000 },
  );
});

test('decodeHep3 and the WebSocket deframer never throw on random bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
      const b = Buffer.concat([Buffer.from('HEP3'), Buffer.from(a)]);
      decodeHep3(b, 1, 1);
      new WebSocketDeframer().push(Buffer.from(a));
    }),
    { numRuns: 2000 },
  );
});
