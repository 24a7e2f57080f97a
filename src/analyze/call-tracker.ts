// Groups SIP messages into calls by Call-ID (RFC 3261 §8.1.1.4: every message of a dialog, and of
// the transactions that set it up, carries the same Call-ID). Each message is parsed once by the
// SIP layer; only a compact record of it is kept (the fields a call list and a ladder need, and the
// raw bytes when asked for), so memory follows the number of SIP messages, not of packets.
import {
  formatHostPort,
  parseMessage,
  parseTolerant,
  SipParseError,
  SipRequest,
  SipResponse,
} from '../sip/index.ts';
import type { SipDeviation, SipMessage, TolerantReading } from '../sip/index.ts';
import { dtmfFromInfo } from './info-dtmf.ts';
import { readSessionMedia } from './session-media.ts';
import type { MediaEndpoint } from './session-media.ts';
import { SipStatisticsCounter } from './sip-statistics.ts';

/** Where and when one SIP message was seen. */
export interface MessageOrigin {
  /** Capture frame number (1-based), when from a capture. */
  frame?: number;
  /** Seconds since the epoch. */
  ts: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  /** 'UDP', 'TCP', 'WS', 'TLS', ... */
  transport: string;
}

/** The compact record of one SIP message of a call. */
export interface SipMessageRecord {
  frame?: number;
  ts: number;
  /** Endpoint ids ('ip:port') of sender and receiver. */
  from: string;
  to: string;
  transport: string;
  kind: 'request' | 'response';
  /** Request method, or for a response the CSeq method. */
  method: string;
  status?: number;
  reason?: string;
  requestUri?: string;
  cseq: number;
  branch?: string;
  fromTag?: string;
  toTag?: string;
  /** From user (the calling number) and To user, as written in the URIs. */
  fromUser?: string;
  toUser?: string;
  /** User-Agent of a request, Server of a response. */
  agent?: string;
  sdp?: string;
  /** Digit of a SIP INFO DTMF body. */
  dtmf?: string;
  retransmission: boolean;
  /**
   * Set when the strict parser refused the message and it was read tolerantly: the strict
   * parser's reason.
   */
  malformed?: string;
  /** The message bytes, kept only when the tracker was asked to keep them. */
  raw?: Buffer;
}

/** Media endpoints announced in a call's SDP, split by who announced them. */
export interface CallMedia {
  caller: MediaEndpoint[];
  callee: MediaEndpoint[];
}

export interface CallRecord {
  callId: string;
  /** 'user@host' of the first message's From and To. */
  from: string;
  to: string;
  fromDisplay?: string;
  toDisplay?: string;
  firstMethod: string;
  /** From tag of the first request: the caller's side of the dialog. */
  callerTag?: string;
  messages: SipMessageRecord[];
  media: CallMedia;
}

const MAX_FAILURES_KEPT = 10000;
const EMPTY_BODY = Buffer.alloc(0);
/**
 * How many of a call's latest messages a message is compared with to recognise a retransmission:
 * far more than a transaction retransmits within its 32 s (64*T1, RFC 3261 §17).
 */
const RETRANSMISSION_LOOKBACK = 128;

export interface SipParseFailure {
  frame?: number;
  ts: number;
  src: string;
  dst: string;
  reason: string;
  line?: number;
  column?: number;
}

/** A message the strict parser refused and the tolerant reading kept (in its call). */
export interface MalformedSip {
  frame?: number;
  ts: number;
  src: string;
  dst: string;
  callId: string;
  /** 'INVITE', '200 OK' ... */
  what: string;
  /** The strict parser's reason, with its line and column in the message. */
  reason: string;
  line: number;
  column: number;
  /** Every deviation the tolerant reading met, and what it did about it. */
  deviations: SipDeviation[];
}

export interface CallTrackerOptions {
  /** Keep each message's bytes (for ladders and reports). Default true. */
  keepRaw?: boolean;
  /** Called for every media endpoint found in SDP, once the message carrying it is seen. */
  onMediaEndpoint?: (callId: string, endpoint: MediaEndpoint, side: 'caller' | 'callee') => void;
  /** Called after each message is filed under its call (live analysis follows calls with it). */
  onMessage?: (call: CallRecord, record: SipMessageRecord) => void;
}

/**
 * Endpoints remembered as signalling before the set starts over: a server seen for hours meets
 * many clients, and the set only keeps the RTP heuristics off SIP ports.
 */
const MAX_SIGNALLING_ENDPOINTS = 65536;

export class CallTracker {
  readonly calls = new Map<string, CallRecord>();
  readonly statistics = new SipStatisticsCounter();
  readonly parseFailures: SipParseFailure[] = [];
  /** Messages kept by the tolerant reading (the first MAX_FAILURES_KEPT; all are counted). */
  readonly malformed: MalformedSip[] = [];
  /** Endpoints ('ip:port') that carried SIP: never taken for RTP by the heuristics. */
  readonly signallingEndpoints = new Set<string>();
  private readonly keepRaw: boolean;
  private readonly onMediaEndpoint: CallTrackerOptions['onMediaEndpoint'];
  private readonly onMessage: CallTrackerOptions['onMessage'];

  constructor(options: CallTrackerOptions = {}) {
    this.keepRaw = options.keepRaw ?? true;
    this.onMediaEndpoint = options.onMediaEndpoint;
    this.onMessage = options.onMessage;
  }

  /** Drops a call and its messages (live analysis bounds memory this way). */
  forget(callId: string): void {
    this.calls.delete(callId);
  }

  /**
   * Parses one SIP message (bytes are not kept unless keepRaw) and files it under its call.
   * A message the strict parser refuses is read tolerantly (sip/tolerant-parser.ts): kept in its
   * call with its deviation. Returns false (and records why) when not even that can read it.
   */
  ingest(bytes: Uint8Array, origin: MessageOrigin): boolean {
    const buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let record: SipMessageRecord;
    let msg: SipMessage;
    let callId: string;
    try {
      msg = parseMessage(buf);
      callId = msg.callId;
      record = this.read(msg, origin);
    } catch (err) {
      // The tolerant path: only for messages the strict parser (or its getters) refuse.
      return this.ingestTolerant(buf, origin, err);
    }
    this.file(msg, record, buf, callId);
    return true;
  }

  private ingestTolerant(buf: Buffer, origin: MessageOrigin, strictError: unknown): boolean {
    let reading: TolerantReading;
    let record: SipMessageRecord;
    try {
      reading = parseTolerant(buf, strictError);
      record = this.read(reading.message, origin);
    } catch {
      this.recordFailure(origin, strictError);
      return false;
    }
    const first = reading.deviations[0];
    const reason = first?.reason ?? errorText(strictError);
    record.malformed = reason;
    if (record.kind === 'request' && reading.requestUri !== undefined) {
      record.requestUri = reading.requestUri;
    }
    this.statistics.malformed++;
    if (this.malformed.length < MAX_FAILURES_KEPT) {
      this.malformed.push({
        frame: origin.frame,
        ts: origin.ts,
        src: record.from,
        dst: record.to,
        callId: reading.callId,
        what:
          record.kind === 'request'
            ? record.method
            : `${record.status} ${record.reason ?? ''}`.trim(),
        reason,
        line: first?.line ?? 1,
        column: first?.column ?? 1,
        deviations: reading.deviations,
      });
    }
    this.file(reading.message, record, buf, reading.callId);
    return true;
  }

  private recordFailure(origin: MessageOrigin, err: unknown): void {
    this.statistics.parseErrors++;
    // All are counted; the first MAX_FAILURES_KEPT are kept with their details.
    if (this.parseFailures.length >= MAX_FAILURES_KEPT) return;
    const failure: SipParseFailure = {
      frame: origin.frame,
      ts: origin.ts,
      src: formatHostPort(origin.src, origin.srcPort),
      dst: formatHostPort(origin.dst, origin.dstPort),
      reason: err instanceof Error ? errorReason(err) : String(err),
    };
    if (err instanceof SipParseError) {
      failure.line = err.line;
      failure.column = err.column;
    }
    this.parseFailures.push(failure);
  }

  /** The compact record of a message: every header it needs is read here (and may throw). */
  private read(msg: SipMessage, origin: MessageOrigin): SipMessageRecord {
    const from = formatHostPort(origin.src, origin.srcPort);
    const to = formatHostPort(origin.dst, origin.dstPort);
    const cseq = msg.cseq;
    const isRequest = msg instanceof SipRequest;
    const record: SipMessageRecord = {
      frame: origin.frame,
      ts: origin.ts,
      from,
      to,
      transport: origin.transport,
      kind: isRequest ? 'request' : 'response',
      method: isRequest ? msg.method : cseq.method,
      cseq: cseq.seq,
      branch: msg.topVia?.branch,
      fromTag: msg.from.tag,
      toTag: msg.to.tag,
      fromUser: msg.from.uri.user,
      toUser: msg.to.uri.user,
      retransmission: false,
    };
    if (isRequest) {
      record.requestUri = msg.uri;
      record.agent = msg.userAgent;
    } else if (msg instanceof SipResponse) {
      record.status = msg.status;
      record.reason = msg.reason;
      record.agent = msg.server ?? msg.userAgent;
    }
    // From and To are read now so that filing cannot fail half way.
    void msg.from.uri;
    void msg.to.uri;
    return record;
  }

  /** Files a record under its call: retransmission, statistics, SDP, DTMF. */
  private file(msg: SipMessage, record: SipMessageRecord, buf: Buffer, callId: string): void {
    if (this.signallingEndpoints.size >= MAX_SIGNALLING_ENDPOINTS) this.signallingEndpoints.clear();
    this.signallingEndpoints.add(record.from);
    this.signallingEndpoints.add(record.to);
    const isRequest = record.kind === 'request';
    let call = this.calls.get(callId);
    if (!call) {
      call = {
        callId,
        from: addressOfRecord(msg.from.uri.user, msg.from.uri.host),
        to: addressOfRecord(msg.to.uri.user, msg.to.uri.host),
        fromDisplay: msg.from.displayName || undefined,
        toDisplay: msg.to.displayName || undefined,
        firstMethod: record.method,
        callerTag: msg.from.tag,
        messages: [],
        media: { caller: [], callee: [] },
      };
      this.calls.set(callId, call);
    }
    record.retransmission = repeatsEarlier(call.messages, record);

    if (isRequest) this.statistics.countRequest(record.method, record.retransmission);
    else this.statistics.countResponse(record.status!, record.retransmission);

    try {
      this.readBody(msg, call, record, isRequest);
    } catch {
      // A body part that does not parse (multipart): the message is kept without its media.
    }
    if (this.keepRaw) record.raw = Buffer.from(buf);
    call.messages.push(record);
    this.onMessage?.(call, record);
  }

  private readBody(
    msg: SipMessage,
    call: CallRecord,
    record: SipMessageRecord,
    isRequest: boolean,
  ): void {
    // Without a Content-Type only an INFO body can mean something (DTMF): skip the others.
    const body = record.method === 'INFO' || msg.has('Content-Type') ? msg.body : EMPTY_BODY;
    if (body.length > 0) {
      const type = msg.contentType;
      if (type === 'application/sdp') this.readSdp(call, record, body);
      else if (type?.startsWith('multipart/')) {
        for (const part of msg.multipart() ?? []) {
          const partType = part.headers
            .find((h) => h.name.toLowerCase() === 'content-type')
            ?.value.split(';')[0]
            .trim()
            .toLowerCase();
          if (partType === 'application/sdp') this.readSdp(call, record, part.body);
        }
      } else if (isRequest && record.method === 'INFO' && !record.retransmission) {
        record.dtmf = dtmfFromInfo(type, body.toString('utf8'));
      }
    }
  }

  private readSdp(call: CallRecord, record: SipMessageRecord, body: Buffer): void {
    const media = readSessionMedia(body.toString('utf8'));
    if (!media) return;
    record.sdp = media.summary;
    // The caller's side sends requests with its own From tag and answers the callee's requests.
    const fromCallerTag = call.callerTag === undefined || record.fromTag === call.callerTag;
    const byCaller = record.kind === 'request' ? fromCallerTag : !fromCallerTag;
    const side = byCaller ? 'caller' : 'callee';
    for (const endpoint of media.endpoints) {
      const list = call.media[side];
      if (!list.some((e) => e.address === endpoint.address && e.port === endpoint.port)) {
        list.push(endpoint);
      }
      this.onMediaEndpoint?.(call.callId, endpoint, side);
    }
  }
}

/**
 * True when the message repeats one of the call's latest: the same hop, kind, method or status,
 * CSeq, top Via branch and To tag (compared field by field: no key string per message).
 */
function repeatsEarlier(earlier: readonly SipMessageRecord[], r: SipMessageRecord): boolean {
  const stop = Math.max(0, earlier.length - RETRANSMISSION_LOOKBACK);
  for (let i = earlier.length - 1; i >= stop; i--) {
    const m = earlier[i];
    if (
      m.cseq === r.cseq &&
      m.kind === r.kind &&
      m.method === r.method &&
      m.status === r.status &&
      (m.branch ?? '') === (r.branch ?? '') &&
      (m.toTag ?? '') === (r.toTag ?? '') &&
      m.from === r.from &&
      m.to === r.to
    ) {
      return true;
    }
  }
  return false;
}

function addressOfRecord(user: string | undefined, host: string): string {
  return user ? `${user}@${host}` : host;
}

function errorText(err: unknown): string {
  return err instanceof Error ? errorReason(err) : String(err);
}

function errorReason(err: Error): string {
  const reason = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason ? reason : err.message;
}
