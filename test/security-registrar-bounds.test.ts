// What one authenticated user can make the server hold or send (issue 10, items 5 and 9),
// attacked on a running `trapezoid serve`: bindings per address-of-record are capped (the REGISTER
// 200 lists them all, so it stays one datagram), an INVITE forks to at most proxy.maxBranches
// contacts, and every final response the server makes itself carries a To tag (§8.2.6.2).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';
import { RawPhone, settle } from './support/raw-phone.ts';

const DOMAIN = 'bounds.trapezoid';
const aor = (u: string) => `sip:${u}@${DOMAIN}`;
let server: Served;
let phone: RawPhone;
let caller: RawPhone;

before(async () => {
  [phone, caller] = await Promise.all([RawPhone.open('127.0.0.2'), RawPhone.open('127.0.0.3')]);
  server = await serve(
    {
      domain: DOMAIN,
      users: [
        { user: '1000', password: 'bounds-secret-1000' },
        { user: '1001', password: 'bounds-secret-1001' },
      ],
      registrar: { minExpires: 60, maxExpires: 3600, defaultExpires: 3600, maxBindings: 6 },
      proxy: { maxBranches: 3 },
      security: { rateLimit: { requests: 10_000, perSeconds: 1, banSeconds: 60 } },
    },
    { sip: await freePort(), http: await freePort() },
    'bounds',
  );
});

after(async () => {
  await Promise.all([phone?.close(), caller?.close()]);
  await server?.stop();
});

async function boundContacts(user: string): Promise<string[]> {
  const list = JSON.parse(await server.get('/api/registrations')) as Array<{
    aor: string;
    contact: string;
  }>;
  return list.filter((b) => b.aor === aor(user)).map((b) => b.contact);
}

test('binding cap: 20 contacts registered one by one leave the 6 newest; the 200 lists 6 and fits a datagram', async () => {
  let last;
  for (let i = 0; i < 20; i++) {
    last = await phone.register(server.sip, DOMAIN, '1000', 'bounds-secret-1000', {
      contact: `<sip:line${i}@${phone.hostPort}>`,
      // Later registrations last longer: the oldest are the ones closest to expiry.
      expires: 600 + i * 10,
    });
    assert.equal(last.status, 200, `contact ${i}: ${last.status} ${last.reason}`);
  }
  assert.equal(last!.contact.length, 6, 'the 200 lists the bindings there are: 6');
  assert.ok(last!.toBuffer().length < 1300, `200 of ${last!.toBuffer().length} bytes`);
  const bound = await boundContacts('1000');
  assert.deepEqual(
    bound.map((c) => /line(\d+)/.exec(c)![1]).sort((a, b) => Number(a) - Number(b)),
    ['14', '15', '16', '17', '18', '19'],
  );
});

test('binding cap: one REGISTER naming more contacts than the cap is refused (403); a 600-character Contact is 400', async () => {
  const many = Array.from({ length: 7 }, (_, i) => `<sip:bulk${i}@${phone.hostPort}>`).join(', ');
  const res = await phone.register(server.sip, DOMAIN, '1001', 'bounds-secret-1001', {
    contact: many,
  });
  assert.equal(res.status, 403);
  assert.match(res.reason, /at most 6 contacts/);
  const long = await phone.register(server.sip, DOMAIN, '1001', 'bounds-secret-1001', {
    contact: `<sip:${'x'.repeat(600)}@${phone.hostPort}>`,
  });
  assert.equal(long.status, 400);
  assert.deepEqual(await boundContacts('1001'), []);
});

test('fork cap: an INVITE to a user with 6 bindings goes to proxy.maxBranches (3) of them', async () => {
  phone.answers.set('INVITE', null); // ring forever: every branch stays open
  const before = phone.received.length;
  const invite = caller.build({
    method: 'INVITE',
    uri: aor('1000'),
    from: 'sip:someone@elsewhere.example',
    to: aor('1000'),
  });
  caller.send(invite.text, server.sip);
  await settle(1000);
  const invites = phone.received.slice(before).filter((r) => r.method === 'INVITE');
  assert.equal(new Set(invites.map((r) => r.uri)).size, 3, invites.map((r) => r.uri).join(' '));
  phone.answers.delete('INVITE');
  // CANCEL it so the branches end.
  caller.send(
    invite.text
      .replace(/^INVITE/, 'CANCEL')
      .replace('1 INVITE', '1 CANCEL')
      .replace(/Contact:[^\r]*\r\n/, ''),
    server.sip,
  );
});

test('To tag: every final response the server makes itself carries a To tag', async () => {
  const seen: string[] = [];
  const check = async (label: string, text: string) => {
    const res = await caller.request(text, server.sip);
    assert.ok(res, `${label}: answered`);
    assert.ok(res.to.tag, `${label}: ${res.status} ${res.reason} has a To tag`);
    seen.push(`${label} ${res.status}`);
  };
  const b = (o: Partial<Parameters<RawPhone['build']>[0]> & { method: string }) =>
    caller.build({ uri: aor('1001'), from: aor('1000'), to: aor('1001'), ...o }).text;
  await check('REGISTER', b({ method: 'REGISTER', uri: `sip:${DOMAIN}`, to: aor('1000') }));
  await check('INVITE from a user', b({ method: 'INVITE' }));
  await check('OPTIONS', b({ method: 'OPTIONS', uri: `sip:127.0.0.1:${server.sip}` }));
  await check(
    'anonymous INVITE',
    b({ method: 'INVITE', from: 'sip:x@elsewhere.example', uri: aor('4321') }),
  );
  await check('in-dialog unknown', b({ method: 'BYE', toTag: 'nope' }));
  await check(
    'REGISTER elsewhere',
    b({ method: 'REGISTER', uri: 'sip:other.example', to: 'sip:1000@other.example' }),
  );
  // The registrar's 200: phone.register returns it.
  const ok = await phone.register(server.sip, DOMAIN, '1001', 'bounds-secret-1001');
  assert.equal(ok.status, 200);
  assert.ok(ok.to.tag, 'REGISTER 200 has a To tag');
  assert.equal(seen.length, 6);
});
