// From a finished CaptureAnalysis to the plain data every output shows: the render layer's Report
// (calls with their ladders and streams, stats, warnings) plus the analyzer's own extras.
import { estimateMos } from '../media/index.ts';
import type { LadderCall, LadderRtpStream, Report } from '../render/model.ts';
import type { CaptureAnalysis } from './capture-analysis.ts';
import { ladderCall } from './call-summary.ts';
import type { CallRecord, MalformedSip, SipParseFailure } from './call-tracker.ts';
import { matchesFilter } from './call-filter.ts';
import type { FilterTerm } from './call-filter.ts';
import type { RtpStream } from './rtp-tracker.ts';
import type { SecurityFinding } from './security-findings.ts';
import { SipStatisticsCounter } from './sip-statistics.ts';
import type { SipStatistics } from './sip-statistics.ts';

/** A stream as reports list it: the ladder's stream plus what a script wants. */
export interface RtpStreamSummary extends LadderRtpStream {
  callId: string | null;
  /** 'sdp' when found through SDP of a call, 'heuristic' when by RTP header checks alone. */
  foundBy: 'sdp' | 'heuristic';
  payloadTypes: number[];
  duplicates: number;
  outOfOrder: number;
  minDeltaMs: number;
  meanDeltaMs: number;
  lostPercent: number;
  /** Frame of the stream's first packet. */
  firstFrame: number;
}

export interface AnalysisReport extends Report {
  calls: LadderCall[];
  /** Every RTP stream, in order of first packet; callId null for streams of no call. */
  rtpStreams: RtpStreamSummary[];
  stats: SipStatistics;
  warnings: string[];
  parseFailures: SipParseFailure[];
  /** Messages the strict parser refused and the tolerant reading kept (of the shown calls). */
  malformed: MalformedSip[];
  frames: number;
  /** Security findings, most serious first (empty unless the analysis looked for them). */
  findings: SecurityFinding[];
}

export interface ReportOptions {
  title?: string;
  source?: string;
  filter?: readonly FilterTerm[];
  /** Hide calls whose first request is OPTIONS (keep-alives). */
  hideOptions?: boolean;
}

/**
 * Builds the report of an analysis. A filter applies to the calls, to the RTP streams (those of
 * the shown calls only) and to the SIP statistics (the messages of the shown calls; `parseErrors`
 * stays the capture's count, as an unreadable message belongs to no call). Hiding OPTIONS only
 * hides calls.
 */
export function buildReport(
  analysis: CaptureAnalysis,
  options: ReportOptions = {},
): AnalysisReport {
  const summaries = new Map<RtpStream, RtpStreamSummary>();
  for (const s of analysis.rtp.streams) summaries.set(s, streamSummary(s, analysis));

  const byCall = new Map<string, RtpStreamSummary[]>();
  for (const summary of summaries.values()) {
    if (summary.callId === null) continue;
    const list = byCall.get(summary.callId);
    if (list) list.push(summary);
    else byCall.set(summary.callId, [summary]);
  }

  const filter = options.filter && options.filter.length > 0 ? options.filter : undefined;
  const calls: LadderCall[] = [];
  const shownRecords: CallRecord[] = [];
  for (const record of analysis.calls.calls.values()) {
    if (options.hideOptions && record.firstMethod === 'OPTIONS') continue;
    const call = callWithMedia(analysis, record, byCall.get(record.callId) ?? []);
    if (filter && !matchesFilter(call, filter)) continue;
    calls.push(call);
    shownRecords.push(record);
  }
  calls.sort((a, b) => a.start - b.start);

  const shownCalls = new Set(calls.map((c) => c.callId));
  // A filter selects calls: streams of no call do not match it. Hiding OPTIONS keeps them.
  const rtpStreams = [...summaries.values()].filter((s) =>
    filter
      ? s.callId !== null && shownCalls.has(s.callId)
      : !options.hideOptions || s.callId === null || shownCalls.has(s.callId),
  );
  const malformed = filter
    ? analysis.calls.malformed.filter((m) => shownCalls.has(m.callId))
    : analysis.calls.malformed;

  const warnings = [...analysis.warnings];
  for (const f of analysis.calls.parseFailures) {
    const where = f.line !== undefined ? ` (line ${f.line}, column ${f.column})` : '';
    warnings.push(
      `frame ${f.frame ?? '?'}: unparseable SIP ${f.src} -> ${f.dst}: ${f.reason}${where}`,
    );
  }
  for (const m of malformed) {
    const more = m.deviations.length > 1 ? ` (+${m.deviations.length - 1} more)` : '';
    warnings.push(
      `frame ${m.frame ?? '?'}: malformed SIP ${m.what} ${m.src} -> ${m.dst}, read tolerantly: ${m.reason} (line ${m.line}, column ${m.column})${more}`,
    );
  }

  return {
    title: options.title ?? 'SIP capture analysis',
    ...(options.source ? { source: options.source } : {}),
    calls,
    rtpStreams,
    stats: filter
      ? statisticsOf(shownRecords, analysis.calls.statistics.parseErrors)
      : analysis.calls.statistics.snapshot(),
    findings: analysis.security?.findings() ?? [],
    warnings,
    parseFailures: analysis.calls.parseFailures,
    malformed,
    frames: analysis.frames,
  };
}

/** A call's ladder model with its RTP streams and DTMF attached. */
function callWithMedia(
  analysis: CaptureAnalysis,
  record: CallRecord,
  streams: RtpStreamSummary[],
): LadderCall {
  const call = ladderCall(record);
  call.rtp = streams;
  const digits = callDigits(analysis, record, call.rtp);
  if (digits) call.dtmf = digits;
  return call;
}

/** One call as a report shows it (live analysis: the call list row, its ladder, its streams). */
export function callReport(
  analysis: CaptureAnalysis,
  record: CallRecord,
): { call: LadderCall; rtpStreams: RtpStreamSummary[] } {
  const streams: RtpStreamSummary[] = [];
  for (const s of analysis.rtp.streams) {
    if (s.callId === record.callId) streams.push(streamSummary(s, analysis));
  }
  return { call: callWithMedia(analysis, record, streams), rtpStreams: streams };
}

/** The SIP statistics of some calls' messages (what a filter shows). */
function statisticsOf(records: CallRecord[], parseErrors: number): SipStatistics {
  const counter = new SipStatisticsCounter();
  for (const r of records) {
    for (const m of r.messages) {
      if (m.kind === 'request') counter.countRequest(m.method, m.retransmission);
      else counter.countResponse(m.status!, m.retransmission);
      if (m.malformed !== undefined) counter.malformed++;
    }
  }
  counter.parseErrors = parseErrors;
  return counter.snapshot();
}

/** The call's DTMF: SIP INFO digits and its streams' RFC 4733 digits, in time order. */
export function callDigits(
  analysis: CaptureAnalysis,
  record: CallRecord,
  streams: readonly { ssrc: string; src: string; dst: string }[],
): string {
  const digits: Array<{ ts: number; digit: string }> = [];
  for (const m of record.messages) if (m.dtmf) digits.push({ ts: m.ts, digit: m.dtmf });
  if (streams.length > 0) {
    for (const s of analysis.rtp.streams) {
      if (s.callId !== record.callId) continue;
      for (const d of analysis.dtmf.digits(s)) digits.push(d);
    }
  }
  digits.sort((a, b) => a.ts - b.ts);
  return digits.map((d) => d.digit).join('');
}

/** '0x' + 8 lower-case hex digits. */
export function formatSsrc(ssrc: number): string {
  return '0x' + (ssrc >>> 0).toString(16).padStart(8, '0');
}

export function streamSummary(s: RtpStream, analysis: CaptureAnalysis): RtpStreamSummary {
  const snap = s.snapshot();
  const codec = codecName(s, snap.payloadTypes);
  const digits = analysis.dtmf.digits(s).map((d) => d.digit);
  const summary: RtpStreamSummary = {
    ssrc: formatSsrc(s.ssrc),
    src: s.srcId,
    dst: s.dstId,
    payloadType: s.firstPayloadType,
    codec,
    packets: snap.packets,
    lost: snap.lost,
    start: snap.firstArrival,
    end: snap.lastArrival,
    maxDeltaMs: snap.maxDeltaMs,
    maxJitterMs: snap.maxJitterMs,
    meanJitterMs: snap.meanJitterMs,
    callId: s.callId,
    foundBy: s.foundBy,
    payloadTypes: snap.payloadTypes,
    duplicates: snap.duplicates,
    outOfOrder: snap.outOfOrder,
    minDeltaMs: snap.minDeltaMs,
    meanDeltaMs: snap.meanDeltaMs,
    lostPercent: snap.lostPercent,
    firstFrame: s.firstFrame,
  };
  // The E-model estimate (media layer) is defined for G.711 only.
  const main = s.formatOf(s.firstPayloadType)?.name.toUpperCase();
  if (main === 'PCMU' || main === 'PCMA') {
    const { mos } = estimateMos({
      codec: main,
      lossPct: Math.min(100, Math.max(0, snap.lostPercent)),
      jitterMs: snap.meanJitterMs,
    });
    if (Number.isFinite(mos)) summary.mos = Math.round(mos * 100) / 100;
  }
  if (digits.length > 0) {
    summary.dtmf = digits.join('');
    summary.dtmfEvents = analysis.dtmf.digits(s).map((d) => ({ ts: d.ts, digit: d.digit }));
  }
  return summary;
}

/** Codec names of the payload types seen, in order: 'PCMA', 'PCMA,telephone-event'. */
function codecName(s: RtpStream, payloadTypes: number[]): string {
  const names = payloadTypes.map((pt) => s.formatOf(pt)?.name ?? `PT${pt}`);
  return [...new Set(names)].join(',');
}
