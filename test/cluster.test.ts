// Scale-out (issue 13, item 7): three `trapezoid serve` nodes on 127.0.0.1/.2/.3 sharing one
// redis-server (bindings, nonces, bans, heartbeats) and one PostgreSQL (users, CDRs), started by
// test/support/cluster.ts; one cluster for every case, in order:
//   - a baresip phone registered over UDP through node a is called (SIPp caller with digest
//     auth) through node b; answered, hung up, its CDR complete in PostgreSQL and on node c's API;
//   - the same with the phone registered over TCP through a: b must reach it through a (the
//     phone's TCP port never sees a connection from b);
//   - a 401 from node a answered at node b (same nonce) is accepted; a made-up nonce is not;
//   - wrong passwords against node a ban the source; node b drops it within 1 s, answers others;
//   - 200 calls at 50/s through Kamailio's dispatcher (bench/kamailio/dispatcher.cfg) in front
//     of b and c all complete, each call on one node, both nodes used, every CDR complete;
//   - kill -9 node a with three calls up through it: once a's heartbeat is older than
//     deadAfterSeconds exactly one survivor marks their CDRs with cause node-lost; the UDP phone
//     registered through a is still reached through b.
// Callers that are trunks come from 127.0.0.9 (or the front, 127.0.0.10); the SIPp uas behind
// trunk "uas" is on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SipResponse } from '../src/sip/index.ts';
import { DigestClient } from '../src/ua/digest-client.ts';
import {
  callerWithAuth,
  holdingCaller,
  startCluster,
  startFront,
  startPhone,
  waitUntil,
  type Cluster,
  type ClusterNode,
} from './support/cluster.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { RawPhone } from './support/raw-phone.ts';
import { Peer, scratchDir, sippErrors } from './ua-sipp-peer.ts';

const DOMAIN = 'cluster.test';
const USERS = [
  { user: '1001', password: 'caller-pass-1001' },
  { user: '2001', password: 'udp-phone-2001' },
  { user: '2002', password: 'tcp-phone-2002' },
  { user: '2003', password: 'nonce-user-2003' },
  { user: '2004', password: 'attacked-2004' },
];
const pw = (user: string) => USERS.find((u) => u.user === user)!.password;
const TRUNK_CALLERS = '127.0.0.9';
/** The Kamailio front's address (a trunk source too: it forwards the load's calls). */
const FRONT = '127.0.0.10';
const HEARTBEAT_S = 2;
const DEAD_AFTER_S = 6;
const MAX_FAILURES = 3;

/** SIPp with a scenario file, bound to `address`; resolves with its exit. */
async function sipp(
  dir: string,
  name: string,
  scenario: string,
  address: string,
  target: { address: string; sip: number },
  args: string[],
): Promise<Peer> {
  const file = join(dir, `${name}.xml`);
  writeFileSync(file, scenario);
  const port = await freePort({ address });
  return new Peer(
    'sipp',
    [
      `${target.address}:${target.sip}`,
      ...['-sf', file, '-i', address, '-p', String(port), '-nostdin', '-trace_err'],
      ...args,
    ],
    dir,
  );
}

/** Calls `callee` from the local user 1001 through `node`; returns SIPp's exit and output. */
async function callUser(dir: string, node: ClusterNode, callee: string, name: string) {
  const run = await sipp(
    dir,
    name,
    callerWithAuth('1001', pw('1001'), DOMAIN, 1000),
    '127.0.0.7',
    node,
    ['-s', callee, '-m', '1', '-timeout', '20s', '-recv_timeout', '10000'],
  );
  return run.finish(40_000);
}

/** The CDR rows in PostgreSQL for calls to `callee` (user@domain) that were answered. */
async function answeredTo(cluster: Cluster, callee: string) {
  return (await cluster.cdrs()).filter((r) => r.callee === callee && r.answer !== null);
}

/** Inbound established TCP connections to 127.0.0.1:port, as 'address:port' of the peer
 * (from /proc/net/tcp: the phone's listening port only sees connections others opened). */
function tcpPeersOf(port: number): string[] {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const ip = (h: string) =>
    [3, 2, 1, 0].map((i) => parseInt(h.slice(i * 2, i * 2 + 2), 16)).join('.');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[1] === `0100007F:${hex(port)}` && f[3] === '01')
    .map((f) => {
      const [addr, p] = f[2]!.split(':');
      return `${ip(addr!)}:${parseInt(p!, 16)}`;
    });
}

/** A request built by `client` (Via, Contact on its address, fresh branch and tags) sent to a
 * node over UDP: its final response, or undefined after `ms`. */
function ask(
  client: RawPhone,
  request: Parameters<RawPhone['build']>[0],
  node: { address: string; sip: number },
  ms = 2000,
): Promise<SipResponse | undefined> {
  return client.request(client.build(request).text, node.sip, ms, node.address);
}

test('cluster: three nodes on one Redis and one PostgreSQL', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  if (!needTool(t, 'baresip')) return;
  if (!needTool(t, 'kamailio')) return;
  const dir = scratchDir();
  const uasPort = await freePort();
  const cluster = await startCluster(t, {
    nodes: 3,
    domain: DOMAIN,
    users: USERS,
    heartbeatSeconds: HEARTBEAT_S,
    deadAfterSeconds: DEAD_AFTER_S,
    config: {
      trunks: [
        { name: 'uas', peers: [{ host: '127.0.0.1', port: uasPort }] },
        {
          name: 'callers',
          peers: [{ host: TRUNK_CALLERS, port: 5060 }],
          inboundAddresses: [TRUNK_CALLERS, FRONT],
          transit: true,
        },
      ],
      dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'uas' } }],
      security: {
        scannerUserAgents: [],
        // Only the brute-force rule bans here (the loads come from trunks, which are trusted).
        rateLimit: { requests: 100_000, perSeconds: 1, banSeconds: 60 },
        bruteForce: { maxFailures: MAX_FAILURES, windowSeconds: 60, banSeconds: 120 },
      },
    },
  });
  if (!cluster) return;
  const [a, b, c] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const uas = new Peer(
    'sipp',
    ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin'],
    dir,
  );
  t.after(() => uas.kill());
  const logs = () => cluster.logs();

  let udpPhone: Awaited<ReturnType<typeof startPhone>>;

  await t.test('a phone registered over UDP through a is called through b', async () => {
    udpPhone = await startPhone(t, {
      dir,
      user: '2001',
      password: pw('2001'),
      domain: DOMAIN,
      via: a,
      transport: 'udp',
    });
    assert.ok(udpPhone);
    const done = await callUser(dir, b, '2001', 'call-udp');
    assert.equal(done.code, 0, `SIPp caller:\n${sippErrors(dir)}\n${udpPhone.output()}\n${logs()}`);
    assert.match(udpPhone.output(), /Call established/);
    let rows: Awaited<ReturnType<typeof answeredTo>> = [];
    await waitUntil(
      "the call's CDR with its end",
      async () => (rows = await answeredTo(cluster, `2001@${DOMAIN}`)).some((r) => r.end),
      10_000,
      () => JSON.stringify(rows),
    );
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0]!.node, 'b', 'the node that carried the call wrote it');
    assert.equal(rows[0]!.final_status, 200);
    assert.equal(rows[0]!.cause, 'answered');
    // Any node shows the cluster's records.
    const onC =
      await c.get<Array<{ callId: string; end?: number; finalStatus: number }>>('/api/cdrs');
    const row = onC.find((r) => r.callId === rows[0]!.call_id);
    assert.ok(row?.end, `node c's /api/cdrs: ${JSON.stringify(onC)}`);
  });

  await t.test('a phone registered over TCP through a is reached through b via a', async () => {
    const phone = await startPhone(t, {
      dir,
      user: '2002',
      password: pw('2002'),
      domain: DOMAIN,
      via: a,
      transport: 'tcp',
    });
    assert.ok(phone);
    const done = await callUser(dir, b, '2002', 'call-tcp');
    assert.equal(done.code, 0, `SIPp caller:\n${sippErrors(dir)}\n${phone.output()}\n${logs()}`);
    assert.match(phone.output(), /Call established/);
    // The phone's SIP port never accepted a connection from b (127.0.0.2): b went through a,
    // which holds the phone's own connection.
    const peers = tcpPeersOf(phone.port);
    assert.ok(!peers.some((p) => p.startsWith(`${b.address}:`)), `TCP peers: ${peers.join(' ')}`);
    let rows: Awaited<ReturnType<typeof answeredTo>> = [];
    await waitUntil(
      "the call's CDR with its end",
      async () => (rows = await answeredTo(cluster, `2002@${DOMAIN}`)).some((r) => r.end),
      10_000,
      () => JSON.stringify(rows),
    );
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0]!.final_status, 200);
    // ... and a did relay it (its log names the call).
    assert.ok(
      a.logs().some((l) => l.callId === rows[0]!.call_id),
      `node a's log does not name call ${rows[0]!.call_id}:\n${logs()}`,
    );
    phone.kill();
  });

  await t.test("a 401 from node a is answered at node b with a's nonce", async () => {
    const client = await RawPhone.open('127.0.0.6');
    try {
      const base = {
        method: 'REGISTER',
        uri: `sip:${DOMAIN}`,
        from: `sip:2003@${DOMAIN}`,
        to: `sip:2003@${DOMAIN}`,
        callId: `nonce-${process.pid}@127.0.0.6`,
      };
      const first = await ask(client, { ...base, cseq: 1 }, a);
      assert.equal(first?.status, 401, logs());
      const challenges = first!.wwwAuthenticate;
      // Control: the same answer on a nonce node a never gave is refused by b.
      const madeUp = challenges.map((ch) => ({
        ...ch,
        params: { ...ch.params, nonce: `${ch.params.nonce!.slice(0, -8)}00000000` },
      }));
      const [forged] = new DigestClient('2003', pw('2003')).answer(401, madeUp, {
        method: 'REGISTER',
        uri: base.uri,
      });
      const refused = await ask(
        client,
        { ...base, cseq: 2, extra: [`Authorization: ${forged!.value}`] },
        b,
      );
      assert.equal(refused?.status, 401, 'a nonce no node issued is challenged again');
      const [answer] = new DigestClient('2003', pw('2003')).answer(401, challenges, {
        method: 'REGISTER',
        uri: base.uri,
      });
      const second = await ask(
        client,
        { ...base, cseq: 3, extra: [`Authorization: ${answer!.value}`] },
        b,
      );
      assert.equal(second?.status, 200, `b refused a's nonce: ${second?.status}\n${logs()}`);
    } finally {
      await client.close();
    }
  });

  await t.test('wrong passwords at node a ban the source on node b within 1 s', async () => {
    const attacker = await RawPhone.open('127.0.0.5');
    const bystander = await RawPhone.open('127.0.0.8');
    try {
      let n = 0;
      const register = async (client: RawPhone, node: ClusterNode, password?: string) => {
        const base = {
          method: 'REGISTER',
          uri: `sip:${DOMAIN}`,
          from: `sip:2004@${DOMAIN}`,
          to: `sip:2004@${DOMAIN}`,
          callId: `ban-${process.pid}-${++n}@${client.address}`,
        };
        const first = await ask(client, { ...base, cseq: 1 }, node, 1500);
        if (!first || first.status !== 401 || password === undefined) return first?.status;
        const [ans] = new DigestClient('2004', password).answer(401, first.wwwAuthenticate, {
          method: 'REGISTER',
          uri: base.uri,
        });
        const second = await ask(
          client,
          { ...base, cseq: 2, extra: [`Authorization: ${ans!.value}`] },
          node,
          1500,
        );
        return second?.status;
      };
      // Control: before the attack b answers the source.
      assert.equal(await register(attacker, b), 401, 'b answers 127.0.0.5 before the attack');
      for (let i = 1; i <= MAX_FAILURES; i++) {
        assert.equal(await register(attacker, a, `guess-${i}`), 403, `guess ${i} at a`);
      }
      const banned = Date.now();
      assert.equal(await register(attacker, a), undefined, 'a drops the banned source');
      // b drops it too, 1 s after the ban at the latest.
      await new Promise((r) => setTimeout(r, Math.max(0, banned + 1000 - Date.now())));
      assert.equal(await register(attacker, b), undefined, `b still answers 127.0.0.5\n${logs()}`);
      assert.equal(await register(attacker, c), undefined, 'c still answers 127.0.0.5');
      // ... and only it.
      assert.equal(await register(bystander, b), 401, 'b answers another source');
      const bans = await c.get<Array<{ source: string; reason: string }>>('/api/bans');
      assert.ok(
        bans.some((x) => x.source === '127.0.0.5'),
        `node c's /api/bans: ${JSON.stringify(bans)}`,
      );
    } finally {
      await attacker.close();
      await bystander.close();
    }
  });

  await t.test(
    '200 calls at 50/s through the Kamailio front over b and c all complete',
    async () => {
      // The front (bench/kamailio/dispatcher.cfg) hashes each Call-ID to b or c.
      const front = await startFront(t, [b, c], { address: FRONT, dir, pingSeconds: 1 });
      assert.ok(front);
      const before = new Set((await cluster.cdrs()).map((r) => r.call_id));
      const scenario = readFileSync(join(repoRoot, 'bench/scenarios/uac-any-order.xml'), 'utf8');
      const load = await sipp(dir, 'load', scenario, TRUNK_CALLERS, front, [
        ...['-s', 'service', '-r', '50', '-m', '200', '-l', '200', '-timeout', '40s'],
        '-trace_stat',
      ]);
      const done = await load.finish(60_000);
      assert.equal(done.code, 0, `SIPp load: ${done.stdout.slice(-2000)}\n${sippErrors(dir)}`);
      // SIPp's stat file: every call successful, none failed.
      const stat = readdirSync(dir).find((f) => f.startsWith('load_') && f.endsWith('_.csv'));
      assert.ok(stat, readdirSync(dir).join(' '));
      const lines = readFileSync(join(dir, stat), 'utf8').trim().split('\n');
      const last = lines[lines.length - 1]!.split(';');
      assert.equal(Number(last[15]), 200, 'successful calls');
      assert.equal(Number(last[17]), 0, 'failed calls');
      let rows: Awaited<ReturnType<Cluster['cdrs']>> = [];
      await waitUntil(
        '200 complete CDRs',
        async () =>
          (rows = (await cluster.cdrs()).filter(
            (r) => !before.has(r.call_id) && r.callee.startsWith('service@') && r.end !== null,
          )).length >= 200,
        15_000,
        () => `${rows.length} complete`,
      );
      // One row per call: each call stayed on one node.
      assert.equal(new Set(rows.map((r) => r.call_id)).size, 200);
      assert.equal(rows.length, 200);
      const onB = rows.filter((r) => r.node === 'b').length;
      const onC = rows.filter((r) => r.node === 'c').length;
      assert.equal(onB + onC, 200, 'only b and c carried calls');
      assert.ok(onB > 0 && onC > 0, `spread: b ${onB}, c ${onC}`);
      assert.ok(rows.every((r) => r.final_status === 200 && r.cause === 'answered'));
      await front.stop();
    },
  );

  await t.test(
    'kill -9 node a: its calls become node-lost, its UDP phone is reached via b',
    async () => {
      const before = new Set((await cluster.cdrs()).map((r) => r.call_id));
      const holding = await sipp(dir, 'hold', holdingCaller(120_000), TRUNK_CALLERS, a, [
        ...['-s', 'service', '-r', '10', '-m', '3', '-timeout', '60s'],
      ]);
      t.after(() => holding.kill());
      const upOnA = async () =>
        (await cluster.cdrs()).filter(
          (r) => !before.has(r.call_id) && r.node === 'a' && r.answer !== null,
        );
      let rows: Awaited<ReturnType<typeof upOnA>> = [];
      await waitUntil(
        'three answered calls through a in PostgreSQL',
        async () => (rows = await upOnA()).length >= 3,
        10_000,
        () => `${JSON.stringify(rows)}\n${holding.stderr}\n${logs()}`,
      );
      assert.ok(
        rows.every((r) => r.end === null && r.cause === 'answered'),
        `the calls are up: ${JSON.stringify(rows)}`,
      );
      await a.kill9();
      const killed = Date.now();

      // The UDP phone registered through a: its binding is in Redis, b reaches it directly.
      const done = await callUser(dir, b, '2001', 'call-after-kill');
      assert.equal(
        done.code,
        0,
        `after the kill:\n${sippErrors(dir)}\n${udpPhone?.output().slice(-2000)}\n${logs()}`,
      );

      // A survivor marks a's open calls node-lost once a's heartbeat expired (their end stays
      // unknown: a BYE that still comes would complete them).
      await waitUntil(
        "a's calls marked node-lost",
        async () => (rows = await upOnA()).every((r) => r.cause === 'node-lost'),
        (DEAD_AFTER_S + 20) * 1000,
        () => `${JSON.stringify(rows)}\n${logs()}`,
        250,
      );
      const marked = Date.now();
      // Not before a's heartbeat could have expired (its last one was at most one period before
      // the kill).
      assert.ok(
        marked - killed >= (DEAD_AFTER_S - HEARTBEAT_S) * 1000 - 500,
        `marked ${marked - killed} ms after the kill`,
      );
      const lost = [b, c].flatMap((n) =>
        n.logs().filter((l) => l.event === 'node.lost' && l.node === 'a'),
      );
      assert.equal(lost.length, 1, `exactly one survivor claimed a's calls:\n${logs()}`);
      assert.equal(lost[0]!.calls, 3);
      const after = (await answeredTo(cluster, `2001@${DOMAIN}`)).filter((r) => r.node === 'b');
      assert.equal(after.length, 2, 'the second call to 2001 was recorded by b');
    },
  );
});
