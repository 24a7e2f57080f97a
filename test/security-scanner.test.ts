// Scanners: sipvicious' svmap finds `trapezoid serve` when its User-Agent is let through (so the
// scan itself works here), and finds nothing when the server drops the configured scanner user
// agents (the default list has sipvicious' "friendly-scanner"). The drop is by User-Agent, not by
// address: from one address a scanner's OPTIONS gets no answer, a phone's gets 200, and no ban
// is issued.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { needTool } from './support/peers.ts';
import { Peer } from './ua-sipp-peer.ts';
import { RawClient, metric, serve, sipRequest, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';

const DOMAIN = 'scan.trapezoid';
let open: Served;
let guarded: Served;

before(async () => {
  const users = [{ user: '1000', password: 'pw-1000-scan' }];
  [open, guarded] = await Promise.all([
    (async () =>
      serve(
        { domain: DOMAIN, users, security: { scannerUserAgents: [] } },
        { sip: await freePort(), http: await freePort() },
        'scan-open',
      ))(),
    (async () =>
      serve(
        {
          domain: DOMAIN,
          users,
          // The defaults plus one of our own, written in another case than it is sent.
          security: { scannerUserAgents: ['friendly-scanner', 'sipvicious', 'EvilDialer'] },
        },
        { sip: await freePort(), http: await freePort() },
        'scan-guard',
      ))(),
  ]);
});

after(async () => {
  await Promise.all([open?.stop(), guarded?.stop()]);
});

async function svmap(server: Served): Promise<string> {
  const run = new Peer(
    'svmap',
    [
      '-p',
      String(server.sip),
      '-P',
      String(await freePort()),
      '-b',
      '127.0.0.1',
      '-x',
      '127.0.0.1',
      '127.0.0.1',
    ],
    server.dir,
  );
  const done = await run.finish(30_000);
  return done.stdout + done.stderr;
}

test('svmap finds the server when scanners are let through, and nothing when they are dropped', async (t) => {
  if (!needTool(t, 'svmap', 'sipvicious')) return;
  const [seen, hidden] = await Promise.all([svmap(open), svmap(guarded)]);
  assert.match(
    seen,
    new RegExp(`\\|\\s*127\\.0\\.0\\.1:${open.sip}\\s*\\|\\s*trapezoid\\s*\\|`),
    seen,
  );
  assert.doesNotMatch(hidden, new RegExp(`127\\.0\\.0\\.1:${guarded.sip}`), hidden);
  assert.match(hidden, /found nothing/, hidden);
  const metrics = await guarded.get('/metrics');
  assert.ok((metric(metrics, 'trapezoid_security_dropped_total{reason="scanner"}') ?? 0) > 0);
  assert.equal(metric(metrics, 'trapezoid_banned_sources'), 0, 'a scanner drop is not a ban');
});

test('the drop is by User-Agent: from one address a scanner gets silence and a phone gets 200', async () => {
  const client = await RawClient.open('127.0.0.2');
  try {
    const options = (userAgent: string) =>
      client.request(
        sipRequest(client, {
          method: 'OPTIONS',
          uri: `sip:${DOMAIN}`,
          from: `sip:probe@elsewhere.example`,
          to: `sip:${DOMAIN}`,
          userAgent,
        }),
        guarded.sip,
        1000,
      );
    assert.equal(await options('friendly-scanner'), undefined);
    assert.equal(await options('my evildialer/2.1'), undefined, 'matched without regard to case');
    const phone = await options('Linphone/5.2');
    assert.equal(phone?.res.status, 200);
    const bans = JSON.parse(await guarded.get('/api/bans')) as unknown[];
    assert.deepEqual(bans, []);
  } finally {
    await client.close();
  }
});
