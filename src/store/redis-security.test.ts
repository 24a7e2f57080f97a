// RedisSecurityStore against a real redis-server: the SecurityStore contract through two
// connections (two nodes), then what only Redis does: a ban outlives the node that made it,
// reaches a node that starts later, and leaves by its TTL; nonce keys expire with the nonce.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedis } from '../../test/support/redis-server.ts';
import { connectRedis, RedisKeys } from './redis-connection.ts';
import { RedisSecurityStore } from './redis-security.ts';
import { openRedisStores } from './redis-stores.ts';
import { securityStoreContract } from './security-store.contract.ts';

test('RedisSecurityStore', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  let n = 0;

  await t.test('SecurityStore contract', async (t) => {
    await securityStoreContract(t, async () => {
      const prefix = `contract${++n}:`;
      return {
        a: await RedisSecurityStore.open(redis.url, { prefix }),
        b: await RedisSecurityStore.open(redis.url, { prefix }),
      };
    });
  });

  await t.test(
    'openRedisStores: one command connection and one subscriber; close ends both',
    async () => {
      const raw = await connectRedis(redis.url);
      const clients = async () =>
        String(await raw.sendCommand(['CLIENT', 'LIST']))
          .trim()
          .split('\n').length;
      try {
        const before = await clients();
        const stores = await openRedisStores(redis.url, { prefix: 'shared:' });
        const stop = await stores.security.onBanChange(() => {});
        assert.equal(await clients(), before + 2);
        await stores.nodes.heartbeat({ node: 'n', sip: [], seenAt: 1 }, 5000);
        assert.equal((await stores.locations.all(Date.now())).length, 0);
        stop();
        await stores.close();
        // The server notices the closed sockets a moment later: poll (up to 5 s when busy).
        for (let i = 0; i < 100 && (await clients()) !== before; i++)
          await new Promise((r) => setTimeout(r, 50));
        assert.equal(await clients(), before);
      } finally {
        await raw.close();
      }
    },
  );

  await t.test(
    'bans and nonces live in keys with TTLs; a node started later sees the bans',
    async () => {
      const prefix = 'ttl:';
      const keys = new RedisKeys(prefix);
      const raw = await connectRedis(redis.url);
      const first = await RedisSecurityStore.open(redis.url, { prefix });
      const later = await RedisSecurityStore.open(redis.url, { prefix });
      try {
        const now = Date.now();
        const ban = {
          source: '192.0.2.66',
          reason: 'rate-limit' as const,
          until: now + 800,
          node: 'a',
        };
        await first.ban(ban);
        await first.useNonce('abc', 1, 800);
        await first.close(); // the node that banned is gone
        const ttl = await raw.pTTL(keys.ban(ban.source));
        assert.ok(ttl > 0 && ttl <= 800, `ban TTL ${ttl} ms`);
        const nonceTtl = await raw.pTTL(keys.nonce('abc'));
        assert.ok(nonceTtl > 0 && nonceTtl <= 800, `nonce TTL ${nonceTtl} ms`);

        // A node that starts after the ban (its first read comes after the banning node left).
        assert.deepEqual(await later.bans(Date.now()), [ban]);
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(await raw.exists([keys.ban(ban.source), keys.nonce('abc')]), 0);
        assert.deepEqual(await later.bans(Date.now()), []);
        assert.equal(await raw.zCard(keys.bans), 0, 'the index forgot the expired ban');
      } finally {
        await first.close();
        await later.close();
        await raw.close();
      }
    },
  );
});
