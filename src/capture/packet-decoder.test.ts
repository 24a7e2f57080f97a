import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../../test/support/peers.ts';
import { LinkType, type CaptureFrame } from './capture-frame.ts';
import { writePcap, writePcapng } from './capture-writer.ts';
import { CaptureReader } from './capture-reader.ts';
import {
  ethernetFrame,
  IPPROTO_UDP,
  ipPacket,
  ipv4Fragments,
  ipv6Fragments,
  ipv6Packet,
  udpSegment,
} from './packet-builder.ts';
import type { Packet } from './packet.ts';
import { PacketDecoder, type DecoderLimits } from './packet-decoder.ts';

let frameNo = 0;
function frame(linkType: number, data: Buffer, ts = 1000 + frameNo): CaptureFrame {
  return { index: ++frameNo, ts, linkType, data, origLen: data.length, interfaceId: 0 };
}

function decodeAll(
  frames: CaptureFrame[],
  limits?: DecoderLimits,
): { udp: Packet[]; warnings: string[]; decoder: PacketDecoder } {
  const udp: Packet[] = [];
  const warnings: string[] = [];
  const decoder = new PacketDecoder(
    {
      onUdp: (p) => udp.push({ ...p, payload: Buffer.from(p.payload) }),
      onTcpData: () => undefined,
      onWarning: (m) => warnings.push(m),
    },
    limits,
  );
  for (const f of frames) decoder.decode(f);
  decoder.finish();
  return { udp, warnings, decoder };
}

const SIP = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n');

function udpIp(src: string, dst: string, payload = SIP, sp = 5060, dp = 5062): Buffer {
  return ipPacket(src, dst, IPPROTO_UDP, udpSegment(src, dst, sp, dp, payload));
}

function sll(ip: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // to us
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  h.writeUInt16BE(ip[0] >> 4 === 6 ? 0x86dd : 0x0800, 14);
  return Buffer.concat([h, ip]);
}

function sll2(ip: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(ip[0] >> 4 === 6 ? 0x86dd : 0x0800, 0);
  h.writeUInt32BE(3, 4);
  h.writeUInt16BE(1, 8);
  h[11] = 6;
  return Buffer.concat([h, ip]);
}

function loopback(ip: Buffer, af: number, bigEndian: boolean): Buffer {
  const h = Buffer.alloc(4);
  if (bigEndian) h.writeUInt32BE(af, 0);
  else h.writeUInt32LE(af, 0);
  return Buffer.concat([h, ip]);
}

const v4 = udpIp('192.0.2.1', '192.0.2.2');
const v6 = udpIp('2001:db8::1', '2001:db8:0:0:1::2');
const cases: { name: string; linkType: number; data: Buffer; v6?: boolean }[] = [
  { name: 'Ethernet', linkType: LinkType.ETHERNET, data: ethernetFrame(v4) },
  { name: 'Ethernet IPv6', linkType: LinkType.ETHERNET, data: ethernetFrame(v6), v6: true },
  {
    name: '802.1Q VLAN',
    linkType: LinkType.ETHERNET,
    data: ethernetFrame(v4, { vlans: [{ tpid: 0x8100, vid: 100 }] }),
  },
  {
    name: 'QinQ 0x88a8 + 0x8100',
    linkType: LinkType.ETHERNET,
    data: ethernetFrame(v6, {
      vlans: [
        { tpid: 0x88a8, vid: 7 },
        { tpid: 0x8100, vid: 100 },
      ],
    }),
    v6: true,
  },
  { name: 'PPPoE session', linkType: LinkType.ETHERNET, data: ethernetFrame(v4, { pppoe: true }) },
  {
    name: 'PPPoE session IPv6 in VLAN',
    linkType: LinkType.ETHERNET,
    data: ethernetFrame(v6, { pppoe: true, vlans: [{ tpid: 0x8100, vid: 5 }] }),
    v6: true,
  },
  { name: 'Linux SLL', linkType: LinkType.LINUX_SLL, data: sll(v4) },
  { name: 'Linux SLL2', linkType: LinkType.LINUX_SLL2, data: sll2(v6), v6: true },
  { name: 'raw 101', linkType: LinkType.RAW, data: v6, v6: true },
  { name: 'raw 12', linkType: LinkType.RAW_OLD, data: v4 },
  { name: 'IPv4 228', linkType: LinkType.IPV4, data: v4 },
  { name: 'IPv6 229', linkType: LinkType.IPV6, data: v6, v6: true },
  { name: 'BSD NULL little-endian', linkType: LinkType.NULL, data: loopback(v4, 2, false) },
  {
    name: 'BSD NULL big-endian IPv6 (macOS 30)',
    linkType: LinkType.NULL,
    data: loopback(v6, 30, true),
    v6: true,
  },
  {
    name: 'OpenBSD LOOP IPv6 (24)',
    linkType: LinkType.LOOP,
    data: loopback(v6, 24, true),
    v6: true,
  },
];

for (const c of cases) {
  test(`link layer ${c.name}: the UDP payload and addresses come out`, () => {
    const { udp, warnings } = decodeAll([frame(c.linkType, c.data)]);
    assert.deepEqual(warnings, []);
    assert.equal(udp.length, 1);
    const p = udp[0];
    assert.equal(p.ipVersion, c.v6 ? 6 : 4);
    assert.equal(p.src, c.v6 ? '2001:db8::1' : '192.0.2.1');
    assert.equal(p.dst, c.v6 ? '2001:db8::1:0:0:2' : '192.0.2.2');
    assert.equal(p.srcPort, 5060);
    assert.equal(p.dstPort, 5062);
    assert.equal(p.proto, 'udp');
    assert.deepEqual(p.payload, SIP);
  });
}

test('tshark agrees on the UDP payloads of the link-layer cases (one pcapng, an interface each)', (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-link-'));
  try {
    const path = join(dir, 'links.pcapng');
    const file = writePcapng([
      {
        interfaces: cases.map((c) => ({ linkType: c.linkType })),
        packets: cases.map((c, i) => ({ interfaceId: i, ts: 1 + i, data: c.data })),
      },
    ]);
    writeFileSync(path, file);
    const out = execFileSync(
      bin,
      ['-r', path, '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.payload'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const rows = out.trim().split('\n');
    assert.equal(rows.length, cases.length);
    rows.forEach((row, i) =>
      assert.equal(row, `5060\t${SIP.toString('hex')}`, `tshark on ${cases[i].name}`),
    );
    // And the reader + decoder on the same file.
    const udp: Packet[] = [];
    const decoder = new PacketDecoder({ onUdp: (p) => udp.push(p), onTcpData: () => undefined });
    const reader = new CaptureReader((f) => decoder.decode(f));
    reader.push(file);
    assert.equal(reader.end().error, undefined);
    assert.equal(udp.length, cases.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ethernet padding after a short IP packet is not payload', () => {
  const tiny = udpIp('10.0.0.1', '10.0.0.2', Buffer.from('hi'));
  const f = ethernetFrame(tiny);
  assert.equal(f.length, 60);
  const { udp } = decodeAll([frame(LinkType.ETHERNET, f)]);
  assert.deepEqual(udp[0].payload, Buffer.from('hi'));
});

test('IPv6 extension headers (hop-by-hop, destination options) before UDP', () => {
  const seg = udpSegment('2001:db8::a', '2001:db8::b', 5060, 5060, SIP);
  const dstopts = Buffer.alloc(8);
  dstopts[0] = IPPROTO_UDP;
  dstopts[1] = 0;
  const hbh = Buffer.alloc(16);
  hbh[0] = 60;
  hbh[1] = 1; // (1 + 1) * 8 bytes
  const ip = ipv6Packet('2001:db8::a', '2001:db8::b', 0, Buffer.concat([hbh, dstopts, seg]));
  const { udp } = decodeAll([frame(LinkType.RAW, ip)]);
  assert.equal(udp.length, 1);
  assert.deepEqual(udp[0].payload, SIP);
});

const big = Buffer.alloc(3000);
for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;

test('IPv4 fragments out of order (and one duplicated) are reassembled on the last one', () => {
  const seg = udpSegment('10.1.1.1', '10.2.2.2', 5060, 5060, big);
  const frags = ipv4Fragments('10.1.1.1', '10.2.2.2', IPPROTO_UDP, seg, 1480, 77);
  assert.equal(frags.length, 3);
  const order = [frags[2], frags[0], frags[0], frags[1]];
  const frames = order.map((d) => frame(LinkType.ETHERNET, ethernetFrame(d)));
  const { udp, decoder } = decodeAll(frames);
  assert.equal(udp.length, 1);
  assert.deepEqual(udp[0].payload, big);
  assert.equal(udp[0].frame, frames[3].index);
  assert.equal(decoder.stats.reassembled, 1);
});

test('IPv6 fragments (fragment header) out of order are reassembled', () => {
  const seg = udpSegment('2001:db8::1', '2001:db8::2', 5060, 5080, big);
  const frags = ipv6Fragments('2001:db8::1', '2001:db8::2', IPPROTO_UDP, seg, 1232, 0xdeadbeef);
  const { udp } = decodeAll([frags[1], frags[2], frags[0]].map((d) => frame(LinkType.RAW, d)));
  assert.equal(udp.length, 1);
  assert.equal(udp[0].dstPort, 5080);
  assert.deepEqual(udp[0].payload, big);
});

test('tshark reassembles the same IPv4 and IPv6 fragmented datagrams', (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const s4 = udpSegment('10.1.1.1', '10.2.2.2', 5060, 5060, big);
  const s6 = udpSegment('2001:db8::1', '2001:db8::2', 5060, 5060, big);
  const frames = [
    ...ipv4Fragments('10.1.1.1', '10.2.2.2', IPPROTO_UDP, s4, 1480, 9),
    ...ipv6Fragments('2001:db8::1', '2001:db8::2', IPPROTO_UDP, s6, 1232, 9),
  ].map((d, i) => ({ ts: 1 + i, data: d }));
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-frag-'));
  try {
    const path = join(dir, 'frag.pcap');
    writeFileSync(path, writePcap(frames, { linkType: LinkType.RAW }));
    const out = execFileSync(
      bin,
      ['-r', path, '-Y', 'udp', '-T', 'fields', '-e', 'frame.number', '-e', 'udp.length'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const { udp } = decodeAll(frames.map((f) => frame(LinkType.RAW, f.data)));
    const ours = udp.map((p) => p.payload.length + 8);
    const theirs = out
      .trim()
      .split('\n')
      .map((l) => Number(l.split('\t')[1]));
    assert.deepEqual(ours, theirs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flood of incomplete fragments stays within the limits and is reported', () => {
  const frames: CaptureFrame[] = [];
  for (let id = 0; id < 500; id++) {
    const seg = udpSegment('10.9.9.9', '10.8.8.8', 1, 2, Buffer.alloc(2000));
    frames.push(
      frame(
        LinkType.RAW,
        ipv4Fragments('10.9.9.9', '10.8.8.8', IPPROTO_UDP, seg, 1480, id)[0],
        5000,
      ),
    );
  }
  const limits = { fragments: { maxDatagrams: 50, maxBytes: 40000 } };
  const udp: Packet[] = [];
  const warnings: string[] = [];
  const decoder = new PacketDecoder(
    { onUdp: (p) => udp.push(p), onTcpData: () => undefined, onWarning: (m) => warnings.push(m) },
    limits,
  );
  let maxHeld = 0;
  for (const f of frames) {
    decoder.decode(f);
    maxHeld = Math.max(
      maxHeld,
      (decoder as unknown as { fragments: { bytes: number; size: number } }).fragments.bytes,
    );
  }
  assert.ok(maxHeld <= 40000, `held ${maxHeld} bytes`);
  assert.ok(warnings.length > 400);
  // And time-outs: a fragment 31 s later expires everything older.
  const later = udpSegment('10.9.9.9', '10.8.8.8', 1, 2, Buffer.alloc(2000));
  decoder.decode(
    frame(
      LinkType.RAW,
      ipv4Fragments('10.9.9.9', '10.8.8.8', IPPROTO_UDP, later, 1480, 9999)[0],
      5031,
    ),
  );
  const f = (decoder as unknown as { fragments: { size: number } }).fragments;
  assert.equal(f.size, 1);
  assert.equal(udp.length, 0);
});

test('an unsupported link type is warned about once; non-IP frames are counted, not delivered', () => {
  const { udp, warnings, decoder } = decodeAll([
    frame(147, Buffer.alloc(40)),
    frame(147, Buffer.alloc(40)),
    frame(
      LinkType.ETHERNET,
      Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]),
    ),
  ]);
  assert.equal(udp.length, 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /link type 147/);
  assert.equal(decoder.stats.other, 3);
});

test('truncated headers never throw', () => {
  const full = ethernetFrame(udpIp('2001:db8::1', '2001:db8::2'));
  for (let cut = 0; cut < full.length; cut++) {
    decodeAll([frame(LinkType.ETHERNET, full.subarray(0, cut))]);
  }
  const v4full = ethernetFrame(udpIp('10.0.0.1', '10.0.0.2'));
  for (let cut = 0; cut < v4full.length; cut++)
    decodeAll([frame(LinkType.ETHERNET, v4full.subarray(0, cut))]);
});
