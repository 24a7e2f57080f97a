// Digest authentication across nodes: two authenticators ("nodes" A and B), each on its own
// connection to one real redis-server (RedisSecurityStore), sharing keys through
// SecurityStore.secrets (DigestKeyRing) and nonce counts through SecurityStore.useNonce. Then the
// same through one LocalSecurityStore (one process, the embedded default).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedis } from '../../test/support/redis-server.ts';
import { parseAuthValue, type DigestCredentials } from '../sip/index.ts';
import { LocalSecurityStore } from '../store/local-security-store.ts';
import { RedisSecurityStore } from '../store/redis-security.ts';
import type { SecurityStore } from '../store/stores.ts';
import { answerChallenge } from '../ua/digest-client.ts';
import { DigestAuthenticator, computeHa1, type AuthResult } from './digest-authenticator.ts';
import { DigestKeyRing } from './digest-key-ring.ts';

const realm = 'demo.trapezoid';
/** 'ok' or the failure kind of a result. */
const outcome = (r: AuthResult) => (r.ok ? 'ok' : r.failure);
const secrets = { ha1Md5: computeHa1('MD5', '1000', realm, 'pw-1000') };
const lookup = async (u: string) => (u === '1000' ? secrets : undefined);
const NONCE_TTL_S = 300;
const ROTATE_MS = 60_000;

function answer(challenge: string, nc = 1): DigestCredentials[] {
  const [ch] = parseAuthValue(challenge, 'WWW-Authenticate');
  const fields = answerChallenge(ch!, {
    username: '1000',
    password: 'pw-1000',
    method: 'REGISTER',
    uri: 'sip:demo.trapezoid',
    nc,
  });
  return [{ scheme: 'Digest', params: fields }];
}

/** One node: its key ring and authenticator on its own store handle; the clock is shared. */
async function node(store: SecurityStore, clock: { t: number }) {
  const ring = new DigestKeyRing(store, {
    rotateMs: ROTATE_MS,
    nonceTtlMs: NONCE_TTL_S * 1000,
    refreshMs: 5000,
  });
  await ring.start();
  const auth = new DigestAuthenticator({
    realm,
    algorithms: ['MD5'],
    nonceTtlSeconds: NONCE_TTL_S,
    now: () => clock.t,
    keys: () => ring.keys(),
    refreshKeys: () => ring.refresh(),
    replay: (n, nc, ttl) => store.useNonce(n, nc, ttl),
  });
  return { ring, auth };
}

async function crossNode(a: SecurityStore, b: SecurityStore, clock: { t: number }) {
  const A = await node(a, clock);
  const B = await node(b, clock);
  try {
    // keep = 1 + ceil((5 s + 300 s) / 60 s) = 7 keys.
    assert.equal(A.ring.keep, 7);
    assert.deepEqual(
      A.ring.keys().map((k) => k.kid),
      B.ring.keys().map((k) => k.kid),
      'both nodes hold the same key',
    );

    // A challenges, B checks the answer; the same count again at B (then at A) is a replay.
    const ch = A.auth.challenges()[0]!;
    assert.deepEqual(await B.auth.verify(answer(ch, 1), 'REGISTER', lookup), {
      ok: true,
      user: '1000',
    });
    assert.equal(outcome(await A.auth.verify(answer(ch, 1), 'REGISTER', lookup)), 'replay');
    assert.equal((await A.auth.verify(answer(ch, 2), 'REGISTER', lookup)).ok, true);
    assert.equal(outcome(await B.auth.verify(answer(ch, 2), 'REGISTER', lookup)), 'replay');
    // The same count sent to both nodes at once passes exactly once.
    const both = await Promise.all([
      A.auth.verify(answer(ch, 3), 'REGISTER', lookup),
      B.auth.verify(answer(ch, 3), 'REGISTER', lookup),
    ]);
    assert.deepEqual(both.map((r) => r.ok).sort(), [false, true]);

    // Rotation: A refreshes after rotateMs and signs with a new key before B has refreshed; B
    // refreshes on the unknown kid at once and verifies it; the old nonce still verifies.
    const kid1 = A.ring.keys()[0]!.kid;
    clock.t += ROTATE_MS + 1000;
    await A.ring.refresh();
    assert.equal(A.ring.keys().length, 2);
    assert.notEqual(A.ring.keys()[0]!.kid, kid1);
    assert.equal(B.ring.keys().length, 1, 'B has not refreshed yet');
    const ch2 = A.auth.challenges()[0]!;
    assert.equal((await B.auth.verify(answer(ch2), 'REGISTER', lookup)).ok, true);
    assert.equal(B.ring.keys().length, 2, 'B refreshed on the unknown kid');
    assert.equal((await B.auth.verify(answer(ch, 4), 'REGISTER', lookup)).ok, true);

    // Six more rotations: the first key drops out (keep 7) and its nonce is no longer ours.
    for (let i = 0; i < 6; i++) {
      clock.t += ROTATE_MS + 1000;
      await A.ring.refresh();
    }
    await B.ring.refresh();
    assert.equal(B.ring.keys().length, 7);
    assert.ok(!B.ring.keys().some((k) => k.kid === kid1), 'the first key dropped out');
    assert.equal(outcome(await B.auth.verify(answer(ch, 5), 'REGISTER', lookup)), 'invalid-nonce');
    assert.equal(outcome(await A.auth.verify(answer(ch, 5), 'REGISTER', lookup)), 'invalid-nonce');
    // The second key is still kept: its nonce is judged by age now (stale, not invalid).
    assert.equal(outcome(await A.auth.verify(answer(ch2, 2), 'REGISTER', lookup)), 'stale');
  } finally {
    A.ring.stop();
    B.ring.stop();
  }
}

test('digest across nodes on one redis-server: shared keys, rotation, shared nonce counts', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  const clock = { t: Date.now() };
  const opts = { prefix: 'digest-cluster:', now: () => clock.t };
  const a = await RedisSecurityStore.open(redis.url, opts);
  const b = await RedisSecurityStore.open(redis.url, opts);
  try {
    await crossNode(a, b, clock);
  } finally {
    await a.close();
    await b.close();
  }
});

test('digest across two authenticators on one LocalSecurityStore (one process)', async () => {
  const clock = { t: Date.now() };
  const store = new LocalSecurityStore({ now: () => clock.t });
  try {
    await crossNode(store, store, clock);
  } finally {
    await store.close();
  }
});

test('DigestKeyRing: a failed refresh keeps the keys held and is reported', async () => {
  const store = new LocalSecurityStore();
  let fail = false;
  const errors: unknown[] = [];
  const ring = new DigestKeyRing(
    {
      secrets: (name, rotateMs, keep) =>
        fail ? Promise.reject(new Error('store down')) : store.secrets(name, rotateMs, keep),
    },
    { rotateMs: 3_600_000, nonceTtlMs: 300_000, onError: (e) => errors.push(e) },
  );
  try {
    await ring.start();
    assert.equal(ring.refreshMs, 30_000);
    assert.equal(ring.keep, 2);
    const held = ring.keys();
    assert.equal(held.length, 1);
    fail = true;
    await ring.refresh();
    assert.equal(ring.keys(), held);
    assert.equal(errors.length, 1);
  } finally {
    ring.stop();
    await store.close();
  }
});
