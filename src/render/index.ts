/**
 * Ladder diagrams and reports: pure functions of the call model in ./model.ts.
 *
 * @module trapezoid/render
 */
export type {
  LadderCall,
  LadderHost,
  LadderMessage,
  LadderRtpStream,
  CallState,
  Finding,
  SipStats,
  Report,
} from './model.ts';
export { missingPackets } from './model.ts';
export { renderText, type TextOptions } from './text-ladder.ts';
export { renderCallList, type CallListOptions } from './call-list.ts';
export { renderStats, type StatsOptions } from './stats.ts';
export { renderSvg, renderSvgCalls, type SvgOptions } from './svg-ladder.ts';
export { renderMermaid, escapeMermaid } from './mermaid.ts';
export { renderJson } from './json.ts';
export { renderHtmlReport } from './html-report.ts';
export { messageClass, type MessageClass } from './message-class.ts';
