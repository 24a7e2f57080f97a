// Password guessing against `trapezoid serve` with sipvicious' svcrack: user 1000's password is
// "350", inside the range svcrack tries (100-400). With the ban off, svcrack finds it (so the
// range is right and the test would fail without the ban); with the default brute-force rule it
// is banned after 5 failures and finds nothing, the ban shows on /api/bans and /metrics, the
// user's own phone still registers from another address, and any other address that then fails
// against the attacked user is banned at its first failure.
// The scanner list is emptied and the rate limit raised on both servers, so what stops svcrack is
// the brute-force rule itself (the scanner drop is tested in security-scanner.test.ts).
// svcrack 0.3.3 ignores -b: it sends from 127.0.0.1. The phone uses 127.0.0.2, another guesser
// 127.0.0.4.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DigestClient } from '../src/ua/digest-client.ts';
import { needTool, which } from './support/peers.ts';
import { Peer, type Finished } from './ua-sipp-peer.ts';
import { RawClient, metric, serve, sipRequest, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';

const DOMAIN = 'crack.trapezoid';
const PASSWORD = '350';
let defended: Served;
let unguarded: Served;
let defendedRun: Promise<Finished> | undefined;
let unguardedRun: Promise<Finished> | undefined;

function config(maxFailures: number): Record<string, unknown> {
  return {
    domain: DOMAIN,
    users: [
      { user: '1000', password: PASSWORD },
      { user: '1001', password: 'a-long-random-one' },
    ],
    // svcrack answers the first challenge only and knows MD5 only.
    auth: { algorithms: ['MD5'] },
    security: {
      scannerUserAgents: [],
      rateLimit: { requests: 100_000, perSeconds: 1, banSeconds: 60 },
      bruteForce: { maxFailures, windowSeconds: 60, banSeconds: 600 },
    },
  };
}

async function svcrack(server: Served): Promise<Finished> {
  const run = new Peer(
    'svcrack',
    [
      '-p',
      String(server.sip),
      '-P',
      // svcrack binds its port on every address (no -b here).
      String(await freePort({ address: '0.0.0.0' })),
      '-x',
      '127.0.0.1',
      '-u',
      '1000',
      '-r',
      '100-400',
      '--domain',
      DOMAIN,
      '--maximumtime',
      '2',
      '127.0.0.1',
    ],
    server.dir,
  );
  return run.finish(40_000);
}

before(async () => {
  [defended, unguarded] = await Promise.all([
    (async () =>
      serve(config(5), { sip: await freePort(), http: await freePort() }, 'crack-defended'))(),
    (async () =>
      serve(config(100_000), { sip: await freePort(), http: await freePort() }, 'crack-open'))(),
  ]);
  // Both attacks run at once (the defended one lasts ~12 s: svcrack waits out its own timeouts).
  if (which('svcrack')) {
    defendedRun = svcrack(defended);
    unguardedRun = svcrack(unguarded);
  }
});

after(async () => {
  await Promise.allSettled([defendedRun, unguardedRun]);
  await Promise.all([defended?.stop(), unguarded?.stop()]);
});

const crackedLine = /The password for 1000 is (\S+)|^\|\s*1000\s*\|\s*(\S+)\s*\|/m;

test('control: with the ban off, svcrack finds the password in its range', async (t) => {
  if (!needTool(t, 'svcrack', 'sipvicious')) return;
  const done = await unguardedRun!;
  const out = done.stdout + done.stderr;
  const m = crackedLine.exec(out);
  assert.ok(m, `svcrack did not find it:\n${out}`);
  assert.equal(m[1] ?? m[2], PASSWORD);
});

test('svcrack is banned after 5 failures and never finds the password', async (t) => {
  if (!needTool(t, 'svcrack', 'sipvicious')) return;
  const done = await defendedRun!;
  const out = done.stdout + done.stderr;
  assert.doesNotMatch(out, crackedLine, out);
  assert.doesNotMatch(out, new RegExp(`\\b${PASSWORD}\\b`));
  assert.match(out, /since we last received a response/, 'svcrack stopped for lack of answers');

  const bans = JSON.parse(await defended.get('/api/bans')) as Array<{
    source: string;
    reason: string;
    user?: string;
    until: string;
    count: number;
  }>;
  const ban = bans.find((b) => b.source === '127.0.0.1');
  assert.ok(ban, JSON.stringify(bans));
  assert.equal(ban.reason, 'brute-force');
  assert.equal(ban.user, '1000');
  assert.ok(ban.count > 0, 'the ban dropped svcrack’s later requests');
  // banSeconds: 600 from the config (the ban began during the attack, seconds ago).
  const left = Date.parse(ban.until) - Date.now();
  assert.ok(left > 570_000 && left <= 600_000, `ban ends in ${left} ms`);

  const metrics = await defended.get('/metrics');
  assert.equal(metric(metrics, 'trapezoid_auth_failures_total'), 5, metrics);
  assert.equal(metric(metrics, 'trapezoid_banned_sources'), 1, metrics);
  assert.equal(metric(metrics, 'trapezoid_security_bans_total'), 1, metrics);
  assert.ok((metric(metrics, 'trapezoid_security_dropped_total{reason="banned"}') ?? 0) > 0);
});

async function registerFrom(
  client: RawClient,
  server: Served,
  password: string,
): Promise<number | undefined> {
  const base = {
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
    from: `sip:1000@${DOMAIN}`,
    to: `sip:1000@${DOMAIN}`,
    callId: `crack-${client.address}-${Math.random().toString(36).slice(2)}`,
  };
  const first = await client.request(sipRequest(client, base), server.sip);
  if (!first) return undefined;
  if (first.res.status !== 401) return first.res.status;
  const [answer] = new DigestClient('1000', password).answer(401, first.res.wwwAuthenticate, {
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
  });
  const second = await client.request(
    sipRequest(client, { ...base, cseq: 2, extra: [`Authorization: ${answer!.value}`] }),
    server.sip,
  );
  return second?.res.status;
}

test('after the attack the phone still registers; a new address failing against 1000 is banned at once', async (t) => {
  if (!needTool(t, 'svcrack', 'sipvicious')) return;
  await defendedRun;
  const phone = await RawClient.open('127.0.0.2');
  const other = await RawClient.open('127.0.0.4');
  try {
    assert.equal(await registerFrom(phone, defended, PASSWORD), 200, 'the phone is not locked out');
    // 1000 is under attack: one wrong answer from an address that never succeeded bans it.
    assert.equal(await registerFrom(other, defended, 'guess'), 403);
    assert.equal(await registerFrom(other, defended, PASSWORD), undefined, 'banned: no answer');
    const bans = JSON.parse(await defended.get('/api/bans')) as Array<{
      source: string;
      reason: string;
    }>;
    assert.deepEqual(bans.find((b) => b.source === '127.0.0.4')?.reason, 'user-under-attack');
    assert.ok(!bans.some((b) => b.source === '127.0.0.2'), 'the phone is not banned');
  } finally {
    await phone.close();
    await other.close();
  }
});
