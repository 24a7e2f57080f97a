// One proxied request and its branches (RFC 3261 §16.6-§16.8): the request goes to every target
// at once (parallel forking); provisional responses are passed upstream, the first 2xx at once
// (and every later 2xx, as §16.7 step 5 requires), and when every branch has a final answer and
// none was 2xx the best one is chosen (§16.7 step 6). Timer C (§16.8) guards INVITE branches
// that stay in Proceeding too long. A CANCEL for the request cancels every pending branch.
import { randomBytes } from 'node:crypto';
import { createResponse, newBranch, SipRequest, type SipResponse, type Via } from '../sip/index.ts';
import { ServerTransaction } from '../transaction/index.ts';
import type {
  ClientTransaction,
  LateAnswerHandler,
  ResponseRoute,
  TransactionLayer,
} from '../transaction/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { pickChallenges, type Challenge, type DigestClient } from '../ua/digest-client.ts';

export interface ForwardTarget {
  /** The Request-URI for this branch. */
  uri: string;
  destination: Endpoint;
  connectionId?: string;
  /** Credentials toward this target (a trunk's provider): 401/407 are answered, up to 3 times. */
  auth?: DigestClient;
  /**
   * Route header values put on top of this branch's request: a binding's Path (RFC 3327 §5.3),
   * or the cluster node that holds the target's connection.
   */
  route?: readonly string[];
}

/** How many times one target's challenges are answered before its 401/407 counts as final. */
const MAX_AUTH_RETRIES = 3;

export interface BranchObserver {
  onMessage(
    direction: 'downstream' | 'from-downstream' | 'upstream',
    message: SipRequest | SipResponse,
    peer: Endpoint,
    /** The branch's target, for messages sent to or received from downstream. */
    target?: ForwardTarget,
    /** For a message sent: its bytes as they went (shared: do not change them), when known. */
    sent?: Buffer,
  ): void;
}

export interface BranchSetEvents {
  /**
   * A final response is about to be sent upstream (CDRs are written here, before it leaves). A
   * Promise holds it (and every response after it) back until it settles: the CDR is committed.
   */
  beforeFinal?(response: SipResponse): void | Promise<unknown>;
  /** Whether to try the next target list for this final (trunk failover); return the targets. */
  failover?(response: SipResponse | undefined): ForwardTarget[] | undefined;
  /**
   * Sees the requests sent downstream, the responses received from there and those passed
   * upstream. An object, not a closure: a finished set keeps it up to 64*T1 (LateAnswers), and
   * an object of a few fields is less than a closure and its scope.
   */
  observer?: BranchObserver;
  onDone?(): void;
  /** A response about to go upstream, ours to change (the media relay rewrites its SDP). */
  beforeUpstream?(response: SipResponse): void;
}

interface Branch {
  target: ForwardTarget;
  /** The request sent. */
  request: SipRequest | undefined;
  tx?: ClientTransaction;
  provisional: boolean;
  /** The branch has its final answer (kept in `final` until the set is done). */
  settled: boolean;
  final?: SipResponse;
  timedOut: boolean;
  cancelPending: boolean;
  /** Timer C; once the CANCEL has gone (cancelSent), the wait for the branch's last answer. */
  timerC: NodeJS.Timeout | undefined;
  cancelSent: boolean;
  /** Replaced by a retry with credentials: its final response no longer counts. */
  superseded?: boolean;
  authRetries: number;
  /** Challenges answered on the way to this branch. */
  answered: Answered[];
}

interface Answered {
  ch: Challenge;
  header: 'Authorization' | 'Proxy-Authorization';
}

/** A finished set forks no more (release()): its Via maker is this one. */
function releasedVia(): Via {
  throw new Error('a finished branch set forks no more');
}

/** 3 minutes (§16.8: more than 3 minutes); shorter in tests. */
export const DEFAULT_TIMER_C = 181_000;

export class ProxyBranchSet {
  private readonly branches: Branch[] = [];
  private finalSent = false;
  private cancelled = false;
  private done = false;
  /** A commit the responses going upstream wait for (beforeFinal's Promise), while pending. */
  private gate: Promise<unknown> | undefined;

  constructor(
    private readonly layer: TransactionLayer,
    private readonly serverTx: ServerTransaction,
    /** The request as it goes downstream before per-branch changes (Max-Forwards, Record-Route done). */
    private template: SipRequest | undefined,
    /** The Via this proxy puts on top of a branch, for a given branch id. */
    private ownVia: (branch: string, target: ForwardTarget) => Via,
    private branchId: () => string = newBranch,
    private events: BranchSetEvents = {},
    private readonly timerC = DEFAULT_TIMER_C,
  ) {
    this.invite = template?.method === 'INVITE';
    this.upstreamVias = serverTx.request.viaCount;
    this.upstreamSource = serverTx.inbound.source;
  }

  private readonly invite: boolean;
  /** Vias of the request as it came (a response from downstream has one more: ours). */
  private readonly upstreamVias: number;
  private readonly upstreamSource: Endpoint;

  get isInvite(): boolean {
    return this.invite;
  }

  start(targets: ForwardTarget[]): void {
    for (const t of targets) this.fork(t);
    this.checkComplete();
  }

  /** CANCEL received for the request (§16.10): cancel every branch still pending. */
  cancel(): void {
    this.cancelled = true;
    for (const b of this.branches) this.cancelBranch(b);
  }

  private fork(
    target: ForwardTarget,
    authRetries = 0,
    credentials: Array<{ header: string; value: string }> = [],
    answered: Answered[] = [],
  ): void {
    const request = this.template!.clone();
    request.uri = target.uri;
    if (target.route)
      for (let i = target.route.length - 1; i >= 0; i--) request.prepend('Route', target.route[i]!);
    request.prependVia(this.ownVia(this.branchId(), target));
    for (const c of credentials) request.append(c.header, c.value);
    const branch: Branch = {
      target,
      request,
      provisional: false,
      settled: false,
      timedOut: false,
      cancelPending: false,
      timerC: undefined,
      cancelSent: false,
      authRetries,
      answered,
    };
    this.branches.push(branch);
    branch.tx = this.layer.sendRequest(
      request,
      target.destination,
      {
        onProvisional: (res) => this.onProvisional(branch, res),
        onFinal: (res) => this.onFinal(branch, res),
        onTimeout: () => this.onNoAnswer(branch),
        onTransportError: () => this.onNoAnswer(branch),
      },
      target.connectionId !== undefined ? { connectionId: target.connectionId } : {},
    );
    // Seen once sent (responses come later, from the socket): with the bytes that went.
    this.events.observer?.onMessage(
      'downstream',
      request,
      target.destination,
      target,
      branch.tx.sentBytes,
    );
    if (this.isInvite) this.armTimerC(branch);
  }

  private armTimerC(branch: Branch): void {
    // Each provisional restarts Timer C (§16.7 step 2): the node timer is re-armed, not made anew.
    if (branch.timerC !== undefined && !branch.cancelSent) {
      branch.timerC.refresh();
      return;
    }
    clearTimeout(branch.timerC);
    branch.cancelSent = false;
    branch.timerC = setTimeout(() => this.onTimerC(branch), this.timerC);
    branch.timerC.unref();
  }

  private onTimerC(branch: Branch): void {
    if (branch.settled) return;
    if (branch.provisional) {
      // A provisional was seen: CANCEL it; whatever comes closes the branch, and the 487 to our
      // CANCEL counts as the 408 of a branch that never answered (§16.8), not as a caller's hang-up.
      branch.timedOut = true;
      this.cancelBranch(branch);
    } else {
      this.onNoAnswer(branch);
    }
  }

  private onProvisional(branch: Branch, res: SipResponse): void {
    this.events.observer?.onMessage(
      'from-downstream',
      res,
      branch.target.destination,
      branch.target,
    );
    if (branch.settled) return;
    branch.provisional = true;
    if (branch.cancelPending) {
      this.sendCancel(branch);
      return;
    }
    // §16.7 step 2: a provisional other than 100 restarts Timer C (100 says only that the next
    // hop has the request).
    if (this.isInvite && res.status > 100) this.armTimerC(branch);
    if (res.status === 100 || this.finalSent) return; // 100 is hop by hop (§16.7 step 5)
    this.forwardUpstream(res);
  }

  private onFinal(branch: Branch, res: SipResponse): void {
    this.events.observer?.onMessage(
      'from-downstream',
      res,
      branch.target.destination,
      branch.target,
    );
    const first = !branch.settled;
    if (first) {
      branch.settled = true;
      branch.final =
        branch.timedOut && res.status === 487
          ? createResponse(branch.request!, 408, 'Request Timeout')
          : res;
    }
    clearTimeout(branch.timerC);
    branch.timerC = undefined;
    if (res.status >= 200 && res.status < 300) {
      // Every 2xx goes upstream, the first and any later one (§16.7 step 5, RFC 6026).
      if (!this.finalSent) {
        this.finalSent = true;
        this.hold(this.events.beforeFinal?.(res));
        for (const b of this.branches) if (b !== branch) this.cancelBranch(b);
      }
      this.forwardUpstream(res);
      this.checkComplete();
      return;
    }
    if (!first) return;
    if (this.retryWithCredentials(branch, res)) return;
    if (res.status >= 600 && !this.finalSent) {
      // A 6xx ends the search (§16.7 step 5): cancel the others.
      for (const b of this.branches) if (b !== branch) this.cancelBranch(b);
    }
    this.checkComplete();
  }

  /** A 401/407 from a target we hold credentials for: the request again, with them (new branch). */
  private retryWithCredentials(branch: Branch, res: SipResponse): boolean {
    const auth = branch.target.auth;
    if (!auth || this.cancelled || this.finalSent) return false;
    if ((res.status !== 401 && res.status !== 407) || branch.authRetries >= MAX_AUTH_RETRIES)
      return false;
    const header = res.status === 401 ? 'Authorization' : 'Proxy-Authorization';
    const picked = pickChallenges(res.status === 401 ? res.wwwAuthenticate : res.proxyAuthenticate);
    if (picked.length === 0) return false;
    // Realms challenged earlier (a 401 then a 407) are answered again, counted on their nonce.
    const same = (a: Answered, ch: Challenge) =>
      a.header === header && a.ch.params.realm === ch.params.realm;
    const answered: Answered[] = [
      ...branch.answered.filter((a) => !picked.some((ch) => same(a, ch))),
      ...picked.map((ch) => ({ ch, header }) as Answered),
    ];
    const request = { method: branch.request!.method, uri: branch.target.uri };
    const credentials = answered.map((a) => auth.sign(a.ch, a.header, request));
    branch.superseded = true;
    this.fork(branch.target, branch.authRetries + 1, credentials, answered);
    return true;
  }

  private onNoAnswer(branch: Branch): void {
    if (branch.settled) return;
    clearTimeout(branch.timerC);
    branch.timerC = undefined;
    branch.timedOut = true;
    branch.settled = true;
    branch.final = createResponse(branch.request!, 408, 'Request Timeout');
    this.checkComplete();
  }

  private cancelBranch(branch: Branch): void {
    if (branch.settled) return;
    if (!branch.provisional) {
      // §9.1: no CANCEL before a provisional response; send it when one comes.
      branch.cancelPending = true;
      return;
    }
    this.sendCancel(branch);
  }

  private sendCancel(branch: Branch): void {
    if (branch.cancelPending && branch.settled) return;
    branch.cancelPending = false;
    const inv = branch.request;
    if (!inv || inv.method !== 'INVITE') return;
    const cancel = new SipRequest('CANCEL', inv.uri, [
      ['Via', inv.getAll('Via')[0]!],
      ['Max-Forwards', '70'],
      ['From', inv.get('From')!],
      ['To', inv.get('To')!],
      ['Call-ID', inv.get('Call-ID')!],
      ['CSeq', `${inv.cseq.seq} CANCEL`],
      ...inv.getAll('Route').map((r): [string, string] => ['Route', r]),
    ]);
    const opts =
      branch.target.connectionId !== undefined ? { connectionId: branch.target.connectionId } : {};
    const tx = this.layer.sendRequest(cancel, branch.target.destination, {}, opts);
    this.events.observer?.onMessage(
      'downstream',
      cancel,
      branch.target.destination,
      undefined,
      tx.sentBytes,
    );
    // §9.1: a UAS that never answers the INVITE after our CANCEL does not keep the branch (and
    // the caller) waiting: after 64*T1 the branch counts as timed out.
    clearTimeout(branch.timerC);
    branch.cancelSent = true;
    branch.timerC = setTimeout(() => this.onNoAnswer(branch), 64 * this.layer.timers.T1);
    branch.timerC.unref();
  }

  private checkComplete(): void {
    if (this.done) return;
    if (this.branches.some((b) => !b.settled)) return;
    if (!this.finalSent) {
      const best = this.bestResponse();
      if (!this.cancelled && best.status !== 487) {
        const next = this.events.failover?.(best);
        if (next && next.length > 0) {
          for (const t of next) this.fork(t);
          return;
        }
      }
      this.finalSent = true;
      const upstream = best.status === 503 ? this.rewrite(best, 500) : best;
      this.hold(this.events.beforeFinal?.(upstream));
      this.forwardUpstream(upstream);
    }
    this.done = true;
    this.events.onDone?.();
    this.release();
  }

  /**
   * Everything answered and the final response sent: the set is let go. A later 2xx on a branch
   * still goes upstream like the first (§16.7 step 5, RFC 6026 Accepted), for up to 64*T1: the
   * client transactions get one small handler for that (LateAnswers) instead of the four
   * closures per branch that held this set, its request, every branch's copy and final answer.
   */
  private release(): void {
    this.template = undefined;
    // The caller's closures share the scope of the request they were made for: none is kept.
    this.ownVia = releasedVia;
    this.branchId = newBranch;
    // Held for 64*T1: shared objects for where answers go (layer.endpoint), and of the events
    // only the two a late 2xx calls (beforeFinal's closure holds the request).
    const late = new LateAnswers(
      this.layer,
      this.serverTx,
      this.upstreamVias,
      this.layer.endpoint(this.upstreamSource),
      this.events.observer,
      this.events.beforeUpstream,
    );
    late.waitFor(this.gate);
    const accepted: Array<[ClientTransaction, Endpoint, string | undefined]> = [];
    for (const b of this.branches) {
      clearTimeout(b.timerC);
      b.timerC = undefined;
      if (!b.tx || b.tx.state !== 'accepted') continue;
      accepted.push([b.tx, this.layer.endpoint(b.target.destination), b.target.connectionId]);
    }
    late.take(accepted);
  }

  /** §16.7 step 6: a 6xx if any, else the lowest class; 408 when nothing answered. */
  private bestResponse(): SipResponse {
    let best: SipResponse | undefined;
    for (const b of this.branches) {
      if (b.superseded) continue;
      const r = b.final!;
      if (!best) best = r;
      else if (r.status >= 600 && best.status < 600) best = r;
      else if (best.status < 600 && Math.floor(r.status / 100) < Math.floor(best.status / 100))
        best = r;
    }
    return best ?? createResponse(this.template!, 408, 'Request Timeout');
  }

  /** A response built by us (408 for a timed-out branch) or a 503 turned into a 500 (§16.7). */
  private rewrite(res: SipResponse, status: number): SipResponse {
    // Our own (a 408 for a branch that never answered) gets a To tag of ours (§8.2.6.2).
    const toTag = res.to.tag ?? randomBytes(6).toString('hex');
    const out = createResponse(this.serverTx.request, status, undefined, { toTag });
    return out;
  }

  /** Responses going upstream wait for `commit` (a CDR being written); a failure is not ours. */
  private hold(commit: void | Promise<unknown>): void {
    if (commit)
      this.gate = holdBehind(
        this.gate,
        commit,
        (gate) => this.gate === gate && (this.gate = undefined),
      );
  }

  private forwardUpstream(res: SipResponse): void {
    if (this.gate) {
      const gate = this.gate;
      void gate.then(() => this.sendUpstream(res));
      return;
    }
    this.sendUpstream(res);
  }

  private sendUpstream(res: SipResponse): void {
    // Our own 408s were built from the branch request: rebuild them for the upstream side (a
    // settled server transaction no longer has the request to build from: not one of ours then).
    let out = withoutOurVia(res, this.upstreamVias);
    if (!out && (this.serverTx.state === 'trying' || this.serverTx.state === 'proceeding'))
      out = this.rewrite(res, res.status);
    if (out) passUpstream(out, this.serverTx, this.layer, this.upstreamSource, this.events);
  }
}

/**
 * A gate that opens once `commit` and everything before it (`gate`) have settled, whether they
 * succeeded or not (a failed commit is logged where it is made); `opened` is told so. One
 * Promise per commit (this runs for every answered call).
 */
function holdBehind(
  gate: Promise<unknown> | undefined,
  commit: Promise<unknown>,
  opened: (gate: Promise<unknown>) => void,
): Promise<unknown> {
  const waited = gate === undefined ? commit : gate.then(() => commit);
  const open = (): void => opened(next);
  const next: Promise<unknown> = waited.then(open, open);
  return next;
}

/** A response from downstream less our Via (§16.7 step 3); undefined if it is not one of ours. */
function withoutOurVia(res: SipResponse, upstreamVias: number): SipResponse | undefined {
  if (res.viaCount !== upstreamVias + 1) return undefined;
  const out = res.clone();
  out.removeFirst('Via');
  return out;
}

/**
 * Sends a response upstream: through the server transaction while the set has it, else on the
 * route a settled one's responses take (a late 2xx), else nowhere (the observers still see it).
 */
function passUpstream(
  out: SipResponse,
  upstream: ServerTransaction | ResponseRoute | undefined,
  layer: TransactionLayer,
  upstreamSource: Endpoint,
  events: Pick<BranchSetEvents, 'observer' | 'beforeUpstream'>,
): void {
  events.beforeUpstream?.(out);
  let sent: Buffer | undefined;
  if (upstream instanceof ServerTransaction) sent = upstream.respond(out);
  else if (upstream !== undefined) {
    sent = out.toBuffer();
    layer.sendOnRoute(upstream, sent);
  }
  events.observer?.onMessage('upstream', out, upstreamSource, undefined, sent);
}

/**
 * What a finished set keeps to pass a later 2xx upstream (a retransmission while the caller's
 * ACK is on its way, or another fork's answer): what its Accepted client transactions are handed
 * over to until their Timer M (ClientTransaction handOver: the layer then keeps them as rows and
 * lets the objects go), holding where upstream responses go, the observers and where each branch
 * went. It is the handler of its own transactions only, so whichever calls it is one of them.
 */
class LateAnswers implements LateAnswerHandler {
  /** The set's pending commit, if any, which a late 2xx must not overtake. */
  private gate: Promise<unknown> | undefined;
  /**
   * Where a late 2xx goes: the server transaction until the set's final response has gone
   * upstream; then, if that was a 2xx (Accepted), only the route of its responses (the layer
   * holds a settled transaction as a row, and this must not keep the object alive 64*T1), and
   * if it was not, nothing (a server transaction in Completed sends no 2xx).
   */
  private upstream: ServerTransaction | ResponseRoute | undefined;
  /** Where the one branch handed over went (the usual case: no fork answered but one). */
  private destination: Endpoint | undefined;
  private connectionId: string | undefined;
  /** With several branches handed over: each one's key, and where it went. */
  private forks: Array<[string, Endpoint, string | undefined]> | undefined;

  constructor(
    private readonly layer: TransactionLayer,
    serverTx: ServerTransaction,
    private readonly upstreamVias: number,
    private readonly upstreamSource: Endpoint,
    readonly observer: BranchObserver | undefined,
    readonly beforeUpstream: BranchSetEvents['beforeUpstream'],
  ) {
    this.upstream = serverTx;
  }

  waitFor(gate: Promise<unknown> | undefined): void {
    this.gate = gate;
    if (gate === undefined) this.settleUpstream();
    // Called after the set's final response was queued behind the same gate: it has gone.
    else
      void gate.then(() => {
        this.gate = undefined;
        this.settleUpstream();
      });
  }

  private settleUpstream(): void {
    const tx = this.upstream;
    if (tx instanceof ServerTransaction) {
      this.upstream = tx.state === 'accepted' ? tx.responseRoute() : undefined;
    }
  }

  /** The set's Accepted branches: their transaction, where it went and over which connection. */
  take(accepted: Array<[ClientTransaction, Endpoint, string | undefined]>): void {
    if (accepted.length === 1) {
      [, this.destination, this.connectionId] = accepted[0]!;
    } else if (accepted.length > 1) {
      this.forks = accepted.map(([tx, destination, connectionId]) => [
        tx.key,
        destination,
        connectionId,
      ]);
    }
    for (const [tx] of accepted) tx.handOver(this);
  }

  onLateFinal(res: SipResponse, key: string): void {
    if (res.status < 200 || res.status >= 300) return;
    let destination = this.destination;
    let connectionId = this.connectionId;
    const fork = this.forks?.find(([k]) => k === key);
    if (fork) [, destination, connectionId] = fork;
    if (destination === undefined) return;
    // What the observers read of the target: where it is and over which connection (its URI and
    // credentials were for forking).
    const target: ForwardTarget = {
      uri: '',
      destination,
      ...(connectionId !== undefined ? { connectionId } : {}),
    };
    this.observer?.onMessage('from-downstream', res, destination, target);
    // The request is let go by now: a 2xx that is not one of ours cannot be rebuilt, and goes
    // no further.
    const out = withoutOurVia(res, this.upstreamVias);
    if (!out) return;
    const send = (): void =>
      passUpstream(out, this.upstream, this.layer, this.upstreamSource, this);
    if (this.gate) void this.gate.then(send);
    else send();
  }
}
