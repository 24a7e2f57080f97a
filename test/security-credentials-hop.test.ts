// Credentials stay at the hop that checks them (issue 10, item 2). A call across the SIP
// trapezoid (Alice -> atlanta -> biloxi -> Bob, two `trapezoid serve` processes joined by a trunk)
// is captured on the loopback interface with tshark; Alice's digest response (to atlanta's 407)
// may appear on her hop to atlanta only: not on atlanta -> biloxi, not on biloxi -> Bob, in no
// ACK or BYE after it, and not in either server's /api/calls. Before the fix the ACK carried
// Alice's Proxy-Authorization all the way to Bob, and /api/calls showed it in clear.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DigestClient } from '../src/ua/digest-client.ts';
import { needTool } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { RawPhone, settle } from './support/raw-phone.ts';
import { serve, type Served } from './security-peer.ts';
import { Peer } from './ua-sipp-peer.ts';

let atlanta: Served;
let biloxi: Served;
let alice: RawPhone;
let bob: RawPhone;

before(async () => {
  [alice, bob] = await Promise.all([RawPhone.open('127.0.0.2'), RawPhone.open('127.0.0.4')]);
  const a = { sip: await freePort(), http: await freePort() };
  const b = { sip: await freePort(), http: await freePort() };
  [atlanta, biloxi] = await Promise.all([
    serve(
      {
        domain: 'atlanta.example',
        users: [{ user: '4751000', password: 'alice-secret-4751' }],
        trunks: [
          {
            name: 'biloxi',
            peers: [{ host: '127.0.0.1', port: b.sip, transport: 'udp' }],
            domain: 'biloxi.example',
          },
        ],
        dialplan: [
          { match: { prefix: '475' }, route: { action: 'local' } },
          { match: { prefix: '777' }, route: { action: 'trunk', trunk: 'biloxi' } },
        ],
      },
      a,
      'atlanta',
    ),
    serve(
      {
        domain: 'biloxi.example',
        users: [{ user: '7771234', password: 'bob-secret-7771' }],
        trunks: [
          { name: 'atlanta', peers: [{ host: '127.0.0.1', port: a.sip, transport: 'udp' }] },
        ],
      },
      b,
      'biloxi',
    ),
  ]);
  const reg = await bob.register(biloxi.sip, 'biloxi.example', '7771234', 'bob-secret-7771');
  assert.equal(reg.status, 200);
});

after(async () => {
  await Promise.all([alice?.close(), bob?.close()]);
  await Promise.all([atlanta?.stop(), biloxi?.stop()]);
});

test('credentials: across the trapezoid the digest response is only on the first hop, and never on /api/calls', async (t) => {
  if (!needTool(t, 'tshark') || !needTool(t, 'dumpcap', 'tshark')) return;
  const pcap = join(atlanta.dir, 'trapezoid.pcap');
  const filter = `udp port ${atlanta.sip} or udp port ${biloxi.sip}`;
  // dumpcap (tshark's capture engine) writing the file itself, with a 16 MiB kernel buffer: on a
  // loaded machine the default buffer let a packet of the trunk hop go uncaptured.
  const capture = new Peer(
    'dumpcap',
    ['-i', 'lo', '-B', '16', '-f', filter, '-w', pcap],
    atlanta.dir,
  );
  const started = Date.now();
  while (!/Capturing on/.test(capture.stderr)) {
    if (Date.now() - started > 15_000) throw new Error(`tshark did not start: ${capture.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const callId = `cred-hop-${Date.now()}@127.0.0.2`;
  const from = 'sip:4751000@atlanta.example';
  const to = 'sip:7771234@atlanta.example';
  const base = { method: 'INVITE', uri: to, from, to, fromTag: 'alice', callId };
  const challenged = await alice.request(alice.build({ ...base, cseq: 1 }).text, atlanta.sip);
  assert.equal(challenged?.status, 407);
  alice.send(
    alice.build({ ...base, method: 'ACK', cseq: 1, toTag: challenged!.to.tag!, contact: '' }).text,
    atlanta.sip,
  );
  const [answer] = new DigestClient('4751000', 'alice-secret-4751').answer(
    407,
    challenged!.proxyAuthenticate,
    { method: 'INVITE', uri: to },
  );
  const credentials = `Proxy-Authorization: ${answer!.value}`;
  const response = /response="?([0-9a-f]+)/.exec(answer!.value)![1]!;
  const ok = await alice.request(
    alice.build({ ...base, cseq: 2, extra: [credentials] }).text,
    atlanta.sip,
  );
  assert.equal(ok?.status, 200, `the call is answered: ${ok?.status} ${ok?.reason}`);
  const routes = ok!
    .getAll('Record-Route')
    .reverse()
    .map((r) => `Route: ${r}`);
  const contact = ok!.contact[0]!.uri;
  const remote = `sip:${contact.user}@${contact.host}:${contact.port}`;
  const inDialog = { ...base, uri: remote, toTag: ok!.to.tag!, extra: [...routes, credentials] };
  // The ACK of the 2xx carries the INVITE's credentials, as RFC 3261 §22.1 has UAs do.
  alice.send(alice.build({ ...inDialog, method: 'ACK', cseq: 2 }).text, atlanta.sip);
  await bob.waitFor('ACK', 4000);
  const bye = await alice.request(
    alice.build({ ...inDialog, method: 'BYE', cseq: 3 }).text,
    atlanta.sip,
  );
  assert.equal(bye?.status, 200);
  await settle(800);
  capture.signal('SIGINT');
  await capture.finish(10_000).catch(() => capture.kill());

  // Every SIP datagram of the capture with its ports, and whether it holds the response.
  const rows = execFileSync(
    'tshark',
    ['-r', pcap, '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'udp.payload'],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n')
    .map((line) => {
      const [src, dst, hex] = line.split('\t');
      const text = Buffer.from((hex ?? '').replace(/:/g, ''), 'hex').toString('latin1');
      return { src: Number(src), dst: Number(dst), text, holds: text.includes(response) };
    });
  const hop = (src: number, dst: number) => rows.filter((r) => r.src === src && r.dst === dst);
  const first = hop(alice.port, atlanta.sip);
  assert.ok(first.filter((r) => r.holds).length >= 2, 'INVITE and ACK to atlanta carry it');
  const trunkHop = rows.filter((r) => r.src === atlanta.sip && r.dst === biloxi.sip);
  assert.ok(
    trunkHop.length >= 3,
    `atlanta -> biloxi: INVITE, ACK, BYE; captured:\n${rows
      .map((r) => `${r.src}->${r.dst} ${r.text.split('\r\n')[0]}`)
      .join('\n')}`,
  );
  const leaks = rows.filter((r) => r.holds && !(r.src === alice.port && r.dst === atlanta.sip));
  assert.deepEqual(
    leaks.map((r) => `${r.src}->${r.dst} ${r.text.split('\r\n')[0]}`),
    [],
    'the digest response on a hop past the first',
  );
  for (const r of bob.received) {
    assert.equal(r.get('Proxy-Authorization'), undefined, `${r.method} to Bob: no credentials`);
  }
  for (const server of [atlanta, biloxi]) {
    const calls = await server.get('/api/calls');
    assert.ok(calls.includes(callId), 'the call is listed');
    assert.ok(!calls.includes(response), '/api/calls shows no digest response');
  }
});
