// LocalNodeRegistry (one process, in memory): the NodeRegistry contract with both "survivors"
// the same registry.
import { test } from 'node:test';
import { LocalNodeRegistry } from './local-node-registry.ts';
import { nodeRegistryContract } from './node-registry.contract.ts';

test('LocalNodeRegistry', async (t) => {
  await t.test('NodeRegistry contract', async (t) => {
    await nodeRegistryContract(t, async () => {
      const r = new LocalNodeRegistry();
      return { a: r, b: r };
    });
  });
});
