// Audio export on sip-rtp-g711.pcap (one 425-packet PCMU stream, one 414-packet PCMA stream):
// every stream's WAV must be exactly the payloads decoded with alawmulaw (an independent G.711
// decoder) placed at their RTP timestamps, with the RTP timestamps and payload bytes taken from
// tshark (-T fields -e rtp.timestamp -e rtp.payload), so the expected audio does not come from
// our own capture reader or RTP parser. The call's stereo WAV carries the callee's stream on the
// right and silence on the left (in this capture only FreeSWITCH, the callee, sends RTP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import alawmulaw from 'alawmulaw';
import { analyzeCaptureFile, buildReport, collectAudio } from '../src/analyze/index.ts';
import { readWav } from '../src/media/index.ts';
import { needTool, sharedDir } from './support/peers.ts';

const capture = join(sharedDir, 'captures', 'sip-rtp-g711.pcap');

interface TsharkRtp {
  ssrc: string;
  timestamp: number;
  payloadType: number;
  payload: Buffer;
}

function tsharkRtp(bin: string): TsharkRtp[] {
  const out = execFileSync(
    bin,
    [
      '-r',
      capture,
      '-Y',
      'rtp && rtp.version == 2',
      '-T',
      'fields',
      '-e',
      'rtp.ssrc',
      '-e',
      'rtp.timestamp',
      '-e',
      'rtp.p_type',
      '-e',
      'rtp.payload',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 },
  );
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const [ssrc, ts, pt, payload] = line.split('\t');
      return {
        ssrc: '0x' + Number(ssrc).toString(16).padStart(8, '0'),
        timestamp: Number(ts),
        payloadType: Number(pt),
        payload: Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'),
      };
    });
}

/** Expected mono audio: each payload decoded by alawmulaw at (timestamp - first timestamp). */
function expectedSamples(packets: TsharkRtp[]): Int16Array {
  const first = Math.min(...packets.map((p) => p.timestamp));
  const length = Math.max(...packets.map((p) => p.timestamp - first + p.payload.length));
  const out = new Int16Array(length);
  for (const p of packets) {
    const law = p.payloadType === 0 ? alawmulaw.mulaw : alawmulaw.alaw;
    out.set(law.decode(new Uint8Array(p.payload)), p.timestamp - first);
  }
  return out;
}

test('WAV per G.711 stream: samples at their RTP timestamps, decoded as alawmulaw does', async (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const { analysis } = await analyzeCaptureFile(capture, { keepAudio: true });
  const report = buildReport(analysis);
  const clips = collectAudio(analysis, report);
  const reference = tsharkRtp(bin);

  const streamClips = clips.filter((c) => c.kind === 'stream');
  assert.equal(streamClips.length, 2, 'one WAV per G.711 stream');
  const counts: Record<string, number> = {};
  for (const clip of streamClips) {
    const packets = reference.filter((p) => p.ssrc === clip.ssrc);
    counts[packets[0].payloadType === 0 ? 'PCMU' : 'PCMA'] = packets.length;
    const wav = readWav(clip.wav);
    assert.equal(wav.sampleRate, 8000);
    assert.equal(wav.channels.length, 1);
    const expected = expectedSamples(packets);
    const got = wav.channels[0];
    assert.equal(got.length, expected.length, `${clip.ssrc}: length from the timestamps`);
    assert.ok(
      Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(
        Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
      ),
      `${clip.ssrc}: samples equal alawmulaw's decoding`,
    );
    // The stream is linked to its audio in the report.
    assert.equal(report.rtpStreams.find((s) => s.ssrc === clip.ssrc)?.audioId, clip.id);
  }
  assert.deepEqual(counts, { PCMU: 425, PCMA: 414 });
});

test('WAV per call: stereo, caller left and callee right', async () => {
  const { analysis } = await analyzeCaptureFile(capture, { keepAudio: true });
  const report = buildReport(analysis);
  const clips = collectAudio(analysis, report);
  const callClips = clips.filter((c) => c.kind === 'call');
  assert.equal(callClips.length, 2, 'one stereo WAV per call with G.711');
  for (const clip of callClips) {
    const call = report.calls.find((c) => c.callId === clip.callId)!;
    assert.equal(call.audioId, clip.id);
    const wav = readWav(clip.wav);
    assert.equal(wav.channels.length, 2);
    const [left, right] = wav.channels;
    // FreeSWITCH (the callee, 10.0.2.15) is the only sender: the right channel is its stream.
    assert.ok(
      left.every((s) => s === 0),
      'caller channel silent',
    );
    const streamClip = clips.find((c) => c.kind === 'stream' && c.callId === clip.callId)!;
    const mono = readWav(streamClip.wav).channels[0];
    assert.equal(right.length, mono.length);
    assert.deepEqual(right, mono);
  }
});
