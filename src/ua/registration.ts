// Registration (RFC 3261 §10.2): binds our Contact to our address-of-record at a registrar,
// refreshes the binding before it expires, and removes it (Expires: 0) on unregister.
//
// Refresh: when 90% of the granted time has passed, but never later than 5 s before expiry
// (and never sooner than 1 s). One Call-ID for every REGISTER of this registration, CSeq + 1
// each time (§10.2.4). 423 Interval Too Brief is retried once with the Min-Expires asked.
import { EventEmitter } from 'node:events';
import { newCallId, newTag, SipRequest, type SipResponse } from '../sip/index.ts';
import type { Endpoint } from '../transport/index.ts';
import type { UacCore } from './uac-core.ts';

export interface RegistrationEvents {
  /** A 2xx to a REGISTER (first or refresh), with the granted expiry in seconds. */
  registered: [{ expires: number; response: SipResponse }];
  unregistered: [SipResponse];
  /** A REGISTER (first or refresh) that failed, with its final response (local 408/503 too). */
  failed: [SipResponse];
}

export interface RegistrationContext {
  readonly uac: UacCore;
  contact(protocol: Endpoint['protocol']): string;
  commonHeaders(): [string, string][];
  proxyRoute(): string[];
}

export class RegistrationError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly response: SipResponse,
  ) {
    super(`registration failed: ${status} ${reason}`);
    this.name = 'RegistrationError';
  }
}

/** Seconds after a successful REGISTER at which to refresh it. */
export function refreshDelay(granted: number): number {
  return Math.max(1, Math.min(granted * 0.9, granted - 5));
}

export class Registration extends EventEmitter<RegistrationEvents> {
  /** Expiry the registrar granted last (seconds); 0 when not registered. */
  expires = 0;
  private readonly callId = newCallId();
  private cseq = 0;
  private timer: NodeJS.Timeout | undefined;
  private requested: number;
  private contactValue = '';

  constructor(
    private readonly ctx: RegistrationContext,
    /** Address-of-record (To and From). */
    readonly aor: string,
    /** Request-URI: the registrar's domain. */
    readonly registrar: string,
    expires: number,
  ) {
    super();
    this.requested = expires;
  }

  get registered(): boolean {
    return this.expires > 0;
  }

  /** Registers (or refreshes now); resolves with the 2xx, rejects with RegistrationError. */
  async register(): Promise<SipResponse> {
    this.clearTimer();
    let res = await this.send(this.requested);
    if (res.status === 423 && res.minExpires !== undefined) {
      this.requested = res.minExpires;
      res = await this.send(this.requested);
    }
    if (res.status >= 200 && res.status < 300) {
      this.expires = this.grantedExpiry(res);
      if (this.expires > 0) this.schedule(refreshDelay(this.expires));
      this.emit('registered', { expires: this.expires, response: res });
      return res;
    }
    this.expires = 0;
    this.emit('failed', res);
    throw new RegistrationError(res.status, res.reason, res);
  }

  /** Removes our binding (Expires: 0) and stops refreshing. */
  async unregister(): Promise<SipResponse> {
    this.clearTimer();
    const res = await this.send(0);
    this.expires = 0;
    if (res.status >= 200 && res.status < 300) this.emit('unregistered', res);
    return res;
  }

  /** Stops refreshing without telling the registrar. */
  stop(): void {
    this.clearTimer();
  }

  private async send(expires: number): Promise<SipResponse> {
    this.cseq += 1;
    const headers: [string, string][] = [
      ['Max-Forwards', '70'],
      ['From', `<${this.aor}>;tag=${newTag()}`],
      ['To', `<${this.aor}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${this.cseq} REGISTER`],
    ];
    for (const r of this.ctx.proxyRoute()) headers.push(['Route', r]);
    const request = new SipRequest('REGISTER', this.registrar, headers);
    const dest = (await this.ctx.uac.destinations(request).catch(() => []))[0];
    this.contactValue = this.ctx.contact(dest?.protocol ?? 'udp');
    request.append('Contact', this.contactValue);
    request.append('Expires', String(expires));
    for (const [n, v] of this.ctx.commonHeaders()) request.append(n, v);
    const result = await this.ctx.uac.send(request);
    this.cseq = Math.max(this.cseq, result.request.cseq.seq);
    return result.response;
  }

  /** Our binding's expiry in a 2xx: its Contact's expires, else Expires, else what we asked. */
  private grantedExpiry(res: SipResponse): number {
    const ours = /<([^>]*)>/.exec(this.contactValue)?.[1] ?? this.contactValue;
    const mine = res.contact.find((c) => !c.star && sameBinding(ours, c.uri));
    if (mine?.expires !== undefined) return mine.expires;
    if (res.contact.length === 1 && res.contact[0].expires !== undefined)
      return res.contact[0].expires;
    return res.expires ?? this.requested;
  }

  private schedule(seconds: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.register().catch(() => {
        // Failed refresh: 'failed' was emitted; try again in a while.
        this.schedule(Math.min(30, Math.max(1, this.requested / 2)));
      });
    }, seconds * 1000);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function sameBinding(
  ours: string,
  theirs: { user?: string; host: string; port?: number },
): boolean {
  const m = /^sips?:(?:([^@;]*)@)?([^;?]+)/i.exec(ours);
  if (!m) return false;
  const hostPort = m[2];
  const [host, port] = hostPort.startsWith('[')
    ? [hostPort.slice(0, hostPort.indexOf(']') + 1), hostPort.slice(hostPort.indexOf(']') + 2)]
    : hostPort.split(':');
  return (
    (m[1] ?? undefined) === (theirs.user ?? undefined) &&
    host.toLowerCase() === theirs.host.toLowerCase() &&
    (port ? Number(port) : undefined) === theirs.port
  );
}
