// `trapezoid phone` with media: two phones send, record and compare audio (bit-exact through
// PCMU), DTMF digits sent by one are detected by the other, SRTP calls (and SRTP packets
// replayed, forged, too old or from the wrong source are dropped and counted, not recorded),
// a baresip softphone calls a phone, and two phones call each other through Kamailio.
// SIP and RTP ports come from test/support/ports.ts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createOffer,
  createSdesOffer,
  formatSdp,
  isSrtpDrop,
  negotiateAudio,
  parseSdp,
  readWav,
  RtpPacket,
  srtpOptionsFromSdes,
  SrtpContext,
  toneSamples,
  toSdpCrypto,
  ulawEncodeBuffer,
  writeWav,
} from '../src/media/index.ts';
import { UserAgent } from '../src/ua/index.ts';
import type { PhoneOptions } from '../src/phone/phone.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort, freePortBlock, freePortRange } from './support/ports.ts';
import { events, Peer, phone, scratchDir } from './ua-sipp-peer.ts';
import { align, pcmuMismatches, probeSignal } from './support/audio.ts';
import { InProcessPhone } from './support/in-process-phone.ts';
import { baresipConfig } from './support/baresip.ts';

/** The phones' RTP ports: a block of free ones (each call takes a pair). */
const RTP_PORTS = await freePortRange(60);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started: Peer[] = [];
after(() => {
  for (const p of started) p.kill();
});
function track(p: Peer): Peer {
  started.push(p);
  return p;
}

/** Whether a UDP port on 127.0.0.1 can be bound (nobody holds it). */
function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function recording(path: string): Int16Array {
  const wav = readWav(readFileSync(path));
  assert.equal(wav.sampleRate, 8000);
  assert.equal(wav.channels.length, 1);
  assert.equal(wav.source.bitsPerSample, 16);
  return wav.channels[0]!;
}

type Ev = Record<string, unknown> & {
  event: string;
  received?: Record<string, number>;
  dropped?: Record<string, number>;
  sent?: Record<string, number>;
};
const evs = (p: { stdout: string }) => events(p.stdout) as Ev[];
const one = (list: Ev[], name: string): Ev => {
  const found = list.filter((e) => e.event === name);
  assert.equal(found.length, 1, `one "${name}" event in ${JSON.stringify(list)}`);
  return found[0]!;
};

/** An answering phone in this process, on a port of its own choosing. */
async function answerer(
  opts: Partial<PhoneOptions> = {},
): Promise<{ phone: InProcessPhone; port: number }> {
  const p = new InProcessPhone({
    answer: true,
    listen: 'udp:127.0.0.1:0',
    rtpPorts: RTP_PORTS,
    ...opts,
  });
  const listening = await p.waitFor('listening');
  return { phone: p, port: listening.port as number };
}

/** Waits for the answerer's call to end, then stops it. */
async function finishAnswerer(p: InProcessPhone): Promise<Ev[]> {
  await p.waitFor('ended');
  assert.equal(await p.stop(), 0, p.stdout);
  return evs(p);
}

/** A calling phone in this process. */
function caller(port: number, opts: Partial<PhoneOptions>): InProcessPhone {
  return new InProcessPhone({ call: `sip:phone@127.0.0.1:${port}`, rtpPorts: RTP_PORTS, ...opts });
}

test('two phones: the recorded WAV is the played one, bit-exact through PCMU', async () => {
  const dir = scratchDir();
  const input = probeSignal(1.5);
  writeFileSync(join(dir, 'in.wav'), writeWav({ sampleRate: 8000, channels: [input] }));
  const out = join(dir, 'out.wav');
  const a = await answerer({ record: out });
  // The caller through the real command line.
  const c = track(
    phone([
      '--call',
      `sip:phone@127.0.0.1:${a.port}`,
      '--play',
      join(dir, 'in.wav'),
      '--hangup-after',
      '2',
      '--rtp-ports',
      RTP_PORTS,
      '--json',
    ]),
  );
  const cr = await c.finish(15000);
  assert.equal(cr.code, 0, cr.stdout + cr.stderr);
  const ae = await finishAnswerer(a.phone);

  const media = one(ae, 'media');
  assert.equal(media.codec, 'PCMU');
  assert.equal(media.ptime, 20);
  assert.equal(media.telephoneEvent, 101);
  assert.equal(media.srtp, null);
  assert.equal(media.direction, 'sendrecv');
  const stats = one(ae, 'stats');
  const sent = one(evs(cr), 'stats').sent!;
  // About 2 s at 50 packets/s; what the caller sent before its BYE arrived.
  assert.ok(sent.packets! >= 95 && sent.packets! <= 110, JSON.stringify(sent));
  assert.ok(stats.received!.packets! >= sent.packets! - 2, JSON.stringify(stats));
  assert.equal(stats.received!.lost, 0);
  assert.equal(stats.received!.late, 0);
  assert.equal(stats.dropped!.wrongSource, 0);
  assert.ok((stats.mos as number) > 4);
  // The new events come in order, the old ones unchanged: stats just before ended.
  assert.deepEqual(
    ae.map((e) => e.event),
    ['listening', 'incoming', 'ringing', 'answered', 'media', 'stats', 'ended'],
  );

  const rec = recording(out);
  const { lag, ncc } = align(input, rec);
  assert.ok(ncc >= 0.95, `normalised cross-correlation ${ncc} at lag ${lag}`);
  assert.equal(pcmuMismatches(input, rec, lag), 0, `lag ${lag}`);
});

test('DTMF 123# sent by one phone is detected by the other', async () => {
  const a = await answerer();
  const c = caller(a.port, { play: 'tone:440', dtmf: '123#', dtmfDelayMs: 200, hangupAfter: 1.6 });
  assert.equal(await c.code, 0, c.stdout);
  const ae = await finishAnswerer(a.phone);
  const got = ae.filter((e) => e.event === 'dtmf');
  assert.deepEqual(
    got.map((e) => e.digit),
    ['1', '2', '3', '#'],
    a.phone.stdout,
  );
  for (const e of got) assert.equal(e.durationMs, 100);
  assert.deepEqual(
    evs(c)
      .filter((e) => e.event === 'dtmf-sent')
      .map((e) => e.digit),
    ['1', '2', '3', '#'],
  );
  assert.equal(one(ae, 'stats').received!.dtmf, 4);
  assert.equal(one(evs(c), 'stats').sent!.dtmf, 4);
});

test('SRTP between two phones: the audio still matches (a 16 kHz file, resampled)', async () => {
  const dir = scratchDir();
  const wide = probeSignal(1.5, 16000);
  const file = join(dir, 'in16k.wav');
  writeFileSync(file, writeWav({ sampleRate: 16000, channels: [wide] }));
  const input = readWav(readFileSync(file), { mono: true, sampleRate: 8000 }).channels[0]!;
  const out = join(dir, 'out.wav');
  const a = await answerer({ record: out, srtp: true });
  const c = caller(a.port, { srtp: 'AES_CM_128_HMAC_SHA1_32', play: file, hangupAfter: 1.8 });
  assert.equal(await c.code, 0, c.stdout);
  const ae = await finishAnswerer(a.phone);
  assert.equal(one(ae, 'media').srtp, 'AES_CM_128_HMAC_SHA1_32');
  assert.equal(one(evs(c), 'media').srtp, 'AES_CM_128_HMAC_SHA1_32');
  const stats = one(ae, 'stats');
  assert.ok(stats.received!.packets! > 80, JSON.stringify(stats));
  assert.equal(stats.dropped!.authFailures, 0);
  assert.equal(stats.received!.lost, 0);
  const rec = recording(out);
  const { lag, ncc } = align(input, rec);
  assert.ok(ncc >= 0.95, `normalised cross-correlation ${ncc} at lag ${lag}`);
  assert.equal(pcmuMismatches(input, rec, lag), 0);
});

test('an SRTP-only answerer refuses a plain RTP offer with 488', async () => {
  const a = await answerer({ srtp: true });
  const c = caller(a.port, { timeout: 3 });
  assert.equal(await c.code, 1);
  assert.equal(one(evs(c), 'ended').status, 488);
  await finishAnswerer(a.phone);
});

function bindSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

test('replayed, too-old, forged and wrong-source SRTP packets are dropped, counted, not recorded', async () => {
  const dir = scratchDir();
  const out = join(dir, 'out.wav');
  const a = await answerer({ record: out, srtp: true });
  const media = await bindSocket();
  const intruder = await bindSocket();
  const ua = new UserAgent({ uri: 'sip:tester@127.0.0.1', listen: 'udp:127.0.0.1:0' });
  await ua.start();
  try {
    const ours = toSdpCrypto(createSdesOffer(['AES_CM_128_HMAC_SHA1_80'])[0]!);
    const offer = createOffer({
      address: '127.0.0.1',
      port: media.address().port,
      crypto: [ours],
    });
    // What the phone sends us must be SRTP under its answer's key.
    const fromPhone: Buffer[] = [];
    media.on('message', (m) => fromPhone.push(m));
    const call = await ua.invite(`sip:phone@127.0.0.1:${a.port}`, { body: formatSdp(offer) });
    const answer = parseSdp(call.remoteBody!.toString());
    const n = negotiateAudio(offer, answer)!;
    assert.ok(n.remoteCrypto, 'the answer carries a key');
    assert.equal(n.remoteCrypto.tag, ours.tag);
    const send = new SrtpContext(srtpOptionsFromSdes(ours));
    const wrongKey = new SrtpContext(
      srtpOptionsFromSdes(toSdpCrypto(createSdesOffer(['AES_CM_128_HMAC_SHA1_80'])[0]!)),
    );
    const ssrc = 0x1234abcd;
    const seq0 = 1000;
    const ts0 = 50000;
    const tone = toneSamples(500, 160 * 40, { amplitude: 0.2 });
    const packet = (i: number, seq: number, payload?: Buffer) =>
      new RtpPacket({
        payloadType: n.codec.payloadType,
        sequenceNumber: seq,
        timestamp: ts0 + i * 160,
        ssrc,
        payload: payload ?? ulawEncodeBuffer(tone.subarray(i * 160, (i + 1) * 160)),
      }).marshal();
    const to = (buf: Buffer, from = media) => from.send(buf, n.remotePort, n.remoteAddress);
    const sentWire: Buffer[] = [];
    const loud = Buffer.alloc(160, 0x00); // PCMU 0x00: full scale
    let genuine = 0;
    for (let i = 0; i < 40; i++) {
      // Packet 20 jumps 200 sequence numbers ahead (timestamps stay continuous), so that an
      // early packet falls behind the 128-packet replay window.
      const seq = i < 20 ? seq0 + i : seq0 + 200 + i;
      const wire = send.protect(packet(i, seq));
      sentWire.push(wire);
      to(wire);
      genuine++;
      if (i === 22) {
        to(sentWire[21]!); // replayed: an index already received
        to(sentWire[2]!); // too old: more than 128 behind the highest
        to(wrongKey.protect(packet(i, seq0 + 500, loud))); // forged: wrong key
        const tampered = Buffer.from(send.protect(packet(i, seq0 + 501)));
        tampered[20] ^= 0xff; // forged: a payload bit flipped after protection
        to(tampered);
        to(packet(i, seq0 + 502, loud), intruder); // plain RTP from a source not in the SDP
        to(send.protect(packet(i, seq0 + 503, loud)), intruder); // good SRTP, wrong source
      }
      await sleep(20);
    }
    await sleep(200);
    assert.equal(await call.bye(), 200);
    const stats = one(await finishAnswerer(a.phone), 'stats');
    assert.equal(stats.dropped!.replayed, 1, JSON.stringify(stats));
    assert.equal(stats.dropped!.tooOld, 1, JSON.stringify(stats));
    assert.equal(stats.dropped!.authFailures, 2, JSON.stringify(stats));
    assert.equal(stats.dropped!.wrongSource, 2, JSON.stringify(stats));
    assert.equal(stats.received!.packets, genuine);

    // Nothing loud was recorded: only the 0.2 full-scale tone (and its concealment).
    const rec = recording(out);
    let peak = 0;
    for (const s of rec) peak = Math.max(peak, Math.abs(s));
    assert.ok(peak > 5000 && peak < 0.2 * 32767 * 1.05, `peak ${peak}`);

    // The phone's own packets are SRTP under its key (they authenticate), not plain RTP.
    const receive = new SrtpContext(srtpOptionsFromSdes(n.remoteCrypto));
    assert.ok(fromPhone.length > 20, `${fromPhone.length} packets from the phone`);
    const opened = fromPhone.map((m) => receive.unprotect(m));
    assert.equal(opened.filter((r) => isSrtpDrop(r)).length, 0);
  } finally {
    media.close();
    intruder.close();
    await ua.stop();
  }
});

test('a baresip softphone calls a phone, which records its audio', async (t) => {
  if (!needTool(t, 'baresip', 'baresip')) return;
  const dir = scratchDir();
  const input = probeSignal(1.5);
  const file = join(dir, 'in.wav');
  writeFileSync(file, writeWav({ sampleRate: 8000, channels: [input] }));
  const out = join(dir, 'out.wav');
  // baresip hangs up when its file ends; --hangup-after is only a safety net.
  const a = await answerer({ record: out, hangupAfter: 6 });
  // baresip binds its SIP port and the next one (TLS).
  const bPort = await freePortBlock(2, { align: 2 });
  const config = baresipConfig({
    parent: dir,
    name: 'baresip',
    sipPort: bPort,
    rtpPorts: await freePortRange(20),
    source: file,
    account: '<sip:baresip@127.0.0.1>;regint=0',
  });
  const baresip = track(
    new Peer(
      'baresip',
      ['-f', config, '-t', '10', '-e', `/dial sip:phone@127.0.0.1:${a.port}`],
      dir,
    ),
  );
  const ae = await finishAnswerer(a.phone);
  baresip.kill();
  const media = one(ae, 'media');
  assert.match(String(media.codec), /^PCM[UA]$/);
  const stats = one(ae, 'stats');
  assert.ok(stats.received!.packets! > 50, JSON.stringify(stats));
  assert.equal(stats.dropped!.wrongSource, 0, JSON.stringify(stats));
  const rec = recording(out);
  const { lag, ncc } = align(input, rec, 8000);
  assert.ok(ncc >= 0.95, `normalised cross-correlation ${ncc} at lag ${lag}\n${baresip.stdout}`);
});

async function udpBound(port: number): Promise<boolean> {
  return !(await udpFree(port));
}

test('two phones register with Kamailio and call through it; the audio arrives', async (t) => {
  if (!needTool(t, 'kamailio', 'kamailio')) return;
  const dir = scratchDir();
  const kam = await freePort();
  const cfg = readFileSync(join(repoRoot, 'test/fixtures/kamailio/registrar.cfg'), 'utf8').replace(
    /@SIP_PORT@/g,
    String(kam),
  );
  writeFileSync(join(dir, 'kamailio.cfg'), cfg);
  const kamailio = track(
    new Peer(
      'kamailio',
      [
        '-f',
        join(dir, 'kamailio.cfg'),
        '-E',
        '-DD',
        '-P',
        join(dir, 'k.pid'),
        '-w',
        dir,
        '-m',
        '64',
      ],
      dir,
    ),
  );
  t.after(async () => {
    kamailio.signal('SIGTERM');
    await kamailio.finish(5000).catch(() => undefined);
    kamailio.kill(); // its workers, should any outlive the main process
  });
  const start = Date.now();
  while (!(await udpBound(kam))) {
    if (kamailio.child.exitCode !== null || Date.now() - start > 10000) {
      throw new Error(`kamailio did not start:\n${kamailio.stderr}`);
    }
    await sleep(100);
  }
  const input = probeSignal(1.5);
  const file = join(dir, 'in.wav');
  writeFileSync(file, writeWav({ sampleRate: 8000, channels: [input] }));
  const out = join(dir, 'out.wav');
  const server = `127.0.0.1:${kam}`;
  const alice = new InProcessPhone({
    rtpPorts: RTP_PORTS,
    server,
    user: 'alice',
    answer: true,
    listen: 'udp:127.0.0.1:0',
    record: out,
  });
  await alice.waitFor('registered');
  const bob = new InProcessPhone({
    rtpPorts: RTP_PORTS,
    server,
    user: 'bob',
    call: 'alice',
    play: file,
    hangupAfter: 1.8,
  });
  assert.equal(await bob.code, 0, bob.stdout + kamailio.stderr);
  const ae = await finishAnswerer(alice);
  const am = one(ae, 'media');
  const bm = one(evs(bob), 'media');
  // Media goes phone to phone (Kamailio does not touch the SDP).
  assert.equal(am.remote, bm.local);
  assert.equal(bm.remote, am.local);
  const rec = recording(out);
  const { lag, ncc } = align(input, rec);
  assert.ok(ncc >= 0.95, `normalised cross-correlation ${ncc} at lag ${lag}`);
  assert.equal(pcmuMismatches(input, rec, lag), 0);
});
