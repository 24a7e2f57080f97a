// The SIP trapezoid as a test: two `trapezoid serve` processes started from examples/atlanta.yaml
// and examples/biloxi.yaml (ports and databases moved to a scratch folder), each with its phone
// registered. Alice (4751000 on atlanta) dials 7771234 and rings Bob on biloxi; then Bob dials
// 4751000 and rings Alice. Both servers record-route, so the ACK and BYE cross both, and each
// writes its CDR naming the trunk the call used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { UserAgent, type IncomingCall } from '../src/ua/index.ts';
import { repoRoot } from './support/peers.ts';
import { Peer, freePort, scratchDir } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');

interface Side {
  serve: Peer;
  sip: number;
  http: number;
}

interface ExampleConfig {
  listen: Array<{ transport: string; address: string; port: number }>;
  database: string;
  http: { address: string; port: number };
  trunks: Array<{ peers: Array<{ host: string; port: number }> }>;
}

async function waitFor(peer: Peer, re: RegExp, ms: number): Promise<void> {
  const start = Date.now();
  while (!re.test(peer.stdout)) {
    if (peer.child.exitCode !== null) throw new Error(`exited: ${peer.stdout}${peer.stderr}`);
    if (Date.now() - start > ms) throw new Error(`timeout waiting for ${re}: ${peer.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts one side from its example file with its own ports and the other side's port as trunk. */
async function startSide(
  example: string,
  sip: number,
  http: number,
  otherSip: number,
  dir: string,
): Promise<Side> {
  const config = parseYaml(
    readFileSync(join(repoRoot, 'examples', example), 'utf8'),
  ) as ExampleConfig;
  for (const l of config.listen) l.port = sip;
  config.database = join(dir, example.replace('.yaml', '.db'));
  config.http.port = http;
  config.trunks[0]!.peers[0]!.port = otherSip;
  const file = join(dir, example);
  writeFileSync(file, stringifyYaml(config));
  const serve = new Peer(process.execPath, [bin, 'serve', '--config', file, '--json'], dir);
  await waitFor(serve, /"event":"listening"/, 20_000);
  return { serve, sip, http };
}

async function stop(side: Side): Promise<void> {
  side.serve.child.kill('SIGTERM');
  await side.serve.finish(10_000);
}

interface CdrJson {
  caller: string;
  callee: string;
  dialled: string;
  finalStatus: number;
  hungUpBy?: string;
  trunk?: string;
  answer?: number;
  end?: number;
}

async function cdrs(side: Side): Promise<CdrJson[]> {
  const res = await fetch(`http://127.0.0.1:${side.http}/api/cdrs`);
  return (await res.json()) as CdrJson[];
}

/** Polls the side's CDRs until every row has ended and there are at least `n`. */
async function endedCdrs(side: Side, n: number): Promise<CdrJson[]> {
  const start = Date.now();
  for (;;) {
    const rows = await cdrs(side);
    if (rows.length >= n && rows.every((r) => r.end != null)) return rows;
    if (Date.now() - start > 5_000) throw new Error(`CDRs not written: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('alice on atlanta calls 7771234 on biloxi and bob calls 4751000 back, across the trunk', async (t) => {
  const dir = scratchDir();
  const [aSip, aHttp, bSip, bHttp] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const atlanta = await startSide('atlanta.yaml', aSip, aHttp, bSip, dir);
  t.after(() => stop(atlanta));
  const biloxi = await startSide('biloxi.yaml', bSip, bHttp, aSip, dir);
  t.after(() => stop(biloxi));

  const alice = new UserAgent({
    uri: 'sip:4751000@atlanta.example',
    password: 'alice-secret',
    server: `udp:127.0.0.1:${aSip}`,
    listen: 'udp:127.0.0.1:0',
  });
  t.after(() => alice.stop());
  const bob = new UserAgent({
    uri: 'sip:7771234@biloxi.example',
    password: 'bob-secret',
    server: `udp:127.0.0.1:${bSip}`,
    listen: 'udp:127.0.0.1:0',
  });
  t.after(() => bob.stop());
  await alice.start();
  await bob.start();
  await alice.register();
  await bob.register();

  // Alice -> Bob.
  const bobRings = new Promise<IncomingCall>((resolve) => bob.once('invite', resolve));
  const bobAnswers = bobRings.then((c) => {
    c.ring();
    return c.accept({ body: 'v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' });
  });
  const call = await alice.invite('sip:7771234@atlanta.example', {
    body: 'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n',
  });
  const incoming = await bobRings;
  assert.match(incoming.from, /4751000@atlanta\.example/);
  assert.equal(incoming.request.requestUri.user, '7771234');
  // Both proxies record-routed: the callee sees two Record-Route entries.
  assert.equal(incoming.request.recordRoute.length, 2);
  assert.equal(await bobAnswers, true, 'the ACK crossed both servers to bob');
  const bobEnded = incoming.whenEnded();
  assert.equal(await call.bye(), 200);
  assert.equal((await bobEnded).by, 'remote');

  // Bob -> Alice.
  const aliceRings = new Promise<IncomingCall>((resolve) => alice.once('invite', resolve));
  void aliceRings.then((c) => c.accept({ body: 'v=0\r\n' }));
  const back = await bob.invite('sip:4751000@biloxi.example', { body: 'v=0\r\n' });
  const aliceIncoming = await aliceRings;
  assert.match(aliceIncoming.from, /7771234@biloxi\.example/);
  const aliceEnded = aliceIncoming.whenEnded();
  assert.equal(await aliceIncoming.bye(), 200, 'the callee hangs up this time');
  assert.equal((await aliceEnded).by, 'local');
  assert.equal((await back.whenEnded()).by, 'remote');

  // Each server wrote a CDR per call, with the trunk and who hung up.
  const aCdrs = await endedCdrs(atlanta, 2);
  const bCdrs = await endedCdrs(biloxi, 2);
  const out = aCdrs.find((r) => r.dialled === '7771234');
  const inn = aCdrs.find((r) => r.dialled === '4751000');
  assert.ok(out && inn, JSON.stringify(aCdrs));
  assert.equal(out.finalStatus, 200);
  assert.equal(out.trunk, 'biloxi');
  assert.equal(out.caller, '4751000@atlanta.example');
  assert.equal(out.hungUpBy, 'caller');
  assert.equal(inn.finalStatus, 200);
  assert.equal(inn.hungUpBy, 'callee');
  const bOut = bCdrs.find((r) => r.dialled === '4751000');
  const bIn = bCdrs.find((r) => r.dialled === '7771234');
  assert.equal(bOut?.trunk, 'atlanta');
  assert.equal(bIn?.finalStatus, 200);
  assert.equal(bIn?.hungUpBy, 'caller');
});
