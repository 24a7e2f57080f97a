// MediaSession on loopback: offer/answer between two sessions, packets both ways at 20 ms,
// refusals, garbage from the peer's address, a re-INVITE that moves the peer, and the files
// the phone reads and writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRtpHeader, readWav, writeWav } from '../media/index.ts';
import { MediaNegotiationError, MediaSession, type MediaNotice } from './media-session.ts';
import { openAudioSource, PlayError, toneSource } from './audio-source.ts';
import { WavRecorder } from './wav-recorder.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const scratch = () => mkdtempSync(join(tmpdir(), 'trapezoid-media-'));

async function pair(
  a: Partial<Parameters<typeof MediaSession.open>[0]> = {},
  b: Partial<Parameters<typeof MediaSession.open>[0]> = {},
) {
  const notices: MediaNotice[] = [];
  const offerer = await MediaSession.open({ address: '127.0.0.1', cname: 'a@test', ...a });
  const answerer = await MediaSession.open({ address: '127.0.0.1', cname: 'b@test', ...b }, (n) =>
    notices.push(n),
  );
  return { offerer, answerer, notices };
}

test('two sessions exchange RTP every 20 ms both ways; RTP port even, RTCP on the next', async () => {
  const { offerer, answerer } = await pair({ play: toneSource(1000) }, { play: toneSource(500) });
  try {
    assert.equal(offerer.localPort % 2, 0);
    const answer = answerer.createAnswer(offerer.createOffer());
    assert.match(answer, /^m=audio \d+ RTP\/AVP 0 8 101\r$/m);
    assert.match(answer, /^a=ptime:20\r$/m);
    offerer.acceptAnswer(answer);
    assert.equal(offerer.info()?.remote, `127.0.0.1:${answerer.localPort}`);
    assert.equal(answerer.info()?.codec, 'PCMU');
    offerer.start();
    answerer.start();
    await sleep(500);
    const a = offerer.stop();
    await sleep(50);
    const b = answerer.stop();
    // 500 ms at 20 ms: 26 packets (the first at 0 ms), give or take a timer.
    assert.ok(a.sent.packets >= 24 && a.sent.packets <= 28, `sent ${a.sent.packets}`);
    assert.equal(b.received.packets, a.sent.packets);
    assert.equal(b.received.lost, 0);
    assert.ok(a.received.packets >= 22, `received ${a.received.packets}`);
    assert.ok(b.mos !== null && b.mos > 4);
    assert.equal(b.dropped.wrongSource, 0);
  } finally {
    await Promise.all([offerer.close(), answerer.close()]);
  }
});

test('an offer with nothing in common, or plain RTP to an SRTP-only side, is refused', async () => {
  const s = await MediaSession.open({
    address: '127.0.0.1',
    cname: 'x',
    srtp: ['AES_CM_128_HMAC_SHA1_80'],
  });
  const plain = await MediaSession.open({ address: '127.0.0.1', cname: 'y' });
  try {
    const g729 =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
      'm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n';
    assert.throws(() => plain.createAnswer(g729), MediaNegotiationError);
    assert.throws(() => plain.createAnswer('not sdp'), /unreadable SDP offer/);
    assert.throws(() => s.createAnswer(plain.createOffer()), /SRTP required/);
    // The SRTP offer is accepted by a phone without --srtp, with one key line in the answer.
    const answer = plain.createAnswer(s.createOffer());
    assert.match(answer, /^m=audio \d+ RTP\/SAVP /m);
    assert.equal(answer.match(/a=crypto:/g)?.length, 1);
    s.acceptAnswer(answer);
    assert.equal(s.info()?.srtp, 'AES_CM_128_HMAC_SHA1_80');
  } finally {
    await Promise.all([s.close(), plain.close()]);
  }
});

function bound(): Promise<Socket> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.bind(0, '127.0.0.1', () => resolve(sock));
  });
}

test('garbage from the peer address is counted as malformed; a re-INVITE moves the stream', async () => {
  const peer = await bound();
  const moved = await bound();
  const s = await MediaSession.open({ address: '127.0.0.1', cname: 'z' });
  try {
    const offer = (port: number) =>
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
      `m=audio ${port} RTP/AVP 8 0\r\na=ptime:20\r\n`;
    s.createAnswer(offer(peer.address().port));
    assert.equal(s.info()?.codec, 'PCMA'); // the offerer's first choice
    s.start();
    for (const junk of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(3000, 0x80)]) {
      peer.send(junk, s.localPort, '127.0.0.1');
    }
    const atMoved: Buffer[] = [];
    moved.on('message', (m) => atMoved.push(m));
    await sleep(100);
    s.renegotiate(offer(moved.address().port));
    await sleep(100);
    const stats = s.stop();
    assert.equal(stats.dropped.malformed, 3);
    assert.ok(atMoved.length >= 3, `${atMoved.length} packets after the move`);
    assert.equal(parseRtpHeader(atMoved[0]!)?.payloadType, 8);
    assert.throws(() => s.renegotiate('v=0'), MediaNegotiationError);
  } finally {
    peer.close();
    moved.close();
    await s.close();
  }
});

test('the recorder writes a WAV that reads back, sizes filled in', () => {
  const path = join(scratch(), 'r.wav');
  const rec = new WavRecorder(path);
  const a = Int16Array.from({ length: 8000 }, (_, i) => (i * 7) % 3000);
  rec.write(a.subarray(0, 5000));
  rec.write(a.subarray(5000));
  rec.close();
  const wav = readWav(readFileSync(path));
  assert.equal(wav.sampleRate, 8000);
  assert.deepEqual(wav.channels[0], a);
  assert.throws(() => new WavRecorder(join(scratch(), 'no', 'such', 'dir.wav')), /ENOENT/);
});

test('--play: a WAV at another rate is resampled; bad files and tones are refused clearly', async () => {
  const dir = scratch();
  const file = join(dir, 'stereo.wav');
  const left = Int16Array.from({ length: 16000 }, () => 1000);
  writeFileSync(file, writeWav({ sampleRate: 16000, channels: [left, left] }));
  const src = await openAudioSource(file);
  const first = src.next(4000);
  assert.equal(first[2000], 1000);
  const rest = src.next(8000);
  assert.equal(rest[7999], 0, 'silence after the end of the file');
  await assert.rejects(openAudioSource(join(dir, 'missing.wav')), PlayError);
  writeFileSync(join(dir, 'text.wav'), 'hello');
  await assert.rejects(openAudioSource(join(dir, 'text.wav')), /not a RIFF\/WAVE file/);
  await assert.rejects(openAudioSource('tone:5000'), /between 0 and 4000 Hz/);
  assert.equal((await openAudioSource('tone:440')).description, 'tone:440');
});

test('RTCP: both sides send reports and work out the round-trip time from LSR/DLSR', async () => {
  const fast = { rtcpIntervalSeconds: 0.2 };
  const { offerer, answerer } = await pair(fast, fast);
  try {
    offerer.acceptAnswer(answerer.createAnswer(offerer.createOffer()));
    offerer.start();
    answerer.start();
    await sleep(1200);
    const a = offerer.stop();
    const b = answerer.stop();
    for (const s of [a, b]) {
      assert.ok(s.rtcp.sent >= 3, JSON.stringify(s.rtcp));
      assert.ok(s.rtcp.received >= 2, JSON.stringify(s.rtcp));
      assert.ok(
        s.rtcp.rttMs !== null && s.rtcp.rttMs >= 0 && s.rtcp.rttMs < 100,
        JSON.stringify(s.rtcp),
      );
    }
  } finally {
    await Promise.all([offerer.close(), answerer.close()]);
  }
});

test('direction: a sendonly offerer is answered recvonly; only the offerer sends', async () => {
  const { offerer, answerer } = await pair({ direction: 'sendonly' });
  try {
    const answer = answerer.createAnswer(offerer.createOffer());
    assert.match(answer, /^a=recvonly\r$/m);
    offerer.acceptAnswer(answer);
    assert.equal(offerer.info()?.direction, 'sendonly');
    assert.equal(answerer.info()?.direction, 'recvonly');
    offerer.start();
    answerer.start();
    await sleep(200);
    const a = offerer.stop();
    const b = answerer.stop();
    assert.ok(a.sent.packets >= 8);
    assert.equal(b.sent.packets, 0);
    assert.equal(a.received.packets, 0);
    assert.ok(b.received.packets >= 8);
  } finally {
    await Promise.all([offerer.close(), answerer.close()]);
  }
});
