/**
 * The SIP message layer: everything other layers use comes from here (see README.md).
 *
 * @module trapezoid/sip
 */

export { SipParseError } from './parse-error.ts';
export { parseMessage, type ParseOptions } from './parser.ts';
export { SipMessage, SipRequest, SipResponse, type HeaderLine, type CSeq } from './message.ts';
export { parseUri, formatUri, type SipUri } from './uri.ts';
export {
  parseNameAddr,
  formatNameAddr,
  parseContact,
  type NameAddr,
  type Contact,
} from './name-addr.ts';
export { parseVia, formatVia, type Via } from './via.ts';
export {
  parseAuthValue,
  formatDigest,
  type DigestChallenge,
  type DigestCredentials,
} from './digest.ts';
export { parseMediaType, type MediaType } from './media-type.ts';
export { parseMultipart, type BodyPart } from './multipart.ts';
export { parseSipDate, formatSipDate } from './sip-date.ts';
export { createResponse, type CreateResponseOptions } from './create-response.ts';
export {
  missingHeaders,
  validateRequest,
  type RequestProblem,
  type ValidateOptions,
} from './validate-request.ts';
export { reasonPhrase } from './reason-phrase.ts';
export { newBranch, newTag, newCallId, BRANCH_COOKIE } from './ids.ts';
export { displayName as canonicalHeaderName } from './header-names.ts';
export {
  parseTolerant,
  readSipMessage,
  type SipDeviation,
  type TolerantReading,
} from './tolerant-parser.ts';
export { redactCredentials, redactCredentialValue } from './redact.ts';
export { KNOWN_METHODS, ownString } from './bytes.ts';
export { hostForHeader, formatHostPort } from './host-port.ts';
export { SCANNER_USER_AGENTS, scannerAgentIn } from './scanner-user-agents.ts';
