// The digest nonce keys of one node, shared with every other node through the SecurityStore:
// SecurityStore.secrets(name, rotateMs, keep) read at start and every refreshMs, held here so
// that DigestAuthenticator reads them synchronously (`keys`) and refreshes at once when a nonce
// names a key this node has not seen yet (`refresh`, another node rotated first).
//
// How many keys to keep: key i is the newest for rotateMs; a node may still sign with it until
// its next refresh (refreshMs later), and a nonce it signs then is usable for nonceTtlMs more.
// Key i leaves the list when key i+keep is made, at least (keep - 1) * rotateMs after key i+1:
//
//   keep = 1 + ceil((refreshMs + nonceTtlMs) / rotateMs)
//
// so a nonce is never refused as "not ours" while it could still be fresh.
import type { KeyedSecret, SecurityStore } from '../store/stores.ts';

export interface DigestKeyRingOptions {
  /** The secrets' name in the store (default 'digest'). */
  name?: string;
  /** A new key is made when the newest is this old (ms). */
  rotateMs: number;
  /** How long a nonce may be used (the authenticator's nonceTtlSeconds * 1000). */
  nonceTtlMs: number;
  /** How often the keys are read again (ms; default rotateMs / 10, at most 30 s). */
  refreshMs?: number;
  /** Told about each failed refresh (the keys held stay in use). */
  onError?: (err: unknown) => void;
}

export class DigestKeyRing {
  readonly name: string;
  readonly refreshMs: number;
  /** Keys the store keeps for this name. */
  readonly keep: number;
  private held: readonly KeyedSecret[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<SecurityStore, 'secrets'>,
    private readonly opts: DigestKeyRingOptions,
  ) {
    if (!(opts.rotateMs > 0)) throw new Error('DigestKeyRing: rotateMs must be positive');
    this.name = opts.name ?? 'digest';
    this.refreshMs = opts.refreshMs ?? Math.min(30_000, Math.max(1, opts.rotateMs / 10));
    this.keep = 1 + Math.ceil((this.refreshMs + opts.nonceTtlMs) / opts.rotateMs);
  }

  /** Reads the keys (rejects when the store cannot be read), then refreshes every refreshMs. */
  async start(): Promise<void> {
    await this.load();
    this.timer ??= setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The keys held now, newest first (for DigestAuthenticatorOptions.keys). */
  keys(): readonly KeyedSecret[] {
    return this.held;
  }

  /** Reads the keys again (one read at a time); a failure keeps the held keys and is reported. */
  async refresh(): Promise<void> {
    try {
      await this.load();
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private load(): Promise<void> {
    this.inFlight ??= this.store
      .secrets(this.name, this.opts.rotateMs, this.keep)
      .then((keys) => {
        if (keys.length > 0) this.held = keys;
      })
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }
}
