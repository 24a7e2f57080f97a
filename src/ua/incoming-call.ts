// An INVITE received outside any dialog (RFC 3261 §13.3): the application rings, accepts or
// rejects it; a CANCEL from the caller ends it with 487 (§9.2), and so does a BYE on the early
// dialog our 18x made (§15: the caller may end an early dialog with BYE).
import { createResponse, newTag, type SipRequest } from '../sip/index.ts';
import type { ServerTransaction } from '../transaction/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { Call, copyRecordRoute, type CallContext, type SessionBody } from './call.ts';
import { Dialog } from './dialog.ts';

export class IncomingCall extends Call {
  /** The INVITE as received. */
  readonly request: SipRequest;
  private readonly tx: ServerTransaction;
  private answeredFinal = false;
  /** A 18x with our tag went out: the caller knows an early dialog it may end with BYE. */
  private early = false;

  /** Told once the INVITE has its final answer (a CANCEL can no longer change anything). */
  private readonly onFinalAnswer: (() => void) | undefined;

  constructor(
    ctx: CallContext,
    request: SipRequest,
    tx: ServerTransaction,
    onFinalAnswer?: () => void,
  ) {
    super(ctx, 'incoming', request.callId, newTag(), request.get('From') ?? '');
    this.request = request;
    this.tx = tx;
    this.onFinalAnswer = onFinalAnswer;
    if (request.body.length > 0) this.remoteBody = request.body;
  }

  /** The caller's From and the To it called, as header text. */
  get from(): string {
    return this.request.get('From') ?? '';
  }
  get to(): string {
    return this.request.get('To') ?? '';
  }

  protected override protocolHint(): Endpoint['protocol'] {
    return this.tx.inbound.source.protocol;
  }

  private markAnswered(): void {
    this.answeredFinal = true;
    this.onFinalAnswer?.();
  }

  /** Sends 180 Ringing (early dialog, with our tag and Contact). */
  ring(): void {
    if (this.answeredFinal || this.state === 'ended') return;
    const res = createResponse(this.request, 180, undefined, { toTag: this.localTag });
    copyRecordRoute(this.request, res);
    res.set('Contact', this.ctx.contact(this.protocolHint()));
    this.tx.respond(res);
    this.early = true;
    if (this.state === 'calling') {
      this.state = 'ringing';
      this.emit('ringing', res);
    }
  }

  /**
   * Answers with 200 (and our session description, if any). Resolves true once the caller's
   * ACK arrives, false if the call ended first. Never rejects.
   */
  accept(session?: SessionBody): Promise<boolean> {
    if (this.answeredFinal || this.state === 'ended') return Promise.resolve(false);
    this.markAnswered();
    this.finalStatus = 200;
    this.dialog = Dialog.fromRequest(this.request, this.localTag, 'confirmed');
    this.localBody = session;
    const ok = this.okResponse(this.request, session);
    return new Promise<boolean>((resolve) => {
      void this.whenEnded().then(() => resolve(false));
      this.startRetransmit(this.tx, ok, () => {
        if (this.state === 'ended') return;
        this.state = 'answered';
        this.emit('answered', this.request);
        resolve(true);
      });
      this.tx.respond(ok);
    });
  }

  /** Refuses the call with a final status (486 Busy Here by default). */
  reject(status = 486, reason?: string): void {
    if (this.answeredFinal || this.state === 'ended') return;
    if (status < 300 || status > 699)
      throw new RangeError(`reject needs a status 300-699, not ${status}`);
    this.markAnswered();
    const res = createResponse(this.request, status, reason, { toTag: this.localTag });
    this.tx.respond(res);
    this.finish({ status, reason: res.reason, by: 'local' });
  }

  /** The caller CANCELled (§9.2): 487 to the INVITE if it had no final response yet. */
  receiveCancel(): void {
    if (this.answeredFinal || this.state === 'ended') return;
    this.markAnswered();
    this.tx.respond(createResponse(this.request, 487, undefined, { toTag: this.localTag }));
    this.finish({ status: 487, reason: 'Request Terminated', by: 'remote' });
  }

  /**
   * Requests in our dialog. Before the final response only the early dialog exists (no Dialog
   * yet): a BYE of the caller there is answered 200 and the INVITE 487 (§15, §15.1.2), like a
   * CANCEL; anything else goes to Call (481 without a dialog).
   */
  override receiveRequest(req: SipRequest, tx: ServerTransaction | undefined): void {
    if (
      req.method === 'BYE' &&
      tx &&
      this.early &&
      !this.answeredFinal &&
      this.state !== 'ended' &&
      req.from.tag === this.request.from.tag
    ) {
      // §12.2.2: the early dialog's remote CSeq is the INVITE's.
      if (req.cseq.seq <= this.request.cseq.seq) {
        tx.respond(createResponse(req, 500, 'CSeq Out of Order'));
        return;
      }
      tx.respond(createResponse(req, 200));
      this.markAnswered();
      this.tx.respond(createResponse(this.request, 487, undefined, { toTag: this.localTag }));
      this.finish({ status: 487, reason: 'Request Terminated', by: 'remote' });
      return;
    }
    super.receiveRequest(req, tx);
  }

  /** Hangs up: rejects (603) while unanswered, BYE afterwards. */
  override async hangup(): Promise<void> {
    if (!this.answeredFinal) this.reject(603);
    else await this.bye();
  }
}
