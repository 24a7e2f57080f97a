// bench/generate-capture.ts writes a capture that tshark and this layer read alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool, repoRoot } from '../../test/support/peers.ts';
import { PacketDecoder } from './packet-decoder.ts';
import { readCaptureFile } from './read-capture-file.ts';

const CALLS = 24;

test('generated capture: tshark sees the calls, RTP streams and TCP bytes we decode', async (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-gen-'));
  try {
    const path = join(dir, 'gen.pcap');
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(repoRoot, 'bench', 'generate-capture.ts'),
        '--calls',
        String(CALLS),
        '--seconds',
        '2',
        '--out',
        path,
        '--seed',
        '7',
        '--tcp',
        '0.3',
        '--ipv6',
        '0.3',
        '--quiet',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const run = (args: string[]): string =>
      execFileSync(bin, ['-r', path, ...args], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        stdio: ['ignore', 'pipe', 'ignore'],
      });

    let udp = 0;
    let v6 = 0;
    const tcp = new Map<string, Buffer[]>();
    const decoder = new PacketDecoder({
      onUdp: (p) => {
        udp++;
        if (p.ipVersion === 6) v6++;
      },
      onTcpData: (d) => {
        const key = `${d.src.includes(':') ? `[${d.src}]` : d.src}:${d.srcPort}>${d.dst.includes(':') ? `[${d.dst}]` : d.dst}:${d.dstPort}`;
        tcp.set(key, [...(tcp.get(key) ?? []), Buffer.from(d.payload)]);
      },
    });
    const r = await readCaptureFile(path, (f) => decoder.decode(f));
    decoder.finish();
    assert.equal(r.error, undefined);
    assert.ok(v6 > 0, 'some IPv6');

    const frames = run(['-T', 'fields', '-e', 'frame.number']).trim().split('\n').length;
    assert.equal(r.frames, frames);
    assert.equal(
      udp,
      run(['-Y', 'udp', '-T', 'fields', '-e', 'frame.number']).trim().split('\n').length,
    );

    const sip = run(['-q', '-z', 'sip,stat']);
    const invites = Number(/INVITE\s+:\s+(\d+)/.exec(sip)?.[1]);
    assert.equal(invites, CALLS + Math.round(CALLS / 12) + Math.round(CALLS / 25));
    assert.equal(Number(/Number of resent SIP messages: (\d+)/.exec(sip)?.[1]), 0);
    const streams = run(['-q', '-z', 'rtp,streams'])
      .split('\n')
      .filter((l) => / 0x[0-9A-F]{8} /.test(l));
    assert.equal(streams.length, 2 * CALLS, 'two RTP streams per answered call');
    assert.equal(
      run([
        '-Y',
        '_ws.malformed || _ws.expert.severity >= "warning"',
        '-T',
        'fields',
        '-e',
        'frame.number',
      ]).trim(),
      '',
    );

    const ids = new Set(
      run(['-Y', 'tcp', '-T', 'fields', '-e', 'tcp.stream'])
        .split('\n')
        .filter((l) => l !== ''),
    );
    assert.ok(ids.size > 0, 'some calls over TCP');
    const follow = run(['-q', ...[...ids].flatMap((n) => ['-z', `follow,tcp,raw,${n}`])]);
    const theirs = new Map<string, string>();
    for (const block of follow.split(/^Follow: tcp,raw$/m).slice(1)) {
      const node0 = /Node 0: (\S+)/.exec(block)?.[1] ?? '';
      const node1 = /Node 1: (\S+)/.exec(block)?.[1] ?? '';
      const lines = block.split('\n').filter((l) => /^\t?[0-9a-f]+$/.test(l));
      const fwd = lines.filter((l) => !l.startsWith('\t')).join('');
      const rev = lines
        .filter((l) => l.startsWith('\t'))
        .map((l) => l.slice(1))
        .join('');
      if (fwd) theirs.set(`${node0}>${node1}`, fwd);
      if (rev) theirs.set(`${node1}>${node0}`, rev);
    }
    assert.deepEqual([...tcp.keys()].sort(), [...theirs.keys()].sort());
    for (const [key, hex] of theirs)
      assert.ok(Buffer.concat(tcp.get(key) ?? []).toString('hex') === hex, `bytes of ${key}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
