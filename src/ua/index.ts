/**
 * The user agent's public face: import from here only.
 *
 * @module trapezoid/ua
 */
export { UserAgent, ALLOWED_METHODS, parseEndpoint } from './user-agent.ts';
export type { UserAgentOptions, UserAgentEvents, InviteOptions } from './user-agent.ts';
export { Call, CallFailedError } from './call.ts';
export type { CallEnd, CallEvents, CallState, SessionBody } from './call.ts';
export { IncomingCall } from './incoming-call.ts';
export { Registration, RegistrationError } from './registration.ts';
export type { RegistrationEvents } from './registration.ts';
export { Dialog } from './dialog.ts';
export type { DialogState } from './dialog.ts';
export {
  DigestClient,
  answerChallenge,
  pickChallenges,
  formatCredentials,
} from './digest-client.ts';
export type { Challenge, DigestAnswer } from './digest-client.ts';
export { ServerLocator, uriTransport, defaultPort } from './server-locator.ts';
export type { ServerTarget, TransportName, ServerLocatorOptions } from './server-locator.ts';
