// What the live console (web/) and the HTTP API say to each other: the JSON of each route and of
// each event on /api/events, and the one conversion from a call the server logged to the render
// layer's LadderCall (so the console draws with src/render/svg-ladder.ts, the analyzer's ladder).
// Pure and free of Node: the browser bundle imports this file.
import type { LadderCall, LadderHost, LadderMessage, CallState } from '../render/model.ts';
import type { BindingRecord, CdrCause, CdrRecord } from '../store/store.ts';
import type { Ban } from './ban-list.ts';
import type { ActiveCall, LoggedMessage } from './call-log.ts';
import type { MediaSummary } from './media-relay-proxy.ts';
import type { RelaySessionStats } from './media-relay.ts';

export type { LoggedMessage, BindingRecord, CdrRecord, CdrCause, Ban, MediaSummary };

/**
 * A call as the console lists it (GET /api/calls/{id} adds `messages`): the call log's own
 * fields (call-log.ts ActiveCall) and what the console adds.
 */
export interface CallSummary extends Pick<
  ActiveCall,
  | 'callId'
  | 'caller'
  | 'callee'
  | 'dialled'
  | 'start'
  | 'answer'
  | 'end'
  | 'finalStatus'
  | 'finalReason'
  | 'cause'
  | 'hungUpBy'
  | 'trunk'
> {
  /** 'trying' before any answer, 'ringing' after a 18x, then 'answered', then 'ended' or 'failed'. */
  state: 'trying' | 'ringing' | 'answered' | 'ended' | 'failed';
  /** The codec the answer chose (first payload of the answer's m=audio), when SDP was seen. */
  codec?: string;
  /** Relay media at the end of the call. */
  media?: MediaSummary;
  /** Messages the call had, kept or not. */
  messageCount: number;
  /**
   * The messages were let go (an answered call beyond the newest 50 finished ones): the detail
   * has none, the summary stays.
   */
  ladderLetGo?: true;
  /** Whether the server's capture ring holds packets of it (GET /api/calls/{id}/pcap). */
  capture: boolean;
}

export interface CallDetail extends CallSummary {
  messages: LoggedMessage[];
}

/** Counters sampled once a second for the console's charts. */
export interface MetricsSample {
  /** Milliseconds since the epoch. */
  ts: number;
  activeCalls: number;
  registrations: number;
  /** Since the start: INVITEs received, and final responses sent by class. */
  invites: number;
  responses: Record<string, number>;
}

/** How the last INVITE the server sent to one peer of a trunk ended. */
export interface TrunkPeerOutcome {
  /** When its final response came (or it timed out), milliseconds since the epoch. */
  ts: number;
  /** The peer's final status; 408 when it did not answer in time. */
  status: number;
  /** The call was then tried on the next peer (failover on 503, 408 or no answer). */
  failedOver: boolean;
}

/** One peer of a trunk, in the order calls try them. */
export interface TrunkPeerState {
  /** transport:host:port */
  peer: string;
  /** Undefined until a call was sent to it. */
  last?: TrunkPeerOutcome;
}

export interface TrunkState {
  name: string;
  /** The peers in failover order, with their last outcome (always sent by /api/trunks). */
  peers: TrunkPeerState[];
  /** Outbound registration toward the provider, when the trunk registers. */
  registration?: {
    state: 'registering' | 'registered' | 'failed' | 'stopped';
    lastStatus: number;
    granted: number;
  };
}

/** Media relay session of a call in progress (GET /api/media). */
export type MediaSession = RelaySessionStats;

/** One event of GET /api/events or /api/calls/{id}/events (server-sent events, `data:` one JSON object). */
export type ConsoleEvent =
  | {
      type: 'hello';
      /** Whether this client may act (unban): it sent the token, and one is configured. */
      canAct: boolean;
      calls: CallSummary[];
    }
  /** Calls that began, changed or ended since the last such event. */
  | { type: 'calls'; calls: CallSummary[] }
  /** First event of /api/calls/{id}/events: the call and its messages so far. */
  | { type: 'detail'; call: CallDetail }
  /** A message of the call a /api/calls/{id}/events stream follows (its `index`th). */
  | { type: 'message'; callId: string; index: number; message: LoggedMessage }
  | { type: 'registrations'; bindings: BindingRecord[] }
  | { type: 'bans'; bans: Ban[] }
  | { type: 'trunks'; trunks: TrunkState[] }
  | { type: 'media'; sessions: MediaSession[] }
  | { type: 'metrics'; sample: MetricsSample };

/** The fields of a logged call the summary is made of (call-log.ts ActiveCall). */
export interface LoggedCall {
  callId: string;
  caller: string;
  callee: string;
  dialled: string;
  start: number;
  answer?: number;
  end?: number;
  finalStatus?: number;
  finalReason?: string;
  cause?: CdrCause;
  hungUpBy?: 'caller' | 'callee';
  trunk?: string;
  media?: MediaSummary;
  messages: LoggedMessage[];
  /** How many messages were let go (call-log.ts LADDERS_KEPT). */
  messagesLetGo?: number;
  /** The last 18x or 2xx with SDP: what the codec is read from once the messages were let go. */
  answerSdp?: LoggedMessage;
}

/** The call's state from what was logged. */
export function callState(c: LoggedCall): CallSummary['state'] {
  if (c.end !== undefined) return c.answer !== undefined ? 'ended' : 'failed';
  if (c.answer !== undefined) return 'answered';
  return c.messages.some((m) => /^18\d /.test(m.label)) ? 'ringing' : 'trying';
}

/** The SDP body of a message's raw text, or undefined. */
function sdpBody(raw: string): string | undefined {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) return undefined;
  const body = raw.slice(split + 4);
  return body.startsWith('v=0') ? body : undefined;
}

/** First payload of the first m=audio with its rtpmap name: 'PCMU', 'opus/48000' -> 'opus'. */
export function sdpCodec(sdp: string): string | undefined {
  const m = /^m=audio \d+(?:\/\d+)? \S+ (\d+)/m.exec(sdp);
  if (!m) return undefined;
  const pt = m[1]!;
  const map = new RegExp(`^a=rtpmap:${pt} ([^/\\s]+)`, 'm').exec(sdp);
  if (map) return map[1];
  const staticNames: Record<string, string> = {
    '0': 'PCMU',
    '8': 'PCMA',
    '9': 'G722',
    '18': 'G729',
  };
  return staticNames[pt] ?? `PT ${pt}`;
}

/** A 18x or 2xx: a response whose SDP, if any, is an answer the call's codec is read from. */
export function isAnswerStatus(status: number): boolean {
  return (status >= 180 && status < 190) || (status >= 200 && status < 300);
}

/** isAnswerStatus of a kept message's label (`180 Ringing`; a request's label is its method). */
export function isAnswerLabel(label: string): boolean {
  return /^\d{3} /.test(label) && isAnswerStatus(Number(label.slice(0, 3)));
}

/** The codec of the call: from the SDP of the last answer (a 2xx or 18x with SDP). */
export function callCodec(c: LoggedCall): string | undefined {
  const messages = c.messages.length === 0 && c.answerSdp ? [c.answerSdp] : c.messages;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (!isAnswerLabel(m.label)) continue;
    const sdp = sdpBody(m.raw);
    if (sdp) return sdpCodec(sdp);
  }
  return undefined;
}

export function summarize(c: LoggedCall, capture: boolean): CallSummary {
  return {
    callId: c.callId,
    caller: c.caller,
    callee: c.callee,
    dialled: c.dialled,
    start: c.start,
    answer: c.answer,
    end: c.end,
    finalStatus: c.finalStatus,
    finalReason: c.finalReason,
    cause: c.cause,
    hungUpBy: c.hungUpBy,
    trunk: c.trunk,
    state: callState(c),
    codec: callCodec(c),
    media: c.media,
    messageCount: c.messages.length + (c.messagesLetGo ?? 0),
    ...(c.messagesLetGo ? { ladderLetGo: true as const } : {}),
    capture,
  };
}

/** 'udp:127.0.0.1:5060' / 'tcp:[::1]:5060' -> transport and the ladder's host id. */
export function splitEndpoint(text: string): { transport: string; id: string } {
  const colon = text.indexOf(':');
  if (colon < 0) return { transport: 'UDP', id: text };
  return { transport: text.slice(0, colon).toUpperCase(), id: text.slice(colon + 1) };
}

function header(raw: string, long: string, short?: string): string | undefined {
  const re = new RegExp(`^(?:${long}${short ? `|${short}` : ''})[ \\t]*:[ \\t]*(.*)$`, 'im');
  const head = raw.slice(0, Math.max(0, raw.indexOf('\r\n\r\n')) || raw.length);
  return re.exec(head)?.[1]?.trim();
}

/** One logged message as a ladder arrow. */
export function ladderMessage(m: LoggedMessage, index: number, start: number): LadderMessage {
  const from = splitEndpoint(m.from);
  const to = splitEndpoint(m.to);
  const status = /^(\d{3}) /.exec(m.label);
  const cseqMethod = header(m.raw, 'CSeq')?.split(/\s+/)[1];
  const sdp = sdpBody(m.raw);
  const codec = sdp ? sdpCodec(sdp) : undefined;
  const conn = sdp ? /^c=IN IP[46] (\S+)/m.exec(sdp)?.[1] : undefined;
  const port = sdp ? /^m=audio (\d+)/m.exec(sdp)?.[1] : undefined;
  return {
    index,
    time: (m.ts - start) / 1000,
    ts: m.ts / 1000,
    from: from.id,
    to: to.id,
    transport: from.transport,
    kind: status ? 'response' : 'request',
    method: status ? (cseqMethod ?? '') : m.label,
    ...(status ? { status: Number(status[1]) } : {}),
    label: m.label,
    ...(sdp ? { sdp: `SDP ${codec ?? ''} ${conn ?? ''}:${port ?? ''}`.replace(/\s+/g, ' ') } : {}),
    raw: m.raw,
  };
}

function ladderState(s: CallSummary['state'], status?: number): CallState {
  if (s === 'ended') return 'completed';
  if (s === 'failed')
    return status === 487 ? 'cancelled' : status && status < 500 ? 'rejected' : 'failed';
  return 'in-progress';
}

/** A logged call as the render layer's LadderCall (no RTP streams: the relay's are listed apart). */
export function ladderCall(c: LoggedCall): LadderCall {
  const start = c.messages[0]?.ts ?? c.start;
  const messages = c.messages.map((m, i) => ladderMessage(m, i, start));
  const hosts: LadderHost[] = [];
  const seen = new Set<string>();
  for (const m of messages) {
    for (const id of [m.from, m.to]) {
      if (seen.has(id)) continue;
      seen.add(id);
      hosts.push({ id, label: id });
    }
  }
  const last = c.messages[c.messages.length - 1]?.ts ?? start;
  return {
    callId: c.callId,
    from: c.caller,
    to: c.callee,
    firstMethod: messages[0]?.method ?? 'INVITE',
    start: start / 1000,
    duration: ((c.end ?? last) - start) / 1000,
    state: ladderState(callState(c), c.finalStatus),
    finalStatus: c.finalStatus,
    finalReason: c.finalReason,
    hungUpBy: c.hungUpBy,
    hosts,
    messages,
    rtp: [],
  };
}

/** The CDR search of GET /api/cdrs: every field optional, all given ones must match. */
export interface CdrQuery {
  /** Digits or text found in the caller, callee or dialled number. */
  number?: string;
  /** A user (the part before @) that is the caller or the callee. */
  user?: string;
  /** A final status (486) or a status class ('4xx'). */
  status?: string;
  cause?: string;
  trunk?: string;
  /** Milliseconds since the epoch: calls that started in [since, until]. */
  since?: number;
  until?: number;
  limit?: number;
}

export function cdrMatches(r: CdrRecord, q: CdrQuery): boolean {
  if (q.number && ![r.caller, r.callee, r.dialled].some((v) => v.includes(q.number!))) return false;
  if (q.user) {
    const user = q.user.toLowerCase();
    const of = (aor: string) => aor.toLowerCase().split('@')[0];
    if (of(r.caller) !== user && of(r.callee) !== user) return false;
  }
  if (q.status) {
    const cls = /^([1-6])xx$/i.exec(q.status);
    if (
      cls ? Math.floor(r.finalStatus / 100) !== Number(cls[1]) : String(r.finalStatus) !== q.status
    )
      return false;
  }
  if (q.cause && r.cause !== q.cause) return false;
  if (q.trunk && r.trunk !== q.trunk) return false;
  if (q.since !== undefined && r.start < q.since) return false;
  if (q.until !== undefined && r.start > q.until) return false;
  return true;
}

export const CDR_CSV_COLUMNS = [
  'id',
  'callId',
  'caller',
  'callee',
  'dialled',
  'start',
  'answer',
  'end',
  'duration',
  'finalStatus',
  'finalReason',
  'cause',
  'hungUpBy',
  'trunk',
  'packets',
  'lost',
  'jitterMs',
  'mos',
  'dropped',
] as const;

/**
 * RFC 4180 CSV of CDR rows (the console's export and `trapezoid cdr --csv`); times as ISO 8601
 * UTC. A cell starting with = + - @ is quoted with a ' (no formula injection in spreadsheets).
 */
export function cdrCsv(rows: readonly CdrRecord[]): string {
  const cell = (v: unknown, key: string): string => {
    if (v === undefined || v === null) return '';
    let s =
      (key === 'start' || key === 'answer' || key === 'end') && typeof v === 'number'
        ? new Date(v).toISOString()
        : String(v);
    if (/^[=+\-@\t\r]/.test(s) && typeof v === 'string') s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [CDR_CSV_COLUMNS.join(',')];
  for (const r of rows) {
    const rec = r as unknown as Record<string, unknown>;
    lines.push(CDR_CSV_COLUMNS.map((k) => cell(rec[k], k)).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
