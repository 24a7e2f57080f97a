import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuthValue, type DigestCredentials } from '../sip/index.ts';
import { answerChallenge } from '../ua/digest-client.ts';
import { DigestAuthenticator, computeHa1, type DigestAlgorithm } from './digest-authenticator.ts';

const realm = 'demo.trapezoid';
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
  test(`${alg}: the right password passes, a wrong one and an unknown user fail`, () => {
    const { auth } = setup();
    const challenge = auth.challenges()[i]!;
    assert.match(challenge, new RegExp(`algorithm=${alg}`));
    assert.deepEqual(auth.verify(answer(challenge), 'REGISTER', lookup), {
      ok: true,
      user: '1000',
    });
    assert.equal(
      auth.verify(answer(challenge, { password: 'wrong', nc: 2 }), 'REGISTER', lookup).ok,
      false,
    );
    const wrong = auth.verify(answer(challenge, { password: 'wrong', nc: 3 }), 'REGISTER', lookup);
    assert.deepEqual(wrong, { ok: false, failure: 'bad-response', user: '1000' });
    const unknown = auth.verify(answer(challenge, { user: '9999' }), 'REGISTER', lookup);
    assert.deepEqual(unknown, { ok: false, failure: 'unknown-user', user: '9999' });
  });
}

test('a replayed nonce count is refused; a higher one passes', () => {
  const { auth } = setup();
  const challenge = auth.challenges()[0]!;
  assert.equal(auth.verify(answer(challenge, { nc: 1 }), 'REGISTER', lookup).ok, true);
  assert.deepEqual(auth.verify(answer(challenge, { nc: 1 }), 'REGISTER', lookup), {
    ok: false,
    failure: 'replay',
    user: '1000',
  });
  assert.equal(auth.verify(answer(challenge, { nc: 2 }), 'REGISTER', lookup).ok, true);
});

test('an expired nonce is stale; a forged one is invalid; a changed method fails', () => {
  const { auth, clock } = setup();
  const challenge = auth.challenges()[0]!;
  const creds = answer(challenge);
  clock.t += 31_000;
  assert.deepEqual(auth.verify(creds, 'REGISTER', lookup), {
    ok: false,
    failure: 'stale',
    user: '1000',
  });
  assert.match(auth.challenges(true)[0]!, /stale=true/);
  const forged = challenge.replace(
    /nonce="([^"]+)"/,
    (_m, n: string) => `nonce="${n.slice(0, -2)}AA"`,
  );
  assert.equal(auth.verify(answer(forged), 'REGISTER', lookup).ok, false);
  const fresh = auth.challenges()[0]!;
  assert.equal(auth.verify(answer(fresh, { method: 'INVITE' }), 'REGISTER', lookup).ok, false);
  assert.deepEqual(auth.verify([], 'REGISTER', lookup), { ok: false, failure: 'missing' });
});

test('another server (other secret) cannot mint nonces we accept', () => {
  const { auth } = setup();
  const other = new DigestAuthenticator({ realm, algorithms: ['MD5'], nonceTtlSeconds: 30 });
  const res = auth.verify(answer(other.challenges()[0]!), 'REGISTER', lookup);
  assert.deepEqual(res, { ok: false, failure: 'invalid-nonce', user: '1000' });
});
