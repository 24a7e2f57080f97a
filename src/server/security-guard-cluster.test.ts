// Bans shared by every node: SecurityGuards ("nodes"), each on its own RedisSecurityStore
// connection to one real redis-server. A ban issued on one node drops the source on the others
// within 1 s (measured), an unban is lifted everywhere, a node started later picks the bans up,
// and the periodic resync repairs what a node missed (announcements it did not hear, a write the
// store refused).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startRedis } from '../../test/support/redis-server.ts';
import { parseMessage, SipRequest } from '../sip/index.ts';
import { RedisSecurityStore } from '../store/redis-security.ts';
import type { SecurityStore, StoredBan } from '../store/stores.ts';
import type { Endpoint, InboundMessage } from '../transport/index.ts';
import { validateConfig } from './config.ts';
import { SecurityGuard, type SecurityConfig } from './security-guard.ts';

const config: SecurityConfig = {
  ...validateConfig({}).security,
  bruteForce: { maxFailures: 3, windowSeconds: 60, banSeconds: 600 },
};

const req = (() => {
  const msg = parseMessage(
    [
      'OPTIONS sip:demo.trapezoid SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKc1',
      'From: <sip:100@demo.trapezoid>;tag=f1',
      'To: <sip:100@demo.trapezoid>',
      'Call-ID: guard-cluster-1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  assert.ok(msg instanceof SipRequest);
  return msg;
})();

const from = (address: string): Endpoint => ({ protocol: 'udp', address, port: 5060 });

function admits(guard: SecurityGuard, address: string): boolean {
  const inbound: InboundMessage = {
    message: req,
    source: from(address),
    local: { protocol: 'udp', address: '127.0.0.1', port: 5060 },
    receivedAt: 0,
  };
  return guard.admit(req, inbound);
}

/** Ms until `cond` holds (checked every ms), or throws after `limitMs`. */
async function timeUntil(cond: () => boolean, limitMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    const elapsed = performance.now() - start;
    if (elapsed > limitMs) throw new Error(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now() - start;
}

/**
 * A real store whose announcements can be missed and whose writes can fail on demand: what a
 * node sees while its subscriber reconnects or Redis is briefly unreachable.
 */
class Unreliable implements SecurityStore {
  deaf = false;
  failWrites = false;
  constructor(private readonly inner: SecurityStore) {}
  ban(ban: StoredBan) {
    return this.failWrites ? Promise.reject(new Error('connection lost')) : this.inner.ban(ban);
  }
  unban(source: string) {
    return this.inner.unban(source);
  }
  bans(now: number) {
    return this.inner.bans(now);
  }
  onBanChange(listener: Parameters<SecurityStore['onBanChange']>[0]) {
    return this.inner.onBanChange((c) => {
      if (!this.deaf) listener(c);
    });
  }
  useNonce(nonce: string, nc: number, ttlMs: number) {
    return this.inner.useNonce(nonce, nc, ttlMs);
  }
  secrets(name: string, rotateMs: number, keep: number) {
    return this.inner.secrets(name, rotateMs, keep);
  }
  close() {
    return this.inner.close();
  }
}

async function cluster(t: TestContext, url: string, prefix: string) {
  const stores: RedisSecurityStore[] = [];
  const guards: SecurityGuard[] = [];
  t.after(async () => {
    for (const g of guards) await g.stop();
    for (const s of stores) await s.close();
  });
  return {
    async store() {
      const s = await RedisSecurityStore.open(url, { prefix });
      stores.push(s);
      return s;
    },
    async guard(store: SecurityStore, node: string, resyncMs?: number) {
      const g = new SecurityGuard(config, { store, node, resyncMs });
      guards.push(g);
      await g.start();
      return g;
    },
  };
}

test('bans shared through one redis-server', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;

  await t.test(
    'a brute-force ban on node 1 drops the source on node 2 within 1 s; so does an unban',
    async (t) => {
      const c = await cluster(t, redis.url, 'guards1:');
      const store1 = await c.store();
      const g1 = await c.guard(store1, 'node-1');
      const g2 = await c.guard(await c.store(), 'node-2');
      const attacker = '203.0.113.7';
      assert.equal(admits(g2, attacker), true);

      for (let i = 0; i < config.bruteForce.maxFailures; i++) g1.authFailed(from(attacker), '1000');
      assert.equal(g1.isBanned(attacker), true, 'banned at once where it was issued');
      const banMs = await timeUntil(() => !admits(g2, attacker), 1000, 'ban on node 2');
      t.diagnostic(`ban propagation node 1 -> node 2: ${banMs.toFixed(1)} ms`);
      assert.ok(banMs < 1000, `ban reached node 2 in ${banMs} ms`);
      const [seen] = g2.bans();
      assert.equal(seen?.source, attacker);
      assert.equal(seen?.reason, 'brute-force');
      assert.equal(seen?.user, '1000');
      assert.equal(seen?.node, 'node-1');
      assert.equal(seen?.until, g1.bans()[0]!.until, 'the same end on both nodes');
      assert.equal(g2.stats.bansIssued, 0, 'node 2 did not issue it');
      assert.ok(g2.stats.droppedBanned >= 1);
      const [stored] = await store1.bans(Date.now());
      assert.equal(stored?.node, 'node-1');
      assert.equal(stored?.source, attacker);

      // The operator's unban (DELETE /api/bans/{address}) on node 1 reaches node 2.
      const unbanStart = performance.now();
      assert.equal(await g1.liftBan(attacker), true);
      await timeUntil(() => admits(g2, attacker), 1000, 'unban on node 2');
      const unbanMs = performance.now() - unbanStart;
      assert.ok(unbanMs < 1000, `unban reached node 2 in ${unbanMs} ms`);
      t.diagnostic(`unban propagation node 1 -> node 2: ${unbanMs.toFixed(1)} ms`);
      assert.deepEqual(await store1.bans(Date.now()), []);
      assert.equal(await g1.liftBan(attacker), false, 'nothing left to lift');

      // A rate-limit ban on node 2 and the synchronous unban() on node 1.
      const flooder = '203.0.113.8';
      let admitted = 0;
      while (admits(g2, flooder)) admitted++;
      assert.equal(admitted, config.rateLimit.requests);
      await timeUntil(() => g1.isBanned(flooder), 1000, 'rate-limit ban on node 1');
      assert.equal(g1.bans()[0]?.reason, 'rate-limit');
      assert.equal(g1.unban(flooder), true);
      await timeUntil(() => !g2.isBanned(flooder), 1000, 'unban() on node 2');
    },
  );

  await t.test('a node started later holds the bans already made', async (t) => {
    const c = await cluster(t, redis.url, 'guards2:');
    const g1 = await c.guard(await c.store(), 'node-1');
    for (let i = 0; i < config.bruteForce.maxFailures; i++)
      g1.authFailed(from('198.51.100.9'), undefined);
    await g1.stop(); // its write is done once stop() resolves
    const late = await c.guard(await c.store(), 'node-3');
    assert.equal(late.isBanned('198.51.100.9'), true, 'applied by start()');
    assert.equal(admits(late, '198.51.100.9'), false);
  });

  await t.test(
    'the resync repairs missed announcements and writes the store refused',
    async (t) => {
      const c = await cluster(t, redis.url, 'guards3:');
      const g1 = await c.guard(await c.store(), 'node-1', 100);
      const flaky = new Unreliable(await c.store());
      const g2 = await c.guard(flaky, 'node-2', 100);

      // Node 2 hears nothing (its subscriber is reconnecting) while node 1 bans and unbans.
      flaky.deaf = true;
      for (let i = 0; i < config.bruteForce.maxFailures; i++)
        g1.authFailed(from('192.0.2.77'), 'x');
      const missedBanMs = await timeUntil(() => g2.isBanned('192.0.2.77'), 3000, 'missed ban');
      t.diagnostic(
        `missed ban repaired by the resync (every 100 ms) in ${missedBanMs.toFixed(1)} ms`,
      );
      assert.equal(await g1.liftBan('192.0.2.77'), true);
      await timeUntil(() => !g2.isBanned('192.0.2.77'), 3000, 'missed unban');
      flaky.deaf = false;

      // Node 2's ban write fails: the ban holds on node 2, and reaches node 1 once writes work.
      flaky.failWrites = true;
      for (let i = 0; i < config.bruteForce.maxFailures; i++)
        g2.authFailed(from('192.0.2.78'), 'y');
      assert.equal(g2.isBanned('192.0.2.78'), true);
      await new Promise((r) => setTimeout(r, 400)); // several resyncs while writes fail
      assert.equal(g2.isBanned('192.0.2.78'), true, 'a resync does not lift a ban not yet written');
      assert.equal(g1.isBanned('192.0.2.78'), false);
      flaky.failWrites = false;
      await timeUntil(() => g1.isBanned('192.0.2.78'), 3000, 'ban written after the failure');
      assert.equal(g1.bans()[0]?.node, 'node-2');
    },
  );
});

test('without a store, start() and stop() do nothing and bans stay on this node', async () => {
  const g = new SecurityGuard(config);
  await g.start();
  for (let i = 0; i < config.bruteForce.maxFailures; i++)
    g.authFailed(from('192.0.2.5'), undefined);
  assert.equal(g.isBanned('192.0.2.5'), true);
  assert.equal(g.bans()[0]?.node, undefined);
  assert.equal(await g.liftBan('192.0.2.5'), true);
  assert.equal(g.isBanned('192.0.2.5'), false);
  await g.stop();
});
