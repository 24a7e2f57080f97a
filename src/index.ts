/**
 * `trapezoid`: the package's front door. The names most programs need, one import away:
 *
 * ```ts
 * import { UserAgent, parseMessage, startServer, analyzeCaptureFile } from 'trapezoid';
 * ```
 *
 * Each layer has its own entry with its full surface (`trapezoid/sip`, `trapezoid/transport`,
 * `trapezoid/transaction`, `trapezoid/ua`, `trapezoid/media`, `trapezoid/server`,
 * `trapezoid/capture`, `trapezoid/analyze`, `trapezoid/render`); what is here is a selection of
 * those, the same objects under the same names.
 *
 * @module trapezoid
 */

// SIP messages (RFC 3261 §7, §19, §20, §25).
export {
  SipParseError,
  parseMessage,
  SipMessage,
  SipRequest,
  SipResponse,
  parseUri,
  formatUri,
  parseNameAddr,
  formatNameAddr,
  createResponse,
  reasonPhrase,
  newTag,
  newBranch,
  newCallId,
} from './sip/index.ts';
export type { ParseOptions, SipUri, NameAddr, CreateResponseOptions } from './sip/index.ts';

// User agent: register, call, answer (RFC 3261 §8, §10, §12-15).
export {
  UserAgent,
  Call,
  CallFailedError,
  IncomingCall,
  Registration,
  RegistrationError,
} from './ua/index.ts';
export type {
  UserAgentOptions,
  UserAgentEvents,
  InviteOptions,
  CallEnd,
  CallEvents,
  SessionBody,
} from './ua/index.ts';

// The call server, started from code as `trapezoid serve` starts it.
export { startServer, loadConfig, validateConfig, ConfigError } from './server/index.ts';
export type {
  StartServerOptions,
  RunningServer,
  ServerConfig,
  ServerConfigInput,
} from './server/index.ts';

// Media: SDP (RFC 4566) and offer/answer (RFC 3264).
export { parseSdp, formatSdp, createOffer, createAnswer } from './media/index.ts';
export type { SessionDescription } from './media/index.ts';

// Captures: read pcap/pcapng, analyse calls, draw ladders.
export { readCaptureFile } from './capture/index.ts';
export { analyzeCaptureFile, buildReport, analysisJson } from './analyze/index.ts';
export type { AnalysisReport, AnalysisJson, CaptureAnalysisOptions } from './analyze/index.ts';
export { renderText, renderSvg, renderMermaid, renderHtmlReport } from './render/index.ts';
export type { LadderCall, Report } from './render/index.ts';
