import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RtcpSession } from './rtcp-session.ts';
import { RtpStreamStats } from './rtp-stream-stats.ts';
import { ntpFromUnixMs, ntpMiddle32, parseRtcp, SDES_CNAME } from './rtcp.ts';

const START = Date.UTC(2026, 0, 1);

test('reports come about every 5 s: first after half, then randomized per RFC 3550 6.3', () => {
  let i = 0;
  const randoms = [0, 0.999, 0.5];
  const session = new RtcpSession({
    ssrc: 1,
    cname: 'a@b',
    startMs: START,
    random: () => randoms[i++ % 3]!,
  });
  const times: number[] = [];
  for (let now = START; now < START + 60_000; now += 10) {
    if (session.due(now)) {
      times.push(now - START);
      session.report(now);
    }
  }
  // First: 2.5 s * 0.5 / (e - 1.5) = 1026 ms.
  assert.ok(Math.abs(times[0]! - 1026) <= 10, String(times[0]));
  const gaps = times.slice(1).map((t, k) => t - times[k]!);
  for (const gap of gaps) assert.ok(gap >= 2052 - 10 && gap <= 6156 + 10, `gap ${gap}`);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  assert.ok(mean > 3500 && mean < 4700, `mean ${mean}`);
});

test('RR with loss, jitter, LSR/DLSR from the stream statistics; SR once we send', () => {
  const session = new RtcpSession({
    ssrc: 0xaaaa,
    cname: 'alice@10.0.0.1',
    startMs: START,
    random: () => 0.5,
  });
  const stats = new RtpStreamStats(8000);
  session.addSource(0xbbbb, stats);
  // 5 s of 20 ms packets from 0xbbbb with every 10th lost.
  for (let k = 0; k < 250; k++) {
    if (k % 10 === 5) continue;
    stats.update(1000 + k, k * 160, START / 1000 + k * 0.02, 0);
  }
  // The remote sent us an SR at START + 4000.
  const srNtp = ntpFromUnixMs(START + 4000);
  session.rtcpReceived(
    [
      {
        type: 'sr',
        ssrc: 0xbbbb,
        senderInfo: { ntpTimestamp: srNtp, rtpTimestamp: 0, packetCount: 1, octetCount: 160 },
        reports: [],
      },
    ],
    START + 4100,
  );
  const first = parseRtcp(session.report(START + 5000));
  assert.equal(first.length, 2);
  const rr = first[0]!;
  assert.equal(rr.type, 'rr');
  assert.ok(rr.type === 'rr');
  assert.equal(rr.ssrc, 0xaaaa);
  const block = rr.reports[0]!;
  assert.equal(block.ssrc, 0xbbbb);
  assert.equal(block.cumulativeLost, 25);
  assert.equal(block.extendedHighestSequence, 1249);
  assert.equal(block.fractionLost, Math.floor((25 * 256) / 250));
  assert.equal(block.lastSr, ntpMiddle32(srNtp));
  assert.equal(block.delaySinceLastSr, Math.round(0.9 * 65536));
  const sdes = first[1]!;
  assert.deepEqual(sdes, {
    type: 'sdes',
    chunks: [{ ssrc: 0xaaaa, items: [{ type: SDES_CNAME, text: 'alice@10.0.0.1' }] }],
  });

  // Now we send 100 packets: the next report is an SR with our counts, and no block for the
  // silent remote.
  for (let k = 0; k < 100; k++) session.rtpSent(160, 5000 + k * 160, START + 5000 + k * 20);
  const second = parseRtcp(session.bye(START + 7000, 'done'));
  const sr = second[0]!;
  assert.ok(sr.type === 'sr');
  assert.equal(sr.senderInfo.packetCount, 100);
  assert.equal(sr.senderInfo.octetCount, 16000);
  // Last packet at +6980 with timestamp 5000+99*160; 20 ms later is 160 ticks more.
  assert.equal(sr.senderInfo.rtpTimestamp, 5000 + 100 * 160);
  assert.equal(sr.senderInfo.ntpTimestamp, ntpFromUnixMs(START + 7000));
  assert.equal(sr.reports.length, 0);
  assert.deepEqual(second[2], { type: 'bye', sources: [0xaaaa], reason: 'done' });
});
