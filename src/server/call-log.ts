// The calls the server is carrying and has just carried: for each, the messages it saw (so the
// HTTP API can give a ladder) and the call detail record, written to the store right before the
// final response (or the BYE's 200) leaves, so a crash after a call ended loses no record.
import type { SipRequest, SipResponse } from '../sip/index.ts';
import { formatEndpoint, type Endpoint, type InboundMessage } from '../transport/index.ts';
import type { CdrRecord, Store } from '../store/store.ts';
import type { MediaSummary } from './media-relay-proxy.ts';

/** The media relay as the call log sees it: ends a call's media, summary for the CDR. */
export interface CallMedia {
  end(callId: string): MediaSummary | undefined;
}

export interface LoggedMessage {
  /** Milliseconds since the epoch. */
  ts: number;
  from: string;
  to: string;
  label: string;
  raw: string;
}

export interface ActiveCall {
  callId: string;
  caller: string;
  callee: string;
  dialled: string;
  start: number;
  answer?: number;
  end?: number;
  finalStatus?: number;
  finalReason?: string;
  hungUpBy?: 'caller' | 'callee';
  trunk?: string;
  fromTag?: string;
  /** Where the caller's requests came from, and the downstream side that answered. */
  callerEndpoint?: Endpoint;
  calleeEndpoint?: Endpoint;
  /** Media through the relay, set when the call ended. */
  media?: MediaSummary;
  messages: LoggedMessage[];
}

/** The most messages kept per call, and finished calls kept for /api/calls. */
const MAX_MESSAGES = 200;
const MAX_RECENT = 200;
/** A call with no BYE after this long is dropped from memory (its CDR was never completed). */
const MAX_CALL_AGE_MS = 12 * 3600 * 1000;

function label(m: SipRequest | SipResponse): string {
  return 'method' in m ? m.method : `${m.status} ${m.reason}`;
}

export interface CallHandle {
  onMessage(
    direction: 'downstream' | 'from-downstream' | 'upstream',
    message: SipRequest | SipResponse,
    peer: Endpoint,
    local: Endpoint,
  ): void;
  onFinal(req: SipRequest, res: SipResponse): void;
}

export class CallLog {
  private readonly active = new Map<string, ActiveCall>();
  private readonly recentCalls: ActiveCall[] = [];

  constructor(
    private readonly store: Store,
    private readonly media?: CallMedia,
  ) {}

  get activeCount(): number {
    return this.active.size;
  }

  /** Active calls then recent ones, newest first. */
  list(): ActiveCall[] {
    return [...this.active.values(), ...[...this.recentCalls].reverse()];
  }

  observe(
    req: SipRequest,
    inbound: InboundMessage,
    info: { initial: boolean; dialled?: string; trunk?: string },
  ): CallHandle | undefined {
    let call = this.active.get(req.callId);
    if (!call && info.initial) {
      this.expireOld();
      const from = req.from.uri;
      call = {
        callId: req.callId,
        caller: from.user ? `${from.user}@${from.host}` : from.host,
        callee: req.requestUri.user ?? req.requestUri.host,
        dialled: info.dialled ?? req.requestUri.user ?? '',
        start: Date.now(),
        fromTag: req.from.tag,
        callerEndpoint: inbound.source,
        trunk: info.trunk,
        messages: [],
      };
      this.active.set(req.callId, call);
    }
    if (!call) return undefined;
    this.push(call, formatEndpoint(inbound.source), formatEndpoint(inbound.local), req);
    const c = call;
    return {
      onMessage: (direction, message, peer, local) => {
        const us = formatEndpoint(local);
        const them = formatEndpoint(peer);
        if (direction === 'from-downstream') {
          this.push(c, them, us, message);
          const answered = !('method' in message) && message.status >= 200 && message.status < 300;
          if (answered && message.cseq.method === 'INVITE') c.calleeEndpoint ??= peer;
        } else this.push(c, us, them, message);
      },
      onFinal: (r, res) => this.onFinal(c, r, res),
    };
  }

  /**
   * For an in-dialog request that carries no Route (a UA that ignored Record-Route): the other
   * side of the call it belongs to, if the call is known.
   */
  otherSide(req: SipRequest): Endpoint | undefined {
    const call = this.active.get(req.callId);
    if (!call) return undefined;
    return req.from.tag === call.fromTag ? call.calleeEndpoint : call.callerEndpoint;
  }

  observeAck(req: SipRequest, inbound: InboundMessage, forwarded: SipRequest, to: Endpoint): void {
    const call = this.active.get(req.callId);
    if (!call) return;
    this.push(call, formatEndpoint(inbound.source), formatEndpoint(inbound.local), req);
    this.push(call, formatEndpoint(inbound.local), formatEndpoint(to), forwarded);
  }

  private push(call: ActiveCall, from: string, to: string, m: SipRequest | SipResponse): void {
    if (call.messages.length >= MAX_MESSAGES) return;
    call.messages.push({ ts: Date.now(), from, to, label: label(m), raw: m.toString() });
  }

  private onFinal(call: ActiveCall, req: SipRequest, res: SipResponse): void {
    const now = Date.now();
    if (req.method === 'INVITE' && req.to.tag === undefined) {
      if (res.status >= 200 && res.status < 300) {
        call.answer ??= now;
        call.finalStatus = res.status;
        call.finalReason = res.reason;
        return;
      }
      if (call.answer !== undefined) return; // a late non-2xx fork after the answer
      call.finalStatus = res.status;
      call.finalReason = res.reason;
      this.finish(call, now);
      return;
    }
    if (req.method === 'BYE' && call.answer !== undefined && call.end === undefined) {
      call.hungUpBy = req.from.tag === call.fromTag ? 'caller' : 'callee';
      this.finish(call, now);
    }
  }

  private finish(call: ActiveCall, now: number): void {
    call.end = now;
    const media = this.media?.end(call.callId);
    if (media) call.media = media;
    const cdr: CdrRecord = {
      callId: call.callId,
      caller: call.caller,
      callee: call.callee,
      dialled: call.dialled,
      start: call.start,
      answer: call.answer,
      end: now,
      duration: call.answer !== undefined ? (now - call.answer) / 1000 : 0,
      finalStatus: call.finalStatus ?? 0,
      finalReason: call.finalReason,
      hungUpBy: call.hungUpBy,
      trunk: call.trunk,
      ...(media
        ? {
            packets: media.packets,
            lost: media.lost,
            jitterMs: media.jitterMs,
            mos: media.mos,
            dropped: media.dropped,
          }
        : {}),
    };
    this.store.addCdr(cdr); // committed before the response that ends the call is sent
    this.active.delete(call.callId);
    this.recentCalls.push(call);
    if (this.recentCalls.length > MAX_RECENT) this.recentCalls.shift();
  }

  private expireOld(): void {
    const cutoff = Date.now() - MAX_CALL_AGE_MS;
    for (const [id, call] of this.active) {
      if (call.start >= cutoff) break;
      this.active.delete(id);
    }
  }
}
