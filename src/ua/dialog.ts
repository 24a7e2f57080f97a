// A dialog (RFC 3261 §12): the peer-to-peer relationship an INVITE sets up, identified by
// Call-ID, local tag and remote tag. It holds what in-dialog requests are built from: the route
// set (from Record-Route, reversed at the UAC), the remote target (the peer's Contact), the local
// and remote CSeq numbers, and the secure flag.
import { formatNameAddr, SipRequest, type SipResponse } from '../sip/index.ts';

export type DialogState = 'early' | 'confirmed' | 'terminated';

export interface InDialogOptions {
  body?: Buffer | string;
  contentType?: string;
  headers?: [string, string][];
  /** Contact to send (target refresh requests and their answers). */
  contact?: string;
}

/** Dialog id as a map key: Call-ID, local tag, remote tag (§12). */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

function firstContactUri(msg: SipRequest | SipResponse): string | undefined {
  const c = msg.contact[0];
  if (!c || c.star) return undefined;
  const text = msg.getAll('Contact')[0] ?? '';
  // Keep the URI exactly as the peer wrote it (§12.1.1: the remote target is its Contact URI).
  const bracket = /<([^>]*)>/.exec(text);
  return bracket ? bracket[1] : text.split(';')[0].trim();
}

export class Dialog {
  state: DialogState;
  readonly callId: string;
  readonly localTag: string;
  remoteTag: string;
  /** From/To header values (name-addr with tag) for our side and the peer's. */
  readonly localParty: string;
  readonly remoteParty: string;
  /** Route header values in the order they are sent. */
  readonly routeSet: string[];
  remoteTarget: string;
  localSeq: number;
  /** Undefined until the peer sends a request in the dialog (§12.1.2: empty for the UAC). */
  remoteSeq: number | undefined;
  readonly secure: boolean;
  /** Whether we sent the INVITE that created the dialog. */
  readonly isUac: boolean;

  private constructor(init: {
    state: DialogState;
    callId: string;
    localTag: string;
    remoteTag: string;
    localParty: string;
    remoteParty: string;
    routeSet: string[];
    remoteTarget: string;
    localSeq: number;
    remoteSeq: number | undefined;
    secure: boolean;
    isUac: boolean;
  }) {
    this.state = init.state;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localParty = init.localParty;
    this.remoteParty = init.remoteParty;
    this.routeSet = init.routeSet;
    this.remoteTarget = init.remoteTarget;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.secure = init.secure;
    this.isUac = init.isUac;
  }

  get key(): string {
    return dialogKey(this.callId, this.localTag, this.remoteTag);
  }

  /** §12.1.2: the UAC side, from the request we sent and a 1xx (with To tag) or 2xx. */
  static fromResponse(request: SipRequest, response: SipResponse): Dialog {
    const remoteTag = response.to.tag;
    const localTag = request.from.tag;
    if (!remoteTag || !localTag) throw new Error('a dialog needs both tags');
    return new Dialog({
      state: response.status >= 200 ? 'confirmed' : 'early',
      callId: request.callId,
      localTag,
      remoteTag,
      localParty: request.get('From') ?? '',
      remoteParty: response.get('To') ?? '',
      routeSet: response.recordRoute.map((r) => formatNameAddr(r)).reverse(),
      remoteTarget: firstContactUri(response) ?? request.uri,
      localSeq: request.cseq.seq,
      remoteSeq: undefined,
      secure: request.requestUri.scheme.toLowerCase() === 'sips',
      isUac: true,
    });
  }

  /** §12.1.1: the UAS side, from the request received and the To tag we chose. */
  static fromRequest(request: SipRequest, localTag: string, state: DialogState): Dialog {
    const remoteTag = request.from.tag ?? '';
    return new Dialog({
      state,
      callId: request.callId,
      localTag,
      remoteTag,
      localParty: `${request.get('To') ?? ''};tag=${localTag}`,
      remoteParty: request.get('From') ?? '',
      routeSet: request.recordRoute.map((r) => formatNameAddr(r)),
      remoteTarget: firstContactUri(request) ?? '',
      // §12.1.1: our own CSeq space starts anywhere; start where a UAC would.
      localSeq: Math.floor(Math.random() * 10000) + 1,
      remoteSeq: request.cseq.seq,
      secure: request.requestUri.scheme.toLowerCase() === 'sips',
      isUac: false,
    });
  }

  /** A 2xx (or early-dialog 1xx) to an INVITE we sent: confirms the dialog, refreshes the target. */
  update(response: SipResponse): void {
    if (response.status >= 200 && response.status < 300) this.state = 'confirmed';
    const target = firstContactUri(response);
    if (target) this.remoteTarget = target;
  }

  /** A target refresh request from the peer (re-INVITE, UPDATE): new remote target. */
  refreshTarget(request: SipRequest): void {
    const target = firstContactUri(request);
    if (target) this.remoteTarget = target;
  }

  /**
   * §12.2.2: checks the CSeq of a request from the peer. Returns false when it is lower than
   * the last one (the caller answers 500); otherwise remembers it.
   */
  acceptRemoteSeq(request: SipRequest): boolean {
    const seq = request.cseq.seq;
    if (request.method === 'ACK' || request.method === 'CANCEL') return true;
    if (this.remoteSeq !== undefined && seq <= this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /**
   * §12.2.1.1: a request within the dialog. CSeq: the next local number, except for ACK
   * (`cseq` of the INVITE it acknowledges) and CANCEL.
   */
  createRequest(method: string, opts: InDialogOptions & { cseq?: number } = {}): SipRequest {
    let seq: number;
    if (opts.cseq !== undefined) seq = opts.cseq;
    else {
      this.localSeq += 1;
      seq = this.localSeq;
    }
    let uri = this.remoteTarget;
    let routes = [...this.routeSet];
    // A strict router at the top of the route set (no ;lr) takes the Request-URI (§12.2.1.1).
    if (routes.length > 0 && !/;\s*lr\b/i.test(routes[0])) {
      const m = /<([^>]*)>/.exec(routes[0]);
      uri = m ? m[1] : routes[0];
      routes = [...routes.slice(1), `<${this.remoteTarget}>`];
    }
    const headers: [string, string][] = [
      ['Max-Forwards', '70'],
      ['From', this.localParty],
      ['To', this.remoteParty],
      ['Call-ID', this.callId],
      ['CSeq', `${seq} ${method}`],
    ];
    for (const r of routes) headers.push(['Route', r]);
    if (opts.contact) headers.push(['Contact', opts.contact]);
    if (opts.headers) headers.push(...opts.headers);
    if (opts.body !== undefined && opts.contentType)
      headers.push(['Content-Type', opts.contentType]);
    return new SipRequest(method, uri, headers, opts.body);
  }
}
