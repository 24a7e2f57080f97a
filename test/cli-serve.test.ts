// `trapezoid serve`, `user` and `cdr` through the real command: the embedded demo starts and prints
// its users; a config error names the field; calls made through a served instance leave CDRs
// that survive `kill -9`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool, repoRoot } from './support/peers.ts';
import { calleeArgs, callerArgs, writeTrunkConfig } from './support/trunk-config.ts';
import { Peer, scratchDir, sippErrors } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const run = (args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8' });

async function waitFor(peer: Peer, re: RegExp, ms: number): Promise<void> {
  const start = Date.now();
  while (!re.test(peer.stdout)) {
    if (peer.child.exitCode !== null) throw new Error(`exited: ${peer.stdout}${peer.stderr}`);
    if (Date.now() - start > ms)
      throw new Error(`timeout waiting for ${re}: ${peer.stdout}${peer.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('user add / list / remove write HA1s to the database', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'trapezoid-cli-')), 'u.db');
  const added = run(['user', 'add', '2000', '--db', db, '--domain', 'x.example', '--json']);
  assert.equal(added.status, 0, added.stderr);
  const info = JSON.parse(added.stdout) as { user: string; password: string };
  assert.equal(info.user, '2000');
  assert.match(info.password, /^[A-Za-z0-9]{12}$/);
  const list = run(['user', 'list', '--db', db, '--json']);
  assert.deepEqual(JSON.parse(list.stdout), [
    { user: '2000', domain: 'x.example', displayName: null },
  ]);
  assert.equal(run(['user', 'add', 'bad name', '--db', db]).status, 2);
  assert.equal(run(['user', 'remove', '2000', '--db', db, '--domain', 'x.example']).status, 0);
  assert.equal(run(['user', 'remove', '2000', '--db', db, '--domain', 'x.example']).status, 1);
});

test('serve with a bad config exits 2 naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-cli-'));
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'listen:\n  - { transport: udp, address: 127.0.0.1, port: 99999 }\n');
  const res = run(['serve', '--config', cfg]);
  assert.equal(res.status, 2);
  assert.match(res.stderr, /listen\[0\]\.port/);
  assert.doesNotMatch(res.stderr, /at .*\.ts:\d+/); // no stack trace
});

test('the embedded demo starts on 127.0.0.1:5060 with users 1000 and 1001 and fresh passwords', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-demo-'));
  const serve = new Peer(
    process.execPath,
    [bin, 'serve', '--json', '--db', join(dir, 'demo.db')],
    dir,
  );
  try {
    await waitFor(serve, /"event":"listening"/, 15_000);
    const info = JSON.parse(serve.stdout.split('\n')[0]!) as {
      domain: string;
      sip: string[];
      memoryTargetMb: number;
      pretenuring: boolean;
      users: Array<{ user: string; password: string }>;
    };
    assert.equal(info.domain, 'demo.trapezoid');
    assert.deepEqual(info.sip, ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060']);
    assert.deepEqual(
      info.users.map((u) => u.user),
      ['1000', '1001'],
    );
    assert.notEqual(info.users[0]!.password, info.users[1]!.password);
    const metrics = await fetch('http://127.0.0.1:8060/metrics').then((r) => r.text());
    assert.match(metrics, /^trapezoid_registrations 0$/m);
    // The serving process holds the default memory target (memory-target.ts).
    assert.equal(info.memoryTargetMb, 256);
    assert.equal(info.pretenuring, false); // turned off (test/serve-gc.test.ts: what it does)
    assert.match(metrics, /^trapezoid_memory_target_bytes 256000000$/m);
    assert.match(metrics, /^trapezoid_resident_bytes [1-9][0-9]{6,}$/m);
  } finally {
    serve.child.kill('SIGTERM');
    await serve.finish(10_000);
  }
});

test('CDRs of calls through `trapezoid serve` survive kill -9 and list as JSON and CSV', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-k9-'));
  const trunks = await writeTrunkConfig(dir, 'k9');
  const serve = new Peer(process.execPath, [bin, 'serve', '--config', trunks.cfg, '--json'], dir);
  const uasDir = scratchDir();
  const uas = new Peer('sipp', calleeArgs(trunks), uasDir);
  try {
    await waitFor(serve, /"event":"listening"/, 15_000);
    const sippDir = scratchDir();
    const uac = new Peer('sipp', callerArgs(trunks, ['-sn', 'uac', '-m', '3'], 20), sippDir);
    const done = await uac.finish(30_000);
    assert.equal(done.code, 0, sippErrors(sippDir));
    serve.child.kill('SIGKILL');
    await serve.done;
    const json = run(['cdr', '--db', join(dir, 'k9.db'), '--json']);
    assert.equal(json.status, 0, json.stderr);
    const cdrs = JSON.parse(json.stdout) as Array<{
      finalStatus: number;
      trunk: string;
      hungUpBy: string;
    }>;
    assert.equal(cdrs.length, 3);
    assert.ok(
      cdrs.every((c) => c.finalStatus === 200 && c.trunk === 'out' && c.hungUpBy === 'caller'),
    );
    const csv = run(['cdr', '--db', join(dir, 'k9.db'), '--csv'])
      .stdout.trim()
      .split('\n');
    assert.equal(csv.length, 4);
    assert.match(csv[0]!, /^id,callId,caller,callee,dialled,start/);
  } finally {
    serve.kill();
    uas.kill();
  }
});
