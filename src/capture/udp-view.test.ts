import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePcap, writePcapng } from './capture-writer.ts';
import { addressWords } from './ip-address.ts';
import {
  ethernetFrame,
  IPPROTO_UDP,
  ipPacket,
  ipv4Fragments,
  ipv6Fragments,
  tcpSegment,
  TcpFlag,
  udpSegment,
} from './packet-builder.ts';
import type { Packet } from './packet.ts';
import { PacketDecoder } from './packet-decoder.ts';
import { readCaptureFile, readCaptureRecords } from './read-capture-file.ts';
import type { UdpView } from './udp-view.ts';

const RTP = Buffer.from('80000001000000a0deadbeef' + 'd5'.repeat(160), 'hex');
const SIP = Buffer.from('OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 0\r\n\r\n');

/** UDP over IPv4 and IPv6 (v4-mapped too), fragments of both, a TCP segment and a VLAN tag. */
function frames(): Buffer[] {
  const udp = (src: string, dst: string, payload: Buffer, sp = 4000, dp = 5000): Buffer =>
    ethernetFrame(ipPacket(src, dst, IPPROTO_UDP, udpSegment(src, dst, sp, dp, payload)));
  const big = Buffer.concat([SIP, Buffer.alloc(3000, 0x41)]);
  return [
    udp('10.0.0.1', '10.0.0.2', RTP),
    udp('2001:db8::1', '2001:db8:0:0:1::2', RTP),
    udp('::ffff:192.0.2.9', '::1', SIP, 5060, 5060),
    udp('255.255.255.254', '0.0.0.1', SIP, 5060, 5062),
    ...ipv4Fragments(
      '10.0.0.3',
      '10.0.0.4',
      IPPROTO_UDP,
      udpSegment('10.0.0.3', '10.0.0.4', 5060, 5060, big),
      1400,
      7,
    ).map((p) => ethernetFrame(p)),
    ...ipv6Fragments(
      '2001:db8::3',
      '2001:db8::4',
      IPPROTO_UDP,
      udpSegment('2001:db8::3', '2001:db8::4', 5060, 5060, big),
      1400,
      9,
    ).map((p) => ethernetFrame(p)),
    ethernetFrame(
      ipPacket(
        '10.0.0.5',
        '10.0.0.6',
        6,
        tcpSegment(
          '10.0.0.5',
          '10.0.0.6',
          { srcPort: 5060, dstPort: 5060, seq: 1, flags: TcpFlag.PSH | TcpFlag.ACK },
          SIP,
        ),
      ),
    ),
    ethernetFrame(
      ipPacket('10.0.0.7', '10.0.0.8', IPPROTO_UDP, udpSegment('10.0.0.7', '10.0.0.8', 1, 2, RTP)),
      { vlans: [{ tpid: 0x8100, vid: 5 }] },
    ),
  ];
}

/** What a decoder hands out, as text: one line per UDP datagram or TCP run. */
function decodeAll(useView: boolean): { lines: string[]; decoder: PacketDecoder } {
  const lines: string[] = [];
  const packet = (p: Packet): void => {
    lines.push(
      `${p.frame} ${p.ts} ${p.proto} ${p.ipVersion} ${p.src}:${p.srcPort} > ${p.dst}:${p.dstPort} ${p.payload.toString('hex')}`,
    );
  };
  const decoder = new PacketDecoder({
    onUdp: packet,
    onTcpData: packet,
    onUdpView: useView
      ? (v: UdpView): boolean => {
          lines.push(
            `${v.frame} ${v.ts} udp ${v.ipVersion} ${v.src}:${v.srcPort} > ${v.dst}:${v.dstPort} ${v.payload().toString('hex')}`,
          );
          // The words identify the addresses exactly as their text does.
          const [s0, s1, s2, s3] = addressWords(v.src)!;
          assert.deepEqual(
            [v.srcWord(0), v.srcWord(1), v.srcWord(2), v.srcWord(3)],
            [s0, s1, s2, s3],
          );
          const [d0, d1, d2, d3] = addressWords(v.dst)!;
          assert.deepEqual(
            [v.dstWord(0), v.dstWord(1), v.dstWord(2), v.dstWord(3)],
            [d0, d1, d2, d3],
          );
          assert.equal(v.length, v.end - v.start);
          return true;
        }
      : undefined,
  });
  return { lines, decoder };
}

for (const format of ['pcap', 'pcapng'] as const) {
  test(`frames as buffer ranges with a UdpView give what frame objects and Packets give (${format})`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'trapezoid-view-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const list = frames().map((data, i) => ({ ts: 1700000000 + i / 8, data }));
    const file = join(dir, `f.${format}`);
    writeFileSync(
      file,
      format === 'pcap'
        ? writePcap(list, { linkType: 1 })
        : writePcapng([
            { interfaces: [{ linkType: 1 }], packets: list.map((f) => ({ ...f, interfaceId: 0 })) },
          ]),
    );
    const plain = decodeAll(false);
    await readCaptureFile(file, (f) => plain.decoder.decode(f));
    plain.decoder.finish();
    const fast = decodeAll(true);
    const result = await readCaptureRecords(file, (buf, start, end, index, ts, linkType) =>
      fast.decoder.decodeRecord(buf, start, end, index, ts, linkType),
    );
    fast.decoder.finish();
    assert.equal(result.frames, list.length);
    assert.equal(result.error, undefined);
    // Reassembled datagrams and TCP still come as Packets; the rest through the view.
    assert.equal(plain.lines.length, 8);
    assert.deepEqual(fast.lines, plain.lines);
    assert.deepEqual(fast.decoder.stats, plain.decoder.stats);
    assert.ok(plain.lines.some((l) => l.includes('::ffff:192.0.2.9:5060')));
  });
}

test('addressWords reads IPv4, IPv6 and v4-mapped text and refuses the rest', () => {
  assert.deepEqual(addressWords('10.0.0.1'), [0x0a000001, 0, 0, 0]);
  assert.deepEqual(addressWords('2001:db8::1'), [0x20010db8, 0, 0, 1]);
  assert.deepEqual(addressWords('::ffff:192.0.2.9'), [0, 0, 0xffff, 0xc0000209]);
  assert.deepEqual(addressWords('::'), [0, 0, 0, 0]);
  for (const bad of [
    '',
    '10.0.0',
    '10.0.0.256',
    '1::2::3',
    'example.com',
    '1:2:3:4:5:6:7:8:9',
    'g::1',
  ]) {
    assert.equal(addressWords(bad), undefined, bad);
  }
});
