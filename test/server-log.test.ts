// The server's log as an operator reads it (issue 11, item 3), from a running `trapezoid serve`
// whose stderr is a pipe (so JSON lines): a phone registers, refreshes and unregisters; calls are
// refused by a dial-plan rule, fail over from a trunk peer answering 503 (SIPp) to the next, and
// find no binding; an attacker fails three passwords and is banned; one trunk registers with its
// provider (a second `trapezoid serve`) and one is refused. Each leaves its line with the facts
// that matter, and no line carries a password, a digest response or a nonce.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DigestClient } from '../src/ua/digest-client.ts';
import { serve, type Served } from './security-peer.ts';
import { needTool, repoRoot, which } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { RawPhone } from './support/raw-phone.ts';
import { Peer, scratchDir, sippErrors } from './ua-sipp-peer.ts';

const DOMAIN = 'logs.trapezoid';
const SECRETS = {
  phone: 'log-secret-1000-Qx7',
  callee: 'log-secret-1001-Zr2',
  trunk: 'log-trunk-secret-Hk9',
  wrongTrunk: 'log-wrong-trunk-Pw4',
  attacker: 'log-guess-Vb1',
};
const aor = (u: string) => `sip:${u}@${DOMAIN}`;

interface Line {
  level: string;
  time: string;
  event?: string;
  msg: string;
  [key: string]: unknown;
}

let provider: Served;
let server: Served;
let failing: Peer | undefined;
let failingDir = '';
let phone: RawPhone;
let attacker: RawPhone;

before(async () => {
  [phone, attacker] = await Promise.all([RawPhone.open('127.0.0.2'), RawPhone.open('127.0.0.3')]);
  // The provider logs at warn: its info lines (listeners, registrations) are not written.
  provider = await serve(
    {
      domain: 'provider.example',
      users: [{ user: 'acct', password: SECRETS.trunk }],
      log: { level: 'warn' },
    },
    { sip: await freePort(), http: await freePort() },
    'log-provider',
  );
  const sippPort = await freePort();
  server = await serve(
    {
      domain: DOMAIN,
      users: [
        { user: '1000', password: SECRETS.phone },
        { user: '1001', password: SECRETS.callee },
      ],
      security: { bruteForce: { maxFailures: 3, windowSeconds: 60, banSeconds: 60 } },
      dialplan: [
        { name: 'blocked', match: { prefix: '900' }, route: { action: 'reject', code: 403 } },
        { match: { prefix: '777' }, route: { action: 'trunk', trunk: 'partner' } },
      ],
      trunks: [
        {
          name: 'provider',
          peers: [{ host: '127.0.0.1', port: provider.sip }],
          register: { aor: 'sip:acct@provider.example', expires: 600 },
          auth: { username: 'acct', password: SECRETS.trunk },
        },
        {
          name: 'badcreds',
          peers: [{ host: '127.0.0.1', port: provider.sip }],
          register: { aor: 'sip:acct@provider.example', expires: 600 },
          auth: { username: 'acct', password: SECRETS.wrongTrunk },
        },
        {
          name: 'partner',
          peers: [
            { host: '127.0.0.1', port: sippPort },
            { host: '127.0.0.1', port: provider.sip },
          ],
        },
      ],
    },
    { sip: await freePort(), http: await freePort() },
    'log-server',
  );
  failingDir = scratchDir();
  if (which('sipp')) {
    failing = new Peer(
      'sipp',
      [
        ...['-sf', join(repoRoot, 'test/fixtures/sipp/uas-503.xml'), '-p', String(sippPort)],
        ...['-m', '1', '-i', '127.0.0.1', '-nostdin', '-trace_err', '-timeout', '30s'],
      ],
      failingDir,
    );
  }
});

after(async () => {
  failing?.kill();
  await Promise.all([phone?.close(), attacker?.close()]);
  await Promise.all([server?.stop(), provider?.stop()]);
});

/** An INVITE from 1000 to `to`, answering the 407: the final answer. */
async function call(to: string, callId: string) {
  const base = { method: 'INVITE', uri: aor(to), from: aor('1000'), to: aor(to), callId };
  const challenged = await phone.request(phone.build({ ...base, cseq: 1 }).text, server.sip);
  assert.equal(challenged?.status, 407);
  const [answer] = new DigestClient('1000', SECRETS.phone).answer(
    407,
    challenged!.proxyAuthenticate,
    { method: 'INVITE', uri: aor(to) },
  );
  return phone.request(
    phone.build({ ...base, cseq: 2, extra: [`Proxy-Authorization: ${answer!.value}`] }).text,
    server.sip,
    15_000,
  );
}

/** The JSON lines a server has written to stderr so far. */
function lines(served: Served): Line[] {
  return served.peer.stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        assert.fail(`a log line that is not JSON: ${l}`);
      }
    });
}

async function waitForLine(served: Served, match: (l: Line) => boolean, what: string) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const found = lines(served).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no log line for ${what}:\n${served.peer.stderr}`);
}

test('serve logs listeners, registrations, routing decisions, failover, auth failures, bans and trunk registrations as JSON lines, with no secret in any', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const stamp = Date.now();

  // Listeners: SIP and HTTP.
  const sip = await waitForLine(server, (l) => l.event === 'listening', 'a listener');
  assert.equal(sip.transport, 'udp');
  assert.equal(sip.port, server.sip);
  await waitForLine(
    server,
    (l) => l.event === 'listening' && l.transport === 'http' && l.port === server.http,
    'the HTTP listener',
  );

  // A registration added, refreshed, then removed.
  const contact = `sip:1000@${phone.hostPort}`;
  assert.equal((await phone.register(server.sip, DOMAIN, '1000', SECRETS.phone)).status, 200);
  assert.equal((await phone.register(server.sip, DOMAIN, '1000', SECRETS.phone)).status, 200);
  const removed = await phone.register(server.sip, DOMAIN, '1000', SECRETS.phone, { expires: 0 });
  assert.equal(removed.status, 200);
  const regs =
    (await waitForLine(
      server,
      (l) => l.event === 'registration' && l.action === 'removed',
      'the removal',
    )) && lines(server).filter((l) => l.event === 'registration');
  assert.deepEqual(
    regs.map((l) => [l.action, l.aor, l.contact, l.source]),
    [
      ['added', 'sip:1000@logs.trapezoid', contact, `udp:${phone.hostPort}`],
      ['refreshed', 'sip:1000@logs.trapezoid', contact, `udp:${phone.hostPort}`],
      ['removed', 'sip:1000@logs.trapezoid', contact, `udp:${phone.hostPort}`],
    ],
  );
  assert.equal(regs[0]!.expires, 600);
  assert.equal(regs[2]!.reason, 'unregistered');

  // Calls: a dial-plan refusal, a trunk whose first peer answers 503, a user with no binding.
  const id = (s: string) => `log-${s}-${stamp}@127.0.0.2`;
  assert.equal((await call('900123', id('blocked')))?.status, 403);
  const viaTrunk = await call('7775555', id('trunk'));
  assert.ok(
    viaTrunk && viaTrunk.status >= 400,
    `the provider refuses the number: ${viaTrunk?.status}`,
  );
  assert.equal((await call('1001', id('nobinding')))?.status, 480);
  assert.equal((await failing!.finish(20_000)).code, 0, sippErrors(failingDir));

  const callLine = (callId: string) =>
    waitForLine(server, (l) => l.event === 'call' && l.callId === callId, `the call ${callId}`);
  const endLine = (callId: string) =>
    waitForLine(server, (l) => l.event === 'call.end' && l.callId === callId, `its end`);
  const blocked = await callLine(id('blocked'));
  assert.equal(blocked.action, 'reject');
  assert.equal(blocked.rule, 'blocked');
  assert.equal(blocked.caller, `1000@${DOMAIN}`);
  const blockedEnd = await endLine(id('blocked'));
  assert.equal(blockedEnd.status, 403);
  assert.equal(blockedEnd.cause, 'rejected-by-dialplan');

  const trunk = await callLine(id('trunk'));
  assert.equal(trunk.action, 'trunk');
  assert.equal(trunk.trunk, 'partner');
  assert.equal(trunk.rule, '#2 prefix 777');
  const failover = await waitForLine(
    server,
    (l) => l.event === 'call.failover' && l.callId === id('trunk'),
    'the failover',
  );
  assert.equal(failover.status, 503);
  assert.equal(failover.next, `udp:127.0.0.1:${provider.sip}`);
  assert.equal((await endLine(id('trunk'))).status, viaTrunk!.status);

  const nobody = await callLine(id('nobinding'));
  assert.equal(nobody.action, 'local');
  assert.deepEqual(nobody.targets, []);
  assert.equal((await endLine(id('nobinding'))).cause, 'not-registered');

  // Three wrong passwords from the attacker: three auth failures, then its ban.
  for (let i = 0; i < 3; i++) {
    const res = await attacker
      .register(server.sip, DOMAIN, '1001', `${SECRETS.attacker}${i}`)
      .catch(() => undefined);
    if (i < 2) assert.equal(res?.status, 403);
  }
  const ban = await waitForLine(server, (l) => l.event === 'ban', 'the ban');
  assert.equal(ban.source, '127.0.0.3');
  assert.equal(ban.reason, 'brute-force');
  assert.equal(ban.level, 'warn');
  const failures = lines(server).filter((l) => l.event === 'auth.failed');
  assert.equal(failures.length, 3, 'one line per failed password');
  for (const f of failures) {
    assert.equal(f.user, '1001');
    assert.match(String(f.source), /^udp:127\.0\.0\.3:\d+$/);
    assert.equal(f.reason, 'bad-response');
  }

  // Trunk registrations: one registered, one refused by the provider.
  const good = await waitForLine(
    server,
    (l) => l.event === 'trunk.registration' && l.trunk === 'provider',
    'the provider trunk',
  );
  assert.equal(good.state, 'registered');
  assert.equal(good.expires, 600);
  const bad = await waitForLine(
    server,
    (l) => l.event === 'trunk.registration' && l.trunk === 'badcreds',
    'the refused trunk',
  );
  assert.equal(bad.state, 'failed');
  assert.equal(bad.status, 403);

  // Every line is a JSON object with a level, an ISO time, an event and a message.
  for (const l of lines(server)) {
    assert.ok(['info', 'warn', 'error', 'debug'].includes(l.level), l.level);
    assert.ok(!Number.isNaN(Date.parse(l.time)), l.time);
    assert.ok(typeof l.event === 'string' && l.msg.length > 0, JSON.stringify(l));
  }

  // No secret in any line of either server: passwords, digest responses, nonces, credentials.
  for (const served of [server, provider]) {
    const text = served.peer.stderr;
    for (const secret of Object.values(SECRETS)) assert.ok(!text.includes(secret), secret);
    for (const word of ['response=', 'nonce=', 'Authorization', 'ha1']) {
      assert.ok(!text.includes(word), `${word} in the log:\n${text}`);
    }
  }
});

test('log.level warn: the provider wrote its refusals of the bad trunk, not its info lines', async () => {
  const failed = await waitForLine(
    provider,
    (l) => l.event === 'auth.failed' && l.user === 'acct',
    "the bad trunk's failure at the provider",
  );
  assert.equal(failed.level, 'warn');
  assert.equal(failed.method, 'REGISTER');
  const levels = new Set(lines(provider).map((l) => l.level));
  assert.ok(!levels.has('info'), `no info line at level warn: ${[...levels].join(', ')}`);
});
