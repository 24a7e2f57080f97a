/**
 * The capture analyzer: capture -> calls, SIP statistics, RTP streams and quality, DTMF, audio.
 *
 * @module trapezoid/analyze
 */
export { CaptureAnalysis, analyzeCaptureFile } from './capture-analysis.ts';
export type { CaptureAnalysisOptions, CaptureReadResult } from './capture-analysis.ts';
export { buildReport, formatSsrc } from './analysis-report.ts';
export type { AnalysisReport, ReportOptions, RtpStreamSummary } from './analysis-report.ts';
export { analysisJson } from './analysis-json.ts';
export { SecurityFindings } from './security-findings.ts';
export type { SecurityFinding, FindingKind, FindingSeverity } from './security-findings.ts';
export type { AnalysisJson, CallJson } from './analysis-json.ts';
export { collectAudio } from './audio-clips.ts';
export type { AudioClip } from './audio-clips.ts';
export { streamSamples, streamWav, callWav, streamSide } from './audio-export.ts';
export { parseFilter, matchesFilter, FilterSyntaxError, FILTER_HELP } from './call-filter.ts';
export type { FilterTerm, FilterKey } from './call-filter.ts';
export { CallTracker } from './call-tracker.ts';
export type {
  CallRecord,
  SipMessageRecord,
  MessageOrigin,
  SipParseFailure,
} from './call-tracker.ts';
export { ladderCall, callOutcome, ladderHosts } from './call-summary.ts';
export { deriveFlowHops } from './message-flow.ts';
export type { FlowHop } from './message-flow.ts';
export { RtpTracker, RtpStream } from './rtp-tracker.ts';
export { renderRtpTable } from './rtp-table.ts';
export { renderFindingsText } from './findings-text.ts';
export { looksLikeSip } from './sip-sniff.ts';
export type { SipStatistics } from './sip-statistics.ts';
export { dtmfFromInfo } from './info-dtmf.ts';
export { selectCallById, defaultCall } from './call-select.ts';
export type { CallSelection } from './call-select.ts';
export type { MalformedSip } from './call-tracker.ts';
export { LiveAnalysis, DEFAULT_MAX_CALLS } from './live-analysis.ts';
export type { FinishedCall, LiveAnalysisOptions } from './live-analysis.ts';
export { LiveSession } from './live-session.ts';
export type {
  LiveEnd,
  LiveSessionOptions,
  LiveSource,
  LiveStarted,
  LiveWriteOptions,
} from './live-session.ts';
export { callReport, streamSummary } from './analysis-report.ts';
export { callJson } from './analysis-json.ts';
export { callPcap, callReportModel } from './call-export.ts';
