// The cases every NodeRegistry must pass, run by each engine's test file. `open` gives two
// handles on one fresh shared registry: two survivors' Redis connections, or (one process) the
// same in-memory registry twice.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { NodeRegistry } from './stores.ts';

export type OpenNodeRegistries = () => Promise<{ a: NodeRegistry; b: NodeRegistry }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heartbeat TTL of a node the tests let die: short, but several event-loop turns long. */
const SHORT_TTL = 300;

export async function nodeRegistryContract(
  t: TestContext,
  open: OpenNodeRegistries,
): Promise<void> {
  const withRegistries = (fn: (a: NodeRegistry, b: NodeRegistry) => Promise<void>) => async () => {
    const { a, b } = await open();
    try {
      await fn(a, b);
    } finally {
      await a.close();
      if (b !== a) await b.close();
    }
  };

  await t.test(
    'a heartbeat makes a node live for its TTL, seen from the other node',
    withRegistries(async (a, b) => {
      const seenAt = Date.now();
      const infoA = { node: 'node-a', sip: ['udp:127.0.0.2:5060', 'tcp:127.0.0.2:5060'], seenAt };
      await a.heartbeat(infoA, 30_000);
      await b.heartbeat({ node: 'node-b', sip: ['udp:127.0.0.3:5060'], seenAt }, SHORT_TTL);
      assert.deepEqual(await b.liveNodes(), [
        infoA,
        { node: 'node-b', sip: ['udp:127.0.0.3:5060'], seenAt },
      ]);
      await sleep(SHORT_TTL + 200);
      assert.deepEqual(await a.liveNodes(), [infoA]);
      // A node without calls whose heartbeat expired is not waiting to be claimed.
      assert.deepEqual(await a.deadNodesWithCalls(), []);
    }),
  );

  await t.test(
    'calls in progress: a live node’s are not claimable; ended calls are forgotten',
    withRegistries(async (a, b) => {
      await a.heartbeat({ node: 'node-a', sip: [], seenAt: Date.now() }, 30_000);
      await a.callStarted('node-a', 'call-1', 'cdr-1');
      await a.callStarted('node-a', 'call-2', 'cdr-2');
      await a.callEnded('node-a', 'call-1');
      assert.deepEqual(await b.deadNodesWithCalls(), []);
      assert.deepEqual(await b.claimCalls('node-a'), [], 'node-a is alive');
      await a.callEnded('node-a', 'call-2');
      // A node that never sent a heartbeat and has calls counts as dead.
      await a.callStarted('node-z', 'call-9', 'cdr-9');
      assert.deepEqual(await b.deadNodesWithCalls(), ['node-z']);
      await a.callEnded('node-z', 'call-9');
      assert.deepEqual(await b.deadNodesWithCalls(), []);
      assert.deepEqual(await b.claimCalls('node-z'), []);
    }),
  );

  await t.test(
    'race: two survivors claim a dead node’s calls at once; exactly one gets them all',
    withRegistries(async (a, b) => {
      await a.heartbeat({ node: 'node-x', sip: [], seenAt: Date.now() }, SHORT_TTL);
      for (let i = 1; i <= 5; i++) await a.callStarted('node-x', `call-${i}`, `cdr-${i}`);
      await a.callStarted('node-y', 'call-y', 'cdr-y');
      await b.heartbeat({ node: 'node-y', sip: [], seenAt: Date.now() }, 30_000);
      await sleep(SHORT_TTL + 200);
      assert.deepEqual(await b.deadNodesWithCalls(), ['node-x']);
      const claims = await Promise.all([
        a.claimCalls('node-x'),
        b.claimCalls('node-x'),
        a.claimCalls('node-x'),
        b.claimCalls('node-x'),
      ]);
      const winners = claims.filter((c) => c.length > 0);
      assert.equal(winners.length, 1);
      assert.deepEqual(
        winners[0]!.sort((x, y) => (x.callId < y.callId ? -1 : 1)),
        [1, 2, 3, 4, 5].map((i) => ({ callId: `call-${i}`, key: `cdr-${i}` })),
      );
      assert.deepEqual(await a.deadNodesWithCalls(), []);
      assert.deepEqual(await b.claimCalls('node-y'), [], 'node-y is alive');
    }),
  );
}
