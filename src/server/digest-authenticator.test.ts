import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthValue, type DigestCredentials } from '../sip/index.ts';
import { answerChallenge } from '../ua/digest-client.ts';
import {
  DigestAuthenticator,
  computeHa1,
  digestHash,
  type AuthResult,
  type DigestAlgorithm,
} from './digest-authenticator.ts';

const realm = 'demo.trapezoid';
/** 'ok' or the failure kind of a result. */
const outcome = (r: AuthResult) => (r.ok ? 'ok' : r.failure);
const secrets = {
  ha1Md5: computeHa1('MD5', '1000', realm, 'pw-1000'),
  ha1Sha256: computeHa1('SHA-256', '1000', realm, 'pw-1000'),
};
const lookup = (u: string) => (u === '1000' ? secrets : undefined);

function setup() {
  const clock = { t: 1_700_000_000_000 };
  const auth = new DigestAuthenticator({
    realm,
    algorithms: ['SHA-256', 'MD5'],
    nonceTtlSeconds: 30,
    now: () => clock.t,
  });
  return { auth, clock };
}

/** Answers the challenge with the independent client implementation in src/ua. */
function answer(
  challengeHeader: string,
  opts: { user?: string; password?: string; nc?: number; method?: string } = {},
): DigestCredentials[] {
  const [ch] = parseAuthValue(challengeHeader, 'WWW-Authenticate');
  const fields = answerChallenge(ch!, {
    username: opts.user ?? '1000',
    password: opts.password ?? 'pw-1000',
    method: opts.method ?? 'REGISTER',
    uri: 'sip:demo.trapezoid',
    nc: opts.nc ?? 1,
  });
  return [{ scheme: 'Digest', params: fields }];
}

for (const [i, alg] of (['SHA-256', 'MD5'] as DigestAlgorithm[]).entries()) {
  test(`${alg}: the right password passes, a wrong one and an unknown user fail`, async () => {
    const { auth } = setup();
    const challenge = auth.challenges()[i]!;
    assert.match(challenge, new RegExp(`algorithm=${alg}`));
    assert.deepEqual(await auth.verify(answer(challenge), 'REGISTER', lookup), {
      ok: true,
      user: '1000',
    });
    assert.equal(
      (await auth.verify(answer(challenge, { password: 'wrong', nc: 2 }), 'REGISTER', lookup)).ok,
      false,
    );
    const wrong = await auth.verify(
      answer(challenge, { password: 'wrong', nc: 3 }),
      'REGISTER',
      lookup,
    );
    assert.deepEqual(wrong, { ok: false, failure: 'bad-response', user: '1000' });
    const unknown = await auth.verify(answer(challenge, { user: '9999' }), 'REGISTER', lookup);
    assert.deepEqual(unknown, { ok: false, failure: 'unknown-user', user: '9999' });
  });
}

test('a replayed nonce count is refused; a higher one passes', async () => {
  const { auth } = setup();
  const challenge = auth.challenges()[0]!;
  assert.equal((await auth.verify(answer(challenge, { nc: 1 }), 'REGISTER', lookup)).ok, true);
  assert.deepEqual(await auth.verify(answer(challenge, { nc: 1 }), 'REGISTER', lookup), {
    ok: false,
    failure: 'replay',
    user: '1000',
  });
  assert.equal((await auth.verify(answer(challenge, { nc: 2 }), 'REGISTER', lookup)).ok, true);
});

test('an expired nonce is stale; a forged one is invalid; a changed method fails', async () => {
  const { auth, clock } = setup();
  const challenge = auth.challenges()[0]!;
  const creds = answer(challenge);
  clock.t += 31_000;
  assert.deepEqual(await auth.verify(creds, 'REGISTER', lookup), {
    ok: false,
    failure: 'stale',
    user: '1000',
  });
  assert.match(auth.challenges(true)[0]!, /stale=true/);
  const forged = challenge.replace(
    /nonce="([^"]+)"/,
    (_m, n: string) => `nonce="${n.slice(0, -2)}AA"`,
  );
  assert.equal((await auth.verify(answer(forged), 'REGISTER', lookup)).ok, false);
  const fresh = auth.challenges()[0]!;
  assert.equal(
    (await auth.verify(answer(fresh, { method: 'INVITE' }), 'REGISTER', lookup)).ok,
    false,
  );
  assert.deepEqual(await auth.verify([], 'REGISTER', lookup), { ok: false, failure: 'missing' });
});

test('another server (other secret) cannot mint nonces we accept', async () => {
  const { auth } = setup();
  const other = new DigestAuthenticator({ realm, algorithms: ['MD5'], nonceTtlSeconds: 30 });
  const res = await auth.verify(answer(other.challenges()[0]!), 'REGISTER', lookup);
  assert.deepEqual(res, { ok: false, failure: 'invalid-nonce', user: '1000' });
});

test('a response without qop uses its nonce up; a count of 00000000 is malformed', async () => {
  const { auth } = setup();
  const nonce = /nonce="([^"]+)"/.exec(auth.challenges()[0]!)![1]!;
  const ha2 = digestHash('SHA-256', 'REGISTER:sip:demo.trapezoid');
  const noQop = (): DigestCredentials[] => [
    {
      scheme: 'Digest',
      params: {
        username: '1000',
        realm,
        nonce,
        uri: 'sip:demo.trapezoid',
        algorithm: 'SHA-256',
        response: digestHash('SHA-256', `${secrets.ha1Sha256}:${nonce}:${ha2}`),
      },
    },
  ];
  assert.deepEqual(await auth.verify(noQop(), 'REGISTER', lookup), { ok: true, user: '1000' });
  assert.deepEqual(await auth.verify(noQop(), 'REGISTER', lookup), {
    ok: false,
    failure: 'replay',
    user: '1000',
  });
  // The nonce is spent for qop responses too.
  const withQop = answer(auth.challenges()[0]!.replace(/nonce="[^"]+"/, `nonce="${nonce}"`), {
    nc: 7,
  });
  assert.equal((await auth.verify(withQop, 'REGISTER', lookup)).ok, false);
  const zero = answer(auth.challenges()[0]!);
  zero[0]!.params.nc = '00000000';
  assert.deepEqual(await auth.verify(zero, 'REGISTER', lookup), {
    ok: false,
    failure: 'malformed',
    user: '1000',
  });
});

test('keys: new nonces use the newest; an older kid verifies while listed, then is invalid', async () => {
  const clock = { t: 1_700_000_000_000 };
  const k = (kid: string) => ({ kid, key: Buffer.alloc(32, kid), createdAt: 0 });
  let ring = [k('k1')];
  const auth = new DigestAuthenticator({
    realm,
    algorithms: ['MD5'],
    nonceTtlSeconds: 300,
    now: () => clock.t,
    keys: () => ring,
  });
  const old = auth.challenges()[0]!;
  ring = [k('k2'), k('k1')];
  const fresh = auth.challenges()[0]!;
  const kidOf = (ch: string) => {
    const raw = Buffer.from(/nonce="([^"]+)"/.exec(ch)![1]!, 'base64url');
    return raw.toString('utf8', 17, 17 + raw[16]!);
  };
  assert.equal(kidOf(old), 'k1');
  assert.equal(kidOf(fresh), 'k2');
  assert.equal((await auth.verify(answer(old), 'REGISTER', lookup)).ok, true);
  assert.equal((await auth.verify(answer(fresh), 'REGISTER', lookup)).ok, true);
  ring = [k('k3'), k('k2')];
  assert.deepEqual(await auth.verify(answer(old, { nc: 2 }), 'REGISTER', lookup), {
    ok: false,
    failure: 'invalid-nonce',
    user: '1000',
  });
  assert.equal((await auth.verify(answer(fresh, { nc: 2 }), 'REGISTER', lookup)).ok, true);
  // A kid we hold with another key's MAC (a forged kid) is invalid too.
  const raw = Buffer.from(/nonce="([^"]+)"/.exec(fresh)![1]!, 'base64url');
  raw.write('k3', 17, 'utf8');
  const forged = fresh.replace(/nonce="[^"]+"/, `nonce="${raw.toString('base64url')}"`);
  assert.equal(outcome(await auth.verify(answer(forged), 'REGISTER', lookup)), 'invalid-nonce');
  ring = [];
  assert.throws(() => auth.challenges(), /keys\(\) is empty/);
});

test('an async lookup and a custom replay check are awaited', async () => {
  const used: Array<[string, number, number]> = [];
  const auth = new DigestAuthenticator({
    realm,
    algorithms: ['MD5'],
    nonceTtlSeconds: 30,
    replay: async (nonce, nc, ttlMs) => {
      used.push([nonce, nc, ttlMs]);
      return nc !== 2;
    },
  });
  const challenge = auth.challenges()[0]!;
  const slowLookup = async (u: string) => {
    await new Promise((r) => setTimeout(r, 5));
    return lookup(u);
  };
  assert.equal((await auth.verify(answer(challenge), 'REGISTER', slowLookup)).ok, true);
  assert.equal(
    outcome(await auth.verify(answer(challenge, { nc: 2 }), 'REGISTER', slowLookup)),
    'replay',
  );
  // A wrong password is judged before the count: the replay check is not consulted.
  await auth.verify(answer(challenge, { nc: 3, password: 'x' }), 'REGISTER', slowLookup);
  assert.deepEqual(
    used.map(([, nc]) => nc),
    [1, 2],
  );
  // ttlMs: what is left of the nonce's 30 s, plus room for nodes' clocks to differ.
  assert.ok(used[0]![2] > 30_000 && used[0]![2] <= 60_000, `ttl ${used[0]![2]}`);
  assert.equal(auth.trackedNonces, 0, 'the default table is not used');
});

test('the default count table is bounded and forgets nonces once they expire', async () => {
  const clock = { t: 1_700_000_000_000 };
  const auth = new DigestAuthenticator({
    realm,
    algorithms: ['MD5'],
    nonceTtlSeconds: 30,
    now: () => clock.t,
    maxTrackedNonces: 3,
  });
  for (let i = 0; i < 5; i++) {
    assert.equal((await auth.verify(answer(auth.challenges()[0]!), 'REGISTER', lookup)).ok, true);
  }
  assert.equal(auth.trackedNonces, 3);
  clock.t += 61_000; // past the nonces' life and the allowance for clock skew
  assert.equal((await auth.verify(answer(auth.challenges()[0]!), 'REGISTER', lookup)).ok, true);
  assert.equal(auth.trackedNonces, 1);
});
