// From a finished CaptureAnalysis to the plain data every output shows: the render layer's Report
// (calls with their ladders and streams, stats, warnings) plus the analyzer's own extras.
import { estimateMos } from '../media/index.ts';
import type { LadderCall, LadderRtpStream, Report } from '../render/model.ts';
import type { CaptureAnalysis } from './capture-analysis.ts';
import { ladderCall } from './call-summary.ts';
import type { SipParseFailure } from './call-tracker.ts';
import { matchesFilter } from './call-filter.ts';
import type { FilterTerm } from './call-filter.ts';
import type { RtpStream } from './rtp-tracker.ts';
import type { SecurityFinding } from './security-findings.ts';
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

/** Builds the report of an analysis; filters apply to calls and to the streams of those calls. */
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

  const calls: LadderCall[] = [];
  for (const record of analysis.calls.calls.values()) {
    if (options.hideOptions && record.firstMethod === 'OPTIONS') continue;
    const call = ladderCall(record);
    call.rtp = byCall.get(record.callId) ?? [];
    if (options.filter && options.filter.length > 0 && !matchesFilter(call, options.filter))
      continue;
    calls.push(call);
  }
  calls.sort((a, b) => a.start - b.start);

  const filtering = Boolean(options.filter?.length) || Boolean(options.hideOptions);
  const shownCalls = new Set(calls.map((c) => c.callId));
  const rtpStreams = [...summaries.values()].filter(
    (s) => !filtering || s.callId === null || shownCalls.has(s.callId),
  );

  const warnings = [...analysis.warnings];
  for (const f of analysis.calls.parseFailures) {
    const where = f.line !== undefined ? ` (line ${f.line}, column ${f.column})` : '';
    warnings.push(
      `frame ${f.frame ?? '?'}: unparseable SIP ${f.src} -> ${f.dst}: ${f.reason}${where}`,
    );
  }

  return {
    title: options.title ?? 'SIP capture analysis',
    ...(options.source ? { source: options.source } : {}),
    calls,
    rtpStreams,
    stats: analysis.calls.statistics.snapshot(),
    findings: analysis.security?.findings() ?? [],
    warnings,
    parseFailures: analysis.calls.parseFailures,
    frames: analysis.frames,
  };
}

/** '0x' + 8 lower-case hex digits. */
export function formatSsrc(ssrc: number): string {
  return '0x' + (ssrc >>> 0).toString(16).padStart(8, '0');
}

function streamSummary(s: RtpStream, analysis: CaptureAnalysis): RtpStreamSummary {
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
  if (digits.length > 0) summary.dtmf = digits.join('');
  return summary;
}

/** Codec names of the payload types seen, in order: 'PCMA', 'PCMA,telephone-event'. */
function codecName(s: RtpStream, payloadTypes: number[]): string {
  const names = payloadTypes.map((pt) => s.formatOf(pt)?.name ?? `PT${pt}`);
  return [...new Set(names)].join(',');
}
