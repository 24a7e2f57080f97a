// RedisLocationStore against a real redis-server: the LocationStore contract through two
// connections (two nodes), then what only Redis does: the AOR's key leaves by its TTL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRedis } from '../../test/support/redis-server.ts';
import { locationStoreContract } from './location-store.contract.ts';
import { connectRedis, RedisKeys } from './redis-connection.ts';
import { RedisLocationStore } from './redis-locations.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('RedisLocationStore', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  let n = 0;

  await t.test('LocationStore contract', async (t) => {
    await locationStoreContract(t, async () => {
      const prefix = `contract${++n}:`;
      return {
        a: await RedisLocationStore.open(redis.url, { prefix }),
        b: await RedisLocationStore.open(redis.url, { prefix }),
      };
    });
  });

  await t.test(
    'a binding leaves Redis by its TTL (plus the grace), with no node purging',
    async () => {
      const prefix = 'ttl:';
      const keys = new RedisKeys(prefix);
      const raw = await connectRedis(redis.url);
      const noGrace = await RedisLocationStore.open(redis.url, { prefix, graceMs: 0 });
      const withGrace = await RedisLocationStore.open(redis.url, { prefix, graceMs: 30_000 });
      try {
        const now = Date.now();
        const base = {
          callId: 'ttl@phone',
          cseq: 1,
          target: { protocol: 'udp' as const, address: '192.0.2.1', port: 5060 },
          flow: { node: 'node-a' },
          maxBindings: 10,
          now,
        };
        const contacts = [{ contact: 'sip:a@192.0.2.1', expires: 1, q: 1 }];
        assert.ok((await noGrace.register({ ...base, aor: 'sip:short@x', contacts })).ok);
        assert.ok((await withGrace.register({ ...base, aor: 'sip:graced@x', contacts })).ok);
        const ttl = await raw.pTTL(keys.aor('sip:short@x'));
        assert.ok(ttl > 0 && ttl <= 1000, `TTL ${ttl} ms`);
        assert.equal((await noGrace.lookup('sip:short@x', Date.now())).length, 1);
        await sleep(1300);
        assert.equal(await raw.exists(keys.aor('sip:short@x')), 0, 'the AOR key expired');
        assert.deepEqual(await withGrace.lookup('sip:graced@x', Date.now()), []);
        assert.equal(await raw.exists(keys.aor('sip:graced@x')), 1, 'kept for the purge');
        const purged = await withGrace.purgeExpired(Date.now());
        assert.deepEqual(
          purged.map((b) => b.aor).sort(),
          ['sip:graced@x'],
          'the purge reports the binding it still holds; the expired key is simply gone',
        );
        assert.equal(await raw.exists(keys.aor('sip:graced@x')), 0);
        assert.equal(await raw.zCard(keys.bindingExpiry), 0, 'the expiry index is empty again');
      } finally {
        await noGrace.close();
        await withGrace.close();
        await raw.close();
      }
    },
  );
});
