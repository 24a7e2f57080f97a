// Digest replay and nonces across a restart (issue 10, items 3 and 7), attacked on a running
// `trapezoid serve`. Before the fix a REGISTER answered without qop (which the server offers) was
// good for as many replays as the nonce lived: a captured `Contact: *` replayed from another
// address wiped the user's bindings. And a nonce from before a restart counted as a failed
// authentication, so phones behind one NAT address that resent their old nonce once got banned.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { serve, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';
import { RawPhone } from './support/raw-phone.ts';

const DOMAIN = 'replay.trapezoid';
const AOR = `sip:1000@${DOMAIN}`;
const PASSWORD = 'replay-secret-1000';
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

let server: Served;
let phone: RawPhone;
let attacker: RawPhone;
let ports: { sip: number; http: number };

const config = { domain: DOMAIN, users: [{ user: '1000', password: PASSWORD }] };

before(async () => {
  [phone, attacker] = await Promise.all([RawPhone.open('127.0.0.2'), RawPhone.open('127.0.0.3')]);
  ports = { sip: await freePort(), http: await freePort() };
  server = await serve(config, ports, 'replay');
});

after(async () => {
  await Promise.all([phone?.close(), attacker?.close()]);
  await server?.stop();
});

async function bindings(): Promise<string[]> {
  const list = JSON.parse(await server.get('/api/registrations')) as Array<{
    aor: string;
    contact: string;
  }>;
  return list.filter((b) => b.aor === AOR).map((b) => b.contact);
}

/** A fresh nonce from a 401 to an unauthenticated REGISTER. */
async function nonce(from: RawPhone): Promise<string> {
  const res = await from.request(
    from.build({ method: 'REGISTER', uri: `sip:${DOMAIN}`, from: AOR, to: AOR }).text,
    server.sip,
  );
  assert.equal(res?.status, 401);
  return res!.wwwAuthenticate[0]!.params.nonce!;
}

/** Credentials as an RFC 2069 client would send them: no qop, no nc, no cnonce. */
function noQop(n: string): string {
  const uri = `sip:${DOMAIN}`;
  const response = md5(`${md5(`1000:${DOMAIN}:${PASSWORD}`)}:${n}:${md5(`REGISTER:${uri}`)}`);
  return `Digest username="1000", realm="${DOMAIN}", nonce="${n}", uri="${uri}", response="${response}", algorithm=MD5`;
}

test('digest replay: a REGISTER without qop is good once; replayed from another address it neither adds nor removes a binding', async () => {
  const ok = await phone.register(server.sip, DOMAIN, '1000', PASSWORD, {
    contact: `<sip:desk@${phone.hostPort}>`,
  });
  assert.equal(ok.status, 200);
  assert.deepEqual(await bindings(), [`sip:desk@${phone.hostPort}`]);

  // The phone adds a second contact, answering without qop: accepted once.
  const n = await nonce(phone);
  const add = phone.build({
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
    from: AOR,
    to: AOR,
    callId: 'replay-add',
    cseq: 5,
    contact: `<sip:mobile@${phone.hostPort}>`,
    extra: ['Expires: 600', `Authorization: ${noQop(n)}`],
  });
  assert.equal((await phone.request(add.text, server.sip))?.status, 200);
  assert.equal((await bindings()).length, 2);

  // The captured request replayed from 127.0.0.3 (a new Via branch: the digest does not cover
  // Via), once with its own contact and once turned into a "remove all".
  const replayed = add.text
    .replace(add.branch, `${add.branch}-replay`)
    .replace(phone.hostPort, attacker.hostPort)
    .replace('CSeq: 5', 'CSeq: 6');
  const r1 = await attacker.request(replayed, server.sip);
  assert.notEqual(r1?.status, 200, 'the replay is not accepted');
  const wipe = attacker.build({
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
    from: AOR,
    to: AOR,
    callId: 'replay-add',
    cseq: 7,
    contact: '*',
    extra: ['Expires: 0', `Authorization: ${noQop(n)}`],
  });
  const r2 = await attacker.request(wipe.text, server.sip);
  assert.notEqual(r2?.status, 200, 'Contact: * on a used nonce is not accepted');
  assert.deepEqual((await bindings()).sort(), [
    `sip:desk@${phone.hostPort}`,
    `sip:mobile@${phone.hostPort}`,
  ]);
});

test('digest replay: a REGISTER with qop replayed with the same nc is refused (Contact: * wipes nothing)', async () => {
  const before = (await bindings()).sort();
  const n = await nonce(phone);
  const uri = `sip:${DOMAIN}`;
  const cnonce = 'c0ffee01';
  const ha2 = md5(`REGISTER:${uri}`);
  const response = md5(`${md5(`1000:${DOMAIN}:${PASSWORD}`)}:${n}:00000001:${cnonce}:auth:${ha2}`);
  const auth = `Digest username="1000", realm="${DOMAIN}", nonce="${n}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`;
  const query = phone.build({
    method: 'REGISTER',
    uri,
    from: AOR,
    to: AOR,
    callId: 'replay-qop',
    cseq: 1,
    contact: '',
    extra: [`Authorization: ${auth}`],
  });
  assert.equal((await phone.request(query.text, server.sip))?.status, 200);
  const wipe = attacker.build({
    method: 'REGISTER',
    uri,
    from: AOR,
    to: AOR,
    callId: 'replay-qop',
    cseq: 2,
    contact: '*',
    extra: ['Expires: 0', `Authorization: ${auth}`],
  });
  assert.notEqual((await attacker.request(wipe.text, server.sip))?.status, 200);
  assert.deepEqual((await bindings()).sort(), before);
});

test('restart: six phones behind one address resending a nonce from before the restart get stale=true and are not banned', async () => {
  const old = await nonce(phone);
  await server.stop();
  server = await serve(config, ports, 'replay-restarted');
  const nat = await Promise.all(Array.from({ length: 6 }, () => RawPhone.open('127.0.0.7')));
  try {
    const uri = `sip:${DOMAIN}`;
    const ha1 = md5(`1000:${DOMAIN}:${PASSWORD}`);
    for (const [i, p] of nat.entries()) {
      const cnonce = `cafe${i}`;
      const response = md5(`${ha1}:${old}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
      const res = await p.request(
        p.build({
          method: 'REGISTER',
          uri,
          from: AOR,
          to: AOR,
          extra: [
            `Authorization: Digest username="1000", realm="${DOMAIN}", nonce="${old}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`,
          ],
        }).text,
        server.sip,
      );
      assert.equal(res?.status, 401, `phone ${i}: ${res?.status}`);
      assert.equal(res!.wwwAuthenticate[0]!.params.stale, 'true', `phone ${i}: stale=true`);
    }
    // Each then answers the fresh challenge and registers: nobody was banned.
    for (const p of nat) {
      const res = await p.register(server.sip, DOMAIN, '1000', PASSWORD);
      assert.equal(res.status, 200);
    }
    assert.deepEqual(JSON.parse(await server.get('/api/bans')), []);
  } finally {
    await Promise.all(nat.map((p) => p.close()));
  }
});
