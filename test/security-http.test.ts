// The HTTP API is not an open door (issue 10, items 5 and 8), against `trapezoid serve` run as a
// child:
//   - DNS rebinding: a web page on a name its attacker re-points at 127.0.0.1 reaches the API
//     with that name in Host; the API answers only to localhost, IP literals, its own address and
//     http.hosts, and refuses the rest with 421.
//   - beyond loopback (0.0.0.0 here) the API starts only with http.token, says so at start, and
//     then answers only requests carrying the token (401 otherwise).
//   - /metrics label cardinality: requests with invented method names are counted as `other`, so
//     a sender cannot add series without bound.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { Peer } from './ua-sipp-peer.ts';
import { RawClient, metric, scratch, serve, sipRequest, type Served } from './security-peer.ts';

const DOMAIN = 'http.trapezoid';
const TOKEN = randomBytes(16).toString('hex');

let local: Served;
let wide: Served;

before(async () => {
  [local, wide] = await Promise.all([
    (async () =>
      serve(
        {
          domain: DOMAIN,
          http: { address: '127.0.0.1', port: await freePort(), hosts: ['pbx.example.com'] },
          // The cardinality test sends 200 requests from one address: not a flood to ban here.
          security: { rateLimit: { requests: 100_000, perSeconds: 1, banSeconds: 1 } },
        },
        { sip: await freePort(), http: 0 },
        'http-local',
      ))(),
    (async () =>
      serve(
        {
          domain: DOMAIN,
          http: { address: '0.0.0.0', port: await freePort({ address: '0.0.0.0' }), token: TOKEN },
        },
        { sip: await freePort(), http: 0 },
        'http-wide',
      ))(),
  ]);
});

after(async () => {
  await Promise.all([local?.stop(), wide?.stop()]);
});

/** The HTTP API's port, from the start-up summary (the config's port is inside `http:`). */
function apiPort(served: Served): number {
  const summary = JSON.parse(served.peer.stdout.split('\n')[0]!) as { http: string };
  return Number(new URL(summary.http).port);
}

/** GET on 127.0.0.1 with the given headers (Host among them, which fetch will not set). */
function get(
  served: Served,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: apiPort(served), path, headers, timeout: 20_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('HTTP request timed out')));
    req.end();
  });
}

test('DNS rebinding: a Host naming another site gets 421; loopback names, IP literals and http.hosts are answered', async () => {
  const port = apiPort(local);
  for (const host of [
    `rebind.attacker.example:${port}`,
    'rebind.attacker.example',
    `localhost.attacker.example:${port}`,
    `127.0.0.1.nip.io:${port}`,
    `sub.pbx.example.com:${port}`, // http.hosts names pbx.example.com only, not what is under it
  ]) {
    const res = await get(local, '/api/registrations', { host });
    assert.equal(res.status, 421, `${host}: ${res.body}`);
    assert.match(res.body, /Misdirected Request: Host ".*" is not a name of this API/);
    assert.doesNotMatch(res.body, /\[/, 'no data in the refusal');
  }
  const metrics = await get(local, '/metrics', { host: `evil.example:${port}` });
  assert.equal(metrics.status, 421);
  // What the check must spare: the names a browser or a scraper uses for this API itself.
  for (const host of [
    `127.0.0.1:${port}`,
    `localhost:${port}`,
    `LOCALHOST:${port}`,
    `[::1]:${port}`,
    `127.0.0.2:${port}`,
    `192.0.2.10:${port}`,
    'pbx.example.com',
    `PBX.example.com:${port}`,
  ]) {
    const res = await get(local, '/api/registrations', { host });
    assert.equal(res.status, 200, `${host}: ${res.body}`);
    assert.deepEqual(JSON.parse(res.body), []);
  }
});

test('open door: serve refuses to put the API on 0.0.0.0 without http.token (exit 2 naming http.token)', async () => {
  const dir = scratch('http-open');
  const file = join(dir, 'trapezoid.yaml');
  writeFileSync(
    file,
    stringify({
      listen: [{ transport: 'udp', address: '127.0.0.1', port: await freePort() }],
      database: join(dir, 'server.db'),
      http: { address: '0.0.0.0', port: await freePort({ address: '0.0.0.0' }) },
    }),
  );
  const run = new Peer(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'serve', '--config', file],
    dir,
  );
  const done = await run.finish(30_000);
  assert.equal(done.code, 2, done.stdout + done.stderr);
  assert.match(done.stderr, /http\.token: required: the HTTP API would listen beyond loopback/);
  assert.match(done.stderr, /http\.address 0\.0\.0\.0/);
  assert.doesNotMatch(done.stdout, /listening/);

  // With a token it starts, and its start-up summary says what a client must send.
  writeFileSync(
    file,
    stringify({
      listen: [{ transport: 'udp', address: '127.0.0.1', port: await freePort() }],
      database: join(dir, 'server.db'),
      http: { address: '0.0.0.0', port: await freePort({ address: '0.0.0.0' }), token: TOKEN },
    }),
  );
  const guarded = new Peer(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'serve', '--config', file],
    dir,
  );
  try {
    const started = Date.now();
    while (!/token required/.test(guarded.stdout) && guarded.child.exitCode === null) {
      if (Date.now() - started > 30_000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(
      guarded.stdout,
      /HTTP API {2}http:\/\/0\.0\.0\.0:\d+\/api.*\n {12}token required \(Authorization: Bearer <http\.token>\), listening beyond loopback/,
      guarded.stdout + guarded.stderr,
    );
    assert.ok(!guarded.stdout.includes(TOKEN), 'the token itself is not printed');
  } finally {
    guarded.signal('SIGTERM');
    await guarded.finish(15_000).catch(() => guarded.kill());
  }
});

test('beyond loopback with http.token: no token or a wrong one gets 401, the token gets 200; the start-up says so', async () => {
  const summary = JSON.parse(wide.peer.stdout.split('\n')[0]!) as {
    http: string;
    httpAccess: { token: boolean; loopbackOnly: boolean };
  };
  assert.match(summary.http, /^http:\/\/0\.0\.0\.0:\d+$/);
  assert.deepEqual(
    { token: summary.httpAccess.token, loopbackOnly: summary.httpAccess.loopbackOnly },
    { token: true, loopbackOnly: false },
  );
  const host = `127.0.0.1:${apiPort(wide)}`;
  const none = await get(wide, '/api/registrations', { host });
  assert.equal(none.status, 401, none.body);
  assert.match(String(none.headers['www-authenticate']), /^Bearer realm="trapezoid"/);
  assert.match(none.body, /Authorization: Bearer <http\.token>/);
  for (const authorization of [
    `Bearer ${TOKEN.slice(0, -1)}x`,
    `Bearer ${TOKEN}${TOKEN}`,
    `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
    'Bearer ',
  ]) {
    const wrong = await get(wide, '/metrics', { host, authorization });
    assert.equal(wrong.status, 401, `${authorization}: ${wrong.body}`);
    assert.doesNotMatch(wrong.body, /trapezoid_/);
  }
  const right = await get(wide, '/metrics', { host, authorization: `Bearer ${TOKEN}` });
  assert.equal(right.status, 200, right.body);
  assert.match(right.body, /^trapezoid_active_calls 0$/m);
  // The token does not lift the Host check.
  const rebound = await get(wide, '/metrics', {
    host: 'rebind.attacker.example',
    authorization: `Bearer ${TOKEN}`,
  });
  assert.equal(rebound.status, 421);
});

test('metrics cardinality: 200 requests with invented methods add one series (other), not 200', async () => {
  const client = await RawClient.open('127.0.0.2');
  try {
    let answered = 0;
    for (let batch = 0; batch < 10; batch++) {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => {
          const method = `X${randomBytes(6).toString('hex').toUpperCase()}`;
          return client.request(
            sipRequest(client, {
              method,
              uri: `sip:1000@${DOMAIN}`,
              from: `sip:probe@${DOMAIN}`,
              to: `sip:1000@${DOMAIN}`,
            }),
            local.sip,
            10_000,
          );
        }),
      );
      answered += results.filter((r) => r !== undefined).length;
    }
    assert.ok(answered >= 190, `the server answered ${answered} of 200`);
    const res = await get(local, '/metrics', { host: 'localhost' });
    const series = res.body
      .split('\n')
      .filter((l) => l.startsWith('trapezoid_sip_requests_total{'));
    assert.ok(series.length <= 15, `${series.length} series:\n${series.slice(0, 20).join('\n')}`);
    assert.ok(
      (metric(res.body, 'trapezoid_sip_requests_total{method="other"}') ?? 0) >= answered,
      series.join('\n'),
    );
    assert.doesNotMatch(res.body, /method="X[0-9A-F]+"/);
  } finally {
    await client.close();
  }
});
