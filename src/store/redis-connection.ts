// The Redis side shared by the Redis stores: the client (node-redis), the names of every key (one
// home for the layout that src/store/README.md documents) and Lua scripts run by their SHA1 with
// the source sent again when the server does not know it yet (after a restart or SCRIPT FLUSH).
//
// The stores target one Redis server (optionally with replicas and Sentinel), not Redis Cluster:
// some scripts reach keys they find in an index, which a cluster could place on another shard.
import { createHash } from 'node:crypto';
import { createClient } from 'redis';

function newClient(url: string) {
  // While the connection is down a command fails at once instead of waiting in a queue: the
  // server answers 500 (Retry-After) rather than holding the request until Redis returns.
  return createClient({ url, disableOfflineQueue: true, socket: { connectTimeout: 3000 } });
}

/** The client type the stores use (node-redis, its default protocol and type mapping). */
export type RedisClient = ReturnType<typeof newClient>;

export interface RedisConnectionOptions {
  /** Called with each connection error; node-redis reconnects by itself meanwhile. */
  onError?: (err: Error) => void;
}

/** A connected client for `url` (redis://[user:password@]host:port[/db], rediss:// for TLS). */
export async function connectRedis(
  url: string,
  opts: RedisConnectionOptions = {},
): Promise<RedisClient> {
  const client = newClient(url);
  client.on('error', (err: Error) => opts.onError?.(err));
  await client.connect();
  return client;
}

/**
 * Every key and channel, under one prefix (default 'trapezoid:') so that several clusters, or a
 * cluster and something else, can share a Redis database. Values and TTLs: src/store/README.md.
 */
export class RedisKeys {
  constructor(readonly prefix = 'trapezoid:') {}

  /** hash: contact -> binding JSON, of one AOR. */
  aor(aor: string): string {
    return `${this.prefix}loc:${aor}`;
  }
  /** zset: one member per binding (see redis-locations.ts) scored by its expiry (ms). */
  get bindingExpiry(): string {
    return `${this.prefix}loc-expiry`;
  }
  /** set: the members (as in bindingExpiry) of the bindings whose flow is `connectionId` on `node`. */
  flow(node: string, connectionId: string): string {
    return `${this.prefix}loc-flow:${node}:${connectionId}`;
  }
  /** string: ban JSON of one source. */
  ban(source: string): string {
    return `${this.prefix}ban:${source}`;
  }
  /** zset: banned source scored by the ban's end (ms). */
  get bans(): string {
    return `${this.prefix}bans`;
  }
  /** pub/sub channel: ban and unban events. */
  get banChannel(): string {
    return `${this.prefix}ban-changes`;
  }
  /** string: highest nonce count used with a digest nonce, or 'used'. */
  nonce(nonce: string): string {
    return `${this.prefix}nonce:${nonce}`;
  }
  /** list: JSON keyed secrets of one name, newest first. */
  secret(name: string): string {
    return `${this.prefix}secret:${name}`;
  }
  /** string: NodeInfo JSON while the node's heartbeat lasts. */
  node(node: string): string {
    return `${this.prefix}node:${node}`;
  }
  /** set: node ids that have sent a heartbeat (pruned when seen dead and without calls). */
  get nodes(): string {
    return `${this.prefix}nodes`;
  }
  /** hash: Call-ID -> CDR key of the calls in progress on one node. */
  calls(node: string): string {
    return `${this.prefix}calls:${node}`;
  }
  /** set: node ids with calls in progress. */
  get nodesWithCalls(): string {
    return `${this.prefix}calls-nodes`;
  }
}

/** A Lua script, run with EVALSHA (one round trip), loaded again when the server lacks it. */
export class RedisScript {
  readonly sha1: string;

  constructor(readonly source: string) {
    this.sha1 = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    const options = { keys, arguments: args.map(String) };
    try {
      return await client.evalSha(this.sha1, options);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, options);
    }
  }
}
