// `trapezoid phone` against SIPp (sip-tester): SIPp's built-in uac (its BYE's 200 matched to the
// BYE, see uacByeByTransaction) calls `phone --answer`,
// `phone --call` calls SIPp's built-in uas, over UDP and TCP, with 10% message loss, and through
// a UAS scenario that challenges with 401 then 407 and checks the credentials.
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needTool, repoRoot } from './support/peers.ts';
import { uacByeByTransaction } from './support/sipp-scenarios.ts';
import {
  events,
  freePort,
  Peer,
  phone,
  scratchDir,
  sippErrors,
  waitForOutput,
} from './ua-sipp-peer.ts';

const started: Peer[] = [];
after(() => {
  for (const p of started) p.kill();
});
function track(p: Peer): Peer {
  started.push(p);
  return p;
}

/** SIPp's own limit on a run (it then exits failing), in seconds. */
const SIPP_LIMIT_S = 25;
/**
 * With message loss a call can wait for retransmissions (0.5, 1, 2, 4 s... when one message is
 * lost again and again), and a loaded machine slows every step: lossy runs get more room
 * (a 10%-loss run once timed out at 20 s on a loaded machine). Still far below the 240 s test timeout, so a hang fails with SIPp's own report.
 */
const LOSSY_LIMIT_S = 75;

function sipp(sippPath: string, dir: string, args: string[], limitS = SIPP_LIMIT_S): Peer {
  return track(
    new Peer(
      sippPath,
      [...args, '-i', '127.0.0.1', '-nostdin', '-trace_err', '-timeout', `${limitS}s`],
      dir,
    ),
  );
}

async function uacCallsPhone(t: TestContext, transport: 'udp' | 'tcp', lost: number) {
  const sippPath = needTool(t, 'sipp', 'sip-tester');
  if (!sippPath) return;
  const dir = scratchDir();
  const [phonePort, sippPort] = [await freePort(), await freePort()];
  const calls = lost > 0 ? 10 : 5;
  const answerer = track(
    phone(['--answer', '--listen', `${transport}:127.0.0.1:${phonePort}`, '--json']),
  );
  await waitForOutput(answerer, /"event":"listening"/, 30000);
  const args = [
    ...uacByeByTransaction(sippPath, dir),
    `127.0.0.1:${phonePort}`,
    '-p',
    String(sippPort),
    '-m',
    String(calls),
  ];
  args.push('-r', '20', '-d', '100');
  if (transport === 'tcp') args.push('-t', 't1');
  if (lost > 0) args.push('-lost', String(lost));
  const limitS = lost > 0 ? LOSSY_LIMIT_S : SIPP_LIMIT_S;
  const uac = sipp(sippPath, dir, args, limitS);
  const sippResult = await uac.finish((limitS + 15) * 1000);
  assert.equal(
    sippResult.code,
    0,
    `SIPp uac failed:\n${sippErrors(dir)}\n${sippResult.stdout.slice(-1500)}`,
  );
  // SIPp is done only once every BYE got its 200: the phone may stop now (SIGTERM = exit 0).
  answerer.child.kill('SIGTERM');
  // (A BYE of ours still unanswered would take Timer F, 32 s: more than that is a hang.)
  const phoneResult = await answerer.finish(40000);
  assert.equal(phoneResult.code, 0, phoneResult.stdout + phoneResult.stderr);
  const ended = events(phoneResult.stdout).filter((e) => e.event === 'ended');
  assert.equal(ended.length, calls);
  for (const e of ended) {
    assert.equal(e.status, 200);
    assert.equal(e.by, 'remote');
  }
}

test('SIPp uac calls trapezoid phone --answer over UDP', async (t) => {
  await uacCallsPhone(t, 'udp', 0);
});

test('SIPp uac calls trapezoid phone --answer over TCP', async (t) => {
  await uacCallsPhone(t, 'tcp', 0);
});

test('SIPp uac with 10% loss: every call still completes (retransmissions)', async (t) => {
  await uacCallsPhone(t, 'udp', 10);
});

async function phoneCallsUas(
  t: TestContext,
  transport: 'udp' | 'tcp',
  scenario: (dir: string) => string[],
  phoneArgs: string[] = [],
): Promise<{
  sipp: number | null;
  phone: number | null;
  events: Array<Record<string, unknown>>;
  dir: string;
}> {
  const sippPath = needTool(t, 'sipp', 'sip-tester');
  if (!sippPath) return { sipp: null, phone: null, events: [], dir: '' };
  const dir = scratchDir();
  const sippPort = await freePort();
  const args = [...scenario(dir), '-p', String(sippPort), '-m', '1'];
  if (transport === 'tcp') args.push('-t', 't1');
  const uas = sipp(sippPath, dir, args);
  // SIPp binds at once; give it a moment before the INVITE arrives.
  await new Promise((r) => setTimeout(r, 300));
  const caller = track(
    phone([
      '--call',
      `sip:service@127.0.0.1:${sippPort}`,
      '--transport',
      transport,
      '--hangup-after',
      '0.3',
      '--json',
      ...phoneArgs,
    ]),
  );
  const phoneResult = await caller.finish(25000);
  const sippResult = await uas.finish(25000);
  return {
    sipp: sippResult.code,
    phone: phoneResult.code,
    events: events(phoneResult.stdout),
    dir,
  };
}

/** SIPp's built-in uas without its closing 4 s timewait (a UDP safeguard that, over TCP, turns our
 * closing the connection after the call into a "failed" call). */
function uasWithoutTimewait(sippPath: string, dir: string): string[] {
  // `sipp -sd` prints the scenario and exits with 99: read its output, not its status.
  const dump = spawnSync(sippPath, ['-sd', 'uas'], { encoding: 'utf8' }).stdout;
  assert.match(dump, /<timewait[^>]*\/>/);
  const xml = dump.replace(/<timewait[^>]*\/>/, '');
  const file = join(dir, 'uas-no-timewait.xml');
  writeFileSync(file, xml);
  return ['-sf', file];
}

for (const transport of ['udp', 'tcp'] as const) {
  test(`trapezoid phone --call calls SIPp uas over ${transport.toUpperCase()}`, async (t) => {
    const sippPath = needTool(t, 'sipp', 'sip-tester');
    if (!sippPath) return;
    const r = await phoneCallsUas(t, transport, (dir) =>
      transport === 'udp' ? ['-sn', 'uas'] : uasWithoutTimewait(sippPath, dir),
    );
    assert.equal(r.phone, 0, JSON.stringify(r.events));
    assert.equal(r.sipp, 0, sippErrors(r.dir));
    // The signalling events (SIPp's 200 carries an SDP, so media/stats events come too).
    assert.deepEqual(
      r.events.map((e) => e.event).filter((e) => e !== 'media' && e !== 'stats'),
      ['listening', 'ringing', 'answered', 'ended'],
    );
    const ended = r.events.at(-1);
    assert.equal(ended?.by, 'local');
    assert.equal(ended?.status, 200);
  });
}

const authScenario = join(repoRoot, 'bench', 'scenarios', 'auth-401-407.xml');

test('a UAS challenging with 401 then 407 gets correct digest answers', async (t) => {
  const r = await phoneCallsUas(t, 'udp', () => ['-sf', authScenario], [
    '--user',
    'alice',
    '--password',
    'wonderland',
  ]);
  if (r.sipp === null) return;
  assert.equal(r.sipp, 0, sippErrors(r.dir));
  assert.equal(r.phone, 0, JSON.stringify(r.events));
  assert.ok(r.events.some((e) => e.event === 'answered'));
});

test('a wrong password fails the 401 scenario (SIPp rejects the credentials)', async (t) => {
  const r = await phoneCallsUas(t, 'udp', () => ['-sf', authScenario], [
    '--user',
    'alice',
    '--password',
    'not-the-password',
    '--timeout',
    '1',
  ]);
  if (r.sipp === null) return;
  assert.notEqual(r.sipp, 0);
  assert.equal(r.phone, 1);
  assert.ok(!r.events.some((e) => e.event === 'answered'));
});
