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

test('--ladder takes a unique prefix or piece of a Call-ID; an ambiguous one names the matches', () => {
  const prefix = run(dtmf, '--ladder', '2567');
  assert.equal(prefix.status, 0, prefix.stderr);
  assert.match(prefix.stdout, /^Call 25672@192\.168\.105\.110 /m);
  assert.equal(prefix.stdout.match(/^Call /gm)?.length, 1);
  const piece = run(dtmf, '--ladder', '14@192.168.105.1');
  assert.equal(piece.status, 0, piece.stderr);
  assert.match(piece.stdout, /^Call 5514@192\.168\.105\.110 /m);
  const ambiguous = run(dtmf, '--ladder', '@192.168.105.110');
  assert.equal(ambiguous.status, 2);
  assert.match(ambiguous.stderr, /2 calls contain '@192\.168\.105\.110'/);
  assert.match(ambiguous.stderr, /5514@192\.168\.105\.110/);
  assert.match(ambiguous.stderr, /25672@192\.168\.105\.110/);
  const mermaid = run(dtmf, '--format', 'mermaid', '--ladder', '5514');
  assert.equal(mermaid.status, 0, mermaid.stderr);
  assert.equal(mermaid.stdout.match(/^sequenceDiagram/gm)?.length, 1);
});

test('--format svg: the first INVITE call without a selection, every selected call with one', () => {
  const first = run(dtmf, '--format', 'svg');
  assert.equal(first.status, 0, first.stderr);
  const labels = (svg: string): string[] =>
    [...svg.matchAll(/aria-label="SIP ladder of call ([^"]+)"/g)].map((m) => m[1]!);
  assert.deepEqual(labels(first.stdout), ['5514@192.168.105.110'], 'not the first REGISTER');
  assert.match(first.stderr, /5 calls; the SVG shows 5514@192\.168\.105\.110 \(INVITE\)/);
  const selected = run(dtmf, '--format', 'svg', '--filter', 'method=INVITE');
  assert.equal(selected.status, 0, selected.stderr);
  assert.deepEqual(labels(selected.stdout), ['5514@192.168.105.110', '25672@192.168.105.110']);
  assert.equal(selected.stdout.match(/<svg /g)?.length, 3, 'one document holding two ladders');
});

test('--filter filters the SIP statistics and the RTP streams too', () => {
  const all = JSON.parse(run(dtmf, '--json').stdout) as JsonOut;
  const one = JSON.parse(run(dtmf, '--json', '--filter', 'callid=25672').stdout) as JsonOut;
  assert.deepEqual(
    one.calls.map((c) => c.callId),
    ['25672@192.168.105.110'],
  );
  assert.ok(one.stats.byMethod.INVITE! < all.stats.byMethod.INVITE!);
  assert.equal(one.stats.byMethod.REGISTER, undefined, 'no REGISTER in that call');
  assert.deepEqual(
    one.rtpStreams.map((s) => s.callId),
    ['25672@192.168.105.110', '25672@192.168.105.110'],
  );
  const rejected = run(dtmf, '--filter', 'callid=5514');
  assert.match(rejected.stdout, /No RTP streams/);
  assert.doesNotMatch(rejected.stdout, /REGISTER +\d/, 'statistics of the shown call only');
});

test('the call list and the ladder show SIP INFO and RFC 4733 DTMF', (t) => {
  const list = run(dtmf, '--calls');
  const row = list.stdout.split('\n').find((l) => l.includes('25672@192.168.105.110'));
  assert.match(row ?? '', /\b6789123\b/, 'RFC 4733 digits in the call list');
  const dir = tempDir(t);
  const info = (cseq: number, digit: string): Buffer =>
    Buffer.from(
      [
        'INFO sip:b@192.0.2.2 SIP/2.0',
        `Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinfo${cseq}`,
        'From: <sip:a@192.0.2.1>;tag=1',
        'To: <sip:b@192.0.2.2>;tag=2',
        'Call-ID: info-dtmf-1',
        `CSeq: ${cseq} INFO`,
        'Content-Type: application/dtmf-relay',
        'Content-Length: 26',
        '',
        `Signal=${digit}\r\nDuration=160\r\n`.padEnd(26, ' '),
      ].join('\r\n'),
    );
  const file = join(dir, 'info.pcap');
  writeFileSync(
    file,
    buildUdpPcap([
      {
        ts: 1,
        src: '192.0.2.1',
        sport: 5060,
        dst: '192.0.2.2',
        dport: 5060,
        payload: info(1, '4'),
      },
      {
        ts: 2,
        src: '192.0.2.1',
        sport: 5060,
        dst: '192.0.2.2',
        dport: 5060,
        payload: info(2, '#'),
      },
    ]),
  );
  const r = run(file, '--calls', '--ladder');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.split('\n').find((l) => l.includes('info-dtmf-1')) ?? '', /\b4#/);
  assert.match(r.stdout, /INFO .*DTMF 4 \(SIP INFO\)/);
  assert.match(r.stdout, /INFO .*DTMF # \(SIP INFO\)/);
});

test('a call whose messages all break the grammar is listed, counted and marked (regression: "No calls")', (t) => {
  const dir = tempDir(t);
  const msg = (start: string, extra: string[] = [], to = 'To: <sip:100@192.0.2.2>'): Buffer =>
    Buffer.from(
      [
        start,
        'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbroken1',
        'From: Front Desk, Main <sip:200@192.0.2.1>;tag=f1',
        to,
        'Call-ID: broken-call-1',
        ...extra,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  const tagged = 'To: <sip:100@192.0.2.2>;tag=t1';
  const a = { src: '192.0.2.1', sport: 5060, dst: '192.0.2.2', dport: 5060 };
  const b = { src: '192.0.2.2', sport: 5060, dst: '192.0.2.1', dport: 5060 };
  const file = join(dir, 'broken.pcap');
  writeFileSync(
    file,
    buildUdpPcap([
      { ts: 1, ...a, payload: msg('INVITE sip:100@2001:db8::2 SIP/2.0', ['CSeq: 1 INVITE']) },
      { ts: 1.01, ...b, payload: msg('sip/2.0 100 Trying', ['CSeq: 1 INVITE']) },
      { ts: 1.5, ...b, payload: msg('SIP/2.0 200 OK', ['CSeq: 1INVITE'], tagged) },
      { ts: 1.51, ...a, payload: msg('ACK sip:100@2001:db8::2 SIP/2.0', ['CSeq: 1 ACK'], tagged) },
      { ts: 9, ...a, payload: msg('BYE  sip:100@192.0.2.2 SIP/2.0 ', ['CSeq: 2 BYE'], tagged) },
      { ts: 9.01, ...b, payload: msg('SIP/2 200 OK', ['CSeq: 2 BYE'], tagged) },
    ]),
  );
  const json = JSON.parse(run(file, '--json').stdout) as JsonOut & {
    malformed: Array<{ frame: number; reason: string }>;
  };
  assert.equal(json.calls.length, 1);
  assert.equal(json.calls[0]!.state, 'completed');
  assert.equal(json.calls[0]!.messages, 6);
  assert.deepEqual(json.stats.byMethod, { INVITE: 1, ACK: 1, BYE: 1 });
  assert.deepEqual(
    json.malformed.map((m) => m.frame),
    [1, 2, 3, 4, 5, 6],
  );
  assert.equal(json.parseFailures.length, 0);
  const text = run(file, '--calls', '--ladder');
  assert.match(text.stdout, /completed +200 OK +caller +6 \(6!\)/);
  assert.match(text.stdout, /!INVITE/);
  assert.match(text.stdout, /malformed: Invalid Request-URI: bad port/);
  assert.match(text.stdout, /frame 1: malformed SIP INVITE 192\.0\.2\.1:5060 -> 192\.0\.2\.2:5060/);
});

test('piped or --wide: From, To and Call-ID are never truncated', (t) => {
  const dir = tempDir(t);
  const callId = 'a-very-long-call-identifier-0123456789abcdef0123456789abcdef@gateway.example.net';
  const from = 'someone-with-a-long-user-name-for-sure@pbx.subdomain.example.org';
  const payload = Buffer.from(
    [
      'OPTIONS sip:x@192.0.2.2 SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKw',
      `From: <sip:${from}>;tag=1`,
      'To: <sip:x@192.0.2.2>',
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  const file = join(dir, 'wide.pcap');
  writeFileSync(
    file,
    buildUdpPcap([
      { ts: 1, src: '192.0.2.1', sport: 5060, dst: '192.0.2.2', dport: 5060, payload },
    ]),
  );
  for (const args of [['--calls'], ['--calls', '--wide']]) {
    const r = run(file, ...args);
    assert.ok(r.stdout.includes(callId), `${args.join(' ')}: whole Call-ID`);
    assert.ok(r.stdout.includes(from), `${args.join(' ')}: whole From`);
  }
});
