// Open relay through in-dialog requests, and contact hijack (issue 10, items 1 and 4), attacked
// on a running `trapezoid serve`. Before the fix any request with a To tag was forwarded with no
// authentication and no dialog check to whatever its Route or Request-URI named, from the
// server's own (trusted) address; and an in-dialog request for a Contact went to whichever user
// had registered that Contact URI last.
//
// Hosts (all loopback): the server on 127.0.0.1; the attacker on 127.0.0.3; user 1001's phone on
// 127.0.0.4; the carrier (the other end of a trunk) on 127.0.0.5; a third host on 127.0.0.9; user
// 1000's phone on 127.0.0.6.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';
import { RawPhone, settle } from './support/raw-phone.ts';

const DOMAIN = 'relay.trapezoid';
const aor = (u: string) => `sip:${u}@${DOMAIN}`;
let server: Served;
let attacker: RawPhone;
let bob: RawPhone; // user 1001
let alice: RawPhone; // user 1000
let carrier: RawPhone;
let third: RawPhone;

before(async () => {
  [attacker, bob, alice, carrier, third] = await Promise.all([
    RawPhone.open('127.0.0.3'),
    RawPhone.open('127.0.0.4'),
    RawPhone.open('127.0.0.6'),
    RawPhone.open('127.0.0.5'),
    RawPhone.open('127.0.0.9'),
  ]);
  server = await serve(
    {
      domain: DOMAIN,
      users: [
        { user: '1000', password: 'alice-secret-1000' },
        { user: '1001', password: 'bob-secret-1001' },
      ],
      trunks: [
        {
          name: 'carrier',
          peers: [{ host: '127.0.0.5', port: carrier.port, transport: 'udp' }],
        },
      ],
      dialplan: [
        { match: { prefix: '555' }, route: { action: 'trunk', trunk: 'carrier' } },
        { match: { prefix: '10' }, route: { action: 'local' } },
      ],
    },
    { sip: await freePort(), http: await freePort() },
    'relay',
  );
  const reg = await bob.register(server.sip, DOMAIN, '1001', 'bob-secret-1001');
  assert.equal(reg.status, 200, `bob registers: ${reg.status} ${reg.reason}`);
});

after(async () => {
  await Promise.all([attacker, bob, alice, carrier, third].map((p) => p?.close()));
  await server?.stop();
});

function nothingReached(...hosts: RawPhone[]): void {
  for (const h of hosts) assert.equal(h.datagrams, 0, `${h.hostPort} received ${h.datagrams}`);
}

test('open relay: anonymous INVITE, MESSAGE and REGISTER with a To tag reach neither the carrier nor a third host', async () => {
  const carrierUri = `sip:5551234@127.0.0.5:${carrier.port}`;
  const thirdUri = `sip:victim@127.0.0.9:${third.port}`;
  const common = { from: 'sip:mallory@evil.example', toTag: 'forged' };
  for (const [method, uri] of [
    ['INVITE', carrierUri],
    ['MESSAGE', thirdUri],
    ['INVITE', thirdUri],
    ['OPTIONS', carrierUri],
  ] as const) {
    const res = await attacker.request(
      attacker.build({ ...common, method, uri, to: uri }).text,
      server.sip,
    );
    assert.ok(res, `${method} ${uri}: answered`);
    assert.equal(res.status, 481, `${method} ${uri}: ${res.status} ${res.reason}`);
  }
  // REGISTER is never in a dialog: a To tag does not make it one. Not our domain: 404.
  const reg = await attacker.request(
    attacker.build({ ...common, method: 'REGISTER', uri: carrierUri, to: carrierUri }).text,
    server.sip,
  );
  assert.equal(reg?.status, 404);
  await settle();
  nothingReached(carrier, third);
});

test('open relay: a Route naming the server then the carrier is refused unless the server issued it', async () => {
  const me = `sip:127.0.0.1:${server.sip}`;
  const carrierHop = `sip:127.0.0.5:${carrier.port};lr`;
  for (const ours of [`<${me};lr>`, `<${me};lr;tzd=AAAAAAAAAAAAAAAA>`]) {
    const res = await attacker.request(
      attacker.build({
        method: 'MESSAGE',
        uri: `sip:5551234@127.0.0.5:${carrier.port}`,
        from: 'sip:mallory@evil.example',
        to: 'sip:5551234@carrier.example',
        toTag: 'x',
        extra: [`Route: ${ours}, <${carrierHop}>`],
        body: 'spam',
      }).text,
      server.sip,
    );
    assert.equal(res?.status, 403, `${ours}: ${res?.status} ${res?.reason}`);
    assert.match(res!.reason, /Route not issued by this server/);
  }
  // A 2xx's ACK is never answered: a forged one must simply go nowhere.
  attacker.send(
    attacker.build({
      method: 'ACK',
      uri: `sip:5551234@127.0.0.5:${carrier.port}`,
      from: 'sip:mallory@evil.example',
      to: 'sip:5551234@carrier.example',
      toTag: 'x',
      extra: [`Route: <${me};lr>, <${carrierHop}>`],
    }).text,
    server.sip,
  );
  attacker.send(
    attacker.build({
      method: 'ACK',
      uri: `sip:victim@127.0.0.9:${third.port}`,
      from: 'sip:mallory@evil.example',
      to: 'sip:victim@127.0.0.9',
      toTag: 'x',
    }).text,
    server.sip,
  );
  await settle();
  nothingReached(carrier, third);
});

test('open relay: a caller in a real dialog cannot send its in-dialog requests to a third host; to the callee they go', async () => {
  // An anonymous caller may call a registered user (inter-domain SIP): it gets a real dialog.
  const callId = `relay-dialog-${Date.now()}@127.0.0.3`;
  const invite = attacker.build({
    method: 'INVITE',
    uri: aor('1001'),
    from: 'sip:mallory@evil.example',
    fromTag: 'mallory',
    to: aor('1001'),
    callId,
  });
  const ok = await attacker.request(invite.text, server.sip);
  assert.equal(ok?.status, 200, `the call is answered: ${ok?.status}`);
  const routeSet = ok!.getAll('Record-Route'); // the caller's route set: RR in order... reversed
  assert.equal(routeSet.length, 1, 'the server record-routes');
  assert.match(routeSet[0]!, /;tzd=/, 'with its token');
  const calleeTag = ok!.to.tag!;
  const inDialog = (method: string, uri: string, cseq: number) =>
    attacker.build({
      method,
      uri,
      from: 'sip:mallory@evil.example',
      fromTag: 'mallory',
      to: aor('1001'),
      toTag: calleeTag,
      callId,
      cseq,
      extra: [`Route: ${routeSet[0]}`],
    });
  const seenByBob = bob.received.length;
  for (const [i, uri] of [
    `sip:victim@127.0.0.9:${third.port}`,
    `sip:5551234@127.0.0.5:${carrier.port}`,
  ].entries()) {
    const res = await attacker.request(inDialog('MESSAGE', uri, 10 + i).text, server.sip);
    assert.equal(res?.status, 403, `${uri}: ${res?.status} ${res?.reason}`);
  }
  await settle();
  nothingReached(carrier, third);
  // The same dialog's BYE to the callee's Contact is forwarded to the callee (the control).
  const contact = ok!.contact[0]!.uri;
  const bye = await attacker.request(
    inDialog('BYE', `sip:${contact.user}@${contact.host}:${contact.port}`, 20).text,
    server.sip,
  );
  assert.equal(bye?.status, 200, `BYE: ${bye?.status} ${bye?.reason}`);
  assert.ok(
    bob.received.slice(seenByBob).some((r) => r.method === 'BYE'),
    'the BYE reached the callee',
  );
  // The dialog is over: its route no longer carries anything.
  const late = await attacker.request(
    inDialog('MESSAGE', `sip:${contact.user}@${contact.host}:${contact.port}`, 21).text,
    server.sip,
  );
  assert.equal(late?.status, 481);
});

test('contact hijack: 1001 registering the Contact URI of 1000 does not receive 1000 in-dialog requests', async () => {
  const contact = `<sip:desk@127.0.0.6:${alice.port}>`;
  const a = await alice.register(server.sip, DOMAIN, '1000', 'alice-secret-1000', { contact });
  assert.equal(a.status, 200);
  // 1001 binds the very same Contact URI, from its own address (a later registration).
  const hijack = await bob.register(server.sip, DOMAIN, '1001', 'bob-secret-1001', { contact });
  assert.equal(hijack.status, 200, 'a shared Contact URI is allowed (multi-line phones share one)');
  const callId = `hijack-${Date.now()}@127.0.0.3`;
  const ok = await attacker.request(
    attacker.build({
      method: 'INVITE',
      uri: aor('1000'),
      from: 'sip:caller@elsewhere.example',
      fromTag: 'caller',
      to: aor('1000'),
      callId,
    }).text,
    server.sip,
  );
  assert.equal(ok?.status, 200);
  const bobBefore = bob.received.filter((r) => r.callId === callId).length;
  const aliceBefore = alice.received.filter((r) => r.method === 'BYE').length;
  const bye = await attacker.request(
    attacker.build({
      method: 'BYE',
      uri: `sip:desk@127.0.0.6:${alice.port}`,
      from: 'sip:caller@elsewhere.example',
      fromTag: 'caller',
      to: aor('1000'),
      toTag: ok!.to.tag!,
      callId,
      cseq: 2,
      extra: ok!.getAll('Record-Route').map((r) => `Route: ${r}`),
    }).text,
    server.sip,
  );
  assert.equal(bye?.status, 200);
  assert.equal(alice.received.filter((r) => r.method === 'BYE').length, aliceBefore + 1);
  assert.equal(
    bob.received.filter((r) => r.callId === callId).length,
    bobBefore,
    'nothing of 1000 call reached 1001',
  );
});
