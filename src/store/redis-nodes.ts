// Node heartbeats and each node's calls in progress, in Redis. A node is alive while its
// heartbeat key lives (its TTL is the heartbeat's): Redis's own clock decides, so nodes whose
// clocks differ still agree on who is dead. A dead node's calls are taken over by one survivor:
// claimCalls() reads and deletes them in one script, so exactly one caller gets them.
import {
  connectRedis,
  RedisKeys,
  RedisScript,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.ts';
import type { CdrKey, NodeInfo, NodeRegistry } from './stores.ts';

// KEYS: 1 node key, 2 nodes set. ARGV: info JSON, ttl ms, node id.
const HEARTBEAT = new RedisScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`);

// KEYS: 1 nodes set, 2 nodes-with-calls set. ARGV: node key prefix, calls key prefix.
// Returns live NodeInfo JSONs; forgets dead nodes that have no calls left to claim.
const LIVE_NODES = new RedisScript(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local j = redis.call('GET', ARGV[1] .. id)
  if j then
    out[#out + 1] = j
  elseif redis.call('SISMEMBER', KEYS[2], id) == 0 then
    redis.call('SREM', KEYS[1], id)
  end
end
return out
`);

// KEYS: 1 nodes-with-calls set. ARGV: node key prefix, calls key prefix.
const DEAD_WITH_CALLS = new RedisScript(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[2] .. id) == 0 then
    redis.call('SREM', KEYS[1], id)
  elseif redis.call('EXISTS', ARGV[1] .. id) == 0 then
    out[#out + 1] = id
  end
end
return out
`);

// KEYS: 1 calls hash, 2 nodes-with-calls set. ARGV: node, Call-ID, CDR key.
const CALL_STARTED = new RedisScript(`
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`);

// KEYS: 1 calls hash, 2 nodes-with-calls set. ARGV: node, Call-ID.
const CALL_ENDED = new RedisScript(`
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
`);

// KEYS: 1 dead node's heartbeat key, 2 its calls hash, 3 nodes-with-calls set. ARGV: node.
// Returns {Call-ID, CDR key, ...} and forgets them; {} when the node is alive or nothing is left.
const CLAIM = new RedisScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local calls = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return calls
`);

export interface RedisNodeRegistryOptions extends RedisConnectionOptions {
  /** Key prefix (default 'trapezoid:'). */
  prefix?: string;
}

export class RedisNodeRegistry implements NodeRegistry {
  private readonly keys: RedisKeys;

  /** Uses `client` (shared with other stores; not closed by close() unless `owned`). */
  constructor(
    private readonly client: RedisClient,
    opts: RedisNodeRegistryOptions = {},
    private readonly owned = false,
  ) {
    this.keys = new RedisKeys(opts.prefix);
  }

  static async open(url: string, opts: RedisNodeRegistryOptions = {}): Promise<RedisNodeRegistry> {
    return new RedisNodeRegistry(await connectRedis(url, opts), opts, true);
  }

  async heartbeat(info: NodeInfo, ttlMs: number): Promise<void> {
    await HEARTBEAT.run(
      this.client,
      [this.keys.node(info.node), this.keys.nodes],
      [JSON.stringify(info), Math.max(1, Math.ceil(ttlMs)), info.node],
    );
  }

  async liveNodes(): Promise<NodeInfo[]> {
    const jsons = (await LIVE_NODES.run(
      this.client,
      [this.keys.nodes, this.keys.nodesWithCalls],
      [this.keys.node(''), this.keys.calls('')],
    )) as string[];
    return jsons.map((j) => JSON.parse(j) as NodeInfo).sort((a, b) => (a.node < b.node ? -1 : 1));
  }

  async deadNodesWithCalls(): Promise<string[]> {
    const ids = (await DEAD_WITH_CALLS.run(
      this.client,
      [this.keys.nodesWithCalls],
      [this.keys.node(''), this.keys.calls('')],
    )) as string[];
    return ids.sort();
  }

  async callStarted(node: string, callId: string, key: CdrKey): Promise<void> {
    await CALL_STARTED.run(
      this.client,
      [this.keys.calls(node), this.keys.nodesWithCalls],
      [node, callId, key],
    );
  }

  async callEnded(node: string, callId: string): Promise<void> {
    await CALL_ENDED.run(
      this.client,
      [this.keys.calls(node), this.keys.nodesWithCalls],
      [node, callId],
    );
  }

  async claimCalls(deadNode: string): Promise<Array<{ callId: string; key: CdrKey }>> {
    const flat = (await CLAIM.run(
      this.client,
      [this.keys.node(deadNode), this.keys.calls(deadNode), this.keys.nodesWithCalls],
      [deadNode],
    )) as string[];
    const calls: Array<{ callId: string; key: CdrKey }> = [];
    for (let i = 0; i < flat.length; i += 2) calls.push({ callId: flat[i]!, key: flat[i + 1]! });
    return calls;
  }

  /** Closes the connection if this store opened it (once; later calls do nothing). */
  async close(): Promise<void> {
    if (!this.owned || !this.client.isOpen) return;
    await this.client.close();
  }
}
