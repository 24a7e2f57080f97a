// The readers and decoder against the shared real captures, checked against tshark's numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inCI, needTool, sharedDir } from '../../test/support/peers.ts';
import { readCaptureFile } from './read-capture-file.ts';
import { PacketDecoder } from './packet-decoder.ts';

const capturesDir = join(sharedDir, 'captures');
const files = existsSync(capturesDir)
  ? readdirSync(capturesDir).filter((f) => /\.(pcap|pcapng|cap)$/.test(f))
  : [];

if (files.length === 0) {
  test('shared captures', (t) => {
    const reason = `no captures in ${capturesDir} (set TRAPEZOID_SHARED)`;
    if (inCI) throw new Error(reason);
    t.skip(reason);
  });
}

function tshark(bin: string, args: string[]): string {
  return execFileSync(bin, args, {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

interface Decoded {
  frames: number;
  udp: string[];
  tcp: Map<string, string>;
}

async function decodeFile(path: string): Promise<Decoded> {
  const udp: string[] = [];
  const byStream = new Map<number, { key: string; parts: Buffer[] }>();
  const decoder = new PacketDecoder({
    onUdp(p) {
      udp.push(
        `${p.frame} ${p.src} ${p.srcPort} ${p.dst} ${p.dstPort} ${p.payload.length + 8} ${p.payload.toString('hex')}`,
      );
    },
    onTcpData(d) {
      let s = byStream.get(d.streamId);
      if (!s)
        byStream.set(
          d.streamId,
          (s = { key: `${d.src}:${d.srcPort}>${d.dst}:${d.dstPort}`, parts: [] }),
        );
      s.parts.push(Buffer.from(d.payload));
    },
  });
  // A small buffer forces frames across chunk boundaries.
  const r = await readCaptureFile(path, (f) => decoder.decode(f), { chunkBytes: 4096 });
  assert.equal(r.error, undefined, `${path}: ${r.error?.message}`);
  decoder.finish();
  const tcp = new Map<string, string>();
  for (const s of byStream.values())
    tcp.set(s.key, (tcp.get(s.key) ?? '') + Buffer.concat(s.parts).toString('hex'));
  return { frames: r.frames, udp, tcp };
}

for (const file of files) {
  test(`${file}: frames, UDP payloads and TCP streams equal tshark's`, async (t) => {
    const bin = needTool(t, 'tshark');
    if (!bin) return;
    const path = join(capturesDir, file);
    const ours = await decodeFile(path);
    // One pass for the frame count, the UDP datagrams and the TCP stream numbers.
    const rows = tshark(bin, [
      '-r',
      path,
      '-T',
      'fields',
      '-E',
      'separator=,',
      '-e',
      'frame.number',
      '-e',
      'ip.src',
      '-e',
      'ipv6.src',
      '-e',
      'udp.srcport',
      '-e',
      'ip.dst',
      '-e',
      'ipv6.dst',
      '-e',
      'udp.dstport',
      '-e',
      'udp.length',
      '-e',
      'udp.payload',
      '-e',
      'tcp.stream',
      '-e',
      'icmp.type',
      '-e',
      'icmpv6.type',
    ])
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split(','));
    assert.equal(ours.frames, rows.length, 'frame count');
    const theirsUdp = rows
      .filter((r) => r[3] !== '' && r[10] === '' && r[11] === '')
      .map(
        ([n, s4, s6, sp, d4, d6, dp, len, payload]) =>
          `${n} ${s4 || s6} ${sp} ${d4 || d6} ${dp} ${len} ${payload}`,
      );
    assert.equal(ours.udp.length, theirsUdp.length, 'UDP datagram count');
    assert.deepEqual(ours.udp, theirsUdp);

    const streams = new Set(rows.map((r) => r[9]).filter((s) => s !== ''));
    const theirsTcp = new Map<string, string>();
    if (streams.size > 0) {
      const follow = tshark(bin, [
        '-r',
        path,
        '-q',
        ...[...streams].flatMap((n) => ['-z', `follow,tcp,raw,${n}`]),
      ]);
      for (const block of follow.split(/^Follow: tcp,raw$/m).slice(1)) {
        const node0 = /Node 0: (\S+)/.exec(block)?.[1] ?? '';
        const node1 = /Node 1: (\S+)/.exec(block)?.[1] ?? '';
        const body = block.split('\n').filter((l) => /^\t?[0-9a-f]+$/.test(l));
        const fwd = body.filter((l) => !l.startsWith('\t')).join('');
        const rev = body
          .filter((l) => l.startsWith('\t'))
          .map((l) => l.slice(1))
          .join('');
        if (fwd)
          theirsTcp.set(`${node0}>${node1}`, (theirsTcp.get(`${node0}>${node1}`) ?? '') + fwd);
        if (rev)
          theirsTcp.set(`${node1}>${node0}`, (theirsTcp.get(`${node1}>${node0}`) ?? '') + rev);
      }
    }
    assert.deepEqual(
      [...ours.tcp.keys()].sort(),
      [...theirsTcp.keys()].sort(),
      'TCP stream directions',
    );
    for (const [key, hex] of theirsTcp) {
      assert.equal(ours.tcp.get(key)?.length, hex.length, `bytes of ${key}`);
      assert.ok(ours.tcp.get(key) === hex, `content of ${key} differs`);
    }
  });
}
