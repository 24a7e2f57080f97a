// Temporarily banned source addresses. A ban names why it was given and counts the requests it
// dropped; it ends by itself at `until`. The list is bounded: expired bans are pruned as time
// goes by, and when it is full the ban closest to its end makes room.

import type { BanReason } from '../store/stores.ts';

export type { BanReason };

/** A ban as listed on /api/bans. */
export interface Ban {
  /** The banned address (every port of it). */
  source: string;
  reason: BanReason;
  /** The user attacked, for brute-force bans. */
  user?: string;
  /** When the ban ends (ISO 8601). */
  until: string;
  /** Requests dropped because of this ban so far. */
  count: number;
}

interface BanEntry {
  reason: BanReason;
  user?: string;
  since: number;
  until: number;
  count: number;
}

export class BanList {
  private readonly bans = new Map<string, BanEntry>();
  private lastPrune = -Infinity;

  /** `maxBans`: addresses banned at most at once (default 10 000). */
  constructor(private readonly maxBans = 10_000) {}

  /** Bans `address` until now + seconds (an existing ban is extended, never shortened). */
  ban(address: string, reason: BanReason, seconds: number, now: number, user?: string): void {
    const until = now + seconds * 1000;
    const existing = this.bans.get(address);
    if (existing && existing.until > now) {
      if (until > existing.until) {
        existing.until = until;
        existing.reason = reason;
        existing.user = user;
      }
      return;
    }
    if (!existing && this.bans.size >= this.maxBans) this.makeRoom(now);
    this.bans.set(address, { reason, user, since: now, until, count: 0 });
  }

  /** Whether `address` is banned at `now`; a hit counts as one dropped request. */
  check(address: string, now: number): boolean {
    this.prune(now);
    const entry = this.bans.get(address);
    if (!entry) return false;
    if (entry.until <= now) {
      this.bans.delete(address);
      return false;
    }
    entry.count++;
    return true;
  }

  /** Whether `address` is banned at `now` (no counting). */
  has(address: string, now: number): boolean {
    const entry = this.bans.get(address);
    return entry !== undefined && entry.until > now;
  }

  /** Lifts a ban. */
  lift(address: string): boolean {
    return this.bans.delete(address);
  }

  /** Bans in force at `now`, the ones ending last first. */
  list(now: number): Ban[] {
    this.prune(now, true);
    return [...this.bans]
      .sort((a, b) => b[1].until - a[1].until)
      .map(([source, e]) => ({
        source,
        reason: e.reason,
        ...(e.user !== undefined ? { user: e.user } : {}),
        until: new Date(e.until).toISOString(),
        count: e.count,
      }));
  }

  /** Bans held now, expired ones not yet pruned included. */
  get size(): number {
    return this.bans.size;
  }

  /** Drops expired bans (at most once a second unless forced). */
  private prune(now: number, force = false): void {
    if (!force && now - this.lastPrune < 1000) return;
    this.lastPrune = now;
    for (const [address, e] of this.bans) if (e.until <= now) this.bans.delete(address);
  }

  private makeRoom(now: number): void {
    this.prune(now, true);
    if (this.bans.size < this.maxBans) return;
    let soonest: string | undefined;
    let soonestUntil = Infinity;
    for (const [address, e] of this.bans) {
      if (e.until < soonestUntil) {
        soonest = address;
        soonestUntil = e.until;
      }
    }
    if (soonest !== undefined) this.bans.delete(soonest);
  }
}
