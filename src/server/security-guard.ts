// The call server's defences (config `security`), consulted by CallServer for every request and
// after every digest check:
//
//   scanner      a User-Agent containing one of security.scannerUserAgents (case-insensitive) is
//                dropped silently: sipvicious and friends get no answer, so they find nothing.
//                Applies to every source, trusted ones included. Told to `log`: the first drop
//                from each address, then how many more at most once a minute (on the next drop),
//                and never more than SCANNER_LOG_LINES lines a minute in all (the rest counted in
//                one line), so a scan, even from many addresses, cannot flood the log.
//                Monitoring tools (sipsak, Nagios' check_sip) are not in the default list.
//   rate limit   more than rateLimit.requests requests in rateLimit.perSeconds from one address
//                (sliding window, like Kamailio's pike) bans the address for rateLimit.banSeconds.
//   brute force  bruteForce.maxFailures failed authentications within windowSeconds
//                - from one address ban that address for bruteForce.banSeconds;
//                - against one user put that user "under attack" for banSeconds: the addresses
//                  that failed against it in the window are banned, and so is any address that
//                  fails against it while it is under attack, at its first failure.
//                An address from which the user authenticated successfully (within windowSeconds
//                or banSeconds, whichever is longer) is never banned by the user rule: a phone that
//                mistyped once is not locked out because someone else attacks its account. It is
//                still banned by the per-address rule if it fails maxFailures times itself.
//                A success never resets a failure count (one valid account must not buy unlimited
//                guesses at another).
//   trusted      security.trustedSources ('address' or 'address:port') are never rate-limited
//                nor banned.
//
// Bans are by address (every port): an attacker changing ports stays banned. Banned requests are
// dropped without an answer. Memory is bounded: caps on tracked addresses, users and bans, and
// stale entries pruned as time passes (no timers: pruning happens on the calls themselves).
//
// Shared bans (a cluster; options `store` and `node`): every ban this guard issues is also
// written to the SecurityStore, and the guard applies the bans and unbans of every node to its
// own list as the store announces them (onBanChange, within about a second), so admit() stays
// synchronous and reads memory only. Announcements can be missed (a Redis subscriber that
// reconnects misses what was said meanwhile), so start() and then every resyncMs the list is
// reconciled with store.bans(now). A write the store refused is retried at the next resync; the
// local ban holds meanwhile. The counters (rate, failures, users under attack) stay per node.
import { formatHostPort, scannerAgentIn, type SipRequest } from '../sip/index.ts';
import { formatEndpoint, type Endpoint, type InboundMessage } from '../transport/index.ts';
import type { RequestGuard } from './call-server.ts';
import type { ServerConfig } from './config.ts';
import type { SecurityStore, StoredBan } from '../store/stores.ts';
import { BanList, type Ban } from './ban-list.ts';
import { RateLimiter } from './rate-limiter.ts';
import { silentLogger, type Logger } from './server-log.ts';

export type SecurityConfig = ServerConfig['security'];

export interface SecurityGuardOptions {
  /** Clock in ms (tests inject one). */
  now?: () => number;
  /** Addresses (and users) tracked at most by each counter (default 10 000). */
  maxTracked?: number;
  /** Bans held at most (default 10 000). */
  maxBans?: number;
  /** Told about every new ban (`ban`), users under attack (`user.attacked`) and, rate-limited, scanner drops (`scanner`). */
  logger?: Logger;
  /** Shares bans with every node through this store (see the file comment); call start(). */
  store?: SecurityStore;
  /** This node's id, written into the bans it issues (default 'local'). */
  node?: string;
  /** How often the bans are reconciled with the store (ms, default 5000). */
  resyncMs?: number;
}

/** What the guard did since it started. */
export interface SecurityStats {
  /** Requests looked at. */
  seen: number;
  admitted: number;
  droppedBanned: number;
  droppedScanner: number;
  droppedRate: number;
  authFailures: number;
  bansIssued: number;
}

/** Per attacked user: failing addresses in the window, and addresses it succeeded from. */
interface UserRecord {
  underAttackUntil: number;
  failedFrom: Map<string, number>;
  succeededFrom: Map<string, number>;
}

const MAX_ADDRESSES_PER_USER = 64;

/** Bans are reconciled with the store this often by default (ms). */
const RESYNC_MS = 5000;

/** Scanner drops are reported per address at most once in this interval (ms) ... */
const SCANNER_LOG_INTERVAL_MS = 60_000;
/** ... and in all at most this many lines per interval. */
const SCANNER_LOG_LINES = 10;

/** A scanning address: when it was last reported and the drops since. */
interface ScannerRecord {
  reportedAt: number;
  unreported: number;
}

export class SecurityGuard implements RequestGuard {
  readonly stats: SecurityStats = {
    seen: 0,
    admitted: 0,
    droppedBanned: 0,
    droppedScanner: 0,
    droppedRate: 0,
    authFailures: 0,
    bansIssued: 0,
  };
  private readonly banList: BanList;
  private readonly requests: RateLimiter;
  private readonly sourceFailures: RateLimiter;
  private readonly userFailures: RateLimiter;
  private readonly users = new Map<string, UserRecord>();
  private readonly scanners: string[];
  private readonly trusted: Set<string>;
  private readonly now: () => number;
  private readonly maxTracked: number;
  private readonly log: Logger;
  /** How long a successful source stays protected from user-rule bans (ms). */
  private readonly goodSourceMs: number;
  private readonly scannerSources = new Map<string, ScannerRecord>();
  /** The scanner log's budget: lines written and withheld in the current interval. */
  private scannerLog = { since: -Infinity, lines: 0, withheld: 0 };
  private readonly store: SecurityStore | undefined;
  private readonly node: string;
  private readonly resyncMs: number;
  private readonly maxBans: number;
  /** Store writes under way (a resync waits for them before it reads). */
  private readonly writes = new Set<Promise<void>>();
  /** Bans issued here that the store refused (at most maxBans): written again at the next resync. */
  private readonly unsynced = new Map<string, StoredBan>();
  private stopListening: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncing: Promise<void> | undefined;
  /** Whether the last store operation failed (its failure was logged once). */
  private storeFailing = false;

  constructor(
    private readonly config: SecurityConfig,
    opts: SecurityGuardOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxTracked = opts.maxTracked ?? 10_000;
    this.log = opts.logger ?? silentLogger();
    this.store = opts.store;
    this.node = opts.node ?? 'local';
    this.resyncMs = opts.resyncMs ?? RESYNC_MS;
    this.maxBans = opts.maxBans ?? 10_000;
    this.banList = new BanList({ maxBans: opts.maxBans, shared: opts.store !== undefined });
    this.requests = new RateLimiter({
      windowMs: config.rateLimit.perSeconds * 1000,
      maxKeys: this.maxTracked,
    });
    const failureWindow = { windowMs: config.bruteForce.windowSeconds * 1000 };
    this.sourceFailures = new RateLimiter({ ...failureWindow, maxKeys: this.maxTracked });
    this.userFailures = new RateLimiter({ ...failureWindow, maxKeys: this.maxTracked });
    this.scanners = config.scannerUserAgents.map((s) => s.toLowerCase());
    this.trusted = new Set(config.trustedSources.map(normalizeSource));
    this.goodSourceMs =
      Math.max(config.bruteForce.windowSeconds, config.bruteForce.banSeconds) * 1000;
  }

  admit(req: SipRequest, inbound: InboundMessage): boolean {
    this.stats.seen++;
    if (this.isScanner(req)) {
      this.stats.droppedScanner++;
      this.reportScanner(req, inbound.source);
      return false;
    }
    const source = inbound.source;
    if (this.isTrusted(source)) {
      this.stats.admitted++;
      return true;
    }
    const now = this.now();
    if (this.banList.check(source.address, now)) {
      this.stats.droppedBanned++;
      return false;
    }
    const rate = this.config.rateLimit;
    if (this.requests.hit(source.address, now) > rate.requests) {
      this.stats.droppedRate++;
      this.requests.forget(source.address);
      this.ban(source.address, 'rate-limit', rate.banSeconds, now);
      return false;
    }
    this.stats.admitted++;
    return true;
  }

  authFailed(source: Endpoint, user: string | undefined): void {
    this.stats.authFailures++;
    if (this.isTrusted(source)) return;
    const now = this.now();
    const bf = this.config.bruteForce;
    const address = source.address;
    if (this.sourceFailures.hit(address, now) >= bf.maxFailures) {
      this.sourceFailures.forget(address);
      this.ban(address, 'brute-force', bf.banSeconds, now, user);
    }
    if (user === undefined) return;
    const record = this.userRecord(user, now);
    touch(record.failedFrom, address, now);
    if (record.underAttackUntil > now) {
      // Under attack: whoever fails against this user now is banned at once.
      if (!this.succeededRecently(record, address, now))
        this.ban(address, 'user-under-attack', bf.banSeconds, now, user);
      return;
    }
    if (this.userFailures.hit(user, now) >= bf.maxFailures) {
      this.userFailures.forget(user);
      record.underAttackUntil = now + bf.banSeconds * 1000;
      this.log.warn(
        { event: 'user.attacked', user, failures: bf.maxFailures, seconds: bf.banSeconds },
        `security: user ${user} under attack (${bf.maxFailures} failures)`,
      );
      const windowStart = now - bf.windowSeconds * 1000;
      for (const [from, at] of record.failedFrom) {
        if (at >= windowStart && !this.succeededRecently(record, from, now))
          this.ban(from, 'user-under-attack', bf.banSeconds, now, user);
      }
    }
  }

  authSucceeded(source: Endpoint, user: string): void {
    const now = this.now();
    touch(this.userRecord(user, now).succeededFrom, source.address, now);
  }

  /** Bans in force now (for /api/bans and the metrics gauge). */
  bans(): Ban[] {
    return this.banList.list(this.now());
  }

  /** Whether an address is banned now. */
  isBanned(address: string): boolean {
    return this.banList.has(address, this.now());
  }

  /**
   * Lifts the ban on an address (an operator's decision): here at once and, with a store, on
   * every node (written in the background; a failure is logged). True when this node held a ban.
   */
  unban(address: string): boolean {
    const had = this.banList.lift(address);
    this.unsynced.delete(address);
    if (this.store) {
      const store = this.store;
      this.track(
        store.unban(address).then(
          () => this.storeOk(),
          (err: unknown) => this.storeFailed('unban', err),
        ),
      );
    }
    return had;
  }

  /**
   * Lifts the ban on an address on every node and says whether there was one here or in the
   * store; rejects when the store cannot be reached (the local ban is lifted all the same).
   */
  async liftBan(address: string): Promise<boolean> {
    const had = this.banList.lift(address);
    this.unsynced.delete(address);
    if (!this.store) return had;
    const shared = await this.store.unban(address);
    return had || shared;
  }

  /**
   * With a store: listens to every node's bans and unbans, reconciles with the store's bans
   * once (rejects when the store cannot be reached), then every resyncMs. Without one: nothing.
   */
  async start(): Promise<void> {
    const store = this.store;
    if (!store || this.stopListening) return;
    this.stopListening = await store.onBanChange((c) => this.heard(c));
    try {
      await this.resync();
    } catch (err) {
      this.stopListening();
      this.stopListening = undefined;
      throw err;
    }
    this.resyncTimer = setInterval(() => {
      this.resync().catch((err: unknown) => this.storeFailed('resync', err));
    }, this.resyncMs);
    this.resyncTimer.unref();
  }

  /** Stops listening and resyncing and waits for the store writes under way (it closes nothing). */
  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    this.stopListening?.();
    this.stopListening = undefined;
    await Promise.allSettled([...this.writes, this.resyncing]);
  }

  /**
   * Makes this node's bans those of the store: writes again the bans the store refused, then
   * reads store.bans(now) and applies them, lifting the ones the store no longer has (an unban
   * whose announcement was missed). One at a time; rejects when the store cannot be reached.
   */
  resync(): Promise<void> {
    this.resyncing ??= this.reconcile().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async reconcile(): Promise<void> {
    const store = this.store;
    if (!store) return;
    for (const [address, ban] of [...this.unsynced]) {
      await store.ban(ban);
      if (this.unsynced.get(address) === ban) this.unsynced.delete(address);
    }
    // Every change up to `since` has its write issued: wait for them, then read the store.
    const since = this.banList.version;
    await Promise.allSettled([...this.writes]);
    const now = this.now();
    const stored = await store.bans(now);
    const { applied, lifted } = this.banList.reconcile(stored, since, now, (address) =>
      this.unsynced.has(address),
    );
    this.storeOk();
    if (applied + lifted > 0)
      this.log.debug(
        { event: 'bans.resync', applied, lifted },
        `security: ${applied} bans applied and ${lifted} lifted from the shared store`,
      );
  }

  /** A ban or unban announced by the store (from any node, this one included). */
  private heard(change: { action: 'ban' | 'unban'; ban: StoredBan | { source: string } }): void {
    const source = change.ban.source;
    if (change.action === 'unban') {
      this.banList.lift(source);
      this.unsynced.delete(source);
      return;
    }
    const ban = change.ban as StoredBan;
    if (typeof ban.until !== 'number' || typeof ban.reason !== 'string') return;
    const input: Parameters<BanList['apply']>[1] = {
      reason: ban.reason,
      until: ban.until,
      node: ban.node,
    };
    if (ban.user !== undefined) input.user = ban.user;
    this.banList.apply(source, input, this.now());
  }

  private track(write: Promise<void>): void {
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  private storeOk(): void {
    if (!this.storeFailing) return;
    this.storeFailing = false;
    this.log.info({ event: 'bans.store', ok: true }, 'security: shared ban store reachable again');
  }

  private storeFailed(what: string, err: unknown): void {
    if (this.storeFailing) return;
    this.storeFailing = true;
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn(
      { event: 'bans.store', ok: false, op: what, err: message },
      `security: shared ban store failed (${what}: ${message}); bans apply on this node, retried every ${Math.round(this.resyncMs / 1000)} s`,
    );
  }

  /** Users tracked now (bounded by maxTracked). */
  get trackedUsers(): number {
    return this.users.size;
  }

  /** Addresses whose request rate is tracked now (bounded by maxTracked). */
  get trackedSources(): number {
    return this.requests.size;
  }

  private ban(
    address: string,
    reason: Ban['reason'],
    seconds: number,
    now: number,
    user?: string,
  ): void {
    const wasBanned = this.banList.has(address, now);
    const changed = this.banList.ban(address, reason, seconds, now, user);
    if (changed && this.store) this.share(address, reason, now + seconds * 1000, user);
    if (wasBanned) return;
    this.stats.bansIssued++;
    this.log.warn(
      { event: 'ban', source: address, reason, seconds, ...(user !== undefined ? { user } : {}) },
      `security: banned ${address} for ${seconds} s (${reason}${user !== undefined ? ` on user ${user}` : ''})`,
    );
  }

  /** Writes a ban this node issued to the store, in the background. */
  private share(source: string, reason: Ban['reason'], until: number, user?: string): void {
    const ban: StoredBan = { source, reason, until, node: this.node };
    if (user !== undefined) ban.user = user;
    const store = this.store!;
    this.track(
      store.ban(ban).then(
        () => {
          if (this.unsynced.get(source) === ban) this.unsynced.delete(source);
          this.storeOk();
        },
        (err: unknown) => {
          this.unsynced.delete(source);
          if (this.unsynced.size >= this.maxBans) {
            const oldest = this.unsynced.keys().next();
            if (!oldest.done) this.unsynced.delete(oldest.value);
          }
          this.unsynced.set(source, ban);
          this.storeFailed('ban', err);
        },
      ),
    );
  }

  private isScanner(req: SipRequest): boolean {
    if (this.scanners.length === 0) return false;
    const ua = req.userAgent;
    return ua ? scannerAgentIn(ua, this.scanners) !== undefined : false;
  }

  /** Logs a scanner drop: the first from an address, then counts (see the file comment). */
  private reportScanner(req: SipRequest, source: Endpoint): void {
    const now = this.now();
    const address = source.address;
    const userAgent = (req.userAgent ?? '').slice(0, 80);
    const ua = JSON.stringify(userAgent);
    let record = this.scannerSources.get(address);
    if (record) {
      this.scannerSources.delete(address); // re-inserted below: the map's order is recency
      record.unreported++;
      if (now - record.reportedAt >= SCANNER_LOG_INTERVAL_MS) {
        const seconds = Math.round((now - record.reportedAt) / 1000);
        this.scannerLine(
          now,
          { source: address, userAgent, dropped: record.unreported },
          `security: scanner ${address}: ${record.unreported} more ${record.unreported === 1 ? 'request' : 'requests'} dropped in the last ${seconds} s (User-Agent ${ua})`,
        );
        record.reportedAt = now;
        record.unreported = 0;
      }
    } else {
      if (this.scannerSources.size >= this.maxTracked) {
        const oldest = this.scannerSources.keys().next();
        if (!oldest.done) this.scannerSources.delete(oldest.value);
      }
      record = { reportedAt: now, unreported: 0 };
      this.scannerLine(
        now,
        { source: formatEndpoint(source), userAgent, method: req.method.slice(0, 20), dropped: 1 },
        `security: dropped ${req.method.slice(0, 20)} from scanner ${formatEndpoint(source)} (User-Agent ${ua}); more from ${address} are counted, reported at most once a minute`,
      );
    }
    this.scannerSources.set(address, record);
  }

  private scannerLine(now: number, fields: Record<string, unknown>, line: string): void {
    const budget = this.scannerLog;
    if (now - budget.since >= SCANNER_LOG_INTERVAL_MS) {
      if (budget.withheld > 0)
        this.log.warn(
          { event: 'scanner', withheld: budget.withheld },
          `security: ${budget.withheld} more scanner reports withheld in the last minute (trapezoid_security_dropped_total counts every drop)`,
        );
      this.scannerLog = { since: now, lines: 0, withheld: 0 };
    }
    if (this.scannerLog.lines < SCANNER_LOG_LINES) {
      this.scannerLog.lines++;
      this.log.warn({ event: 'scanner', ...fields }, line);
    } else {
      this.scannerLog.withheld++;
    }
  }

  private isTrusted(source: Endpoint): boolean {
    if (this.trusted.size === 0) return false;
    const address = source.address.toLowerCase();
    return this.trusted.has(address) || this.trusted.has(formatHostPort(address, source.port));
  }

  private succeededRecently(record: UserRecord, address: string, now: number): boolean {
    const at = record.succeededFrom.get(address);
    return at !== undefined && now - at < this.goodSourceMs;
  }

  /** The user's record; the least recently touched user is forgotten when there are too many. */
  private userRecord(user: string, now: number): UserRecord {
    let record = this.users.get(user);
    if (record) {
      this.users.delete(user);
    } else {
      if (this.users.size >= this.maxTracked) this.pruneUsers(now);
      record = { underAttackUntil: 0, failedFrom: new Map(), succeededFrom: new Map() };
    }
    this.users.set(user, record);
    return record;
  }

  private pruneUsers(now: number): void {
    const failWindow = this.config.bruteForce.windowSeconds * 1000;
    for (const [user, r] of this.users) {
      const lastFailure = Math.max(0, ...r.failedFrom.values());
      const lastSuccess = Math.max(0, ...r.succeededFrom.values());
      if (
        r.underAttackUntil <= now &&
        now - lastFailure >= failWindow &&
        now - lastSuccess >= this.goodSourceMs
      )
        this.users.delete(user);
    }
    if (this.users.size >= this.maxTracked) {
      const oldest = this.users.keys().next();
      if (!oldest.done) this.users.delete(oldest.value);
    }
  }
}

/** Records `address` as seen at `now` in a small bounded map (oldest forgotten first). */
function touch(map: Map<string, number>, address: string, now: number): void {
  map.delete(address);
  if (map.size >= MAX_ADDRESSES_PER_USER) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(address, now);
}

/** 'Address' or 'address:port' as written in the config, lower-cased; '[v6]:port' kept bracketed. */
function normalizeSource(s: string): string {
  const t = s.trim().toLowerCase();
  if (t.startsWith('[') && t.endsWith(']')) return t.slice(1, -1); // '[::1]' = '::1'
  return t;
}
