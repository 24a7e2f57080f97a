import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../../test/support/peers.ts';
import { LinkType } from './capture-frame.ts';
import { CaptureReader } from './capture-reader.ts';
import { writePcapng } from './capture-writer.ts';
import {
  ethernetFrame,
  IPPROTO_UDP,
  ipPacket,
  ipv4Packet,
  ipv6Packet,
  udpSegment,
} from './packet-builder.ts';
import type { Packet } from './packet.ts';
import { PacketDecoder } from './packet-decoder.ts';

const SIP = Buffer.from('NOTIFY sip:x@y SIP/2.0\r\nContent-Length: 0\r\n\r\n');
const inner4 = ipPacket(
  '192.0.2.1',
  '192.0.2.2',
  IPPROTO_UDP,
  udpSegment('192.0.2.1', '192.0.2.2', 5060, 5070, SIP),
);
const inner6 = ipPacket(
  '2001:db8::1',
  '2001:db8::2',
  IPPROTO_UDP,
  udpSegment('2001:db8::1', '2001:db8::2', 5060, 5070, SIP),
);

function gre(flags: number, type: number, options: number[], body: Buffer): Buffer {
  const h = Buffer.alloc(4 + 4 * options.length);
  h[0] = flags;
  h.writeUInt16BE(type, 2);
  options.forEach((v, i) => h.writeUInt32BE(v, 4 + 4 * i));
  return Buffer.concat([h, body]);
}

function erspan2(eth: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x1000 | 10, 0); // version 1, VLAN 10
  h.writeUInt16BE(0x0000 | 7, 2); // session 7
  return Buffer.concat([h, eth]);
}

function erspan3(eth: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x2000 | 10, 0); // version 2 (type III), VLAN 10
  h.writeUInt16BE(7, 2);
  h.writeUInt32BE(123456, 4); // timestamp
  return Buffer.concat([h, eth]);
}

function vxlan(eth: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x08;
  h.writeUInt32BE(4242 << 8, 4);
  const seg = udpSegment('198.51.100.1', '198.51.100.2', 49152, 4789, Buffer.concat([h, eth]));
  return ipPacket('198.51.100.1', '198.51.100.2', IPPROTO_UDP, seg);
}

function nflog(ip: Buffer): Buffer {
  const tlv = (type: number, value: Buffer): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + value.length, 0);
    h.writeUInt16LE(type, 2);
    const padded = Buffer.alloc((4 + value.length + 3) & ~3);
    Buffer.concat([h, value]).copy(padded);
    return padded;
  };
  return Buffer.concat([
    Buffer.from([2, 0, 0, 0]),
    tlv(1, Buffer.from([0x08, 0x00, 3, 0])),
    tlv(10, Buffer.from('prefix\0')),
    tlv(9, ip),
  ]);
}

const O4 = ['203.0.113.1', '203.0.113.2'] as const;
const cases: { name: string; linkType: number; data: Buffer; v6?: boolean }[] = [
  { name: 'IP in IP', linkType: 1, data: ethernetFrame(ipv4Packet(...O4, 4, inner4)) },
  {
    name: 'IPv6 in IPv4',
    linkType: 1,
    data: ethernetFrame(ipv4Packet(...O4, 41, inner6)),
    v6: true,
  },
  {
    name: 'GRE IPv4',
    linkType: 1,
    data: ethernetFrame(ipv4Packet(...O4, 47, gre(0, 0x0800, [], inner4))),
  },
  {
    name: 'GRE with checksum, key, sequence over IPv6, carrying IPv6',
    linkType: 1,
    data: ethernetFrame(
      ipv6Packet('2001:db8:ffff::1', '2001:db8:ffff::2', 47, gre(0xb0, 0x86dd, [0, 99, 5], inner6)),
    ),
    v6: true,
  },
  {
    name: 'GRE Ethernet (0x6558) with key',
    linkType: 1,
    data: ethernetFrame(ipv4Packet(...O4, 47, gre(0x20, 0x6558, [7], ethernetFrame(inner4)))),
  },
  {
    name: 'ERSPAN type II',
    linkType: 1,
    data: ethernetFrame(
      ipv4Packet(...O4, 47, gre(0x10, 0x88be, [1], erspan2(ethernetFrame(inner4)))),
    ),
  },
  {
    name: 'ERSPAN type III',
    linkType: 1,
    data: ethernetFrame(
      ipv4Packet(...O4, 47, gre(0x10, 0x22eb, [1], erspan3(ethernetFrame(inner6)))),
    ),
    v6: true,
  },
  {
    name: 'VXLAN',
    linkType: 1,
    data: ethernetFrame(vxlan(ethernetFrame(inner4, { vlans: [{ tpid: 0x8100, vid: 3 }] }))),
  },
  { name: 'NFLOG', linkType: LinkType.NFLOG, data: nflog(inner4) },
];

function decode(linkType: number, data: Buffer): Packet[] {
  const udp: Packet[] = [];
  const d = new PacketDecoder({ onUdp: (p) => udp.push(p), onTcpData: () => undefined });
  d.decode({ index: 1, ts: 1, linkType, data, origLen: data.length, interfaceId: 0 });
  return udp;
}

for (const c of cases) {
  test(`tunnel ${c.name}: the inner UDP datagram comes out`, () => {
    const udp = decode(c.linkType, c.data);
    assert.equal(udp.length, 1);
    assert.equal(udp[0].src, c.v6 ? '2001:db8::1' : '192.0.2.1');
    assert.equal(udp[0].dstPort, 5070);
    assert.deepEqual(udp[0].payload, SIP);
  });
}

test('tunnels nested beyond the limit are dropped, not followed forever', () => {
  let pkt = inner4;
  for (let i = 0; i < 10; i++) pkt = ipv4Packet(...O4, 4, pkt);
  assert.equal(decode(LinkType.RAW, pkt).length, 0);
});

test('tshark finds the same inner UDP payload in every tunnel case', (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-tunnel-'));
  try {
    const path = join(dir, 'tunnels.pcapng');
    const file = writePcapng([
      {
        interfaces: [{ linkType: LinkType.ETHERNET }, { linkType: LinkType.NFLOG }],
        packets: cases.map((c, i) => ({
          interfaceId: c.linkType === LinkType.NFLOG ? 1 : 0,
          ts: 1 + i,
          data: c.data,
        })),
      },
    ]);
    writeFileSync(path, file);
    const out: string = execFileSync(
      bin,
      ['-r', path, '-T', 'fields', '-E', 'occurrence=l', '-e', 'udp.dstport', '-e', 'udp.payload'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const rows = out.trim().split('\n');
    assert.equal(rows.length, cases.length);
    rows.forEach((row, i) =>
      assert.equal(row, `5070\t${SIP.toString('hex')}`, `tshark on ${cases[i].name}`),
    );
    let n = 0;
    const d = new PacketDecoder({ onUdp: () => n++, onTcpData: () => undefined });
    const reader = new CaptureReader((f) => d.decode(f));
    reader.push(file);
    assert.equal(reader.end().error, undefined);
    assert.equal(n, cases.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
