// A call: one INVITE dialog usage (RFC 3261 §13-15) seen from our side, outgoing or incoming.
// It owns the dialog once there is one, ACKs 2xx responses itself (§13.2.2.4, again for every
// retransmitted 2xx), retransmits its own 2xx until the ACK comes (§13.3.1.4), sends BYE,
// CANCEL (§9.1, only once a provisional response came) and re-INVITE, and answers the peer's
// BYE and re-INVITE.
import { EventEmitter } from 'node:events';
import { createResponse, newBranch, SipRequest, type SipResponse } from '../sip/index.ts';
import type {
  ClientTransaction,
  ServerTransaction,
  TransactionLayer,
} from '../transaction/index.ts';
import type { Endpoint, Transport } from '../transport/index.ts';
import { Dialog } from './dialog.ts';
import type { UacCore } from './uac-core.ts';

/** How a call ended. */
export interface CallEnd {
  /** Final status of the INVITE (200 for a call that was answered, then hung up). */
  status: number;
  reason: string;
  /** Who ended it: we did (BYE, CANCEL, reject), the peer did, or nobody answered in time. */
  by: 'local' | 'remote' | 'timeout';
}

export interface CallEvents {
  /** Every provisional response above 100 (outgoing calls). */
  progress: [SipResponse];
  /** 180 Ringing or 183 Session Progress (outgoing), or our own 180 sent (incoming). */
  ringing: [SipResponse];
  /** The call is up: the 2xx (outgoing) or the ACK (incoming). */
  answered: [SipResponse | SipRequest];
  /** The peer sent a re-INVITE (already answered with 200 and our current session). */
  reinvite: [SipRequest];
  ended: [CallEnd];
}

export type CallState = 'calling' | 'ringing' | 'answered' | 'ended';

export interface SessionBody {
  body: Buffer | string;
  contentType?: string;
}

/** The services of the user agent that a call uses (implemented by UserAgent). */
export interface CallContext {
  readonly uac: UacCore;
  readonly transactions: TransactionLayer;
  readonly transport: Transport;
  readonly t1: number;
  readonly t2: number;
  /** Our Contact header value for this transport. */
  contact(protocol: Endpoint['protocol']): string;
  /** Headers every request and response we originate carries (User-Agent, Allow...). */
  commonHeaders(): [string, string][];
  /** Route set to put on requests outside a dialog / in a dialog with no route (outbound proxy). */
  proxyRoute(): string[];
  track(call: Call, localTag: string): void;
  untrack(call: Call, localTag: string): void;
}

export class CallFailedError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly response?: SipResponse,
  ) {
    super(`call failed: ${status} ${reason}`);
    this.name = 'CallFailedError';
  }
}

/**
 * §12.1.1: a UAS copies every Record-Route of the request into each response that makes or
 * refreshes the dialog (18x with a To tag, 2xx), in order, so the caller builds the same route
 * set (reversed) and its ACK, BYE and re-INVITEs go through the proxies that record-routed.
 */
export function copyRecordRoute(req: SipRequest, res: SipResponse): void {
  for (const value of req.getAll('Record-Route')) res.append('Record-Route', value);
}

/** Grows a resend interval like Timer G: T1, 2T1, 4T1... capped at T2. */
function nextInterval(current: number, t2: number): number {
  return Math.min(current * 2, t2);
}

export class Call extends EventEmitter<CallEvents> {
  state: CallState = 'calling';
  dialog: Dialog | undefined;
  /** The peer's and our last session description (SDP), if any. */
  remoteBody: Buffer | undefined;
  localBody: SessionBody | undefined;
  endInfo: CallEnd | undefined;
  readonly localTag: string;

  protected readonly ctx: CallContext;
  protected readonly endedPromise: Promise<CallEnd>;
  private resolveEnded!: (end: CallEnd) => void;
  /** The ACK we sent for the 2xx, resent for each retransmitted 2xx. */
  private ack: { request: SipRequest; destination: Endpoint } | undefined;
  private inviteTx: ClientTransaction | undefined;
  private provisionalSeen = false;
  private cancelWanted = false;
  /** The user asked to cancel (the CANCEL may be sent or still waiting for a 1xx). */
  private cancelled = false;
  protected finalStatus = 0;
  /** Pending 2xx retransmission of ours (UAS side), stopped by the ACK. */
  private retransmit: { timer: NodeJS.Timeout; cseq: number; onAck: () => void } | undefined;

  constructor(
    ctx: CallContext,
    readonly direction: 'outgoing' | 'incoming',
    readonly callId: string,
    localTag: string,
    /** The other party's URI as text (To of an outgoing call, From of an incoming one). */
    readonly peer: string,
  ) {
    super();
    this.ctx = ctx;
    this.localTag = localTag;
    this.endedPromise = new Promise<CallEnd>((resolve) => (this.resolveEnded = resolve));
    ctx.track(this, localTag);
  }

  /** Resolves once the call has ended, however it ended. */
  whenEnded(): Promise<CallEnd> {
    return this.endedPromise;
  }

  // ---------------------------------------------------------------- outgoing (UAC) side

  /** Sends the INVITE; resolves when answered, rejects with CallFailedError otherwise. */
  async start(invite: SipRequest): Promise<this> {
    this.localBody =
      invite.body.length > 0 ? { body: invite.body, contentType: invite.contentType } : undefined;
    const result = await this.ctx.uac.send(invite, {
      onTransaction: (tx) => {
        this.inviteTx = tx;
        this.provisionalSeen = false;
      },
      onProvisional: (res, tx) => this.onProvisional(res, tx),
      onExtra2xx: (res) => this.receive2xx(res),
    });
    const res = result.response;
    this.finalStatus = res.status;
    if (res.status >= 200 && res.status < 300) {
      this.receive2xx(res, result.request);
      if (this.cancelled) await this.bye();
      return this;
    }
    if (this.cancelled && result.local) {
      // Abandoned before any answer (abort()): report it as a cancelled call.
      this.finish({ status: 487, reason: 'Request Terminated', by: 'local' });
      throw new CallFailedError(487, 'Request Terminated', res);
    }
    const by: CallEnd['by'] =
      res.status === 408 && result.local ? 'timeout' : this.cancelled ? 'local' : 'remote';
    this.finish({ status: res.status, reason: res.reason, by });
    throw new CallFailedError(res.status, res.reason, res);
  }

  private onProvisional(res: SipResponse, tx: ClientTransaction): void {
    this.inviteTx = tx;
    if (res.status === 100) return;
    this.provisionalSeen = true;
    if (!this.dialog && res.to.tag) {
      this.dialog = Dialog.fromResponse(tx.request, res);
    }
    if (this.state === 'ended') return;
    this.emit('progress', res);
    if ((res.status === 180 || res.status === 183) && this.state === 'calling') {
      this.state = 'ringing';
      this.emit('ringing', res);
    }
    if (this.cancelWanted) this.sendCancel();
  }

  /** A 2xx to our INVITE: the first confirms the dialog and is ACKed; repeats get the same ACK. */
  receive2xx(res: SipResponse, sent?: SipRequest): void {
    const tag = res.to.tag ?? '';
    if (this.ack && this.dialog && tag === this.dialog.remoteTag) {
      // §13.2.2.4: a retransmitted 2xx gets the same ACK again.
      void this.ctx.transport.send(this.ack.request, this.ack.destination).catch(() => undefined);
      return;
    }
    const request = sent ?? this.inviteTx?.request;
    if (!request) return;
    if (this.ack && this.dialog) {
      // A 2xx from another fork: acknowledge it and leave that dialog at once (§13.2.2.4).
      const other = Dialog.fromResponse(request, res);
      void this.sendAck(other, res, request)
        .then(() => this.sendBye(other))
        .catch(() => undefined);
      return;
    }
    // §13.2.2.4: the 2xx fixes the route set; an early dialog (from a 1xx) is rebuilt from it.
    const early = this.dialog && this.dialog.remoteTag === tag ? this.dialog : undefined;
    if (!this.dialog || this.dialog.remoteTag !== tag || this.dialog.state === 'early') {
      this.dialog = Dialog.fromResponse(request, res);
      if (early?.remoteSeq !== undefined) this.dialog.remoteSeq = early.remoteSeq;
    }
    this.dialog.update(res);
    this.dialog.localSeq = Math.max(this.dialog.localSeq, res.cseq.seq);
    if (res.body.length > 0) this.remoteBody = res.body;
    void this.sendAck(this.dialog, res, request);
    if (this.state !== 'ended' && this.state !== 'answered') {
      this.state = 'answered';
      this.emit('answered', res);
    }
  }

  private async sendAck(dialog: Dialog, res: SipResponse, invite: SipRequest): Promise<void> {
    // §13.2.2.4: CSeq number of the INVITE, credentials of the INVITE, route set of the dialog.
    const headers: [string, string][] = [];
    for (const h of ['Authorization', 'Proxy-Authorization']) {
      for (const v of invite.getAll(h)) headers.push([h, v]);
    }
    const ack = dialog.createRequest('ACK', { cseq: res.cseq.seq, headers });
    const destination = await this.destinationFor(ack);
    if (!destination) return;
    const via = this.ctx.transport.viaFor(destination.protocol);
    ack.prepend(
      'Via',
      `SIP/2.0/${via.transport} ${via.host}${via.port ? `:${via.port}` : ''};branch=${newBranch()};rport`,
    );
    if (dialog === this.dialog) this.ack = { request: ack, destination };
    await this.ctx.transport.send(ack, destination).catch(() => undefined);
  }

  private async destinationFor(request: SipRequest): Promise<Endpoint | undefined> {
    try {
      return (await this.ctx.uac.destinations(request))[0];
    } catch {
      return undefined;
    }
  }

  /** §9.1: CANCEL an unanswered outgoing call (sent once a provisional response came). */
  async cancel(): Promise<void> {
    if (this.direction !== 'outgoing' || this.state === 'answered' || this.state === 'ended')
      return;
    this.cancelWanted = true;
    this.cancelled = true;
    if (this.provisionalSeen) this.sendCancel();
  }

  /**
   * Gives up an unanswered outgoing call at once, without waiting for a provisional response to
   * CANCEL (the INVITE transaction is dropped; a late 2xx would be ACKed and BYEd by the peer's
   * timers, not ours). For a user quitting the program; prefer cancel().
   */
  abort(): void {
    if (this.direction !== 'outgoing' || this.state === 'answered' || this.state === 'ended')
      return;
    this.cancelled = true;
    if (this.provisionalSeen) this.sendCancel();
    this.inviteTx?.terminate();
  }

  private sendCancel(): void {
    const tx = this.inviteTx;
    if (!tx || tx.state === 'terminated' || tx.state === 'completed' || tx.state === 'accepted')
      return;
    const inv = tx.request;
    const headers: [string, string][] = [
      ['Via', inv.getAll('Via')[0] ?? ''],
      ['Max-Forwards', '70'],
      ['From', inv.get('From') ?? ''],
      ['To', inv.get('To') ?? ''],
      ['Call-ID', inv.callId],
      ['CSeq', `${inv.cseq.seq} CANCEL`],
    ];
    for (const r of inv.getAll('Route')) headers.push(['Route', r]);
    const cancel = new SipRequest('CANCEL', inv.uri, headers);
    this.ctx.transactions.sendRequest(cancel, tx.destination, {});
    this.cancelWanted = false; // sent once
  }

  // ---------------------------------------------------------------- both sides

  /** Ends an answered call with BYE; resolves with the BYE's final status. */
  async bye(): Promise<number> {
    if (!this.dialog || this.state === 'ended') return 0;
    const dialog = this.dialog;
    this.stopRetransmit();
    const status = await this.sendBye(dialog);
    this.finish({ status: this.finalStatus || 200, reason: 'BYE', by: 'local' });
    return status;
  }

  private async sendBye(dialog: Dialog): Promise<number> {
    const bye = dialog.createRequest('BYE', { headers: this.ctx.commonHeaders() });
    const result = await this.ctx.uac.send(bye);
    dialog.localSeq = Math.max(dialog.localSeq, result.request.cseq.seq);
    dialog.state = 'terminated';
    return result.response.status;
  }

  /** Hangs up whatever the state: CANCEL before the answer, BYE after. */
  async hangup(): Promise<void> {
    if (this.state === 'ended') return;
    if (this.state === 'answered') await this.bye();
    else await this.cancel();
  }

  /** Sends a re-INVITE (session refresh or new offer); resolves with its final response. */
  async reinvite(session?: SessionBody): Promise<SipResponse> {
    const dialog = this.dialog;
    if (!dialog || this.state !== 'answered') throw new Error('re-INVITE needs an answered call');
    if (session) this.localBody = session;
    const body = this.localBody;
    const invite = dialog.createRequest('INVITE', {
      contact: this.ctx.contact(this.protocolHint()),
      headers: this.ctx.commonHeaders(),
      body: body?.body,
      contentType: body ? (body.contentType ?? 'application/sdp') : undefined,
    });
    const result = await this.ctx.uac.send(invite, { onExtra2xx: (res) => this.receive2xx(res) });
    dialog.localSeq = Math.max(dialog.localSeq, result.request.cseq.seq);
    const res = result.response;
    if (res.status >= 200 && res.status < 300) {
      dialog.update(res);
      if (res.body.length > 0) this.remoteBody = res.body;
      this.ack = undefined;
      await this.sendAck(dialog, res, result.request);
    } else if (res.status === 408 || res.status === 481) {
      // §14.1: the dialog is gone.
      await this.bye().catch(() => undefined);
    }
    return res;
  }

  protected protocolHint(): Endpoint['protocol'] {
    return this.ack?.destination.protocol ?? this.inviteTx?.destination.protocol ?? 'udp';
  }

  /** A request from the peer inside our dialog (routed here by the user agent). */
  receiveRequest(req: SipRequest, tx: ServerTransaction | undefined): void {
    const dialog = this.dialog;
    // §12.2.2: a dialog is its Call-ID and both tags. The user agent found this call by the
    // Call-ID and our tag; a request whose From tag is not the peer's is in no dialog of ours
    // (a BYE forged by someone who saw the Call-ID and one tag ends nothing).
    const foreign = dialog !== undefined && req.from.tag !== dialog.remoteTag;
    if (req.method === 'ACK') {
      if (!foreign) this.receiveAck(req);
      return;
    }
    if (!tx) return;
    if (!dialog || foreign) {
      tx.respond(createResponse(req, 481));
      return;
    }
    if (!dialog.acceptRemoteSeq(req)) {
      tx.respond(createResponse(req, 500, 'CSeq Out of Order'));
      return;
    }
    switch (req.method) {
      case 'BYE': {
        tx.respond(createResponse(req, 200));
        this.stopRetransmit();
        dialog.state = 'terminated';
        this.finish({ status: this.finalStatus || 200, reason: 'BYE', by: 'remote' });
        return;
      }
      case 'INVITE': {
        if (this.retransmit) {
          // §14.2: a re-INVITE while our own 2xx still waits for its ACK.
          const res = createResponse(req, 500, 'Server Internal Error');
          res.set('Retry-After', '1');
          tx.respond(res);
          return;
        }
        dialog.refreshTarget(req);
        if (req.body.length > 0) this.remoteBody = req.body;
        const ok = this.okResponse(req, this.localBody);
        tx.respond(ok);
        this.startRetransmit(tx, ok, () => undefined);
        this.emit('reinvite', req);
        return;
      }
      case 'UPDATE':
        dialog.refreshTarget(req);
        tx.respond(this.okResponse(req, undefined));
        return;
      case 'OPTIONS':
      case 'INFO':
      case 'NOTIFY':
        tx.respond(createResponse(req, 200));
        return;
      default:
        tx.respond(createResponse(req, 501));
    }
  }

  /** 200 to an INVITE/UPDATE of the peer: our tag, our Contact, our session. */
  protected okResponse(req: SipRequest, session: SessionBody | undefined): SipResponse {
    const res = createResponse(req, 200, undefined, { toTag: this.localTag });
    copyRecordRoute(req, res);
    res.set('Contact', this.ctx.contact(this.protocolHint()));
    for (const [n, v] of this.ctx.commonHeaders()) res.append(n, v);
    if (session) {
      res.set('Content-Type', session.contentType ?? 'application/sdp');
      res.body = Buffer.isBuffer(session.body) ? session.body : Buffer.from(session.body);
    }
    return res;
  }

  /**
   * §13.3.1.4: over UDP our 2xx is sent again at T1, 2T1... up to T2 until the ACK comes;
   * 64*T1 without an ACK ends the call with a BYE. The waits are summed rather than read off the
   * clock, and the last one is cut short, so the call ends at 64*T1, not at the next resend after.
   */
  protected startRetransmit(tx: ServerTransaction, res: SipResponse, onAck: () => void): void {
    this.stopRetransmit();
    const reliable = this.ctx.transport.isReliable(tx.inbound.source.protocol);
    const limit = 64 * this.ctx.t1;
    let waited = 0;
    const schedule = (interval: number): NodeJS.Timeout => {
      const wait = reliable ? limit : Math.min(interval, limit - waited);
      const timer = setTimeout(() => {
        const pending = this.retransmit;
        if (!pending || pending.timer !== timer) return;
        waited += wait;
        if (waited >= limit) {
          this.retransmit = undefined;
          void this.onAckTimeout();
          return;
        }
        tx.respond(res);
        pending.timer = schedule(nextInterval(interval, this.ctx.t2));
      }, wait);
      timer.unref();
      return timer;
    };
    this.retransmit = { timer: schedule(this.ctx.t1), cseq: res.cseq.seq, onAck };
  }

  protected stopRetransmit(): void {
    if (this.retransmit) clearTimeout(this.retransmit.timer);
    this.retransmit = undefined;
  }

  /**
   * No ACK in 64*T1: the call ends now (reported then, not once the BYE is answered, which takes
   * up to Timer F when the caller is gone) and the BYE goes out (§13.3.1.4).
   */
  protected async onAckTimeout(): Promise<void> {
    if (this.state === 'ended') return;
    const dialog = this.dialog;
    this.finish({ status: 408, reason: 'No ACK', by: 'timeout' });
    if (dialog) await this.sendBye(dialog).catch(() => 0);
  }

  private receiveAck(ack: SipRequest): void {
    const pending = this.retransmit;
    if (!pending || ack.cseq.seq !== pending.cseq) return;
    this.stopRetransmit();
    if (ack.body.length > 0) this.remoteBody = ack.body;
    pending.onAck();
  }

  /** Marks the call ended once, tells listeners, forgets it in the user agent. */
  protected finish(end: CallEnd): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endInfo = end;
    this.stopRetransmit();
    if (this.dialog) this.dialog.state = 'terminated';
    this.ctx.untrack(this, this.localTag);
    this.resolveEnded(end);
    this.emit('ended', end);
  }

  /** The user agent is stopping: end without signalling. */
  abandon(): void {
    this.finish({ status: this.finalStatus || 0, reason: 'User agent stopped', by: 'local' });
  }
}
