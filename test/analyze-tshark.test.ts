// The analyzer against tshark on every capture in ../shared/captures:
//  - RTP streams equal `tshark -q -z rtp,streams`: the same set keyed by src, dst and SSRC, the
//    same packet and loss counts, max and mean jitter within 1% (tshark prints 3 decimals, so a
//    difference below its rounding, 0.0005 ms, is also accepted).
//  - SIP statistics equal `tshark -q -z sip,stat`: requests by method and responses by code.
//    tshark only dissects SIP on its registered ports; where a capture carries SIP elsewhere
//    (sip-tcp-segmented.pcap uses TCP 6060) tshark is told so with -d, which is what a user
//    would do.
// Streams that carry RFC 4733 telephone-events: the analyzer leaves the event packets out of the
// jitter (src/analyze/voice-jitter.ts), tshark only half does (they still move its reference
// arrival time, so a digit shows as a jitter jump). Their jitter is compared with tshark's on the
// same capture with the event packets removed (`tshark -Y '!rtpevent' -w`); packets and loss
// with tshark's on the whole capture.
// tshark finds RTP through the SDP it sees, as our analyzer does by default. Streams that only
// our heuristics find (RTP with no SDP) are compared with tshark's own RTP heuristic switched on
// (-o rtp.heuristic_rtp:TRUE): on a capture built here that holds RTP and no SIP at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile, buildReport } from '../src/analyze/index.ts';
import type { RtpStreamSummary } from '../src/analyze/index.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import { needTool, sharedDir } from './support/peers.ts';

const capturesDir = join(sharedDir, 'captures');
const captures = readdirSync(capturesDir)
  .filter((f) => /\.(pcap|pcapng|cap)$/.test(f))
  .sort();
/** Decode-as rules tshark needs to see SIP where the capture has it. */
const DECODE_AS: Record<string, string[]> = {
  'sip-tcp-segmented.pcap': ['-d', 'tcp.port==6060,sip'],
};

interface TsharkStream {
  key: string;
  packets: number;
  lost: number;
  maxJitter: number;
  meanJitter: number;
}

function tshark(bin: string, args: string[]): string {
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function endpoint(ip: string, port: string): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Rows of `tshark -q -z rtp,streams`. */
function tsharkStreams(text: string): TsharkStream[] {
  const rows: TsharkStream[] = [];
  for (const line of text.split('\n')) {
    // start end srcIP srcPort dstIP dstPort SSRC payload... pkts lost (pct) minΔ meanΔ maxΔ minJ meanJ maxJ [X]
    const m =
      /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+.*?\s(\d+)\s+(-?\d+)\s+\(-?[\d.]+%\)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)/.exec(
        line,
      );
    if (!m) continue;
    rows.push({
      key: `${endpoint(m[1], m[2])} > ${endpoint(m[3], m[4])} ${m[5].toLowerCase()}`,
      packets: Number(m[6]),
      lost: Number(m[7]),
      meanJitter: Number(m[8]),
      maxJitter: Number(m[9]),
    });
  }
  return rows;
}

function keyOf(s: RtpStreamSummary): string {
  return `${s.src} > ${s.dst} ${s.ssrc}`;
}

function closeTo(ours: number, theirs: number, what: string): void {
  const tolerance = Math.max(theirs * 0.01, 0.0005 + 1e-9);
  assert.ok(
    Math.abs(ours - theirs) <= tolerance,
    `${what}: ours ${ours.toFixed(6)} vs tshark ${theirs.toFixed(3)}`,
  );
}

function compareStreams(
  ours: RtpStreamSummary[],
  theirs: TsharkStream[],
  where: string,
  withoutEvents?: TsharkStream[],
): void {
  const mine = new Map(ours.map((s) => [keyOf(s), s]));
  const voiceOnly = new Map((withoutEvents ?? []).map((t) => [t.key, t]));
  assert.deepEqual(
    [...mine.keys()].sort(),
    theirs.map((t) => t.key).sort(),
    `${where}: the same streams as tshark`,
  );
  for (const t of theirs) {
    const s = mine.get(t.key)!;
    assert.equal(s.packets, t.packets, `${where} ${t.key} packets`);
    assert.equal(s.lost, t.lost, `${where} ${t.key} lost`);
    const events = s.codec.includes('telephone-event');
    const jitter = events ? voiceOnly.get(t.key) : t;
    assert.ok(jitter, `${where} ${t.key}: tshark's jitter without the event packets`);
    const what = events ? 'jitter without RFC 4733 packets' : 'jitter';
    closeTo(s.maxJitterMs, jitter.maxJitter, `${where} ${t.key} max ${what}`);
    closeTo(s.meanJitterMs, jitter.meanJitter, `${where} ${t.key} mean ${what}`);
  }
}

/** tshark's sip,stat: requests by method and responses by code. */
function tsharkSipStat(text: string): {
  byMethod: Record<string, number>;
  byCode: Record<string, number>;
} {
  const byMethod: Record<string, number> = {};
  const byCode: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const code = /^\s*SIP (\d{3}) .*:\s*(\d+) Packets/.exec(line);
    if (code) byCode[code[1]] = Number(code[2]);
    const method = /^\s*([A-Z]+)\s*:\s*(\d+) Packets/.exec(line);
    if (method) byMethod[method[1]] = Number(method[2]);
  }
  return { byMethod, byCode };
}

for (const file of captures) {
  test(`tshark agrees on ${file}: RTP streams and SIP statistics`, async (t) => {
    const bin = needTool(t, 'tshark');
    if (!bin) return;
    const path = join(capturesDir, file);
    const { analysis } = await analyzeCaptureFile(path, { keepRaw: false });
    const report = buildReport(analysis);

    const theirs = tsharkStreams(tshark(bin, ['-r', path, '-q', '-z', 'rtp,streams']));
    const bySdp = report.rtpStreams.filter((s) => s.foundBy === 'sdp');
    let withoutEvents: TsharkStream[] | undefined;
    if (bySdp.some((s) => s.codec.includes('telephone-event'))) {
      const dir = mkdtempSync(join(tmpdir(), 'trapezoid-noevents-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const voice = join(dir, 'voice.pcap');
      tshark(bin, ['-r', path, '-Y', '!rtpevent', '-w', voice]);
      withoutEvents = tsharkStreams(tshark(bin, ['-r', voice, '-q', '-z', 'rtp,streams']));
    }
    compareStreams(bySdp, theirs, file, withoutEvents);
    // Every stream of these captures has SDP: the heuristics must not invent extra ones.
    assert.deepEqual(
      report.rtpStreams.filter((s) => s.foundBy === 'heuristic').map(keyOf),
      [],
      'no heuristic-only streams',
    );

    const stat = tsharkSipStat(
      tshark(bin, ['-r', path, ...(DECODE_AS[file] ?? []), '-q', '-z', 'sip,stat']),
    );
    const byCode = Object.fromEntries(Object.entries(report.stats.byCode).filter(([, n]) => n > 0));
    assert.deepEqual(report.stats.byMethod, stat.byMethod, `${file}: requests by method`);
    assert.deepEqual(byCode, stat.byCode, `${file}: responses by code`);
    assert.equal(report.stats.parseErrors, 0, `${file}: ${JSON.stringify(report.parseFailures)}`);
  });
}

// --- RTP without SIP: the heuristic path against tshark's RTP heuristic -------------------------

/**
 * One swapped pair (packets 80 and 81) is in the stream: the heuristic stream finder keeps
 * packets that arrive a little out of order while a flow proves itself, so every packet is
 * counted and the jitter agrees with tshark's.
 */
const REORDER = true;
function rtp(seq: number, timestamp: number, ssrc: number, pt: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0xd5);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(timestamp >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

test('RTP with no SIP: heuristic streams equal tshark with its RTP heuristic on', async (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-rtp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const packets = [];
  // Two directions of PCMA, 20 ms apart with some jitter, one lost packet, a sequence wrap.
  let seed = 7;
  const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 0.004;
  for (let i = 0; i < 200; i++) {
    if (i === 50) continue;
    const order = REORDER && i === 80 ? 81 : REORDER && i === 81 ? 80 : i;
    packets.push({
      ts: 1700000000 + i * 0.02 + noise(),
      src: '192.0.2.10',
      sport: 40000,
      dst: '192.0.2.20',
      dport: 50000,
      payload: rtp(1000 + order, 160 * order, 0x11223344, 8),
    });
    packets.push({
      ts: 1700000000.005 + i * 0.02 + noise(),
      src: '192.0.2.20',
      sport: 50000,
      dst: '192.0.2.10',
      dport: 40000,
      payload: rtp(65500 + i, 5000 + 160 * i, 0x55667788, 8),
    });
  }
  packets.sort((a, b) => a.ts - b.ts);
  const path = join(dir, 'rtp-only.pcap');
  writeFileSync(path, buildUdpPcap(packets));

  const { analysis } = await analyzeCaptureFile(path, { keepRaw: false });
  const report = buildReport(analysis);
  assert.equal(report.rtpStreams.length, 2);
  assert.ok(report.rtpStreams.every((s) => s.foundBy === 'heuristic' && s.callId === null));
  const theirs = tsharkStreams(
    tshark(bin, ['-r', path, '-o', 'rtp.heuristic_rtp:TRUE', '-q', '-z', 'rtp,streams']),
  );
  compareStreams(report.rtpStreams, theirs, 'rtp-only.pcap');
  const forward = report.rtpStreams.find((s) => s.ssrc === '0x11223344')!;
  assert.equal(forward.lost, 1);
  assert.equal(forward.outOfOrder, REORDER ? 1 : 0);
});
