// The TLS listener and tls-only: `trapezoid cert` makes a self-signed pair, `trapezoid serve`
// listens on TLS with it (config tls.cert / tls.key), a phone that trusts that certificate
// registers over TLS, and as sips: it is called over TLS; with security.tlsOnly the same phone
// over UDP gets 403 for REGISTER and INVITE, before any challenge; a client that does not trust
// the certificate never gets in. Without tls-only (an in-process server), a sips: call is not
// delivered to a registration over UDP. Ports 19800-19999.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { RegistrationError, CallFailedError, UserAgent } from '../src/ua/index.ts';
import { CallServer } from '../src/server/call-server.ts';
import { validateConfig } from '../src/server/config.ts';
import { provisionUsers } from '../src/server/users.ts';
import { sqliteStores } from './support/stores.ts';
import { repoRoot } from './support/peers.ts';
import { InProcessPhone } from './support/in-process-phone.ts';
import { RawClient, portIn, scratch, serve, sipRequest, type Served } from './security-peer.ts';

const DOMAIN = 'tls.trapezoid';
const PASSWORD = 'pw-1000-tls';
const port = () => portIn(19800, 19999);
let server: Served;
let tlsPort: number;
let certPem: string;
let pki: string;
const agents: UserAgent[] = [];

before(async () => {
  pki = scratch('pki');
  const made = spawnSync(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'cert', '--out', pki, '--cn', 'localhost', '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(made.status, 0, made.stderr);
  const files = JSON.parse(made.stdout) as { cert: string; key: string };
  certPem = readFileSync(files.cert, 'utf8');
  const sip = await port();
  tlsPort = await port();
  server = await serve(
    {
      domain: DOMAIN,
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: sip },
        { transport: 'tls', address: '127.0.0.1', port: tlsPort },
      ],
      tls: { cert: files.cert, key: files.key },
      users: [
        { user: '1000', password: PASSWORD },
        { user: '1001', password: PASSWORD },
      ],
      security: { tlsOnly: true },
    },
    { sip, http: await port() },
    'tls',
  );
});

after(async () => {
  for (const ua of agents) await ua.stop();
  await server?.stop();
  if (pki) rmSync(pki, { recursive: true, force: true });
});

function phone(transport: 'tls' | 'udp', uri = `sip:1000@${DOMAIN}`): UserAgent {
  const ua = new UserAgent({
    uri,
    password: PASSWORD,
    server: `${transport}:127.0.0.1:${transport === 'tls' ? tlsPort : server.sip}`,
    transport,
    listen: 'udp:127.0.0.2:0',
    tlsClient: { ca: certPem },
  });
  agents.push(ua);
  return ua;
}

test('a phone that trusts the certificate registers over TLS', async () => {
  const ua = phone('tls');
  await ua.start();
  const res = await ua.register(300);
  assert.equal(res.status, 200);
  const bindings = JSON.parse(await server.get('/api/registrations')) as Array<{
    aor: string;
    target: string;
  }>;
  const mine = bindings.filter((b) => b.aor === `sip:1000@${DOMAIN}`);
  assert.equal(mine.length, 1, JSON.stringify(bindings));
  assert.match(mine[0]!.target, /^tls:127\.0\.0\.1:\d+$/, 'the binding is the TLS connection');
  await ua.unregister();
});

test('a phone registered as sips: over TLS is called by another over TLS', async () => {
  const callee = phone('tls', `sips:1000@${DOMAIN}`);
  const caller = phone('tls', `sips:1001@${DOMAIN}`);
  await callee.start();
  await caller.start();
  let rang = 0;
  callee.on('invite', (incoming) => {
    rang++;
    void incoming.accept({ body: 'v=0\r\n' });
  });
  assert.equal((await callee.register(300)).status, 200);
  const call = await caller.invite(`sips:1000@${DOMAIN}`, { body: 'v=0\r\n' });
  assert.equal(rang, 1);
  assert.equal(await call.bye(), 200);
  await callee.unregister();
});

test('without tls-only, a sips: call is not delivered to a user registered over UDP (480)', async () => {
  // In process: a server with UDP only, where 1000 may register over UDP.
  const sip = await port();
  const config = validateConfig({
    domain: DOMAIN,
    listen: [{ transport: 'udp', address: '127.0.0.1', port: sip }],
    users: [
      { user: '1000', password: PASSWORD },
      { user: '1001', password: PASSWORD },
    ],
  });
  const dir = scratch('sips');
  const store = await sqliteStores(join(dir, 'sips.db'));
  await provisionUsers(store.users, DOMAIN, config.users);
  const cleartext = new CallServer({ config, stores: store });
  await cleartext.start();
  const ua = (user: string) => {
    const agent = new UserAgent({
      uri: `sip:${user}@${DOMAIN}`,
      password: PASSWORD,
      server: `udp:127.0.0.1:${sip}`,
      listen: 'udp:127.0.0.2:0',
    });
    return agent;
  };
  const callee = ua('1000');
  const caller = ua('1001');
  try {
    await callee.start();
    await caller.start();
    callee.on('invite', (incoming) => void incoming.accept({ body: 'v=0\r\n' }));
    assert.equal((await callee.register(300)).status, 200);
    await assert.rejects(
      caller.invite(`sips:1000@${DOMAIN}`, { body: 'v=0\r\n' }),
      (err: unknown) => err instanceof CallFailedError && err.status === 480,
    );
    // The same call as sip: reaches it (so the 480 is the sips rule's doing).
    const call = await caller.invite(`sip:1000@${DOMAIN}`, { body: 'v=0\r\n' });
    assert.equal(await call.bye(), 200);
  } finally {
    await callee.stop();
    await caller.stop();
    await cleartext.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tls-only: REGISTER and INVITE over UDP for the domain get 403 before any challenge', async () => {
  const ua = phone('udp');
  await ua.start();
  await assert.rejects(
    ua.register(300),
    (err: unknown) => err instanceof RegistrationError && err.status === 403,
  );
  await assert.rejects(
    ua.invite(`sip:1001@${DOMAIN}`, { body: 'v=0\r\n' }),
    (err: unknown) => err instanceof CallFailedError && err.status === 403,
  );
  // On the wire: no challenge is given away over cleartext, and the reason says why.
  const raw = await RawClient.open('127.0.0.2');
  try {
    const answer = await raw.request(
      sipRequest(raw, {
        method: 'REGISTER',
        uri: `sip:${DOMAIN}`,
        from: `sip:1000@${DOMAIN}`,
        to: `sip:1000@${DOMAIN}`,
      }),
      server.sip,
    );
    assert.ok(answer);
    assert.equal(answer.res.status, 403);
    assert.match(answer.res.reason, /TLS/);
    assert.equal(answer.res.wwwAuthenticate.length, 0);
  } finally {
    await raw.close();
  }
});

test('a TLS client that does not trust the certificate cannot connect', async () => {
  const error = await new Promise<Error | undefined>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost' }, () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err) => resolve(err));
  });
  assert.ok(error, 'the handshake must fail without the certificate as CA');
  assert.match(error.message, /self[- ]signed|unable to verify/i);
});

test('trapezoid phone over TLS (--tls-ca): one registers and answers, the other calls it', async () => {
  const ca = join(pki, 'cert.pem');
  const common = {
    server: `127.0.0.1:${tlsPort}`,
    domain: DOMAIN,
    password: PASSWORD,
    transport: 'tls' as const,
    tlsCa: ca,
    rtpPorts: '19700-19799',
  };
  const callee = new InProcessPhone({ ...common, user: '1001', answer: true, calls: 1 });
  try {
    await callee.waitFor('registered');
    const caller = new InProcessPhone({
      ...common,
      user: '1000',
      call: `sip:1001@${DOMAIN}`,
      hangupAfter: 0.5,
    });
    assert.equal(await caller.code, 0, caller.stdout);
    const events = caller.events.map((e) => e.event);
    assert.ok(events.includes('answered'), caller.stdout);
    await callee.waitFor('ended');
  } finally {
    assert.equal(await callee.stop(), 0, callee.stdout);
  }
  // Without --tls-ca the server's self-signed certificate is refused: no registration.
  const untrusting = new InProcessPhone({
    ...common,
    tlsCa: undefined,
    user: '1001',
    expires: 60,
  });
  const code = await untrusting.code;
  assert.equal(code, 1, untrusting.stdout);
  assert.ok(
    untrusting.events.some((e) => e.event === 'error'),
    untrusting.stdout,
  );
});
