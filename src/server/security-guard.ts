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
import { formatHostPort, scannerAgentIn, type SipRequest } from '../sip/index.ts';
import { formatEndpoint, type Endpoint, type InboundMessage } from '../transport/index.ts';
import type { RequestGuard } from './call-server.ts';
import type { ServerConfig } from './config.ts';
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

  constructor(
    private readonly config: SecurityConfig,
    opts: SecurityGuardOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxTracked = opts.maxTracked ?? 10_000;
    this.log = opts.logger ?? silentLogger();
    this.banList = new BanList(opts.maxBans);
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

  /** Lifts the ban on an address (an operator's decision). */
  unban(address: string): boolean {
    return this.banList.lift(address);
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
    this.banList.ban(address, reason, seconds, now, user);
    if (wasBanned) return;
    this.stats.bansIssued++;
    this.log.warn(
      { event: 'ban', source: address, reason, seconds, ...(user !== undefined ? { user } : {}) },
      `security: banned ${address} for ${seconds} s (${reason}${user !== undefined ? ` on user ${user}` : ''})`,
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
