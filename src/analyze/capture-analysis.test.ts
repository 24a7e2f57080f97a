import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildUdpPcap } from '../../test/analyze-capture-builder.ts';
import type { UdpDatagram } from '../../test/analyze-capture-builder.ts';
import { needTool } from '../../test/support/peers.ts';
import { buildReport } from './analysis-report.ts';
import { analyzeCaptureFile } from './capture-analysis.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the allocation-free RTP path counts exactly what the Packet path counts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-analysis-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mix.pcap');
  // IPv4 and IPv6, UDP and TCP signalling, telephone-events, loss and jitter.
  execFileSync(
    process.execPath,
    ['--import', 'tsx', 'bench/generate-capture.ts', '--calls', '24', '--seconds', '3'].concat([
      '--ipv6',
      '0.4',
      '--tcp',
      '0.3',
      '--out',
      file,
      '--quiet',
    ]),
    { cwd: root, stdio: 'ignore' },
  );
  // Security findings read every RTP packet as a Packet: that analysis never takes the view.
  const fast = await analyzeCaptureFile(file, { keepRaw: false });
  const slow = await analyzeCaptureFile(file, { keepRaw: false, security: true });
  const a = buildReport(fast.analysis);
  const b = buildReport(slow.analysis);
  assert.ok(a.rtpStreams.length >= 48, `only ${a.rtpStreams.length} streams`);
  assert.ok(a.rtpStreams.some((s) => s.src.includes(':') && s.foundBy === 'sdp'));
  assert.deepEqual(a.rtpStreams, b.rtpStreams);
  assert.deepEqual(a.stats, b.stats);
  assert.equal(fast.analysis.udpPackets, slow.analysis.udpPackets);
  assert.ok(a.calls.length > 0);
  assert.deepEqual(
    a.calls.map((c) => [c.callId, c.rtp.length]),
    b.calls.map((c) => [c.callId, c.rtp.length]),
  );
});

function rtp(seq: number, timestamp: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0xd5);
  b[0] = 0x80;
  b[1] = 8; // PCMA
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(timestamp >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** Streams found by the heuristics whose first packets arrive out of order. */
function reorderedAtStart(): UdpDatagram[] {
  const flows: { port: number; order: Record<number, number> }[] = [
    { port: 42000, order: { 2: 3, 3: 2 } },
    { port: 42002, order: { 1: 2, 2: 1 } },
  ];
  let seed = 3;
  const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 0.004;
  const packets: UdpDatagram[] = [];
  for (const { port, order } of flows) {
    for (let slot = 0; slot < 40; slot++) {
      const k = order[slot] ?? slot;
      const ts = Math.round((1700000000 + slot * 0.02 + noise()) * 1e6) / 1e6;
      const payload = rtp(1000 + k, 5000 + 160 * k, port);
      packets.push({
        ts,
        src: '10.0.0.1',
        sport: port,
        dst: '10.0.0.2',
        dport: port + 1000,
        payload,
      });
    }
  }
  return packets.sort((x, y) => x.ts - y.ts);
}

test('heuristic streams reordered in their first packets: every packet counted, as tshark does', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-analysis-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'reordered.pcap');
  writeFileSync(file, buildUdpPcap(reorderedAtStart()));
  const report = buildReport((await analyzeCaptureFile(file, { keepRaw: false })).analysis);
  // What tshark 4.0.17 prints for this capture (-o rtp.heuristic_rtp:TRUE -z rtp,streams):
  // packets, lost, max delta, mean jitter, max jitter.
  const printed: Record<number, number[]> = {
    42000: [40, 0, 23.914, 2.598, 4.745],
    42002: [40, 0, 22.895, 2.754, 4.625],
  };
  assert.equal(report.rtpStreams.length, 2);
  for (const s of report.rtpStreams) {
    const port = Number(s.src.split(':')[1]);
    const expected = printed[port]!;
    const ours = [s.packets, s.lost, s.maxDeltaMs, s.meanJitterMs, s.maxJitterMs];
    for (let i = 0; i < ours.length; i++) {
      assert.ok(
        Math.abs(ours[i]! - expected[i]!) <= 0.0005,
        `port ${port} column ${i}: ${ours[i]} vs ${expected[i]}`,
      );
    }
    assert.equal(s.outOfOrder, 1);
    assert.equal(s.foundBy, 'heuristic');
  }
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  const table = execFileSync(
    tshark,
    ['-r', file, '-o', 'rtp.heuristic_rtp:TRUE', '-q', '-z', 'rtp,streams'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  for (const s of report.rtpStreams) {
    const port = s.src.split(':')[1];
    const row = table.split('\n').find((line) => line.includes(` ${port} `));
    assert.ok(row, `tshark has no stream from port ${port}`);
    const cells = row.trim().split(/\s+/);
    // ... Pkts Lost (pct) MinDelta MeanDelta MaxDelta MinJitter MeanJitter MaxJitter X
    assert.equal(Number(cells[8]), s.packets);
    assert.equal(Number(cells[9]), s.lost);
    assert.ok(Math.abs(Number(cells[16]) - s.maxJitterMs) <= 0.0005, row);
  }
});
