// Shared security state in Redis: bans every node applies, digest nonce counts every node
// checks, and the keyed secrets every node signs and verifies with.
//
// A ban is a key with the ban's TTL (a node that starts later reads it with bans()) plus an entry
// in a zset by end time (to list them), and an event on a pub/sub channel that every node's
// second connection (a subscriber cannot send commands) hears within milliseconds.
import { randomBytes } from 'node:crypto';
import {
  connectRedis,
  RedisKeys,
  RedisScript,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.ts';
import type { KeyedSecret, SecurityStore, StoredBan } from './stores.ts';

type BanChange = { action: 'ban' | 'unban'; ban: StoredBan | { source: string } };

// KEYS: 1 ban key, 2 bans zset. ARGV: ban JSON, until, now, channel, source.
// Returns 1 when the ban was set or extended, 0 when an existing one already lasts longer.
const BAN = new RedisScript(`
local ends, now = tonumber(ARGV[2]), tonumber(ARGV[3])
if ends <= now then return 0 end
local current = redis.call('ZSCORE', KEYS[2], ARGV[5])
if current and tonumber(current) >= ends and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ends - now)
redis.call('ZADD', KEYS[2], ends, ARGV[5])
redis.call('PUBLISH', ARGV[4], '{"action":"ban","ban":' .. ARGV[1] .. '}')
return 1
`);

// KEYS: 1 ban key, 2 bans zset. ARGV: source, channel, event JSON.
const UNBAN = new RedisScript(`
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return existed
`);

// KEYS: 1 bans zset. ARGV: ban key prefix, now. Returns the JSON of bans lasting past now;
// forgets entries whose key has expired.
const BANS = new RedisScript(`
local out = {}
for _, source in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local j = redis.call('GET', ARGV[1] .. source)
  if not j then
    redis.call('ZREM', KEYS[1], source)
  elseif tonumber(redis.call('ZSCORE', KEYS[1], source)) > tonumber(ARGV[2]) then
    out[#out + 1] = j
  end
end
return out
`);

// KEYS: 1 nonce key. ARGV: nc, ttl ms. 1: new count (recorded), 0: replayed or used up.
const USE_NONCE = new RedisScript(`
local nc = tonumber(ARGV[1])
local seen = redis.call('GET', KEYS[1])
if not seen then
  redis.call('SET', KEYS[1], nc == 0 and 'used' or ARGV[1], 'PX', ARGV[2])
  return 1
end
if nc == 0 or seen == 'used' or nc <= tonumber(seen) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
`);

// KEYS: 1 secret list. ARGV: candidate JSON, now, rotateMs, keep.
// Adds the candidate when the list is empty or its newest is older than rotateMs; keeps `keep`.
const SECRETS = new RedisScript(`
local newest = redis.call('LINDEX', KEYS[1], 0)
if not newest or cjson.decode(newest).createdAt + tonumber(ARGV[3]) <= tonumber(ARGV[2]) then
  redis.call('LPUSH', KEYS[1], ARGV[1])
end
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[4]) - 1)
return redis.call('LRANGE', KEYS[1], 0, -1)
`);

export interface RedisSecurityStoreOptions extends RedisConnectionOptions {
  /** Key prefix (default 'trapezoid:'). */
  prefix?: string;
  /** The clock (ms since the epoch) bans are measured against; default Date.now. */
  now?: () => number;
}

export class RedisSecurityStore implements SecurityStore {
  private readonly keys: RedisKeys;
  private readonly now: () => number;
  private readonly listeners = new Set<(change: BanChange) => void>();
  private subscriber: Promise<RedisClient> | undefined;

  /** Uses `client` for commands (not closed by close() unless `owned`); subscribes on a duplicate. */
  constructor(
    private readonly client: RedisClient,
    private readonly opts: RedisSecurityStoreOptions = {},
    private readonly owned = false,
  ) {
    this.keys = new RedisKeys(opts.prefix);
    this.now = opts.now ?? Date.now;
  }

  static async open(
    url: string,
    opts: RedisSecurityStoreOptions = {},
  ): Promise<RedisSecurityStore> {
    return new RedisSecurityStore(await connectRedis(url, opts), opts, true);
  }

  async ban(ban: StoredBan): Promise<void> {
    await BAN.run(
      this.client,
      [this.keys.ban(ban.source), this.keys.bans],
      [JSON.stringify(ban), ban.until, this.now(), this.keys.banChannel, ban.source],
    );
  }

  async unban(source: string): Promise<boolean> {
    const event = JSON.stringify({ action: 'unban', ban: { source } });
    const n = await UNBAN.run(
      this.client,
      [this.keys.ban(source), this.keys.bans],
      [source, this.keys.banChannel, event],
    );
    return n === 1;
  }

  async bans(now: number): Promise<StoredBan[]> {
    const jsons = (await BANS.run(
      this.client,
      [this.keys.bans],
      [this.keys.ban(''), now],
    )) as string[];
    return jsons.map((j) => JSON.parse(j) as StoredBan).filter((b) => b.until > now);
  }

  async onBanChange(listener: (change: BanChange) => void): Promise<() => void> {
    this.listeners.add(listener);
    this.subscriber ??= this.subscribe().catch((err: unknown) => {
      this.subscriber = undefined; // the next onBanChange tries again
      throw err;
    });
    try {
      await this.subscriber;
    } catch (err) {
      this.listeners.delete(listener);
      throw err;
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The second connection: subscribed to the ban channel, fanning events out to listeners. */
  private async subscribe(): Promise<RedisClient> {
    const sub = this.client.duplicate();
    sub.on('error', (err: Error) => this.opts.onError?.(err));
    await sub.connect();
    await sub.subscribe(this.keys.banChannel, (message: string) => {
      let change: BanChange;
      try {
        change = JSON.parse(message) as BanChange;
      } catch {
        return; // not ours
      }
      for (const l of this.listeners) l(change);
    });
    return sub;
  }

  async useNonce(nonce: string, nc: number, ttlMs: number): Promise<boolean> {
    const r = await USE_NONCE.run(
      this.client,
      [this.keys.nonce(nonce)],
      [nc, Math.max(1, Math.ceil(ttlMs))],
    );
    return r === 1;
  }

  async secrets(name: string, rotateMs: number, keep: number): Promise<KeyedSecret[]> {
    const now = this.now();
    const candidate = JSON.stringify({
      kid: randomBytes(6).toString('base64url'),
      key: randomBytes(32).toString('base64'),
      createdAt: now,
    });
    const jsons = (await SECRETS.run(
      this.client,
      [this.keys.secret(name)],
      [candidate, now, rotateMs, Math.max(1, keep)],
    )) as string[];
    return jsons.map((j) => {
      const s = JSON.parse(j) as { kid: string; key: string; createdAt: number };
      return { kid: s.kid, key: Buffer.from(s.key, 'base64'), createdAt: s.createdAt };
    });
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const sub = this.subscriber;
    this.subscriber = undefined;
    const subscribed = await sub?.catch(() => undefined);
    if (subscribed?.isOpen) await subscribed.close();
    if (this.owned && this.client.isOpen) await this.client.close();
  }
}
