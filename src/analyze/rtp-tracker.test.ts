import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RtpTracker } from './rtp-tracker.ts';
import type { UdpPacket } from './rtp-tracker.ts';

function rtp(seq: number, ts: number, ssrc: number, pt = 0): Buffer {
  const b = Buffer.alloc(12 + 160, 0xff);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

let frame = 0;
function udp(
  payload: Buffer,
  t: number,
  src = '10.0.0.1',
  srcPort = 4000,
  dst = '10.0.0.2',
  dstPort = 5000,
): UdpPacket {
  return { frame: ++frame, ts: t, src, srcPort, dst, dstPort, payload };
}

test('heuristics: a stream only after several consistent packets, then counted from its first', () => {
  const tracker = new RtpTracker();
  const taken: boolean[] = [];
  for (let i = 0; i < 6; i++)
    taken.push(tracker.handle(udp(rtp(100 + i, 160 * i, 0xabc), 1 + i * 0.02)));
  assert.deepEqual(taken, [false, false, false, true, true, true]);
  assert.equal(tracker.streams.length, 1);
  const s = tracker.streams[0];
  assert.equal(s.foundBy, 'heuristic');
  assert.equal(s.callId, null);
  assert.equal(s.snapshot().packets, 6);
  assert.equal(s.snapshot().lost, 0);
});

test('heuristics: inconsistent packets, SIP endpoints and RTCP never make a stream', () => {
  const signalling = new Set(['10.0.0.9:5060']);
  const tracker = new RtpTracker({ signallingEndpoints: signalling });
  // Sequence numbers jumping around: random payloads that happen to start with 0x80.
  for (const seq of [1, 5000, 20, 40000, 7, 300]) tracker.handle(udp(rtp(seq, seq * 7, 0x1), 1));
  // Valid-looking RTP on a SIP port.
  for (let i = 0; i < 10; i++) {
    tracker.handle(udp(rtp(i, 160 * i, 0x2), 2 + i * 0.02, '10.0.0.9', 5060, '10.0.0.8', 5060));
  }
  // RTCP receiver reports (PT 201).
  const rr = Buffer.alloc(32);
  rr[0] = 0x81;
  rr[1] = 201;
  rr.writeUInt16BE(7, 2);
  for (let i = 0; i < 10; i++) tracker.handle(udp(rr, 3 + i, '10.0.0.1', 4001, '10.0.0.2', 5001));
  assert.equal(tracker.streams.length, 0);
});

test("SDP endpoints: RTP to or from them is the call's from the first packet; RTCP is not", () => {
  const tracker = new RtpTracker();
  tracker.addEndpoint('call-1', {
    address: '10.0.0.2',
    port: 5000,
    media: 'audio',
    formats: new Map([[8, { name: 'PCMA', clockRate: 8000 }]]),
  });
  assert.equal(tracker.handle(udp(rtp(1, 0, 0x10, 8), 1)), true);
  assert.equal(
    tracker.handle(udp(rtp(7, 0, 0x20, 8), 1, '10.0.0.2', 5000, '10.0.0.1', 4000)),
    true,
  );
  const sr = Buffer.alloc(28);
  sr[0] = 0x80;
  sr[1] = 200;
  sr.writeUInt16BE(6, 2);
  assert.equal(tracker.handle(udp(sr, 2)), true);
  assert.equal(tracker.rtcpPackets, 1);
  assert.deepEqual(
    tracker.streams.map((s) => [s.callId, s.foundBy, s.srcId, s.dstId, s.snapshot().packets]),
    [
      ['call-1', 'sdp', '10.0.0.1:4000', '10.0.0.2:5000', 1],
      ['call-1', 'sdp', '10.0.0.2:5000', '10.0.0.1:4000', 1],
    ],
  );
});
