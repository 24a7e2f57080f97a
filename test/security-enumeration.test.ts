// Extensions cannot be enumerated: `trapezoid serve` answers an unknown user exactly like a known
// one, on the wire (REGISTER 401 then 403, INVITE 407 then 403, an anonymous INVITE 480) and in
// time; sipvicious' svwar finds no extension in 990-1010 (which holds 1000 and 1001), whether it
// is dropped as a scanner or let through. A deliberately leaky registrar shows that svwar, run the
// same way, does list an extension that is answered differently (so the check can fail).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { parseMessage, SipRequest, createResponse, type SipResponse } from '../src/sip/index.ts';
import { DigestClient } from '../src/ua/digest-client.ts';
import { needTool } from './support/peers.ts';
import { Peer } from './ua-sipp-peer.ts';
import { RawClient, serve, sipRequest, type Served } from './security-peer.ts';
import { freePort } from './support/ports.ts';

const DOMAIN = 'enum.trapezoid';
let open: Served; // scanner list empty: svwar is answered
let guarded: Served; // default scanner list: svwar is dropped
let phone: RawClient;

before(async () => {
  const users = [
    { user: '1000', password: 'pw-1000-secret' },
    { user: '1001', password: 'pw-1001-secret' },
  ];
  [open, guarded] = await Promise.all([
    (async () =>
      serve(
        {
          domain: DOMAIN,
          users,
          security: {
            scannerUserAgents: [],
            // The probes below fail on purpose many times: no ban may blur the comparison.
            bruteForce: { maxFailures: 100_000, windowSeconds: 60, banSeconds: 60 },
            rateLimit: { requests: 100_000, perSeconds: 1, banSeconds: 60 },
          },
        },
        { sip: await freePort(), http: await freePort() },
        'enum-open',
      ))(),
    (async () =>
      serve(
        { domain: DOMAIN, users },
        { sip: await freePort(), http: await freePort() },
        'enum-guard',
      ))(),
  ]);
  phone = await RawClient.open('127.0.0.2');
});

after(async () => {
  await phone?.close();
  await Promise.all([open?.stop(), guarded?.stop()]);
});

const aor = (user: string) => `sip:${user}@${DOMAIN}`;

async function ask(text: string, server = open): Promise<SipResponse> {
  const answer = await phone.request(text, server.sip);
  assert.ok(answer, `no answer to:\n${text}`);
  return answer.res;
}

/** What an observer can compare in two answers: everything but the per-request values. */
function shape(res: SipResponse): unknown {
  const names = res
    .headerLines()
    .map((h) => h.name.toLowerCase())
    .sort();
  const challenges = [...res.wwwAuthenticate, ...res.proxyAuthenticate].map((c) => {
    const { nonce, ...rest } = c.params;
    return { scheme: c.scheme, nonceLength: nonce?.length, ...rest };
  });
  return { status: res.status, reason: res.reason, names, challenges, body: res.body.length };
}

/** REGISTER without credentials, then with credentials for `password`: both answers. */
async function register(
  user: string,
  password: string,
  authUser = user,
): Promise<{ first: SipResponse; second: SipResponse; elapsed: number }> {
  const callId = `enum-reg-${user}-${Math.random().toString(36).slice(2)}`;
  const base = { method: 'REGISTER', uri: `sip:${DOMAIN}`, from: aor(user), to: aor(user), callId };
  const first = await ask(sipRequest(phone, base));
  const answer = new DigestClient(authUser, password).answer(401, first.wwwAuthenticate, {
    method: 'REGISTER',
    uri: `sip:${DOMAIN}`,
  });
  assert.equal(answer.length, 1, `${user}: the 401 carries a challenge we can answer`);
  const timed = await phone.request(
    sipRequest(phone, { ...base, cseq: 2, extra: [`Authorization: ${answer[0]!.value}`] }),
    open.sip,
  );
  assert.ok(timed, `${user}: no answer to the credentials`);
  return { first, second: timed.res, elapsed: timed.elapsed };
}

/**
 * INVITE from `user` (one of ours, claimed) without, then with, credentials of `authUser`. (No
 * ACK is sent for the 407: the server's retransmissions of it are ignored here.)
 */
async function invite(
  user: string,
  password: string,
  authUser = user,
): Promise<[SipResponse, SipResponse]> {
  const callId = `enum-inv-${user}-${Math.random().toString(36).slice(2)}`;
  const base = { method: 'INVITE', uri: aor('1001'), from: aor(user), to: aor('1001'), callId };
  const first = await ask(sipRequest(phone, base));
  const answer = new DigestClient(authUser, password).answer(407, first.proxyAuthenticate, {
    method: 'INVITE',
    uri: aor('1001'),
  });
  assert.equal(answer.length, 1);
  const second = await ask(
    sipRequest(phone, { ...base, cseq: 2, extra: [`Proxy-Authorization: ${answer[0]!.value}`] }),
  );
  return [first, second];
}

test('REGISTER: a known and an unknown user get the same 401, and a wrong answer the same 403', async () => {
  const known = await register('1000', 'wrong-password');
  const unknown = await register('4242', 'wrong-password');
  assert.equal(known.first.status, 401);
  assert.deepEqual(shape(unknown.first), shape(known.first));
  assert.equal(known.second.status, 403);
  assert.equal(known.second.reason, 'Forbidden');
  assert.deepEqual(shape(unknown.second), shape(known.second));
  // The same flow with the right password registers: the 403 above is the password's doing.
  const right = await register('1000', 'pw-1000-secret');
  assert.equal(right.second.status, 200, right.second.reason);
});

test('INVITE from one of our users: 407 for known and unknown alike, then the same 403', async () => {
  const [k407, k403] = await invite('1000', 'wrong-password');
  const [u407, u403] = await invite('4242', 'wrong-password');
  assert.equal(k407.status, 407);
  assert.deepEqual(shape(u407), shape(k407));
  assert.equal(k403.status, 403);
  assert.deepEqual(shape(u403), shape(k403));
});

test('identity binding: 1000 with its own password may not register or call as 1001 (403)', async () => {
  const reg = await register('1001', 'pw-1000-secret', '1000');
  assert.equal(reg.second.status, 403);
  assert.match(reg.second.reason, /your own address/);
  const [, call] = await invite('1001', 'pw-1000-secret', '1000');
  assert.equal(call.status, 403);
  assert.match(call.reason, /From is not the authenticated user/);
});

test('an anonymous caller gets 480 for an unknown user and for a known user with no binding', async () => {
  const from = 'sip:caller@elsewhere.example';
  const known = await ask(
    sipRequest(phone, { method: 'INVITE', uri: aor('1001'), from, to: aor('1001') }),
  );
  const unknown = await ask(
    sipRequest(phone, { method: 'INVITE', uri: aor('4242'), from, to: aor('4242') }),
  );
  assert.equal(known.status, 480);
  assert.deepEqual(shape(unknown), shape(known));
});

test('a wrong answer takes as long for an unknown user as for a known one', async () => {
  // Rounds of one known and one unknown user, in alternating order; in each round the slower of
  // the two 403s is noted. Both paths do the same work (an unknown user is checked against a
  // decoy HA1, the bindings are looked up either way), so which one is slower is a coin toss: a
  // path that did more work (a store hit, a slow hash) would lose nearly every round. Paired,
  // adjacent measurements keep the load of other processes out of the comparison.
  const rounds = 60;
  let knownSlower = 0;
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const user = `9${i}77`;
    const [k, u] =
      i % 2 === 0
        ? [(await register('1000', `guess-${i}`)).elapsed, (await register(user, 'x')).elapsed]
        : [
            (await register(user, 'x')).elapsed,
            (await register('1000', `guess-${i}`)).elapsed,
          ].reverse();
    known.push(k!);
    unknown.push(u!);
    if (k! > u!) knownSlower++;
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const summary = `known user slower in ${knownSlower}/${rounds} rounds; median round trip known ${median(known).toFixed(3)} ms, unknown ${median(unknown).toFixed(3)} ms`;
  // Under a fair coin, 12..48 of 60 holds with probability > 0.9999.
  assert.ok(knownSlower >= 12 && knownSlower <= 48, summary);
});

/** Runs svwar on 990-1010 against port; returns the extensions its result table lists. */
async function svwar(sipPort: number, method: string): Promise<{ found: string[]; out: string }> {
  const run = new Peer(
    'svwar',
    [
      '-p',
      String(sipPort),
      '-P',
      String(await freePort()),
      '-b',
      '127.0.0.1',
      '-x',
      '127.0.0.1',
      '-e',
      '990-1010',
      '-m',
      method,
      '--domain',
      DOMAIN,
      '--maximumtime',
      '2',
      '127.0.0.1',
    ],
    open.dir,
  );
  const done = await run.finish(30_000);
  const out = done.stdout + done.stderr;
  // Only the scanned range counts: svwar also prints its own random probe's number when an
  // answer to it arrives late (a loaded machine), which says nothing about our users.
  const found = [...out.matchAll(/^\|\s*(\S+)\s*\|\s*(\S+)\s*\|\s*$/gm)]
    .map((m) => m[1]!)
    .filter((e) => /^\d+$/.test(e) && Number(e) >= 990 && Number(e) <= 1010);
  return { found, out };
}

test('svwar finds no extension in 990-1010, let through or dropped as a scanner', async (t) => {
  if (!needTool(t, 'svwar', 'sipvicious')) return;
  const runs = await Promise.all([
    svwar(open.sip, 'REGISTER'),
    svwar(open.sip, 'INVITE'),
    svwar(guarded.sip, 'REGISTER'),
  ]);
  for (const r of runs) assert.deepEqual(r.found, [], r.out);
  // Let through, svwar saw the server and gave up because every user is answered alike.
  assert.match(runs[0]!.out, /authentication request for an unknown extension/, runs[0]!.out);
  assert.match(runs[1]!.out, /authentication request for an unknown extension/, runs[1]!.out);
  // Dropped: it got no answer at all, and the guard counted the drops.
  assert.doesNotMatch(runs[2]!.out, /authentication request/);
  const metrics = await guarded.get('/metrics');
  const dropped = /^trapezoid_security_dropped_total\{reason="scanner"\} (\d+)$/m.exec(metrics);
  assert.ok(dropped && Number(dropped[1]) > 0, metrics);
});

test('control: svwar does list an extension a leaky registrar answers differently', async (t) => {
  if (!needTool(t, 'svwar', 'sipvicious')) return;
  // 401 for 1000, 404 for everyone else: the leak this server must not have.
  const leaky = createSocket('udp4');
  const leakyPort = await freePort();
  await new Promise<void>((resolve) => leaky.bind(leakyPort, '127.0.0.1', () => resolve()));
  leaky.on('message', (buf, rinfo) => {
    let req;
    try {
      req = parseMessage(buf);
    } catch {
      return;
    }
    if (!(req instanceof SipRequest)) return;
    const known = req.to.uri.user === '1000';
    const res = createResponse(req, known ? 401 : 404, known ? 'Unauthorized' : 'Not Found');
    if (known) res.set('WWW-Authenticate', `Digest realm="${DOMAIN}", nonce="abc", algorithm=MD5`);
    leaky.send(res.toBuffer(), rinfo.port, rinfo.address);
  });
  try {
    const { found, out } = await svwar(leakyPort, 'REGISTER');
    assert.deepEqual(found, ['1000'], out);
  } finally {
    await new Promise<void>((resolve) => leaky.close(() => resolve()));
  }
});
