// End to end through the media relay: `trapezoid serve` with `media: { mode: relay }`, two
// trapezoid phones registered with it. The caller plays a WAV and sends DTMF 123#; the callee
// records. The callee's recording is the caller's audio (normalised cross-correlation >= 0.95,
// and bit-exact through PCMU since nothing is lost on loopback), the digits are detected, both
// phones' media goes to the relay's address (not to each other), and the CDR carries the relayed
// packet counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWav, writeWav } from '../src/media/index.ts';
import { repoRoot } from './support/peers.ts';
import { freePort, freePortRange } from './support/ports.ts';
import { Peer, scratchDir } from './ua-sipp-peer.ts';
import { align, pcmuMismatches, probeSignal } from './support/audio.ts';
import { InProcessPhone } from './support/in-process-phone.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The relay's range (room for its 32 spare pairs and the calls') and the phones' RTP ports. */
const RELAY_PORTS = await freePortRange(200);
const PHONE_RTP = await freePortRange(40);

for (const srtp of [undefined, 'AES_CM_128_HMAC_SHA1_80'] as const) {
  test(`two phones through the relay${srtp ? ' with SRTP' : ''}: audio bit-exact through PCMU, DTMF 123# detected, CDR with media`, async (t) => {
    const dir = scratchDir();
    const [sip, http] = [await freePort(), await freePort()];
    const config = join(dir, 'relay.yaml');
    writeFileSync(
      config,
      [
        'domain: relay.test',
        'listen:',
        `  - { transport: udp, address: 127.0.0.1, port: ${sip} }`,
        `database: ${join(dir, 'relay.db')}`,
        `http: { address: 127.0.0.1, port: ${http} }`,
        `media: { mode: relay, ports: '${RELAY_PORTS}', timeoutSeconds: 30 }`,
        'users:',
        '  - { user: "3001", password: caller-pw-3001 }',
        '  - { user: "3002", password: callee-pw-3002 }',
        '',
      ].join('\n'),
    );
    const serve = new Peer(process.execPath, [bin, 'serve', '--config', config, '--json'], dir);
    t.after(async () => {
      serve.child.kill('SIGTERM');
      await serve.finish(10_000);
    });
    const start = Date.now();
    while (!/"event":"listening"/.test(serve.stdout)) {
      if (serve.child.exitCode !== null || Date.now() - start > 20_000)
        throw new Error(`serve did not start: ${serve.stdout}${serve.stderr}`);
      await sleep(50);
    }

    const input = probeSignal(1.5);
    writeFileSync(join(dir, 'in.wav'), writeWav({ sampleRate: 8000, channels: [input] }));
    const out = join(dir, 'out.wav');
    const server = `127.0.0.1:${sip}`;
    const callee = new InProcessPhone({
      server,
      user: '3002',
      domain: 'relay.test',
      password: 'callee-pw-3002',
      answer: true,
      listen: 'udp:127.0.0.1:0',
      record: out,
      rtpPorts: PHONE_RTP,
      calls: 1,
      ...(srtp ? { srtp } : {}),
    });
    t.after(() => callee.stop());
    await callee.waitFor('registered');
    const caller = new InProcessPhone({
      server,
      user: '3001',
      domain: 'relay.test',
      password: 'caller-pw-3001',
      call: 'sip:3002@relay.test',
      play: join(dir, 'in.wav'),
      dtmf: '123#',
      dtmfDelayMs: 1900,
      hangupAfter: 3.2,
      rtpPorts: PHONE_RTP,
      ...(srtp ? { srtp } : {}),
    });
    assert.equal(await caller.code, 0, caller.lines.join('\n'));
    await callee.waitFor('ended');
    assert.equal(await callee.stop(), 0, callee.lines.join('\n'));

    // SRTP passes the relay untouched (it has no keys): the phones negotiated it end to end.
    for (const p of [caller, callee]) {
      assert.equal(p.events.find((e) => e.event === 'media')?.srtp ?? null, srtp ?? null);
    }
    // Both phones sent their media to the relay, on ports of its range, not to each other.
    const [low, high] = RELAY_PORTS.split('-').map(Number) as [number, number];
    for (const p of [caller, callee]) {
      const media = p.events.find((e) => e.event === 'media')!;
      const remote = String(media.remote ?? '');
      const port = Number(remote.split(':').pop());
      assert.ok(
        port >= low && port <= high,
        `media to ${remote}, not the relay: ${JSON.stringify(media)}`,
      );
    }
    const digits = callee.events.filter((e) => e.event === 'dtmf').map((e) => e.digit);
    assert.deepEqual(digits, ['1', '2', '3', '#']);

    const wav = readWav(readFileSync(out));
    const rec = wav.channels[0]!;
    const { lag, ncc } = align(input, rec, 8000);
    assert.ok(ncc >= 0.95, `normalised cross-correlation ${ncc} at lag ${lag}`);
    const mismatches = pcmuMismatches(input, rec, lag);
    assert.equal(mismatches, 0, `samples differing from PCMU of the input (lag ${lag})`);

    // The CDR has the relayed media.
    let cdr: Record<string, unknown> | undefined;
    const t0 = Date.now();
    while (!cdr && Date.now() - t0 < 5_000) {
      const rows = (await (await fetch(`http://127.0.0.1:${http}/api/cdrs`)).json()) as Array<
        Record<string, unknown>
      >;
      cdr = rows.find((r) => r.finalStatus === 200 && r.end != null);
      if (!cdr) await sleep(100);
    }
    assert.ok(cdr, 'no CDR for the call');
    assert.ok(Number(cdr.packets) > 200, `relayed packets in the CDR: ${JSON.stringify(cdr)}`);
    assert.equal(Number(cdr.lost ?? 0), 0, JSON.stringify(cdr));
  });
}
