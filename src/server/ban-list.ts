// Temporarily banned source addresses. A ban names why it was given and counts the requests it
// dropped; it ends by itself at `until`. The list is bounded: expired bans are pruned as time
// goes by, and when it is full the ban closest to its end makes room.
//
// In a cluster the list is this node's copy of the shared bans (SecurityStore): bans from other
// nodes are applied as they are heard (`apply`, `lift`), and `reconcile` makes the copy equal to
// a snapshot of the store without undoing what changed here after the snapshot was asked for
// (every change bumps `version`; the caller notes it before reading the store).

import type { BanReason, StoredBan } from '../store/stores.ts';

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
  /** Requests dropped because of this ban so far (on this node). */
  count: number;
  /** The node that issued it (only when bans are shared between nodes). */
  node?: string;
}

/** A ban to apply: its end is absolute (ms since the epoch). */
export interface BanEntryInput {
  reason: BanReason;
  until: number;
  user?: string;
  node?: string;
}

interface BanEntry extends BanEntryInput {
  since: number;
  count: number;
  /** `version` of the list when this entry was last set or extended. */
  version: number;
}

export interface BanListOptions {
  /** Addresses banned at most at once (default 10 000). */
  maxBans?: number;
  /** Remember lifts for `reconcile` (bans shared through a store). */
  shared?: boolean;
}

export class BanList {
  private readonly bans = new Map<string, BanEntry>();
  private readonly maxBans: number;
  /** Shared lists: address -> version of its lift, forgotten once a reconcile has seen it. */
  private readonly lifted: Map<string, number> | undefined;
  private lastPrune = -Infinity;
  private changes = 0;

  /** `maxBans` (a number, as before) or options. */
  constructor(opts: number | BanListOptions = {}) {
    const o = typeof opts === 'number' ? { maxBans: opts } : opts;
    this.maxBans = o.maxBans ?? 10_000;
    this.lifted = o.shared ? new Map() : undefined;
  }

  /**
   * Bans `address` until now + seconds (an existing ban is extended, never shortened). True when
   * the ban is new or longer than before.
   */
  ban(address: string, reason: BanReason, seconds: number, now: number, user?: string): boolean {
    return this.apply(address, { reason, until: now + seconds * 1000, user }, now);
  }

  /** Bans `address` until `ban.until` (extended, never shortened). True when something changed. */
  apply(address: string, ban: BanEntryInput, now: number): boolean {
    if (ban.until <= now) return false;
    const existing = this.bans.get(address);
    if (existing && existing.until > now) {
      if (ban.until <= existing.until) return false;
      existing.until = ban.until;
      existing.reason = ban.reason;
      existing.user = ban.user;
      existing.node = ban.node;
      existing.version = ++this.changes;
      return true;
    }
    if (!existing && this.bans.size >= this.maxBans) this.makeRoom(now);
    this.bans.set(address, {
      reason: ban.reason,
      user: ban.user,
      node: ban.node,
      until: ban.until,
      since: now,
      count: 0,
      version: ++this.changes,
    });
    return true;
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
    const had = this.bans.delete(address);
    if (this.lifted) this.lifted.set(address, ++this.changes);
    return had;
  }

  /** Counts every change (ban, extension, lift): note it before asking the store for a snapshot. */
  get version(): number {
    return this.changes;
  }

  /**
   * Makes the list equal to `stored` (the store's bans, read after `version` was `since`):
   * applies the stored bans, except on addresses lifted here since; lifts the bans set here up
   * to `since` that the store does not hold, except those `keep` names (not written yet).
   */
  reconcile(
    stored: readonly StoredBan[],
    since: number,
    now: number,
    keep: (address: string) => boolean = () => false,
  ): { applied: number; lifted: number } {
    let applied = 0;
    let lifted = 0;
    const inStore = new Set<string>();
    for (const b of stored) {
      inStore.add(b.source);
      if ((this.lifted?.get(b.source) ?? -1) > since) continue;
      const input: BanEntryInput = { reason: b.reason, until: b.until, node: b.node };
      if (b.user !== undefined) input.user = b.user;
      if (this.apply(b.source, input, now)) applied++;
    }
    for (const [address, e] of this.bans) {
      if (e.version <= since && !inStore.has(address) && !keep(address)) {
        this.bans.delete(address);
        lifted++;
      }
    }
    if (this.lifted)
      for (const [address, v] of this.lifted) if (v <= since) this.lifted.delete(address);
    return { applied, lifted };
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
        ...(e.node !== undefined ? { node: e.node } : {}),
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
