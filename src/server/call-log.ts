// The calls the server is carrying and has just carried: for each, the messages it saw (so the
// HTTP API can give a ladder) and the call detail record. One CDR per INVITE attempt, written
// (committed) before the response that decides it leaves: at the 2xx for an answered call (its
// end is added when the BYE is answered), at the final answer for a failed one, and at once for
// an attempt the server refuses itself. A crash during a call leaves its row answered with no
// end; the next start marks such rows `server-restart` (recover()), a surviving cluster node
// marks a dead node's rows `node-lost`, and a BYE that still comes completes them. Every write
// returns its Promise: the caller holds the response back until it settles.
import { randomBytes } from 'node:crypto';
import { redactCredentials, type SipRequest, type SipResponse } from '../sip/index.ts';
import { formatEndpoint, type Endpoint, type InboundMessage } from '../transport/index.ts';
import type {
  CdrCause,
  CdrKey,
  CdrRecord,
  CdrStore,
  DialogRecord,
  StoredCdr,
} from '../store/stores.ts';
import type { CapturedPacket } from './call-capture.ts';
import type { MediaSummary } from './media-relay-proxy.ts';
import { silentLogger, type Logger } from './server-log.ts';
import { ChurnMap } from './churn-map.ts';
import { isAnswerStatus } from './console-model.ts';

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

/**
 * A message as the log keeps it: its bytes as they went on the wire (credentials already
 * redacted) and its two endpoints. The text and the endpoints' text are made when read (the API,
 * the console), not for every message of every call: most are never read, and bytes kept are
 * not copied by the garbage collector as a kept string is.
 */
export class KeptMessage implements LoggedMessage, CapturedPacket {
  constructor(
    readonly ts: number,
    readonly src: Endpoint,
    readonly dst: Endpoint,
    /** Shared with the sender or the receiving socket: never changed. */
    readonly bytes: Buffer,
  ) {}

  private labelText: string | undefined;

  /** The method of a request, the status and reason of a response: read from the start line. */
  get label(): string {
    return (this.labelText ??= startLineLabel(this.bytes));
  }

  /** What the capture ring keeps (call-capture.ts): the bytes themselves. */
  get data(): Buffer {
    return this.bytes;
  }

  get raw(): string {
    return this.bytes.toString('utf8');
  }

  get from(): string {
    return formatEndpoint(this.src);
  }

  get to(): string {
    return formatEndpoint(this.dst);
  }

  toJSON(): LoggedMessage {
    return { ts: this.ts, from: this.from, to: this.to, label: this.label, raw: this.raw };
  }
}

/**
 * A message's bytes as the log keeps them: those that went on the wire, sent (`sent`, when
 * known) or received (what the message was parsed from, whatever was changed since), else
 * serialized; with the digest response of any Authorization or Proxy-Authorization header
 * redacted (src/sip/redact.ts), so it is never kept.
 */
function loggedBytes(m: SipRequest | SipResponse, sent: Buffer | undefined): Buffer {
  const received = sent === undefined ? m.receivedBytes() : undefined;
  const bytes = sent ?? received ?? m.toBuffer();
  // Received bytes are judged by what they hold (a header taken off the message since is in
  // them still); others by the message they were made from.
  const secret =
    received !== undefined
      ? m.receivedHas('Authorization') || m.receivedHas('Proxy-Authorization')
      : m.has('Authorization') || m.has('Proxy-Authorization');
  return secret ? Buffer.from(redactCredentials(bytes.toString('utf8'))) : bytes;
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
  cause?: CdrCause;
  /** The key of the CDR row written at the answer. */
  cdrKey?: CdrKey;
  /** Where the caller's requests came from, and the downstream side that answered. */
  callerEndpoint?: Endpoint;
  calleeEndpoint?: Endpoint;
  /** Media through the relay, set when the call ended. */
  media?: MediaSummary;
  messages: KeptMessage[];
  /**
   * Set when an answered call's messages were let go (see LADDERS_KEPT): how many there were.
   */
  messagesLetGo?: number;
  /**
   * The last 18x or 2xx with an SDP body the log kept (the answer the call's codec is read
   * from): set as it passes, so letting the ladder go keeps it without reading any message.
   */
  answerSdp?: KeptMessage;
}

/** The most messages kept per call, and finished calls kept for /api/calls. */
const MAX_MESSAGES = 200;
const MAX_RECENT = 200;
/**
 * How many of the newest finished calls keep their messages whatever their outcome. Further
 * back in the recent list only failed calls keep them (the ladders an operator opens); an
 * answered call keeps its summary. At a high call rate this is also what keeps the messages
 * young: the newest 50 calls are a few MB of allocation, so their messages die before a second
 * scavenge, where 200 calls' were promoted to the old generation (and collected there by full
 * collections: measured at 1500 calls/s, 340 MB promoted in 30 s against 100 MB).
 */
export const LADDERS_KEPT = 50;
/** A call with no BYE after this long is dropped from memory (its CDR was never completed). */
const MAX_CALL_AGE_MS = 12 * 3600 * 1000;
/** Calls past MAX_CALL_AGE_MS are looked for at most this often. */
const EXPIRE_EVERY_MS = 1000;

const SIP_VERSION = 'SIP/2.0 ';

/** A kept message's label from its bytes: `INVITE`, `180 Ringing`. */
function startLineLabel(bytes: Buffer): string {
  const cr = bytes.indexOf(0x0d);
  const line = bytes.toString('utf8', 0, cr < 0 ? bytes.length : cr);
  if (line.startsWith(SIP_VERSION)) return line.slice(SIP_VERSION.length);
  const space = line.indexOf(' ');
  return space < 0 ? line : line.slice(0, space);
}

/** 'v=0', how an SDP body begins. */
const V = 0x76;
const EQUALS = 0x3d;
const ZERO = 0x30;

/** A 18x or 2xx with an SDP body: the answer the console reads the call's codec from. */
function isSdpAnswer(m: SipRequest | SipResponse): boolean {
  if ('method' in m || !isAnswerStatus(m.status)) return false;
  const body = m.body;
  return body.length > 3 && body[0] === V && body[1] === EQUALS && body[2] === ZERO;
}

/** What the server knows of a call attempt when it starts logging it. */
export interface CallInfo {
  initial: boolean;
  dialled?: string;
  trunk?: string;
  /** Caller and callee as user@domain (the AOR without its scheme). */
  caller?: string;
  callee?: string;
  /** An in-dialog request sent by the dialog's caller (a BYE: who hung up). */
  byCaller?: boolean;
}

/** user@host of a URI (host alone when it has no user). */
export function aorOf(uri: { user?: string; host: string }): string {
  return uri.user ? `${uri.user}@${uri.host.toLowerCase()}` : uri.host.toLowerCase();
}

/** The cause of a failure answer that came from downstream (or Timer C's 408). */
export function causeOfFailure(status: number): CdrCause {
  if (status === 486 || status === 600) return 'callee-busy';
  if (status === 603) return 'declined';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 487) return 'cancelled';
  if (status === 480) return 'not-registered';
  if (status === 404 || status === 604) return 'no-route';
  return 'failed';
}

export interface CallHandle {
  /** The call's Call-ID: CallLog.handleMessage with it does what onMessage does. */
  readonly callId: string;
  onMessage(
    direction: 'downstream' | 'from-downstream' | 'upstream',
    message: SipRequest | SipResponse,
    peer: Endpoint,
    local: Endpoint,
    /** For a message sent: its bytes as they went, when known (else it is serialized). */
    sent?: Buffer,
  ): void;
  /**
   * The final answer to `req`; for an answered INVITE, `dialog` is stored with its CDR. The
   * Promise settles when the CDR is committed (undefined when nothing was written).
   */
  onFinal(req: SipRequest, res: SipResponse, dialog?: DialogRecord): Promise<void> | undefined;
}

/**
 * The handle observe() gives. It finds its call by Call-ID instead of holding it: proxy handlers
 * live as long as their transactions (up to 64*T1 after the answer), and a held call would keep
 * every message it logged alive that long. A call that has ended and left the recent list logs
 * nothing more. One small object, not two closures and their scope (64*T1 of them are held).
 */
class CallLogHandle implements CallHandle {
  constructor(
    private readonly log: CallLog,
    readonly callId: string,
    private readonly byCaller: boolean | undefined,
  ) {}

  onMessage(
    direction: 'downstream' | 'from-downstream' | 'upstream',
    message: SipRequest | SipResponse,
    peer: Endpoint,
    local: Endpoint,
    sent?: Buffer,
  ): void {
    this.log.handleMessage(this.callId, direction, message, peer, local, sent);
  }

  onFinal(req: SipRequest, res: SipResponse, dialog?: DialogRecord): Promise<void> | undefined {
    return this.log.handleFinal(this.callId, this.byCaller, req, res, dialog);
  }
}

/** Sees each message the log keeps and each change of a call (call-tap.ts: capture, console). */
export interface CallLogTap {
  /** The `index`th message of the call was kept (its endpoints are in it). */
  message(call: ActiveCall, logged: KeptMessage, index: number): void;
  /** The call was answered or ended. */
  changed(call: ActiveCall): void;
}

/** Calls in progress per cluster node (src/store/stores.ts NodeRegistry), told of answers and ends. */
export interface CallTracker {
  callStarted(callId: string, key: CdrKey): void;
  callEnded(callId: string): void;
}

export class CallLog {
  private readonly active = new ChurnMap<string, ActiveCall>();
  private readonly recentCalls: ActiveCall[] = [];
  tap?: CallLogTap;
  tracker?: CallTracker;

  constructor(
    private readonly store: CdrStore,
    /** This node's id, written with each CDR. */
    private readonly node: string,
    private readonly media?: CallMedia,
    private readonly log: Logger = silentLogger(),
  ) {}

  /** This process's part of every CDR key (two processes of one node never share it). */
  private readonly keyTag = randomBytes(4).toString('hex');
  private keySeq = 0;

  /**
   * A new CDR key: time first (ordered keys go to the end of the key index, not all over it),
   * then a counter, this process's tag and the node: unique across nodes and restarts.
   */
  private newKey(): CdrKey {
    const seq = (this.keySeq = (this.keySeq + 1) % 0x1000000);
    return `${Date.now().toString(36).padStart(9, '0')}${seq.toString(36).padStart(5, '0')}-${this.keyTag}-${this.node}`;
  }

  /** Writes a new CDR under a key of ours; failures are logged (the call goes on). */
  private add(cdr: CdrRecord, dialog?: DialogRecord): { key: CdrKey; written: Promise<void> } {
    const key = this.newKey();
    return { key, written: this.guard(this.store.addCdr(key, this.node, cdr, dialog), cdr) };
  }

  private guard(write: Promise<void>, cdr: CdrRecord): Promise<void> {
    return write.catch((err: Error) =>
      this.log.error(
        { event: 'cdr.error', callId: cdr.callId, error: err.message },
        `CDR of ${cdr.callId.slice(0, 40)} not written: ${err.message}`,
      ),
    );
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Active calls then recent ones, newest first. */
  list(): ActiveCall[] {
    return [...this.active.values(), ...[...this.recentCalls].reverse()];
  }

  observe(req: SipRequest, inbound: InboundMessage, info: CallInfo): CallHandle | undefined {
    let call = this.active.get(req.callId);
    if (!call && info.initial) {
      this.expireOld();
      call = {
        callId: req.callId,
        caller: info.caller ?? aorOf(req.from.uri),
        callee: info.callee ?? aorOf(req.requestUri),
        dialled: info.dialled ?? req.requestUri.user ?? '',
        start: Date.now(),
        fromTag: req.from.tag,
        callerEndpoint: inbound.source,
        trunk: info.trunk,
        messages: [],
      };
      this.active.set(req.callId, call);
    }
    if (!call && req.method === 'BYE') call = this.resume(req);
    if (!call) return undefined;
    this.push(call, inbound.source, inbound.local, req);
    return new CallLogHandle(this, call.callId, info.byCaller);
  }

  /** A message of the call `callId` (CallLogHandle.onMessage). */
  handleMessage(
    callId: string,
    direction: 'downstream' | 'from-downstream' | 'upstream',
    message: SipRequest | SipResponse,
    peer: Endpoint,
    local: Endpoint,
    sent?: Buffer,
  ): void {
    // An ended call still logs the answer that ended it (it goes upstream after the end).
    const c = this.active.get(callId) ?? this.recent(callId);
    if (!c) return;
    if (direction === 'from-downstream') {
      this.push(c, peer, local, message);
      const answered = !('method' in message) && message.status >= 200 && message.status < 300;
      if (answered && message.cseq.method === 'INVITE') c.calleeEndpoint ??= peer;
    } else this.push(c, local, peer, message, sent);
  }

  /** The final answer of a request of the call `callId` (CallLogHandle.onFinal). */
  handleFinal(
    callId: string,
    byCaller: boolean | undefined,
    req: SipRequest,
    res: SipResponse,
    dialog?: DialogRecord,
  ): Promise<void> | undefined {
    const c = this.active.get(callId);
    return c ? this.onFinal(c, req, res, byCaller, dialog) : undefined;
  }

  /** A call among the recent ones (ended), newest first. */
  private recent(callId: string): ActiveCall | undefined {
    for (let i = this.recentCalls.length - 1; i >= 0; i--)
      if (this.recentCalls[i]!.callId === callId) return this.recentCalls[i];
    return undefined;
  }

  /** A 2xx's ACK and the ACK forwarded (`sent`: its bytes as they go, when known). */
  observeAck(
    req: SipRequest,
    inbound: InboundMessage,
    forwarded: SipRequest,
    to: Endpoint,
    sent?: Buffer,
  ): void {
    const call = this.active.get(req.callId);
    if (!call) return;
    this.push(call, inbound.source, inbound.local, req);
    this.push(call, inbound.local, to, forwarded, sent);
  }

  private push(
    call: ActiveCall,
    from: Endpoint,
    to: Endpoint,
    m: SipRequest | SipResponse,
    sent?: Buffer,
  ): void {
    if (call.messages.length >= MAX_MESSAGES) return;
    // What is kept is shown on /api/calls: never a digest response (it can be cracked offline).
    const logged = new KeptMessage(Date.now(), from, to, loggedBytes(m, sent));
    call.messages.push(logged);
    if (isSdpAnswer(m)) call.answerSdp = logged;
    this.tap?.message(call, logged, call.messages.length - 1);
  }

  /**
   * An initial INVITE the server answered itself with a final failure (not a challenge): its
   * CDR, with the cause, is written before the answer leaves.
   */
  rejected(req: SipRequest, res: SipResponse, cause: CdrCause, info: CallInfo): Promise<void> {
    const now = Date.now();
    const logged = this.active.get(req.callId);
    if (logged && logged.answer === undefined) {
      // Refused after it was logged (the media relay could not take it): that attempt ends here.
      logged.finalStatus = res.status;
      logged.finalReason = res.reason;
      logged.cause = cause;
      return this.finish(logged, now);
    }
    const cdr: CdrRecord = {
      callId: req.callId,
      caller: info.caller ?? aorOf(req.from.uri),
      callee: info.callee ?? aorOf(req.requestUri),
      dialled: info.dialled ?? req.requestUri.user ?? '',
      start: now,
      end: now,
      duration: 0,
      finalStatus: res.status,
      finalReason: res.reason,
      cause,
      trunk: info.trunk,
    };
    const { written } = this.add(cdr);
    this.endLog(cdr);
    return written;
  }

  /** The outcome of a call attempt, one line: status, cause, duration. */
  private endLog(cdr: CdrRecord): void {
    if (!this.log.isLevelEnabled('info')) return;
    const answered = cdr.answer !== undefined;
    const how = answered
      ? `ended after ${(cdr.duration ?? 0).toFixed(1)} s${cdr.hungUpBy ? ` (${cdr.hungUpBy} hung up)` : ''}`
      : `${cdr.finalStatus} ${cdr.finalReason ?? ''}`.trimEnd();
    this.log.info(
      {
        event: 'call.end',
        callId: cdr.callId,
        caller: cdr.caller,
        callee: cdr.callee,
        status: cdr.finalStatus,
        cause: cdr.cause,
        ...(answered ? { duration: cdr.duration, hungUpBy: cdr.hungUpBy } : {}),
        ...(cdr.trunk ? { trunk: cdr.trunk } : {}),
      },
      `call ${cdr.callId.slice(0, 40)}: ${how} [${cdr.cause}]`,
    );
  }

  /**
   * The 2xx of an INVITE a previous process forwarded and died before its answer came: the
   * call is answered now, so it gets its CDR now (start unknown: the answer time stands in).
   */
  async adoptAnswer(res: SipResponse, dialog: DialogRecord): Promise<void> {
    const now = Date.now();
    const active = this.active.get(res.callId);
    if (active) {
      // The caller's retransmitted INVITE is being forwarded again by this process.
      if (active.answer === undefined) {
        active.answer = now;
        active.finalStatus = res.status;
        active.finalReason = res.reason;
        active.cause = 'answered';
        await this.answeredRow(active, dialog);
      }
      return;
    }
    if (await this.store.hasCdr(res.callId)) return;
    if (this.active.has(res.callId)) return; // adopted meanwhile (a retransmission)
    const call: ActiveCall = {
      callId: res.callId,
      caller: aorOf(res.from.uri),
      callee: aorOf(res.to.uri),
      dialled: res.to.uri.user ?? '',
      start: now,
      answer: now,
      finalStatus: res.status,
      finalReason: res.reason,
      fromTag: res.from.tag,
      cause: 'answered',
      messages: [],
    };
    this.active.set(call.callId, call);
    await this.answeredRow(call, dialog);
  }

  /** The row of an answered call, committed with its dialog (and the call counted as up). */
  private answeredRow(call: ActiveCall, dialog?: DialogRecord): Promise<void> {
    const { key, written } = this.add(this.cdrOf(call), dialog);
    call.cdrKey = key;
    this.tracker?.callStarted(call.callId, key);
    return written;
  }

  /**
   * At start: answered calls of this node whose end the previous process never saw get cause
   * server-restart. Returns how many.
   */
  recover(): Promise<number> {
    return this.store.closeOpenCdrs(this.node, 'server-restart');
  }

  /**
   * Before a BYE is routed: a call not in memory (answered before a restart, or before this
   * node took over) is read back from its open row, so the BYE completes it. Undefined when the
   * call is in memory (nothing to read).
   */
  preload(callId: string): Promise<void> | undefined {
    if (this.active.has(callId)) return undefined; // every call of this process: nothing to read
    return this.readBack(callId);
  }

  private async readBack(callId: string): Promise<void> {
    const row = await this.store.openCdr(callId);
    if (!row || this.active.has(callId)) return;
    // Taken by the BYE's observe(); one whose routing failed leaves its row here, so few are kept.
    if (this.resumed.size >= MAX_RECENT) this.resumed.delete(this.resumed.keys().next().value!);
    this.resumed.set(callId, row);
  }

  /** Rows read back by preload(), taken by the BYE that follows. */
  private readonly resumed = new Map<string, StoredCdr>();

  /** A BYE for a call not in memory: one answered before a restart, if its row is open. */
  private resume(req: SipRequest): ActiveCall | undefined {
    const row = this.resumed.get(req.callId);
    if (!row) return undefined;
    this.resumed.delete(req.callId);
    const call: ActiveCall = {
      callId: row.callId,
      caller: row.caller,
      callee: row.callee,
      dialled: row.dialled,
      start: row.start,
      answer: row.answer,
      finalStatus: row.finalStatus,
      finalReason: row.finalReason,
      trunk: row.trunk,
      cause: row.cause,
      cdrKey: row.key,
      messages: [],
    };
    this.active.set(call.callId, call);
    return call;
  }

  private onFinal(
    call: ActiveCall,
    req: SipRequest,
    res: SipResponse,
    byCaller?: boolean,
    dialog?: DialogRecord,
  ): Promise<void> | undefined {
    const now = Date.now();
    if (req.method === 'INVITE' && req.to.tag === undefined) {
      if (res.status >= 200 && res.status < 300) {
        if (call.answer !== undefined) return undefined; // a second 2xx (another fork)
        call.answer = now;
        call.finalStatus = res.status;
        call.finalReason = res.reason;
        call.cause = 'answered';
        // Committed (with the dialog's route) before the 2xx goes on.
        const written = this.answeredRow(call, dialog);
        if (this.log.isLevelEnabled('info'))
          this.log.info(
            {
              event: 'call.answered',
              callId: call.callId,
              caller: call.caller,
              callee: call.callee,
            },
            `call ${call.callId.slice(0, 40)}: answered`,
          );
        this.tap?.changed(call);
        return written;
      }
      if (call.answer !== undefined) return undefined; // a late non-2xx fork after the answer
      call.finalStatus = res.status;
      call.finalReason = res.reason;
      call.cause = causeOfFailure(res.status);
      return this.finish(call, now);
    }
    if (req.method === 'BYE' && call.answer !== undefined && call.end === undefined) {
      const fromCaller = byCaller ?? req.from.tag === call.fromTag;
      call.hungUpBy = fromCaller ? 'caller' : 'callee';
      return this.finish(call, now);
    }
    return undefined;
  }

  private cdrOf(call: ActiveCall): CdrRecord {
    const media = call.media;
    const cdr: CdrRecord = {
      callId: call.callId,
      caller: call.caller,
      callee: call.callee,
      dialled: call.dialled,
      start: call.start,
      answer: call.answer,
      end: call.end,
      duration:
        call.end === undefined
          ? undefined
          : call.answer !== undefined
            ? (call.end - call.answer) / 1000
            : 0,
      finalStatus: call.finalStatus ?? 0,
      finalReason: call.finalReason,
      hungUpBy: call.hungUpBy,
      trunk: call.trunk,
      cause: call.cause ?? 'failed',
    };
    if (media) {
      cdr.packets = media.packets;
      cdr.lost = media.lost;
      cdr.jitterMs = media.jitterMs;
      cdr.mos = media.mos;
      cdr.dropped = media.dropped;
    }
    return cdr;
  }

  private finish(call: ActiveCall, now: number): Promise<void> {
    call.end = now;
    const media = this.media?.end(call.callId);
    if (media) call.media = media;
    // Committed before the response that ends the call is sent.
    const cdr = this.cdrOf(call);
    let written: Promise<void>;
    if (call.cdrKey !== undefined) {
      written = this.guard(this.store.updateCdr(call.cdrKey, cdr), cdr);
      this.tracker?.callEnded(call.callId);
    } else {
      const added = this.add(cdr);
      call.cdrKey = added.key;
      written = added.written;
    }
    this.endLog(cdr);
    this.active.delete(call.callId);
    const recent = this.recentCalls;
    recent.push(call);
    if (recent.length > MAX_RECENT) recent.shift();
    if (recent.length > LADDERS_KEPT) letGoOfLadder(recent[recent.length - 1 - LADDERS_KEPT]!);
    this.tap?.changed(call);
    return written;
  }

  /** When expireOld() last looked. */
  private lastExpiry = -Infinity;

  /** Drops calls past MAX_CALL_AGE_MS, looking at most once a second (not for every call). */
  private expireOld(): void {
    const now = Date.now();
    if (now - this.lastExpiry < EXPIRE_EVERY_MS) return;
    this.lastExpiry = now;
    const cutoff = now - MAX_CALL_AGE_MS;
    for (const [id, call] of this.active) {
      if (call.start >= cutoff) break;
      this.active.delete(id);
    }
  }
}

/** An answered call past the newest LADDERS_KEPT: its messages go, its answer's SDP stays. */
function letGoOfLadder(call: ActiveCall): void {
  if (call.answer === undefined || call.messages.length === 0) return;
  call.messagesLetGo = call.messages.length;
  call.messages = [];
}
