// SIP trunks toward a provider played by SIPp: digest credentials answered on 401 then 407,
// outbound registration with a challenge, and failover to the second peer on 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallServer } from '../src/server/call-server.ts';
import { validateConfig } from '../src/server/config.ts';
import { sqliteStores } from './support/stores.ts';
import type { Stores } from '../src/store/open-stores.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { Peer, freePort, scratchDir, sippErrors } from './ua-sipp-peer.ts';

async function startServer(
  raw: Record<string, unknown>,
  sipPort: number,
): Promise<{ server: CallServer; store: Stores }> {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-trunk-'));
  const config = validateConfig({
    domain: 'trunk.test',
    listen: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }],
    database: join(dir, 't.db'),
    ...raw,
  });
  const store = await sqliteStores(config.database);
  const server = new CallServer({ config, stores: store });
  await server.start();
  return { server, store };
}

const sipp = (args: string[], dir: string) =>
  new Peer('sipp', [...args, '-i', '127.0.0.1', '-nostdin', '-trace_err', '-timeout', '20s'], dir);

test("a trunk answers the provider's 401 and then 407 with its credentials", async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const [sip, provider, uacPort] = [await freePort(), await freePort(), await freePort()];
  const { server, store } = await startServer(
    {
      trunks: [
        {
          name: 'provider',
          peers: [{ host: '127.0.0.1', port: provider }],
          auth: { username: 'alice', password: 'wonderland' },
        },
        { name: 'pbx', peers: [{ host: '127.0.0.1', port: uacPort }], transit: true },
      ],
      dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'provider' } }],
    },
    sip,
  );
  const provDir = scratchDir();
  const uas = sipp(
    ['-sf', join(repoRoot, 'bench/scenarios/auth-401-407.xml'), '-p', String(provider), '-m', '1'],
    provDir,
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    const dir = scratchDir();
    const uac = sipp(
      [`127.0.0.1:${sip}`, '-sn', 'uac', '-s', 'service', '-m', '1', '-p', String(uacPort)],
      dir,
    );
    const done = await uac.finish(30_000);
    assert.equal(
      done.code,
      0,
      `caller failed:\n${sippErrors(dir)}\nprovider:\n${sippErrors(provDir)}`,
    );
    const prov = await uas.finish(15_000);
    assert.equal(prov.code, 0, `provider saw bad credentials:\n${sippErrors(provDir)}`);
    const [cdr] = await store.cdrs.listCdrs();
    assert.equal(cdr?.finalStatus, 200);
    assert.equal(cdr?.trunk, 'provider');
  } finally {
    uas.kill();
    await server.stop();
    await store.close();
  }
});

test('a trunk registers with its provider, answering the challenge', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const [sip, provider] = [await freePort(), await freePort()];
  const provDir = scratchDir();
  const registrar = sipp(
    [
      '-sf',
      join(repoRoot, 'test/fixtures/sipp/registrar-401.xml'),
      '-p',
      String(provider),
      '-m',
      '1',
    ],
    provDir,
  );
  await new Promise((r) => setTimeout(r, 300));
  const { server, store } = await startServer(
    {
      trunks: [
        {
          name: 'provider',
          peers: [{ host: '127.0.0.1', port: provider }],
          auth: { username: 'acct', password: 'provider-secret' },
          register: { aor: 'sip:acct@provider.test', expires: 300 },
        },
      ],
    },
    sip,
  );
  try {
    const reg = server.trunkRegistrations.get('provider')!;
    const state = await reg.settled();
    assert.equal(
      state,
      'registered',
      `last status ${reg.lastStatus}; provider:\n${sippErrors(provDir)}`,
    );
    assert.equal(reg.granted, 120);
    const done = await registrar.finish(10_000);
    assert.equal(done.code, 0, sippErrors(provDir));
  } finally {
    registrar.kill();
    await server.stop();
    await store.close();
  }
});

test('failover: the first peer answers 503, the call completes through the second', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const [sip, down, up, uacPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const { server, store } = await startServer(
    {
      trunks: [
        {
          name: 'carrier',
          peers: [
            { host: '127.0.0.1', port: down },
            { host: '127.0.0.1', port: up },
          ],
        },
        { name: 'pbx', peers: [{ host: '127.0.0.1', port: uacPort }], transit: true },
      ],
      dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'carrier' } }],
    },
    sip,
  );
  const downDir = scratchDir();
  const failing = sipp(
    ['-sf', join(repoRoot, 'test/fixtures/sipp/uas-503.xml'), '-p', String(down), '-m', '1'],
    downDir,
  );
  const upDir = scratchDir();
  const working = sipp(['-sn', 'uas', '-p', String(up), '-m', '1'], upDir);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const dir = scratchDir();
    const uac = sipp(
      [`127.0.0.1:${sip}`, '-sn', 'uac', '-s', 'service', '-m', '1', '-p', String(uacPort)],
      dir,
    );
    const done = await uac.finish(30_000);
    assert.equal(done.code, 0, `caller failed:\n${sippErrors(dir)}`);
    assert.equal(
      (await failing.finish(10_000)).code,
      0,
      `the failing peer was not tried first:\n${sippErrors(downDir)}`,
    );
    assert.equal((await working.finish(10_000)).code, 0, sippErrors(upDir));
    assert.equal((await store.cdrs.listCdrs())[0]?.finalStatus, 200);
  } finally {
    failing.kill();
    working.kill();
    await server.stop();
    await store.close();
  }
});

test('a trunk known by its credentials: inbound calls need its inboundAuth when anonymous calls are off', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const [sip, uasPort, uacPort] = [await freePort(), await freePort(), await freePort()];
  const { server, store } = await startServer(
    {
      inbound: { allowAnonymous: false },
      trunks: [
        { name: 'carrier', peers: [{ host: '127.0.0.1', port: uasPort }] },
        {
          // Its address is not ours to know (a partner behind changing addresses): it is
          // recognised by its credentials only.
          name: 'partner',
          peers: [{ host: '192.0.2.9', port: 5060 }],
          inboundAddresses: ['192.0.2.9'],
          inboundAuth: { username: 'partner', password: 'partner-secret' },
          transit: true,
        },
      ],
      dialplan: [{ match: { prefix: '555' }, route: { action: 'trunk', trunk: 'carrier' } }],
    },
    sip,
  );
  const uasDir = scratchDir();
  const uas = sipp(
    [
      '-sf',
      join(repoRoot, 'test/fixtures/sipp/uas-record-route.xml'),
      '-p',
      String(uasPort),
      '-m',
      '1',
    ],
    uasDir,
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    const call = (password: string, dir: string) =>
      sipp(
        [
          `127.0.0.1:${sip}`,
          '-sf',
          join(repoRoot, 'test/fixtures/sipp/uac-auth.xml'),
          '-s',
          '5551234',
          '-au',
          'partner',
          '-ap',
          password,
          '-m',
          '1',
          '-p',
          String(uacPort),
        ],
        dir,
      ).finish(20_000);
    // A wrong password: 403 after the challenge, nothing reaches the carrier.
    const badDir = scratchDir();
    const bad = await call('guessed', badDir);
    assert.equal(bad.code, 1, 'the call with a wrong password must fail');
    assert.match(sippErrors(badDir), /SIP\/2\.0 403/);
    // The refused attempt has its CDR (issue 11: one row per attempt), with the cause.
    const refused = await store.cdrs.listCdrs();
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.finalStatus, 403);
    assert.equal(refused[0]!.cause, 'auth-failed');
    // The right credentials: through to the carrier and back, ACK and BYE included.
    const goodDir = scratchDir();
    const good = await call('partner-secret', goodDir);
    assert.equal(good.code, 0, `partner call failed:\n${sippErrors(goodDir)}`);
    const carrier = await uas.finish(10_000);
    assert.equal(carrier.code, 0, `carrier side:\n${sippErrors(uasDir)}`);
    const [cdr] = await store.cdrs.listCdrs();
    assert.equal(cdr?.finalStatus, 200);
    assert.equal(cdr?.trunk, 'carrier');
    assert.equal(cdr?.caller, 'sipp@partner.example');
  } finally {
    uas.kill();
    await server.stop();
    await store.close();
  }
});
