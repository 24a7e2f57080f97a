import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool, sharedDir } from '../../test/support/peers.ts';
import { RtpStreamStats } from './rtp-stream-stats.ts';
import { RtpPacket } from './rtp-packet.ts';

/** Feeds a regular 20 ms PCMU stream, minus the sequence numbers in `drop`. */
function feed(
  stats: RtpStreamStats,
  firstSeq: number,
  count: number,
  drop: Set<number> = new Set(),
): void {
  for (let i = 0; i < count; i++) {
    const seq = (firstSeq + i) & 0xffff;
    if (drop.has(i)) continue;
    stats.update(seq, (1000 + i * 160) >>> 0, 100 + i * 0.02, 0, i === 0);
  }
}

test('a clean stream: nothing lost, 20 ms deltas, zero jitter', () => {
  const stats = new RtpStreamStats(8000);
  feed(stats, 100, 50);
  const s = stats.snapshot();
  assert.equal(s.packets, 50);
  assert.equal(s.expected, 50);
  assert.equal(s.lost, 0);
  assert.ok(Math.abs(s.maxDeltaMs - 20) < 1e-6);
  assert.ok(Math.abs(s.meanDeltaMs - 20) < 1e-6);
  assert.ok(s.maxJitterMs < 1e-6);
  assert.equal(s.sequenceErrors, 0);
  assert.equal(s.problem, false);
  assert.equal(s.markers, 1);
});

test('losses across the 16-bit sequence wrap are counted once', () => {
  const stats = new RtpStreamStats(8000);
  // 65530 .. 65535, 0 .. 13: drop 65534 (index 4) and 2 (index 8).
  feed(stats, 65530, 20, new Set([4, 8]));
  const s = stats.snapshot();
  assert.equal(s.packets, 18);
  assert.equal(s.expected, 20);
  assert.equal(s.lost, 2);
  assert.equal(s.sequenceCycles, 1);
  assert.equal(s.rfcLost, 2);
  assert.equal(s.extendedHighestSequence, 0x10000 + 13);
  assert.equal(s.sequenceErrors, 2);
  assert.equal(s.problem, true);
  // A gap of one packet shows as a 40 ms delta.
  assert.ok(Math.abs(s.maxDeltaMs - 40) < 1e-6);
});

test('duplicates make tshark-style lost negative and are counted', () => {
  const stats = new RtpStreamStats(8000);
  for (let i = 0; i < 10; i++) {
    stats.update(500 + i, i * 160, i * 0.02, 8);
    if (i === 3 || i === 6) stats.update(500 + i, i * 160, i * 0.02 + 0.001, 8);
  }
  const s = stats.snapshot();
  assert.equal(s.packets, 12);
  assert.equal(s.expected, 10);
  assert.equal(s.lost, -2);
  assert.equal(s.duplicates, 2);
  assert.equal(s.outOfOrder, 0);
  assert.equal(s.rfcLost, -2);
});

test('a reordered packet counts as out of order, not lost', () => {
  const stats = new RtpStreamStats(8000);
  const order = [0, 1, 2, 4, 3, 5, 6, 7];
  for (const i of order) stats.update(10 + i, i * 160, 1 + order.indexOf(i) * 0.02, 0);
  const s = stats.snapshot();
  assert.equal(s.packets, 8);
  assert.equal(s.outOfOrder, 1);
  assert.equal(s.duplicates, 0);
  assert.equal(s.lost, 0);
  assert.equal(s.rfcLost, 0);
  // Reordering after the first packet is not a timestamp error (tshark 4.0) but a sequence one.
  assert.equal(s.timestampErrors, 0);
  assert.equal(s.sequenceErrors, 2);
  // A packet older than the first one is out of time sequence.
  stats.update(9, -160 >>> 0, 2, 0);
  assert.equal(stats.snapshot().timestampErrors, 1);
});

test('RFC 3550 jitter in timestamp units follows a constant 1 ms alternating offset', () => {
  const stats = new RtpStreamStats(8000);
  for (let i = 0; i < 2000; i++) stats.update(i, i * 160, i * 0.02 + (i % 2) * 0.001, 0);
  const s = stats.snapshot();
  // |D| is 1 ms = 8 ticks every packet, so J converges to 8 ticks and 1 ms.
  assert.ok(Math.abs(s.rfcJitter - 8) < 0.01, String(s.rfcJitter));
  assert.ok(Math.abs(s.jitterMs - 1) < 0.01, String(s.jitterMs));
  const interval = stats.takeReceptionInterval();
  assert.equal(interval.jitter, 7); // just below 8: truncated
  assert.equal(interval.fractionLost, 0);
});

test('fraction lost per interval (RFC 3550 A.3)', () => {
  const stats = new RtpStreamStats(8000);
  // First interval: 100 packets, 25 lost.
  feed(stats, 0, 100, new Set(Array.from({ length: 25 }, (_, k) => 10 + k * 3)));
  const first = stats.takeReceptionInterval();
  assert.equal(first.fractionLost, 64); // 25/100 * 256
  assert.equal(first.cumulativeLost, 25);
  assert.equal(first.extendedHighestSequence, 99);
});

interface StreamKey {
  ssrc: string;
  src: string;
  dst: string;
}

interface TsharkStream extends StreamKey {
  packets: number;
  lost: number;
  minDelta: number;
  meanDelta: number;
  maxDelta: number;
  minJitter: number;
  meanJitter: number;
  maxJitter: number;
  problem: boolean;
}

/** Parses the table `tshark -q -z rtp,streams` prints. */
function tsharkStreams(tshark: string, file: string, extra: string[] = []): TsharkStream[] {
  const out = execFileSync(
    tshark,
    ['-r', file, '-q', '-o', 'rtp.heuristic_rtp:TRUE', ...extra, '-z', 'rtp,streams'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const streams: TsharkStream[] = [];
  const row =
    /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+.*?\s(\d+)\s+(-?\d+)\s+\(\s*-?[\d.]+%\)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*(X?)\s*$/;
  for (const line of out.split('\n')) {
    const m = row.exec(line);
    if (!m) continue;
    streams.push({
      src: `${m[1]}:${m[2]}`,
      dst: `${m[3]}:${m[4]}`,
      ssrc: m[5]!.toLowerCase(),
      packets: Number(m[6]),
      lost: Number(m[7]),
      minDelta: Number(m[8]),
      meanDelta: Number(m[9]),
      maxDelta: Number(m[10]),
      minJitter: Number(m[11]),
      meanJitter: Number(m[12]),
      maxJitter: Number(m[13]),
      problem: m[14] === 'X',
    });
  }
  return streams;
}

/** Runs every RTP packet of a capture (as tshark decodes them) through RtpStreamStats. */
function ourStreams(
  tshark: string,
  file: string,
  clockRates: Record<number, number>,
  extra: string[] = [],
): Map<string, RtpStreamStats> {
  const out = execFileSync(
    tshark,
    [
      '-r',
      file,
      '-o',
      'rtp.heuristic_rtp:TRUE',
      ...extra,
      '-Y',
      'rtp.ssrc && !icmp',
      '-T',
      'fields',
      '-E',
      'separator=,',
      '-e',
      'rtp.ssrc',
      '-e',
      'rtp.seq',
      '-e',
      'rtp.timestamp',
      '-e',
      'frame.time_relative',
      '-e',
      'rtp.p_type',
      '-e',
      'rtp.marker',
      '-e',
      'ip.src',
      '-e',
      'udp.srcport',
      '-e',
      'ip.dst',
      '-e',
      'udp.dstport',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const streams = new Map<string, RtpStreamStats>();
  for (const line of out.trim().split('\n')) {
    if (!line) continue;
    const [ssrc, seq, ts, time, pt, marker, src, sport, dst, dport] = line.split(',');
    const key = `${ssrc!.toLowerCase()} ${src}:${sport} ${dst}:${dport}`;
    let stats = streams.get(key);
    if (!stats) {
      stats = new RtpStreamStats(8000, { payloadClockRates: clockRates });
      streams.set(key, stats);
    }
    stats.update(
      Number(seq),
      Number(ts),
      Number(time),
      Number(pt),
      marker === '1' || marker === 'True',
    );
  }
  return streams;
}

const captures: { file: string; clockRates: Record<number, number> }[] = [
  { file: 'sip-rtp-g711.pcap', clockRates: {} },
  // Payload type 96 is telephone-event here (no media clock).
  { file: 'SIP_DTMF2.cap', clockRates: { 96: 0 } },
  { file: 'sip-over-tcp.pcap', clockRates: {} },
  // Payload type 96 is opus at 48 kHz after the re-INVITE.
  { file: 'register-invite-reinvite-bye.pcap', clockRates: { 96: 48000 } },
];

/** Compares every stream of a capture, as tshark tabulates it, with RtpStreamStats. */
function compareWithTshark(
  tshark: string,
  path: string,
  clockRates: Record<number, number>,
  extra: string[] = [],
): number {
  const expected = tsharkStreams(tshark, path, extra);
  const ours = ourStreams(tshark, path, clockRates, extra);
  assert.ok(expected.length > 0, 'tshark found no RTP streams');
  assert.equal(ours.size, expected.length);
  // tshark prints 3 decimals: allow half a unit of rounding plus 1%.
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 0.0005 + Math.abs(b) * 0.01;
  for (const stream of expected) {
    const stats = ours.get(`${stream.ssrc} ${stream.src} ${stream.dst}`);
    assert.ok(stats, `no stream ${stream.ssrc} ${stream.src} -> ${stream.dst}`);
    const s = stats.snapshot();
    const what = `${path} ${stream.ssrc}`;
    assert.equal(s.packets, stream.packets, `${what} packets`);
    assert.equal(s.lost, stream.lost, `${what} lost`);
    assert.equal(s.problem, stream.problem, `${what} problem`);
    const pairs: [string, number, number][] = [
      ['min delta', s.minDeltaMs, stream.minDelta],
      ['mean delta', s.meanDeltaMs, stream.meanDelta],
      ['max delta', s.maxDeltaMs, stream.maxDelta],
      ['min jitter', s.minJitterMs, stream.minJitter],
      ['mean jitter', s.meanJitterMs, stream.meanJitter],
      ['max jitter', s.maxJitterMs, stream.maxJitter],
    ];
    for (const [name, mine, theirs] of pairs) {
      assert.ok(close(mine, theirs), `${what} ${name}: ${mine} vs tshark ${theirs}`);
    }
  }
  return expected.length;
}

for (const { file, clockRates } of captures) {
  test(`stream statistics agree with tshark -z rtp,streams on ${file}`, (t) => {
    const tshark = needTool(t, 'tshark');
    if (!tshark) return;
    compareWithTshark(tshark, join(sharedDir, 'captures', file), clockRates);
  });
}

/** A pcap (Ethernet, IPv4, UDP) of the given RTP packets; times in seconds. */
function pcapOf(packets: { port: number; time: number; rtp: Buffer }[]): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const records = packets.map(({ port, time, rtp }) => {
    const frame = Buffer.alloc(14 + 20 + 8 + rtp.length);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(20 + 8 + rtp.length, 16);
    frame[22] = 64;
    frame[23] = 17; // UDP
    Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(frame, 26);
    frame.writeUInt16BE(port, 34);
    frame.writeUInt16BE(port, 36);
    frame.writeUInt16BE(8 + rtp.length, 38);
    rtp.copy(frame, 42);
    const header = Buffer.alloc(16);
    const micros = Math.round(time * 1e6);
    header.writeUInt32LE(Math.floor(micros / 1e6), 0);
    header.writeUInt32LE(micros % 1e6, 4);
    header.writeUInt32LE(frame.length, 8);
    header.writeUInt32LE(frame.length, 12);
    return Buffer.concat([header, frame]);
  });
  return Buffer.concat([global, ...records]);
}

/** A deterministic pseudo-random generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('wraps, losses, duplicates, reordering, markers and comfort noise agree with tshark', (t) => {
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  const rnd = random(42);
  const packets: { port: number; time: number; rtp: Buffer }[] = [];
  // Each scenario is one stream on its own port: [port, first seq, first timestamp, kind].
  const scenarios: [number, number, number, string][] = [
    [40000, 65400, 0xffff0000, 'loss'],
    [40002, 65500, 1000, 'duplicates'],
    [40004, 100, 0xfffffc00, 'reorder'],
    [40006, 0, 5000, 'late-wrap'],
    [40008, 30000, 123456, 'cn-marker'],
  ];
  for (const [port, firstSeq, firstTs, kind] of scenarios) {
    const ssrc = port * 7919;
    for (let k = 0; k < 300; k++) {
      let seq = (firstSeq + k) & 0xffff;
      let time = 1 + k * 0.02 + rnd() * 0.004;
      let pt = 8;
      let marker = k === 0;
      if (kind === 'loss' && (k % 37 === 3 || (k > 130 && k < 136))) continue;
      if (kind === 'reorder' && k % 25 === 10) time += 0.045; // lands after the next two
      if (kind === 'late-wrap' && k === 1) seq = 65535; // a stray packet from before the start
      if (kind === 'cn-marker' && k % 50 > 40) pt = 13;
      if (kind === 'cn-marker' && k % 50 === 0) marker = true;
      const rtp = new RtpPacket({
        payloadType: pt,
        sequenceNumber: seq,
        timestamp: (firstTs + k * 160) >>> 0,
        ssrc,
        marker,
        payload: Buffer.alloc(pt === 13 ? 1 : 160, 0xd5),
      }).marshal();
      packets.push({ port, time, rtp });
      if (kind === 'duplicates' && k % 20 === 7) packets.push({ port, time: time + 0.001, rtp });
    }
  }
  packets.sort((a, b) => a.time - b.time);
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-rtp-'));
  try {
    const file = join(dir, 'synthetic.pcap');
    writeFileSync(file, pcapOf(packets));
    if (process.env.KEEP_PCAP) writeFileSync(process.env.KEEP_PCAP, pcapOf(packets));
    const decodeAs = scenarios.flatMap(([port]) => ['-d', `udp.port==${port},rtp`]);
    assert.equal(compareWithTshark(tshark, file, {}, decodeAs), scenarios.length);
    // The cases were not trivial: tshark reported negative loss for the duplicates.
    const streams = tsharkStreams(tshark, file, decodeAs);
    assert.ok(streams.some((s) => s.lost < 0));
    assert.ok(streams.some((s) => s.lost > 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Reordered streams, each on its own port: which packet (by index) is sent in each 20 ms slot.
 * tshark computes jitter in arrival order, late packets included: a packet behind in time
 * makes the expected arrival step back and the next one forward again.
 */
const REORDERED: { port: number; firstTimestamp: number; order: Record<number, number> }[] = [
  { port: 41000, firstTimestamp: 5000, order: { 10: 11, 11: 10 } }, // one swapped pair
  { port: 41002, firstTimestamp: 5000, order: { 10: 11, 11: 12, 12: 13, 13: 10 } }, // 3 late
  { port: 41004, firstTimestamp: 5000, order: { 0: 1, 1: 0 } }, // the first two swapped
  { port: 41006, firstTimestamp: 0xfffff9c0, order: { 10: 11, 11: 10 } }, // across the wrap
];

function reorderedPackets(): { port: number; time: number; rtp: Buffer }[] {
  const packets: { port: number; time: number; rtp: Buffer }[] = [];
  const rnd = random(3);
  for (const { port, firstTimestamp, order } of REORDERED) {
    for (let slot = 0; slot < 40; slot++) {
      const k = order[slot] ?? slot;
      const rtp = new RtpPacket({
        payloadType: 8,
        sequenceNumber: 1000 + k,
        timestamp: (firstTimestamp + 160 * k) >>> 0,
        ssrc: port,
        payload: Buffer.alloc(160, 0xd5),
      }).marshal();
      // Whole microseconds, as the pcap stores them.
      const time = Math.round((1 + slot * 0.02 + rnd() * 0.004) * 1e6) / 1e6;
      packets.push({ port, time, rtp });
    }
  }
  return packets.sort((a, b) => a.time - b.time);
}

test('reordered packets: jitter and deltas are the numbers tshark 4.0 prints', () => {
  // `tshark -q -z rtp,streams` (4.0.17) on the capture of reorderedPackets(), columns
  // packets, lost, min/mean/max delta, min/mean/max jitter (ms, 3 decimals).
  const printed: Record<number, number[]> = {
    41000: [40, 0, 17.115, 20.007, 23.463, 0.17, 2.557, 5.065],
    41002: [40, 0, 17.167, 20.019, 23.118, 0.001, 3.852, 9.525],
    41004: [40, -1, 16.558, 20.079, 40.375, 1.042, 1.362, 1.814],
    41006: [40, 0, 16.358, 19.942, 23.482, 0.03, 2.202, 4.477],
  };

  const packets = reorderedPackets();
  for (const { port } of REORDERED) {
    const stats = new RtpStreamStats(8000);
    for (const p of packets) {
      if (p.port !== port) continue;
      stats.update(p.rtp.readUInt16BE(2), p.rtp.readUInt32BE(4), p.time, 8, false);
    }
    const s = stats.snapshot();
    const ours = [
      s.packets,
      s.lost,
      s.minDeltaMs,
      s.meanDeltaMs,
      s.maxDeltaMs,
      s.minJitterMs,
      s.meanJitterMs,
      s.maxJitterMs,
    ];
    const expected = printed[port]!;
    for (let i = 0; i < ours.length; i++) {
      assert.ok(
        Math.abs(ours[i]! - expected[i]!) <= 0.0005,
        `port ${port} column ${i}: ${ours[i]} vs ${expected[i]}`,
      );
    }
    assert.equal(s.problem, true);
    assert.ok(s.outOfOrder >= 1);
  }
});

test('reordered packets agree with tshark run on the same capture', (t) => {
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-rtp-'));
  try {
    const file = join(dir, 'reordered.pcap');
    writeFileSync(file, pcapOf(reorderedPackets()));
    // KEEP_REORDERED=path keeps the capture (to print tshark's table for the test above).
    if (process.env.KEEP_REORDERED)
      writeFileSync(process.env.KEEP_REORDERED, pcapOf(reorderedPackets()));
    const decodeAs = REORDERED.flatMap(({ port }) => ['-d', `udp.port==${port},rtp`]);
    assert.equal(compareWithTshark(tshark, file, {}, decodeAs), REORDERED.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without receiver statistics the Wireshark numbers are the same and the RFC 3550 ones stay 0', () => {
  const full = new RtpStreamStats(8000);
  const lean = new RtpStreamStats(8000, { receiverStatistics: false });
  for (const p of reorderedPackets()) {
    if (p.port !== 41002) continue;
    for (const stats of [full, lean]) {
      stats.update(p.rtp.readUInt16BE(2), p.rtp.readUInt32BE(4), p.time, 8, false);
    }
  }
  const a = full.snapshot();
  const b = lean.snapshot();
  assert.ok(a.rfcJitter > 0 && a.rfcExpected === 40);
  assert.deepEqual(
    { ...b, rfcJitter: a.rfcJitter, rfcExpected: a.rfcExpected, rfcLost: a.rfcLost },
    { ...a, extendedHighestSequence: b.extendedHighestSequence },
  );
  assert.equal(b.rfcJitter, 0);
  assert.equal(b.rfcExpected, 0);
  assert.equal(lean.takeReceptionInterval().jitter, 0);
});
