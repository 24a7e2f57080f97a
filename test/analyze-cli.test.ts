// `trapezoid analyze` as a user runs it (bin/trapezoid.js in a child process): default output,
// --json shape, filters, ladders in every format, WAV export, a broken capture (exit 0 with the
// partial result and a warning), unparseable SIP (reported with frame and reason), usage errors
// (exit 2, no stack trace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import { repoRoot, sharedDir } from './support/peers.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const captures = join(sharedDir, 'captures');
const dtmf = join(captures, 'SIP_DTMF2.cap');
const g711 = join(captures, 'sip-rtp-g711.pcap');

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'analyze', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface JsonOut {
  calls: Array<Record<string, unknown> & { callId: string; ladder?: { messages: unknown[] } }>;
  rtpStreams: Array<Record<string, unknown>>;
  stats: { byMethod: Record<string, number> };
  warnings: string[];
  parseFailures: Array<{ frame: number; reason: string }>;
  frames: number;
}

test('default output: call list, SIP statistics, RTP streams; nothing on stderr when piped', () => {
  const r = run(dtmf);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /603 Decline/);
  assert.match(r.stdout, /Requests by method/);
  assert.match(r.stdout, /0x5711bf84/);
  assert.match(r.stdout, /6789123/, 'RFC 4733 digits of the stream');
});

test('--json: calls and rtpStreams with the documented fields', () => {
  const r = run(dtmf, '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as JsonOut;
  assert.equal(out.frames, 1360);
  for (const c of out.calls) {
    for (const k of [
      'callId',
      'from',
      'to',
      'state',
      'finalStatus',
      'messages',
      'start',
      'duration',
    ]) {
      assert.ok(k in c, `call has ${k}`);
    }
  }
  const rejected = out.calls.find((c) => c.finalStatus === 603)!;
  assert.equal(rejected.state, 'rejected');
  assert.equal(rejected.messages, 4);
  assert.equal(out.rtpStreams.length, 2);
  for (const s of out.rtpStreams) {
    assert.match(String(s.ssrc), /^0x[0-9a-f]{8}$/);
    assert.match(String(s.src), /^\d+\.\d+\.\d+\.\d+:\d+$/);
    assert.match(String(s.dst), /^\d+\.\d+\.\d+\.\d+:\d+$/);
    for (const k of ['payloadType', 'packets', 'lost', 'maxJitterMs', 'meanJitterMs', 'callId']) {
      assert.ok(k in s, `stream has ${k}`);
    }
  }
  const lossy = out.rtpStreams.find((s) => s.ssrc === '0x9a7b5382')!;
  assert.equal(lossy.packets, 665);
  assert.equal(lossy.lost, 2);
  assert.equal(lossy.callId, '25672@192.168.105.110');
  assert.equal(out.stats.byMethod.REGISTER, 5);
});

test('--filter, --no-options and --ladder CALL-ID select calls', () => {
  const rejected = JSON.parse(run(dtmf, '--json', '--filter', 'status=6xx').stdout) as JsonOut;
  assert.deepEqual(
    rejected.calls.map((c) => c.callId),
    ['5514@192.168.105.110'],
  );
  const registers = JSON.parse(
    run(dtmf, '--json', '--filter', 'method=REGISTER').stdout,
  ) as JsonOut;
  assert.equal(registers.calls.length, 3);
  assert.ok(registers.calls.every((c) => c.firstMethod === 'REGISTER'));

  const segmented = join(captures, 'sip-tcp-segmented.pcap');
  const all = JSON.parse(run(segmented, '--json').stdout) as JsonOut;
  const noOptions = JSON.parse(run(segmented, '--json', '--no-options').stdout) as JsonOut;
  const options = all.calls.filter((c) => c.firstMethod === 'OPTIONS').length;
  assert.ok(options > 0);
  assert.equal(noOptions.calls.length, all.calls.length - options);

  const ladder = run(dtmf, '--ladder', '5514@192.168.105.110');
  assert.equal(ladder.status, 0, ladder.stderr);
  assert.match(ladder.stdout, /INVITE ─*▶/);
  assert.match(ladder.stdout, /◀─* 603 Decline/);
  assert.doesNotMatch(ladder.stdout, /REGISTER/);

  const json = JSON.parse(
    run(dtmf, '--json', '--ladder', '5514@192.168.105.110').stdout,
  ) as JsonOut;
  const withLadder = json.calls.filter((c) => c.ladder);
  assert.equal(withLadder.length, 1);
  assert.equal(withLadder[0].ladder!.messages.length, 4);
});

test('--format svg, mermaid and html (with audio) write their documents', (t) => {
  const dir = tempDir(t);
  const svg = run(dtmf, '--ladder', '5514@192.168.105.110', '--format', 'svg');
  assert.equal(svg.status, 0, svg.stderr);
  assert.match(svg.stdout, /^<svg[\s\S]*603 Decline[\s\S]*<\/svg>\s*$/);
  const mermaid = run(dtmf, '--ladder', '5514@192.168.105.110', '--format', 'mermaid');
  assert.match(mermaid.stdout, /sequenceDiagram/);

  const html = join(dir, 'report.html');
  const r = run(g711, '--format', 'html', '-o', html);
  assert.equal(r.status, 0, r.stderr);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/i);
  // Two G.711 streams and two calls: four clips as data: URLs of WAV files ('UklGR' = 'RIFF').
  assert.equal((page.match(/UklGR/g) ?? []).length, 4);
});

test('--wav DIR: one WAV per G.711 stream and one per call', (t) => {
  const dir = tempDir(t);
  const r = run(g711, '--wav', dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const files = readdirSync(dir).sort();
  assert.equal(files.filter((f) => f.startsWith('stream-')).length, 2);
  assert.equal(files.filter((f) => f.startsWith('call-')).length, 2);
  for (const f of files) assert.equal(readFileSync(join(dir, f)).toString('latin1', 0, 4), 'RIFF');
});

test('a capture broken part way: partial result, warning, exit 0', (t) => {
  const dir = tempDir(t);
  const whole = readFileSync(g711);
  const cut = join(dir, 'cut.pcap');
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2) + 7));
  const r = run(cut, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /capture broken at byte \d+ after frame \d+/);
  const out = JSON.parse(r.stdout) as JsonOut;
  assert.ok(out.frames > 100 && out.frames < 852, `frames ${out.frames}`);
  assert.ok(out.warnings.some((w) => /broken/.test(w)));
  assert.ok(out.calls.length >= 1);
});

test('unparseable SIP-looking payloads are reported with frame and reason', (t) => {
  const dir = tempDir(t);
  const good = [
    'OPTIONS sip:a@192.0.2.2 SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1',
    'From: <sip:b@192.0.2.1>;tag=1',
    'To: <sip:a@192.0.2.2>',
    'Call-ID: ok-1',
    'CSeq: 1 OPTIONS',
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const bad = 'INVITE sip:a@192.0.2.2 SIP/2.0\r\nVia: nonsense\r\nCSeq: x\r\n\r\n';
  const file = join(dir, 'bad.pcap');
  writeFileSync(
    file,
    buildUdpPcap([
      {
        ts: 1,
        src: '192.0.2.1',
        sport: 5060,
        dst: '192.0.2.2',
        dport: 5060,
        payload: Buffer.from(good),
      },
      {
        ts: 2,
        src: '192.0.2.1',
        sport: 5060,
        dst: '192.0.2.2',
        dport: 5060,
        payload: Buffer.from(bad),
      },
    ]),
  );
  const r = run(file, '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as JsonOut;
  assert.equal(out.calls.length, 1);
  assert.equal(out.parseFailures.length, 1);
  assert.equal(out.parseFailures[0].frame, 2);
  assert.ok(out.warnings.some((w) => /^frame 2: unparseable SIP/.test(w)));
  const text = run(file);
  assert.match(text.stdout, /frame 2: unparseable SIP/);
});

test('usage errors exit 2 without a stack trace', (t) => {
  const dir = tempDir(t);
  const notCapture = join(dir, 'x.pcap');
  writeFileSync(notCapture, 'this is not a capture file at all\n');
  for (const args of [
    ['/nonexistent/file.pcap'],
    [notCapture],
    [dtmf, '--filter', 'colour=blue'],
    [dtmf, '--format', 'pdf'],
    [dtmf, '--ladder', 'no-such-call'],
    [dtmf, '--bogus'],
  ]) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.match(r.stderr, /error/i);
  }
});
