import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readWav, ulawDecode } from '../media/index.ts';
import { callWav, streamSamples } from './audio-export.ts';
import { RtpTracker } from './rtp-tracker.ts';
import type { MediaEndpoint } from './session-media.ts';

const PCMU = new Map([[0, { name: 'PCMU', clockRate: 8000 }]]);
const caller: MediaEndpoint = { address: '10.0.0.1', port: 4000, media: 'audio', formats: PCMU };
const callee: MediaEndpoint = { address: '10.0.0.2', port: 5000, media: 'audio', formats: PCMU };

function rtp(seq: number, ts: number, ssrc: number, fill: number): Buffer {
  const b = Buffer.alloc(12 + 160, fill);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  return b;
}

function tracker(): RtpTracker {
  const t = new RtpTracker({ keepAudio: true });
  t.addEndpoint('c', caller);
  t.addEndpoint('c', callee);
  return t;
}

test('stream audio: samples at their timestamps, a lost packet is silence, timestamps wrap', () => {
  const t = tracker();
  const base = 0xffffff00; // wraps after the second packet
  for (const i of [0, 1, 3]) {
    t.handle({
      frame: i,
      ts: 1 + i * 0.02,
      src: '10.0.0.1',
      srcPort: 4000,
      dst: '10.0.0.2',
      dstPort: 5000,
      payload: rtp(i, base + 160 * i, 1, 0x10 + i),
    });
  }
  const samples = streamSamples(t.streams[0]);
  assert.equal(samples.length, 4 * 160);
  assert.equal(samples[0], ulawDecode(0x10));
  assert.equal(samples[160], ulawDecode(0x11));
  assert.ok(
    samples.subarray(320, 480).every((s) => s === 0),
    'the lost packet is silence',
  );
  assert.equal(samples[480], ulawDecode(0x13));
});

test('call audio: caller left, callee right, each placed by its first arrival', () => {
  const t = tracker();
  for (let i = 0; i < 5; i++) {
    t.handle({
      frame: i,
      ts: 10 + i * 0.02,
      src: '10.0.0.1',
      srcPort: 4000,
      dst: '10.0.0.2',
      dstPort: 5000,
      payload: rtp(i, 160 * i, 1, 0x20),
    });
    // The callee starts 0.5 s later, with its own timestamp base.
    t.handle({
      frame: i,
      ts: 10.5 + i * 0.02,
      src: '10.0.0.2',
      srcPort: 5000,
      dst: '10.0.0.1',
      dstPort: 4000,
      payload: rtp(i, 99999 + 160 * i, 2, 0x30),
    });
  }
  const wav = readWav(callWav(t.streams, { caller: [caller], callee: [callee] })!);
  const [left, right] = wav.channels;
  assert.equal(left.length, 4000 + 5 * 160);
  assert.ok(left.subarray(0, 800).every((s) => s === ulawDecode(0x20)));
  assert.ok(left.subarray(800).every((s) => s === 0));
  assert.ok(right.subarray(0, 4000).every((s) => s === 0));
  assert.ok(right.subarray(4000).every((s) => s === ulawDecode(0x30)));
});
