// Kamailio as the far end of a SIP trunk (test/fixtures/kamailio/trunk.cfg): a trapezoid user's
// call to 555xxxx goes over the trunk to Kamailio and on to a SIPp uas behind it; a SIPp uac
// behind Kamailio calls a trapezoid user, and the call comes in over the same trunk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallServer } from '../src/server/call-server.ts';
import { validateConfig } from '../src/server/config.ts';
import { provisionUsers } from '../src/server/users.ts';
import { sqliteStores } from './support/stores.ts';
import { UserAgent, type IncomingCall } from '../src/ua/index.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { Peer, freePort, scratchDir, sippErrors } from './ua-sipp-peer.ts';

const DOMAIN = 'kam.trapezoid';

/** SIPp's -trace_msg log, to show what reached the peer when a step fails. */
function sippMessages(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('_messages.log'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')
    .slice(0, 6000);
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function waitFor(
  check: () => Promise<boolean>,
  ms: number,
  what: () => Promise<string>,
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timeout: ${await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('calls cross a trunk to Kamailio in both directions', async (t) => {
  if (!needTool(t, 'kamailio', 'kamailio')) return;
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const [sip, kam, uasPort, uacPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const dir = scratchDir();
  const cfg = readFileSync(join(repoRoot, 'test/fixtures/kamailio/trunk.cfg'), 'utf8')
    .replaceAll('@SIP_PORT@', String(kam))
    .replaceAll('@TRAPEZOID@', `127.0.0.1:${sip}`)
    .replaceAll('@UAS@', `127.0.0.1:${uasPort}`)
    .replaceAll('@DOMAIN@', DOMAIN);
  writeFileSync(join(dir, 'kamailio.cfg'), cfg);
  const kamailio = new Peer(
    'kamailio',
    ['-f', join(dir, 'kamailio.cfg'), '-E', '-DD', '-P', join(dir, 'k.pid'), '-w', dir, '-m', '64'],
    dir,
  );
  const config = validateConfig({
    domain: DOMAIN,
    listen: [{ transport: 'udp', address: '127.0.0.1', port: sip }],
    database: join(mkdtempSync(join(tmpdir(), 'trapezoid-kam-')), 'k.db'),
    users: [{ user: '1000', password: 'pw-kam-1000' }],
    trunks: [{ name: 'kamailio', peers: [{ host: '127.0.0.1', port: kam }] }],
    dialplan: [
      { match: { prefix: '555' }, route: { action: 'trunk', trunk: 'kamailio' } },
      { match: { prefix: '1' }, route: { action: 'local' } },
    ],
  });
  const store = await sqliteStores(config.database);
  await provisionUsers(store.users, config.domain, config.users);
  const server = new CallServer({ config, stores: store });
  await server.start();
  const phone = new UserAgent({
    uri: `sip:1000@${DOMAIN}`,
    password: 'pw-kam-1000',
    server: `udp:127.0.0.1:${sip}`,
    listen: 'udp:127.0.0.1:0',
  });
  const sipps: Peer[] = [];
  t.after(async () => {
    for (const s of sipps) s.kill();
    await phone.stop();
    kamailio.signal('SIGTERM');
    await kamailio.finish(5_000).catch(() => undefined);
    kamailio.kill(); // its workers, should any outlive the main process
    await server.stop();
    await store.close();
  });
  // Kamailio is up when its UDP port is taken.
  const start = Date.now();
  while (await udpPortFree(kam)) {
    if (kamailio.child.exitCode !== null || Date.now() - start > 10_000)
      throw new Error(`kamailio did not start:\n${kamailio.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(kamailio.child.exitCode, null, `kamailio exited:\n${kamailio.stderr}`);
  await phone.start();
  await phone.register();

  // Out: the trapezoid user dials 5551234 -> trunk -> Kamailio -> SIPp uas.
  const uasDir = scratchDir();
  const uas = new Peer(
    'sipp',
    [
      '-sf',
      join(repoRoot, 'test/fixtures/sipp/uas-record-route.xml'),
      '-i',
      '127.0.0.1',
      '-p',
      String(uasPort),
      '-m',
      '1',
      '-nostdin',
      '-trace_err',
      '-trace_msg',
    ],
    uasDir,
  );
  sipps.push(uas);
  await new Promise((r) => setTimeout(r, 300));
  const call = await phone.invite(`sip:5551234@${DOMAIN}`, { body: 'v=0\r\n' });
  assert.equal(call.state, 'answered');
  const byeStatus = await call.bye();
  const uasDone = await uas.finish(10_000);
  assert.equal(byeStatus, 200, `BYE: ${byeStatus}\n${sippMessages(uasDir)}`);
  assert.equal(uasDone.code, 0, `uas behind Kamailio:\n${sippErrors(uasDir)}`);

  // In: SIPp uac -> Kamailio -> trunk -> trapezoid -> the registered user.
  phone.on('invite', (incoming: IncomingCall) => {
    incoming.ring();
    void incoming.accept({ body: 'v=0\r\n' });
  });
  const uacDir = scratchDir();
  const uac = new Peer(
    'sipp',
    [
      `127.0.0.1:${kam}`,
      '-sn',
      'uac',
      '-s',
      '1000',
      '-i',
      '127.0.0.1',
      '-p',
      String(uacPort),
      '-m',
      '1',
      '-nostdin',
      '-trace_err',
      '-timeout',
      '15s',
    ],
    uacDir,
  );
  sipps.push(uac);
  const uacDone = await uac.finish(20_000);
  assert.equal(uacDone.code, 0, `uac behind Kamailio:\n${sippErrors(uacDir)}\n${kamailio.stderr}`);

  await waitFor(
    async () => (await store.cdrs.listCdrs()).filter((c) => c.end !== undefined).length >= 2,
    5_000,
    async () => JSON.stringify(await store.cdrs.listCdrs()),
  );
  const cdrs = await store.cdrs.listCdrs();
  const out = cdrs.find((c) => c.dialled === '5551234');
  const inn = cdrs.find((c) => c.dialled === '1000');
  assert.equal(out?.finalStatus, 200);
  assert.equal(out?.trunk, 'kamailio');
  assert.equal(out?.hungUpBy, 'caller');
  assert.equal(inn?.finalStatus, 200);
  assert.equal(inn?.trunk, 'kamailio', 'the inbound call is attributed to the trunk it came over');
  assert.equal(inn?.hungUpBy, 'caller');
});
