// The cases every SecurityStore must pass, run by each engine's test file. `open` gives two
// handles on one fresh shared store: two nodes' Redis connections, or (one process) the same
// in-memory store twice.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { SecurityStore, StoredBan } from './stores.ts';

export type OpenSecurityStores = () => Promise<{ a: SecurityStore; b: SecurityStore }>;

type Change = Parameters<Parameters<SecurityStore['onBanChange']>[0]>[0];

/** Resolves with the first change `pick` accepts, or rejects after `ms`. */
function nextChange(
  store: SecurityStore,
  pick: (c: Change) => boolean,
  ms: number,
): Promise<{ change: Change; stop: () => void }> {
  return new Promise((resolve, reject) => {
    let stop = () => {};
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no matching ban change within ${ms} ms`));
    }, ms);
    void store
      .onBanChange((c) => {
        if (!pick(c)) return;
        clearTimeout(timer);
        resolve({ change: c, stop });
      })
      .then((s) => (stop = s), reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function securityStoreContract(
  t: TestContext,
  open: OpenSecurityStores,
): Promise<void> {
  const withStores = (fn: (a: SecurityStore, b: SecurityStore) => Promise<void>) => async () => {
    const { a, b } = await open();
    try {
      await fn(a, b);
    } finally {
      await a.close();
      if (b !== a) await b.close();
    }
  };

  await t.test(
    'a ban made on one node is listed on the other; extended, never shortened; unban ends it',
    withStores(async (a, b) => {
      const now = Date.now();
      const ban: StoredBan = {
        source: '198.51.100.7',
        reason: 'brute-force',
        until: now + 60_000,
        user: '1000',
        node: 'node-a',
      };
      await a.ban(ban);
      assert.deepEqual(await b.bans(now), [ban]);
      await b.ban({ ...ban, reason: 'rate-limit', until: now + 10_000, node: 'node-b' });
      assert.deepEqual(await a.bans(now), [ban], 'a shorter ban does not shorten it');
      const longer = { ...ban, until: now + 120_000, node: 'node-b' };
      await b.ban(longer);
      assert.deepEqual(await a.bans(now), [longer]);
      assert.deepEqual(await a.bans(now + 120_000), [], 'over at its end');
      assert.equal(await a.unban(ban.source), true);
      assert.equal(await b.unban(ban.source), false);
      assert.deepEqual(await b.bans(now), []);
    }),
  );

  await t.test(
    'a ban reaches the other node’s listener within 1 s, and this node’s own; so does unban',
    withStores(async (a, b) => {
      const ban: StoredBan = {
        source: '203.0.113.9',
        reason: 'rate-limit',
        until: Date.now() + 30_000,
        node: 'node-a',
      };
      const isBan = (c: Change) => c.action === 'ban' && c.ban.source === ban.source;
      const heardByB = nextChange(b, isBan, 1000);
      const heardByA = nextChange(a, isBan, 1000);
      // Subscriptions are in place once onBanChange resolved; give them that before banning.
      await sleep(50);
      const started = performance.now();
      await a.ban(ban);
      const [onB, onA] = await Promise.all([heardByB, heardByA]);
      assert.ok(performance.now() - started < 1000);
      assert.deepEqual(onB.change, { action: 'ban', ban });
      assert.deepEqual(onA.change, { action: 'ban', ban });
      onA.stop();
      const unbanned = nextChange(b, (c) => c.action === 'unban', 1000);
      await sleep(20);
      await a.unban(ban.source);
      assert.deepEqual((await unbanned).change, { action: 'unban', ban: { source: ban.source } });
      onB.stop();
    }),
  );

  await t.test(
    'nonce counts: each count once, rising, on any node; a no-qop use spends the nonce',
    withStores(async (a, b) => {
      assert.equal(await a.useNonce('n1', 1, 30_000), true);
      assert.equal(await b.useNonce('n1', 1, 30_000), false, 'replayed on another node');
      assert.equal(await b.useNonce('n1', 3, 30_000), true);
      assert.equal(await a.useNonce('n1', 2, 30_000), false, 'lower than one already used');
      assert.equal(await a.useNonce('n1', 0, 30_000), false);
      assert.equal(await a.useNonce('n2', 0, 30_000), true);
      assert.equal(await b.useNonce('n2', 0, 30_000), false, 'no-qop nonce is one-time');
      assert.equal(await b.useNonce('n2', 1, 30_000), false);
    }),
  );

  await t.test(
    'race: the same nonce count sent to two nodes at once is accepted exactly once',
    withStores(async (a, b) => {
      for (const nc of [1, 2, 3]) {
        const answers = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).useNonce('race', nc, 30_000)),
        );
        assert.equal(answers.filter(Boolean).length, 1, `nc ${nc}`);
      }
    }),
  );

  await t.test(
    'secrets: made once and shared; rotated after rotateMs with a new kid; at most keep',
    withStores(async (a, b) => {
      const [first, second] = await Promise.all([
        a.secrets('digest', 400, 2),
        b.secrets('digest', 400, 2),
      ]);
      assert.equal(first!.length, 1);
      assert.deepEqual(second, first, 'two nodes asking at once get the same secret');
      assert.equal(first![0]!.key.length, 32);
      await sleep(450);
      const rotated = await b.secrets('digest', 400, 2);
      assert.equal(rotated.length, 2);
      assert.notEqual(rotated[0]!.kid, first![0]!.kid);
      assert.deepEqual(rotated[1], first![0], 'the older secret still verifies');
      assert.deepEqual(await a.secrets('digest', 400, 2), rotated);
      await sleep(450);
      const again = await a.secrets('digest', 400, 2);
      assert.deepEqual(
        again.map((s) => s.kid).slice(1),
        [rotated[0]!.kid],
        'the oldest was dropped',
      );
      assert.notDeepEqual((await a.secrets('other', 400, 2))[0]!.key, again[0]!.key);
    }),
  );
}
