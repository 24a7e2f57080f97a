// The programs in examples/ run as a user runs them and print what they say they print. They import
// `trapezoid` by its package name; inside the repository the "trapezoid-source" export condition
// points that name at src/ (test/package.test.ts type-checks the same files against the packed
// package). Every examples/*.ts must have its check here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './support/peers.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';

const examples = join(repoRoot, 'examples');
const checked = new Set<string>();

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs examples/NAME with tsx as its header says, killing it after timeoutMs. */
function runExample(name: string, args: string[] = [], timeoutMs = 60_000): Promise<Ran> {
  checked.add(name);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=trapezoid-source', '--import', 'tsx', join(examples, name), ...args],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('parse-message.ts reads the example INVITE, its SDP, and answers it 486 with a To-tag', async () => {
  const r = await runExample('parse-message.ts');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^INVITE to sip:1001@demo\.trapezoid$/m);
  assert.match(r.stdout, /^call a84b4c76e66710@127\.0\.0\.1, CSeq 314159 INVITE$/m);
  assert.match(r.stdout, /^offers audio on port 49170: payload types 0 8 101$/m);
  assert.match(r.stdout, /^SIP\/2\.0 486 Busy Here\r$/m);
  assert.match(r.stdout, /^To: "Bob" <sip:1001@demo\.trapezoid>;tag=[0-9a-f]+\r$/m);

  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-examples-'));
  try {
    const bad = join(dir, 'bad.sip');
    writeFileSync(bad, 'INVITE sip:bob@example.com SIP/2.0\r\nCSeq: one INVITE\r\n\r\n');
    const invalid = await runExample('parse-message.ts', [bad]);
    assert.equal(invalid.code, 1, invalid.stderr);
    assert.match(invalid.stdout, /^invalid: .*CSeq.* \(line 2, column \d+\)$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('analyze-capture.ts lists the calls of a capture and draws the first ladder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-examples-'));
  try {
    const alice = { host: '192.0.2.10', port: 5060 };
    const bob = { host: '192.0.2.20', port: 5060 };
    const sip = (lines: string[]) =>
      Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n'));
    // The headers every message of the call carries; Bob's To-tag once he has answered.
    const call = (cseq: string, toTag = ';tag=b1') => [
      `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-${cseq.replace(' ', '-')}`,
      'From: <sip:alice@example.com>;tag=a1',
      `To: <sip:bob@example.com>${toTag}`,
      'Call-ID: example-call-1',
      `CSeq: ${cseq}`,
      'Max-Forwards: 70',
    ];
    const packets = [
      [
        alice,
        bob,
        sip([
          'INVITE sip:bob@192.0.2.20 SIP/2.0',
          ...call('1 INVITE', ''),
          'Contact: <sip:alice@192.0.2.10>',
        ]),
      ],
      [bob, alice, sip(['SIP/2.0 180 Ringing', ...call('1 INVITE')])],
      [bob, alice, sip(['SIP/2.0 200 OK', ...call('1 INVITE'), 'Contact: <sip:bob@192.0.2.20>'])],
      [alice, bob, sip(['ACK sip:bob@192.0.2.20 SIP/2.0', ...call('1 ACK')])],
      [alice, bob, sip(['BYE sip:bob@192.0.2.20 SIP/2.0', ...call('2 BYE')])],
      [bob, alice, sip(['SIP/2.0 200 OK', ...call('2 BYE')])],
    ] as const;
    const file = join(dir, 'call.pcap');
    writeFileSync(
      file,
      buildUdpPcap(
        packets.map(([from, to, payload], i) => ({
          ts: 1_700_000_000 + i,
          src: from.host,
          sport: from.port,
          dst: to.host,
          dport: to.port,
          payload,
        })),
      ),
    );
    const r = await runExample('analyze-capture.ts', [file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^6 frames, 1 call\(s\)$/m);
    assert.match(
      r.stdout,
      /^INVITE alice@example\.com -> bob@example\.com: completed, 200 OK, hung up by the caller$/m,
    );
    assert.match(r.stdout, /^Call example-call-1 /m);
    for (const arrow of ['INVITE', '180 Ringing', 'ACK', 'BYE'])
      assert.match(r.stdout, new RegExp(`─ ${arrow} ─`), arrow);

    const usage = await runExample('analyze-capture.ts');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ua-example.ts: Alice calls Bob, a second call is refused 486, OPTIONS, BYE', async () => {
  const r = await runExample('ua-example.ts');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^bob: call from <sip:alice@127\.0\.0\.1>;tag=/);
  assert.ok(lines.includes('alice: ringing (180)'), r.stdout);
  assert.ok(lines.includes(`alice: answered, bob's session: "v=0\\r\\ns=bob\\r\\n"`), r.stdout);
  assert.ok(lines.includes('alice: second call refused: 486 Busy Here'), r.stdout);
  assert.match(r.stdout, /^alice: OPTIONS 200, Allow: INVITE ACK CANCEL BYE/m);
  assert.ok(lines.includes('bob: call ended (BYE, by remote)'), r.stdout);
  assert.ok(lines.includes('alice: call ended (BYE, by local)'), r.stdout);
});

test('start-server.ts: the server started from code registers two phones, routes their call, writes its CDR', async () => {
  const r = await runExample('start-server.ts');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(
    lines[0]!,
    /^server: SIP on udp 127\.0\.0\.1:\d+, HTTP API on http:\/\/127\.0\.0\.1:\d+$/,
  );
  assert.deepEqual(lines.slice(1), [
    'alice and bob: registered',
    'alice: call answered through the server',
    'server: CDR 1000@example.test -> 1001@example.test: answered',
    'server: stopped',
  ]);
});

test('every example program in examples/ is checked above', () => {
  const programs = readdirSync(examples).filter((f) => f.endsWith('.ts'));
  assert.deepEqual(programs.filter((f) => !checked.has(f)).sort(), []);
});
