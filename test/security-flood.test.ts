// A flood does not bring `trapezoid serve` down: three SIPp processes on 127.0.0.3 are asked for
// 5000 INVITEs/s each (15000/s: 10x the 1500 calls/s that `npm run bench:proxy` measured clean
// on this kind of machine), the default rate limit bans 127.0.0.3 within its first 50 requests,
// and while the flood goes on a legitimate phone on 127.0.0.2 calls a phone
// on 127.0.0.4 through the server (digest auth, answer, BYE). Afterwards the server answers
// normally, lists the ban and counts what it dropped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserAgent } from '../src/ua/index.ts';
import { needTool, which } from './support/peers.ts';
import { Peer } from './ua-sipp-peer.ts';
import { metric, serve, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';

const DOMAIN = 'flood.trapezoid';
/** INVITEs per second from each SIPp, all from 127.0.0.3. */
const RATE = 5000;
const FLOODERS = 3;
/** The flood is stopped once the call is over; this only bounds it. */
const MAX_SECONDS = 15;
let server: Served;
let caller: UserAgent;
let callee: UserAgent;
let answered = 0;

const sdp = (who: string, ip: string) =>
  `v=0\r\no=${who} 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

// One INVITE per SIPp "call", nothing awaited: a flood, not a conversation. It calls a user that
// does not exist: the requests within the limit (an anonymous caller may call our users, as
// another domain's would) would otherwise ring the phone under test (see SECURITY.md).
const FLOOD = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="INVITE flood">
  <send>
    <![CDATA[

      INVITE sip:4242@${DOMAIN} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:flood@[local_ip]:[local_port]>;tag=[call_number]
      To: <sip:4242@${DOMAIN}>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:flood@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
`;

before(async () => {
  server = await serve(
    {
      domain: DOMAIN,
      users: [
        { user: '1000', password: 'pw-1000-flood' },
        { user: '1001', password: 'pw-1001-flood' },
      ],
    },
    { sip: await freePort(), http: await freePort() },
    'flood',
  );
  const proxy = `udp:127.0.0.1:${server.sip}`;
  callee = new UserAgent({
    uri: `sip:1001@${DOMAIN}`,
    password: 'pw-1001-flood',
    server: proxy,
    listen: 'udp:127.0.0.4:0',
  });
  caller = new UserAgent({
    uri: `sip:1000@${DOMAIN}`,
    password: 'pw-1000-flood',
    server: proxy,
    listen: 'udp:127.0.0.2:0',
  });
  await callee.start();
  await caller.start();
  callee.on('invite', (incoming) => {
    answered++;
    void incoming.accept({ body: sdp('callee', '127.0.0.4') });
  });
  await callee.register();
});

after(async () => {
  await caller?.stop();
  await callee?.stop();
  await server?.stop();
});

/**
 * From the last row of each SIPp statistics file in `dir` (written every second): INVITEs sent
 * (OutgoingCall(C)) and SIPp's average rate since its start (CallRate(C)), summed over the SIPps.
 */
function floodStats(dir: string): { sent: number; rate: number } {
  let sent = 0;
  let rate = 0;
  for (const file of readdirSync(dir).filter((f) => /^flood_\d+_\.csv$/.test(f))) {
    const rows = readFileSync(join(dir, file), 'utf8').trim().split('\n');
    if (rows.length < 2) continue;
    const header = rows[0]!.split(';');
    const last = rows[rows.length - 1]!.split(';');
    sent += Number(last[header.indexOf('OutgoingCall(C)')]);
    rate += Number(last[header.indexOf('CallRate(C)')]);
  }
  return { sent, rate };
}

async function waitForBan(address: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const bans = JSON.parse(await server.get('/api/bans')) as Array<{ source: string }>;
    if (bans.some((b) => b.source === address)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test('a call from another address completes during a 15000/s INVITE flood from one address; the server answers afterwards', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  assert.ok(which('sipp'));
  const scenario = join(server.dir, 'flood.xml');
  writeFileSync(scenario, FLOOD);
  const floods: Peer[] = [];
  for (let i = 0; i < FLOODERS; i++) {
    floods.push(
      new Peer(
        'sipp',
        [
          `127.0.0.1:${server.sip}`,
          '-sf',
          scenario,
          '-i',
          '127.0.0.3',
          '-p',
          String(await freePort({ address: '127.0.0.3' })),
          '-r',
          String(RATE),
          '-m',
          String(RATE * MAX_SECONDS),
          '-nostdin',
          '-trace_stat',
          '-fd',
          '1',
        ],
        server.dir,
      ),
    );
  }
  const flooding = () => floods.every((f) => f.child.exitCode === null);
  const floodStarted = Date.now();
  let floodMs = 0;
  try {
    assert.ok(await waitForBan('127.0.0.3', 3000), 'the flooding address is banned');
    // The flood goes on (two seconds more before the call, so it is at full strength); the
    // phone on 127.0.0.2 calls the phone on 127.0.0.4.
    await new Promise((r) => setTimeout(r, 2000));
    const callStarted = Date.now();
    const call = await caller.invite(`sip:1001@${DOMAIN}`, { body: sdp('caller', '127.0.0.2') });
    const setup = Date.now() - callStarted;
    const floodStillRunning = flooding();
    // Still under the flood, the server answers an out-of-dialog request at once.
    const during = await caller.options(`sip:${DOMAIN}`);
    assert.equal(during.status, 200);
    await call.bye();
    const end = await call.whenEnded();
    assert.equal(end.by, 'local');
    assert.equal(answered, 1, 'the phone on 127.0.0.4 answered the call');
    assert.ok(floodStillRunning, 'the call was answered while the flood was still running');
    assert.ok(flooding(), 'and the flood went on until the call was over');
    floodMs = Date.now() - floodStarted;
    t.diagnostic(
      `flood: INVITEs at ${FLOODERS} x ${RATE}/s for ${floodMs} ms from 127.0.0.3; the call was set up in ${setup} ms during it`,
    );
  } finally {
    for (const f of floods) f.kill();
    await Promise.all(floods.map((f) => f.done));
  }

  // What SIPp sent (its statistics file, written every second): the INVITEs of the flood.
  const stats = floodStats(server.dir);
  t.diagnostic(
    `SIPp statistics: ${stats.sent} INVITEs sent (by its last 1 s report), ${Math.round(stats.rate)}/s on average`,
  );
  assert.ok(stats.sent > 0, 'SIPp reported what it sent');

  // Afterwards: the server is up and answers the phone at once.
  assert.equal(server.peer.child.exitCode, null, 'the server is still running');
  const started = Date.now();
  const options = await caller.options(`sip:${DOMAIN}`);
  assert.equal(options.status, 200);
  const answerMs = Date.now() - started;
  assert.ok(answerMs < 1000, `OPTIONS answered in ${answerMs} ms`);

  const bans = JSON.parse(await server.get('/api/bans')) as Array<{
    source: string;
    reason: string;
    count: number;
  }>;
  const ban = bans.find((b) => b.source === '127.0.0.3');
  assert.equal(ban?.reason, 'rate-limit');
  assert.ok(!bans.some((b) => b.source === '127.0.0.2' || b.source === '127.0.0.4'));
  const metrics = await server.get('/metrics');
  const dropped = metric(metrics, 'trapezoid_security_dropped_total{reason="banned"}') ?? 0;
  t.diagnostic(`requests dropped by the ban: ${dropped}; ban count ${ban?.count}`);
  // The flood did reach the server, at well over 1000 requests/s, and was dropped unanswered
  // (what the kernel dropped when the socket buffer was full never reached it).
  assert.ok(dropped > floodMs, `dropped ${dropped} in ${floodMs} ms`);
});
