// The JSON of `trapezoid analyze FILE --json`: a stable shape for scripts.
//
// { source, frames, calls: [{ callId, from, to, fromDisplay, toDisplay, firstMethod, state,
//   finalStatus, finalReason, hungUpBy, start, duration, messages (count), retransmissions,
//   hosts, dtmf, rtpStreams (ssrc list), ladder? }], rtpStreams: [RtpStreamSummary],
//   stats, warnings, parseFailures, malformed, audio?, findings? }
// malformed: messages the strict parser refused and the tolerant reading kept in their calls:
// [{ frame, ts, src, dst, callId, what, reason, line, column, deviations: [{reason, line, column,
// header?, repair}] }].
// findings (with --security): [{ kind, severity, text, frames (the first 20), frameCount }].
// start and stream start/end are seconds since the epoch; duration in seconds; null where a
// value does not exist (finalStatus of an unanswered call, callId of a stream of no call).
import type { LadderCall } from '../render/model.ts';
import type { AnalysisReport, RtpStreamSummary } from './analysis-report.ts';
import type { AudioClip } from './audio-clips.ts';
import type { CaptureAnalysis } from './capture-analysis.ts';
import type { MalformedSip, SipParseFailure } from './call-tracker.ts';
import type { SecurityFinding } from './security-findings.ts';
import type { SipStatistics } from './sip-statistics.ts';

export interface CallJson {
  callId: string;
  from: string;
  to: string;
  fromDisplay: string | null;
  toDisplay: string | null;
  firstMethod: string;
  state: string;
  finalStatus: number | null;
  finalReason: string | null;
  hungUpBy: 'caller' | 'callee' | null;
  start: number;
  duration: number;
  messages: number;
  retransmissions: number;
  hosts: string[];
  /** Digits from SIP INFO and from the call's RFC 4733 events, in time order. */
  dtmf: string;
  rtpStreams: string[];
  ladder?: LadderCall;
}

export interface AnalysisJson {
  source: string | null;
  frames: number;
  calls: CallJson[];
  rtpStreams: RtpStreamSummary[];
  stats: SipStatistics;
  warnings: string[];
  parseFailures: SipParseFailure[];
  /** Messages the strict parser refused, kept by the tolerant reading (with every deviation). */
  malformed: MalformedSip[];
  audio?: Array<{
    id: string;
    kind: string;
    file: string;
    ssrc: string | null;
    callId: string | null;
  }>;
  /** Present when the analysis looked for security findings (`--security`). */
  findings?: SecurityFinding[];
}

export function analysisJson(
  analysis: CaptureAnalysis,
  report: AnalysisReport,
  options: { ladders?: ReadonlySet<string>; audio?: AudioClip[]; audioDir?: string } = {},
): AnalysisJson {
  const calls = report.calls.map((c) => callJson(c, options.ladders?.has(c.callId) ?? false));
  const json: AnalysisJson = {
    source: report.source ?? null,
    frames: report.frames,
    calls,
    rtpStreams: report.rtpStreams,
    stats: report.stats,
    warnings: report.warnings,
    parseFailures: report.parseFailures,
    malformed: report.malformed,
  };
  if (analysis.security) json.findings = report.findings;
  if (options.audio) {
    json.audio = options.audio.map((a) => ({
      id: a.id,
      kind: a.kind,
      file: options.audioDir ? `${options.audioDir}/${a.fileName}` : a.fileName,
      ssrc: a.ssrc ?? null,
      callId: a.callId ?? null,
    }));
  }
  return json;
}

/** One call's JSON (an element of `calls`); with `ladder`, its whole ladder model too. */
export function callJson(c: LadderCall, ladder = false): CallJson {
  const out: CallJson = {
    callId: c.callId,
    from: c.from,
    to: c.to,
    fromDisplay: c.fromDisplay ?? null,
    toDisplay: c.toDisplay ?? null,
    firstMethod: c.firstMethod,
    state: c.state,
    finalStatus: c.finalStatus ?? null,
    finalReason: c.finalReason ?? null,
    hungUpBy: c.hungUpBy ?? null,
    start: c.start,
    duration: c.duration,
    messages: c.messages.length,
    retransmissions: c.messages.filter((m) => m.retransmission).length,
    hosts: c.hosts.map((h) => h.id),
    dtmf: c.dtmf ?? '',
    rtpStreams: c.rtp.map((s) => s.ssrc),
  };
  if (ladder) out.ladder = c;
  return out;
}
