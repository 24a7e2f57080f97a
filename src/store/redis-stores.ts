// A node's Redis stores on one command connection (plus the subscriber the security store opens
// for ban events): what a cluster node opens from a `redis://` URL.
import { connectRedis, type RedisConnectionOptions } from './redis-connection.ts';
import { RedisLocationStore } from './redis-locations.ts';
import { RedisNodeRegistry } from './redis-nodes.ts';
import { RedisSecurityStore } from './redis-security.ts';

export interface RedisStoresOptions extends RedisConnectionOptions {
  /** Key prefix shared by every store (default 'trapezoid:'). */
  prefix?: string;
  /** See RedisLocationStoreOptions.graceMs. */
  graceMs?: number;
}

export interface RedisStores {
  locations: RedisLocationStore;
  security: RedisSecurityStore;
  nodes: RedisNodeRegistry;
  /** Closes the three stores and then the shared connection. */
  close(): Promise<void>;
}

export async function openRedisStores(
  url: string,
  opts: RedisStoresOptions = {},
): Promise<RedisStores> {
  const client = await connectRedis(url, opts);
  const locations = new RedisLocationStore(client, opts);
  const security = new RedisSecurityStore(client, opts);
  const nodes = new RedisNodeRegistry(client, opts);
  return {
    locations,
    security,
    nodes,
    async close() {
      await Promise.all([locations.close(), security.close(), nodes.close()]);
      if (client.isOpen) await client.close();
    },
  };
}
