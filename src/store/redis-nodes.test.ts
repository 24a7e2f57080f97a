// RedisNodeRegistry against a real redis-server: the NodeRegistry contract through two
// connections (two survivors), then the heartbeat key's TTL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedis } from '../../test/support/redis-server.ts';
import { nodeRegistryContract } from './node-registry.contract.ts';
import { connectRedis, RedisKeys } from './redis-connection.ts';
import { RedisNodeRegistry } from './redis-nodes.ts';

test('RedisNodeRegistry', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  let n = 0;

  await t.test('NodeRegistry contract', async (t) => {
    await nodeRegistryContract(t, async () => {
      const prefix = `contract${++n}:`;
      return {
        a: await RedisNodeRegistry.open(redis.url, { prefix }),
        b: await RedisNodeRegistry.open(redis.url, { prefix }),
      };
    });
  });

  await t.test('a heartbeat is a key with the heartbeat’s TTL; calls have none', async () => {
    const keys = new RedisKeys('ttl:');
    const raw = await connectRedis(redis.url);
    const reg = await RedisNodeRegistry.open(redis.url, { prefix: 'ttl:' });
    try {
      await reg.heartbeat({ node: 'n1', sip: ['udp:127.0.0.2:5060'], seenAt: Date.now() }, 5000);
      await reg.callStarted('n1', 'c1', 'k1');
      const ttl = await raw.pTTL(keys.node('n1'));
      assert.ok(ttl > 4000 && ttl <= 5000, `heartbeat TTL ${ttl} ms`);
      assert.equal(await raw.pTTL(keys.calls('n1')), -1, 'calls wait for a survivor');
    } finally {
      await reg.close();
      await raw.close();
    }
  });
});
