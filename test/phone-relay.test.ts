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
import {
  chirpSamples,
  readWav,
  toneSamples,
  ulawDecode,
  ulawEncode,
  writeWav,
} from '../src/media/index.ts';
import { runPhone, type PhoneOptions } from '../src/phone/phone.ts';
import { repoRoot } from './support/peers.ts';
import { Peer, events, freePort, scratchDir } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RELAY_PORTS = '39200-39399';
const PHONE_RTP = '17500-17599';

type Ev = Record<string, unknown> & { event: string };

class InProcessPhone {
  readonly lines: string[] = [];
  readonly code: Promise<number>;
  private readonly abort = new AbortController();
  constructor(opts: Partial<PhoneOptions>) {
    this.code = runPhone(
      { transport: 'udp', json: true, rtpPorts: PHONE_RTP, ...opts },
      (line) => this.lines.push(line),
      this.abort.signal,
    );
  }
  get events(): Ev[] {
    return events(this.lines.join('\n')) as Ev[];
  }
  async waitFor(event: string, ms = 10_000): Promise<Ev> {
    const start = Date.now();
    for (;;) {
      const found = this.events.find((e) => e.event === event);
      if (found) return found;
      if (Date.now() - start > ms)
        throw new Error(`no "${event}" in ${ms} ms: ${this.lines.join('\n')}`);
      await sleep(20);
    }
  }
  stop(): Promise<number> {
    this.abort.abort();
    return this.code;
  }
}

/** A speech-band probe: a 300-3400 Hz sweep, then two tones; 8 kHz. */
function probe(seconds: number): Int16Array {
  const rate = 8000;
  const sweep = chirpSamples(300, 3400, Math.round(seconds * 0.7 * rate), {
    sampleRate: rate,
    amplitude: 0.4,
  });
  const rest = Math.round(seconds * rate) - sweep.length;
  const a = toneSamples(697, Math.floor(rest / 2), { sampleRate: rate, amplitude: 0.3 });
  const b = toneSamples(1477, rest - a.length, { sampleRate: rate, amplitude: 0.3 });
  const out = new Int16Array(sweep.length + a.length + b.length);
  out.set(sweep);
  out.set(a, sweep.length);
  out.set(b, sweep.length + a.length);
  return out;
}

function bestLag(expected: Int16Array, recorded: Int16Array, maxLag = 8000) {
  let best = { lag: -1, ncc: -1 };
  let ee = 0;
  for (const x of expected) ee += x * x;
  for (let lag = 0; lag <= maxLag && lag < recorded.length; lag++) {
    let xy = 0;
    let yy = 0;
    const n = Math.min(expected.length, recorded.length - lag);
    for (let i = 0; i < n; i++) {
      const y = recorded[lag + i]!;
      xy += expected[i]! * y;
      yy += y * y;
    }
    const ncc = yy > 0 ? xy / Math.sqrt(ee * yy) : 0;
    if (ncc > best.ncc) best = { lag, ncc };
  }
  return best;
}

test('two phones through the relay: audio bit-exact through PCMU, DTMF 123# detected, CDR with media', async (t) => {
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

  const input = probe(1.5);
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
    calls: 1,
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
  });
  assert.equal(await caller.code, 0, caller.lines.join('\n'));
  await callee.waitFor('ended');
  assert.equal(await callee.stop(), 0, callee.lines.join('\n'));

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
  const { lag, ncc } = bestLag(input, rec);
  assert.ok(ncc >= 0.95, `normalised cross-correlation ${ncc} at lag ${lag}`);
  let mismatches = 0;
  for (let i = 0; i < input.length; i++)
    if (rec[lag + i] !== ulawDecode(ulawEncode(input[i]!))) mismatches++;
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
