// The registrar's bindings in Redis, shared by every node of a cluster.
//
// One hash per AOR (contact -> binding JSON) whose TTL is its last binding's expiry plus a grace
// period; a zset of every binding by expiry (all() and purgeExpired() read it); a set per stream
// connection naming the bindings tied to it (removeFlow). Redis 7.0 has no per-field expiry, so
// a binding that expired inside a live AOR hash is invisible to lookup() (its expiresAt is
// checked) and deleted by purgeExpired() (which reports it, once, to the one node that ran it) or
// by the AOR's next REGISTER once the grace has passed; the whole hash goes by its TTL when no
// node purges. Nothing relies on keyspace notifications.
//
// register() is one Lua script: the §10.3 ordering check, the changes and the cap are applied
// as one step, so two nodes registering the same AOR at once cannot interleave.
import { orderedBindings, storedBinding, toBinding, type StoredBinding } from './binding-codec.ts';
import {
  connectRedis,
  RedisKeys,
  RedisScript,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.ts';
import type {
  Binding,
  BindingChangeRecord,
  LocationStore,
  RegistrationOutcome,
  RegistrationUpdate,
} from './stores.ts';

// A binding's member in the expiry zset and the flow sets: '<bytes of AOR>:<AOR><contact>', so
// that neither an AOR nor a contact needs a character it cannot contain.
const MEMBER_LUA = `
local function member(aor, c) return #aor .. ':' .. aor .. c end
local function split(m)
  local colon = string.find(m, ':', 1, true)
  local n = tonumber(string.sub(m, 1, colon - 1))
  return string.sub(m, colon + 1, colon + n), string.sub(m, colon + n + 1)
end`;

// KEYS: 1 the AOR hash, 2 the expiry zset, 3 the flow set (only when the flow has a connection).
// ARGV: now, callId, cseq, removeAll (1/0), maxBindings, graceMs, aor, contact count, then per
// contact: contact, expires in ms (0 removes), binding JSON.
// Returns {0} (out of order) or {1, {binding JSON...}, {action, contact, reason, ...}}.
const REGISTER = new RedisScript(`${MEMBER_LUA}
local now, callId, cseq = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local removeAll, cap, grace = ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[6])
local aor, n = ARGV[7], tonumber(ARGV[8])
local hash, expiry, flow = KEYS[1], KEYS[2], KEYS[3]

local live, keepUntil = {}, 0
local raw = redis.call('HGETALL', hash)
for i = 1, #raw, 2 do
  local c, j = raw[i], raw[i + 1]
  local b = cjson.decode(j)
  if b.expiresAt > now then
    live[c] = { c = c, json = j, expiresAt = b.expiresAt, refreshedAt = b.refreshedAt or 0,
                callId = b.callId, cseq = b.cseq }
  elseif b.expiresAt + grace <= now then
    redis.call('HDEL', hash, c)
    redis.call('ZREM', expiry, member(aor, c))
  elseif b.expiresAt > keepUntil then
    keepUntil = b.expiresAt
  end
end

local changes = {}
local function drop(c, reason)
  redis.call('HDEL', hash, c)
  redis.call('ZREM', expiry, member(aor, c))
  if reason and live[c] then
    live[c] = nil
    changes[#changes + 1] = 'removed'
    changes[#changes + 1] = c
    changes[#changes + 1] = reason
  end
end

if removeAll then
  local doomed = {}
  for c, b in pairs(live) do
    if not (b.callId == callId and b.cseq >= cseq) then doomed[#doomed + 1] = c end
  end
  table.sort(doomed)
  for _, c in ipairs(doomed) do drop(c, 'unregistered') end
else
  for i = 0, n - 1 do
    local b = live[ARGV[9 + i * 3]]
    if b and b.callId == callId and b.cseq >= cseq then return { 0 } end
  end
end

local adding = {}
for i = 0, (removeAll and -1 or n - 1) do
  local c, ms, j = ARGV[9 + i * 3], tonumber(ARGV[10 + i * 3]), ARGV[11 + i * 3]
  if ms == 0 then
    drop(c, live[c] and 'unregistered' or nil)
  else
    changes[#changes + 1] = live[c] and 'refreshed' or 'added'
    changes[#changes + 1] = c
    changes[#changes + 1] = ''
    redis.call('HSET', hash, c, j)
    redis.call('ZADD', expiry, now + ms, member(aor, c))
    live[c] = { c = c, json = j, expiresAt = now + ms, refreshedAt = now, callId = callId,
                cseq = cseq }
    adding[c] = true
    if flow then
      redis.call('SADD', flow, member(aor, c))
      if redis.call('PTTL', flow) < ms + grace then redis.call('PEXPIRE', flow, ms + grace) end
    end
  end
end

local list = {}
for _, b in pairs(live) do list[#list + 1] = b end
if #list > cap then
  local candidates = {}
  for _, b in ipairs(list) do if not adding[b.c] then candidates[#candidates + 1] = b end end
  table.sort(candidates, function(x, y)
    if x.expiresAt ~= y.expiresAt then return x.expiresAt < y.expiresAt end
    if x.refreshedAt ~= y.refreshedAt then return x.refreshedAt < y.refreshedAt end
    return x.c < y.c
  end)
  for k = 1, math.min(#list - cap, #candidates) do drop(candidates[k].c, 'over-cap') end
end

local out = {}
for _, b in pairs(live) do
  out[#out + 1] = b.json
  if b.expiresAt > keepUntil then keepUntil = b.expiresAt end
end
if keepUntil > 0 then redis.call('PEXPIRE', hash, keepUntil + grace - now) end
return { 1, out, changes }
`);

// KEYS: 1 the expiry zset. ARGV: key prefix of AOR hashes, now, limit.
const ALL = new RedisScript(`${MEMBER_LUA}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf', 'LIMIT', 0, ARGV[3])
local out = {}
for _, m in ipairs(members) do
  local a, c = split(m)
  local j = redis.call('HGET', ARGV[1] .. a, c)
  if j then out[#out + 1] = j end
end
return out
`);

// KEYS: 1 the expiry zset. ARGV: key prefix of AOR hashes, now, batch size.
const PURGE = new RedisScript(`${MEMBER_LUA}
local now = tonumber(ARGV[2])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
local out = {}
for _, m in ipairs(members) do
  redis.call('ZREM', KEYS[1], m)
  local a, c = split(m)
  local hash = ARGV[1] .. a
  local j = redis.call('HGET', hash, c)
  if j and cjson.decode(j).expiresAt <= now then
    redis.call('HDEL', hash, c)
    out[#out + 1] = j
  end
end
return out
`);

// KEYS: 1 the flow set, 2 the expiry zset. ARGV: key prefix of AOR hashes, node, connection id.
const REMOVE_FLOW = new RedisScript(`${MEMBER_LUA}
local removed = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local a, c = split(m)
  local hash = ARGV[1] .. a
  local j = redis.call('HGET', hash, c)
  if j then
    local f = cjson.decode(j).flow
    if f and f.node == ARGV[2] and f.connectionId == ARGV[3] then
      redis.call('HDEL', hash, c)
      redis.call('ZREM', KEYS[2], m)
      removed = removed + 1
    end
  end
end
redis.call('DEL', KEYS[1])
return removed
`);

export interface RedisLocationStoreOptions extends RedisConnectionOptions {
  /** Key prefix (default 'trapezoid:'). */
  prefix?: string;
  /**
   * How long an expired binding stays in its AOR hash for purgeExpired() to report it
   * (default 60 s); lookups never return it.
   */
  graceMs?: number;
}

/** Bindings purgeExpired() takes per call at most (the rest on the next call). */
const PURGE_BATCH = 1000;

function parse(json: string): StoredBinding {
  return JSON.parse(json) as StoredBinding;
}

export class RedisLocationStore implements LocationStore {
  private readonly keys: RedisKeys;
  private readonly graceMs: number;

  /** Uses `client` (shared with other stores; not closed by close() unless `owned`). */
  constructor(
    private readonly client: RedisClient,
    opts: RedisLocationStoreOptions = {},
    private readonly owned = false,
  ) {
    this.keys = new RedisKeys(opts.prefix);
    this.graceMs = opts.graceMs ?? 60_000;
  }

  /** A store on its own connection to `url`. */
  static async open(
    url: string,
    opts: RedisLocationStoreOptions = {},
  ): Promise<RedisLocationStore> {
    return new RedisLocationStore(await connectRedis(url, opts), opts, true);
  }

  async register(u: RegistrationUpdate): Promise<RegistrationOutcome> {
    const keys = [this.keys.aor(u.aor), this.keys.bindingExpiry];
    if (u.flow.connectionId !== undefined)
      keys.push(this.keys.flow(u.flow.node, u.flow.connectionId));
    const args: Array<string | number> = [
      u.now,
      u.callId,
      u.cseq,
      u.removeAll ? 1 : 0,
      u.maxBindings,
      this.graceMs,
      u.aor,
      u.removeAll ? 0 : u.contacts.length,
    ];
    for (const c of u.removeAll ? [] : u.contacts) {
      const b = storedBinding(u, c);
      args.push(c.contact, c.expires * 1000, c.expires === 0 ? '' : JSON.stringify(b));
    }
    const reply = (await REGISTER.run(this.client, keys, args)) as [0] | [1, string[], string[]];
    if (reply[0] === 0) return { ok: false, reason: 'out-of-order' };
    const [, jsons, flat] = reply;
    const changes: BindingChangeRecord[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const action = flat[i] as BindingChangeRecord['action'];
      const change: BindingChangeRecord = { action, contact: flat[i + 1]! };
      if (action === 'removed') change.reason = flat[i + 2] as 'unregistered' | 'over-cap';
      changes.push(change);
    }
    return { ok: true, bindings: orderedBindings(jsons.map(parse)), changes };
  }

  async lookup(aor: string, now: number): Promise<Binding[]> {
    const jsons = await this.client.hVals(this.keys.aor(aor));
    return orderedBindings(jsons.map(parse).filter((b) => b.expiresAt > now));
  }

  async all(now: number, limit = 10_000): Promise<Binding[]> {
    const jsons = (await ALL.run(
      this.client,
      [this.keys.bindingExpiry],
      [this.keys.aor(''), now, limit],
    )) as string[];
    const byAor = new Map<string, StoredBinding[]>();
    for (const b of jsons.map(parse)) {
      if (b.expiresAt <= now) continue;
      const list = byAor.get(b.aor) ?? [];
      list.push(b);
      byAor.set(b.aor, list);
    }
    return [...byAor.keys()].sort().flatMap((aor) => orderedBindings(byAor.get(aor)!));
  }

  async purgeExpired(now: number): Promise<Binding[]> {
    const jsons = (await PURGE.run(
      this.client,
      [this.keys.bindingExpiry],
      [this.keys.aor(''), now, PURGE_BATCH],
    )) as string[];
    return jsons.map((j) => toBinding(parse(j)));
  }

  async removeFlow(node: string, connectionId: string): Promise<number> {
    return (await REMOVE_FLOW.run(
      this.client,
      [this.keys.flow(node, connectionId), this.keys.bindingExpiry],
      [this.keys.aor(''), node, connectionId],
    )) as number;
  }

  /** Closes the connection if this store opened it (once; later calls do nothing). */
  async close(): Promise<void> {
    if (!this.owned || !this.client.isOpen) return;
    await this.client.close();
  }
}
