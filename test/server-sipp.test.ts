// The call server against SIPp: digest registration, a call routed by the dial plan from one SIPp
// (a trunk) to another (a trunk), CDRs written, and the basic refusals (404, 480, 403, 401).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallServer } from '../src/server/call-server.ts';
import { validateConfig } from '../src/server/config.ts';
import { provisionUsers } from '../src/server/users.ts';
import { sqliteStores } from './support/stores.ts';
import type { Stores } from '../src/store/open-stores.ts';
import { parseMessage, SipResponse } from '../src/sip/index.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { Peer, freePort, scratchDir, sippErrors } from './ua-sipp-peer.ts';
import { SEND_200_TO_LAST } from './support/sipp-scenarios.ts';

const DOMAIN = 'test.trapezoid';
let server: CallServer;
let store: Stores;
let sipPort: number;
let uasPort: number;
let uacPort: number;
let rawPort: number;

before(async () => {
  sipPort = await freePort();
  uasPort = await freePort();
  uacPort = await freePort();
  rawPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-server-'));
  const config = validateConfig({
    domain: DOMAIN,
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: sipPort },
      { transport: 'tcp', address: '127.0.0.1', port: sipPort },
    ],
    database: join(dir, 'server.db'),
    auth: { algorithms: ['MD5', 'SHA-256'] },
    users: [
      { user: '1000', password: 'pw-1000' },
      { user: '1001', password: 'pw-1001' },
    ],
    trunks: [
      { name: 'uas', peers: [{ host: '127.0.0.1', port: uasPort }] },
      { name: 'uac', peers: [{ host: '127.0.0.1', port: uacPort }], transit: true },
      { name: 'raw', peers: [{ host: '127.0.0.1', port: rawPort }] },
    ],
    dialplan: [
      { match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'uas' } },
      {
        match: { prefix: '9' },
        route: { action: 'reject', code: 403, reason: 'No Premium Numbers' },
      },
    ],
  });
  store = await sqliteStores(config.database);
  await provisionUsers(store.users, DOMAIN, config.users);
  server = new CallServer({ config, stores: store });
  await server.start();
});

after(async () => {
  await server.stop();
  await store.close();
});

/** A scenario from test/fixtures/sipp with its @USER@ @PASSWORD@ @DOMAIN@ filled in, written to dir. */
function scenario(name: string, dir: string, user: string, password: string): string {
  const text = readFileSync(join(repoRoot, 'test/fixtures/sipp', name), 'utf8')
    .replaceAll('@USER@', user)
    .replaceAll('@PASSWORD@', password)
    .replaceAll('@DOMAIN@', DOMAIN);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function sipp(args: string[], dir: string): Peer {
  return new Peer('sipp', [...args, '-nostdin', '-trace_err', '-timeout', '20s'], dir);
}

test('SIPp registers with digest auth; the binding keeps its real source', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const dir = scratchDir();
  const port = await freePort();
  const run = sipp(
    [
      `127.0.0.1:${sipPort}`,
      '-sf',
      scenario('register-auth.xml', dir, '1000', 'pw-1000'),
      '-m',
      '1',
      '-p',
      String(port),
      '-i',
      '127.0.0.1',
    ],
    dir,
  );
  const done = await run.finish(30_000);
  assert.equal(done.code, 0, `SIPp failed:\n${sippErrors(dir)}\n${done.stdout.slice(-1500)}`);
  const bindings = await store.locations.lookup(`sip:1000@${DOMAIN}`, Date.now());
  assert.equal(bindings.length, 1);
  assert.deepEqual(bindings[0]!.target, { protocol: 'udp', address: '127.0.0.1', port });
});

test('a wrong password is refused with 403, never accepted', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const dir = scratchDir();
  const run = sipp(
    [
      `127.0.0.1:${sipPort}`,
      '-sf',
      scenario('register-bad-password.xml', dir, '1001', 'not-the-password'),
      '-m',
      '1',
      '-p',
      String(await freePort()),
      '-i',
      '127.0.0.1',
    ],
    dir,
  );
  const done = await run.finish(30_000);
  assert.equal(done.code, 0, `SIPp failed:\n${sippErrors(dir)}`);
  assert.equal((await store.locations.lookup(`sip:1001@${DOMAIN}`, Date.now())).length, 0);
});

test('SIPp uac -> trapezoid -> SIPp uas through a dial-plan rule; one CDR per call', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const uasDir = scratchDir();
  const uas = sipp(['-sn', 'uas', '-p', String(uasPort), '-i', '127.0.0.1'], uasDir);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const before = (await store.cdrs.listCdrs({ limit: 10_000 })).length;
    const dir = scratchDir();
    const uac = sipp(
      [
        `127.0.0.1:${sipPort}`,
        '-sn',
        'uac',
        '-s',
        'service',
        '-m',
        '20',
        '-r',
        '20',
        '-p',
        String(uacPort),
        '-i',
        '127.0.0.1',
      ],
      dir,
    );
    const done = await uac.finish(40_000);
    assert.equal(done.code, 0, `SIPp uac failed:\n${sippErrors(dir)}\n${sippErrors(uasDir)}`);
    const cdrs = await store.cdrs.listCdrs({ limit: 10_000 });
    assert.equal(cdrs.length - before, 20);
    for (const c of cdrs.slice(0, 20)) {
      assert.equal(c.finalStatus, 200);
      assert.equal(c.hungUpBy, 'caller');
      assert.equal(c.trunk, 'uas');
      assert.equal(c.dialled, 'service');
      assert.ok(c.answer! >= c.start && c.end! >= c.answer!);
    }
    assert.equal(server.activeCalls, 0);
  } finally {
    uas.kill();
  }
});

/** Sends one request (by default from the 'raw' trunk's port) and returns the final response. */
async function ask(request: string, port = rawPort): Promise<SipResponse> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(port, '127.0.0.1', () => r()));
  try {
    return await new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no final response')), 5000);
      sock.on('message', (buf) => {
        const msg = parseMessage(buf);
        if (msg instanceof SipResponse && msg.status >= 200) {
          clearTimeout(timer);
          resolve(msg);
        }
      });
      sock.send(Buffer.from(request.replace(/\n/g, '\r\n')), sipPort, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

function invite(user: string, from = `sip:caller@127.0.0.1:${rawPort}`, n = Math.random()): string {
  return [
    `INVITE sip:${user}@${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${rawPort};branch=z9hG4bK-raw-${n}`,
    'Max-Forwards: 70',
    `From: <${from}>;tag=raw${n}`,
    `To: <sip:${user}@${DOMAIN}>`,
    `Call-ID: raw-${n}@127.0.0.1`,
    'CSeq: 1 INVITE',
    `Contact: <sip:caller@127.0.0.1:${rawPort}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
}

test('refusals: unknown user 404, no binding 480, dial-plan reject, relay 403, local From 407', async () => {
  // Each refused attempt has its CDR (issue 11), with the cause, written before the answer left.
  const cdrOf = async (request: string) => {
    const callId = /Call-ID: (.*)/.exec(request)![1]!;
    return (await store.cdrs.listCdrs({ limit: 10_000 })).filter((c) => c.callId === callId);
  };
  const unknown = invite('4242');
  assert.equal((await ask(unknown)).status, 404);
  assert.deepEqual(
    (await cdrOf(unknown)).map((c) => [c.finalStatus, c.cause, c.callee, c.answer]),
    [[404, 'no-route', `4242@${DOMAIN}`, undefined]],
  );
  const unregistered = invite('1001');
  assert.equal((await ask(unregistered)).status, 480);
  assert.deepEqual(
    (await cdrOf(unregistered)).map((c) => [c.finalStatus, c.cause]),
    [[480, 'not-registered']],
  );
  const premiumRequest = invite('900123');
  const premium = await ask(premiumRequest);
  assert.equal(premium.status, 403);
  assert.equal(premium.reason, 'No Premium Numbers');
  assert.deepEqual(
    (await cdrOf(premiumRequest)).map((c) => [c.finalStatus, c.cause]),
    [[403, 'rejected-by-dialplan']],
  );
  // Not from a trunk and claiming to be one of our users: challenged (407) with both algorithms.
  const other = await freePort();
  const stranger = await ask(
    invite('1001', `sip:1000@${DOMAIN}`).replaceAll(String(rawPort), String(other)),
    other,
  );
  assert.equal(stranger.status, 407);
  // A challenge is not an attempt of its own: no CDR for it.
  assert.equal(
    (await store.cdrs.listCdrs({ limit: 10_000 })).filter((c) => c.finalStatus === 407).length,
    0,
  );
  assert.deepEqual(
    stranger.proxyAuthenticate.map((c) => c.params.algorithm),
    ['MD5', 'SHA-256'],
  );
  const relayRequest = invite('someone').replace(
    `sip:someone@${DOMAIN}`,
    'sip:someone@elsewhere.example',
  );
  const relay = await ask(relayRequest);
  assert.equal(relay.status, 403);
  assert.deepEqual(
    (await cdrOf(relayRequest)).map((c) => [c.finalStatus, c.cause]),
    [[403, 'forbidden']],
  );
});

test('Max-Forwards 0 gets 483; a missing Call-ID gets 400 naming it', async () => {
  const mf0 = invite('1001').replace('Max-Forwards: 70', 'Max-Forwards: 0');
  assert.equal((await ask(mf0)).status, 483);
  const noCallId = invite('1001').replace(/Call-ID: .*\n/, '');
  const res = await ask(noCallId);
  assert.equal(res.status, 400);
  assert.match(res.reason, /Call-ID/);
});

/** SIPp's callee for the test below: its 200 is resent (retrans 500 ms) until the ACK comes. */
const RESENDING_CALLEE = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callee resending its 200">
  <recv request="INVITE" />
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <recv request="ACK" />
  <recv request="BYE" />
  ${SEND_200_TO_LAST}
</scenario>
`;

test('a 2xx the callee resends before the ACK reaches it goes upstream each time, after the branch set is done', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const uasDir = scratchDir();
  const scenarioPath = join(uasDir, 'resending-callee.xml');
  writeFileSync(scenarioPath, RESENDING_CALLEE);
  const uas = sipp(
    ['-sf', scenarioPath, '-p', String(uasPort), '-i', '127.0.0.1', '-m', '1'],
    uasDir,
  );
  const sock = createSocket('udp4');
  try {
    await new Promise((r) => setTimeout(r, 300));
    await new Promise<void>((r) => sock.bind(uacPort, '127.0.0.1', () => r()));
    const responses: SipResponse[] = [];
    sock.on('message', (buf) => {
      const msg = parseMessage(buf);
      if (msg instanceof SipResponse) responses.push(msg);
    });
    const send = (text: string) =>
      sock.send(Buffer.from(text.replace(/\n/g, '\r\n')), sipPort, '127.0.0.1');
    const n = Math.random();
    const callId = `late-2xx-${n}@127.0.0.1`;
    const common = (cseq: string, toTag?: string) =>
      [
        'Max-Forwards: 70',
        `From: <sip:caller@127.0.0.1:${uacPort}>;tag=late${n}`,
        `To: <sip:service@${DOMAIN}>${toTag ? `;tag=${toTag}` : ''}`,
        `Call-ID: ${callId}`,
        `CSeq: ${cseq}`,
        `Contact: <sip:caller@127.0.0.1:${uacPort}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\n');
    send(
      `INVITE sip:service@${DOMAIN} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:${uacPort};branch=z9hG4bK-late-${n}\n` +
        common('1 INVITE'),
    );
    const oks = () => responses.filter((r) => r.status === 200 && r.cseq.method === 'INVITE');
    const deadline = Date.now() + 8000;
    // The first 200 and at least two of the callee's retransmissions (500 ms, then 1 s later),
    // all passed on although the branch set finished at the first.
    while (oks().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const got = oks();
    assert.ok(got.length >= 3, `the caller got ${got.length} copies of the 200`);
    for (const ok of got) {
      assert.equal(ok.via.length, 1, 'our Via is taken off every copy');
      assert.equal(ok.to.tag, got[0]!.to.tag);
      assert.equal(ok.get('Record-Route'), got[0]!.get('Record-Route'));
    }
    // The caller ACKs and hangs up along the record-route.
    const route = got[0]!.get('Record-Route')!;
    const target = /<([^>]+)>/.exec(got[0]!.get('Contact')!)![1]!;
    const toTag = got[0]!.to.tag!;
    send(
      `ACK ${target} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:${uacPort};branch=z9hG4bK-late-ack-${n}\nRoute: ${route}\n` +
        common('1 ACK', toTag),
    );
    send(
      `BYE ${target} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:${uacPort};branch=z9hG4bK-late-bye-${n}\nRoute: ${route}\n` +
        common('2 BYE', toTag),
    );
    const done = await uas.finish(20_000);
    assert.equal(done.code, 0, `SIPp callee failed:\n${sippErrors(uasDir)}`);
    while (!responses.some((r) => r.cseq.method === 'BYE') && Date.now() < deadline + 5000)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(responses.find((r) => r.cseq.method === 'BYE')?.status, 200);
    const cdr = (await store.cdrs.listCdrs({ limit: 10_000 })).find((c) => c.callId === callId);
    assert.equal(cdr?.finalStatus, 200);
    assert.equal(cdr?.hungUpBy, 'caller');
  } finally {
    sock.close();
    uas.kill();
  }
});
