/**
 * The call server's declared surface (`trapezoid/server`): `startServer(config)` runs what
 * `trapezoid serve` runs; its configuration, its log, and the parts a program may use on their own
 * (the call server alone, dial plan, digest authenticator, media relay, store). The HTTP API, the
 * security guard, metrics, capture and the proxy's inner state machines are wired by
 * `startServer` and stay inside.
 *
 * @module trapezoid/server
 */
export { startServer } from './start-server.ts';
export type {
  StartServerOptions,
  RunningServer,
  ServerConfigInput,
  ServerUser,
  HttpAccess,
} from './start-server.ts';
export { loadConfig, validateConfig, ConfigError, configSchema } from './config.ts';
export type { ServerConfig, ConfigIssue, LogLevel } from './config.ts';
export { createServerLogger, silentLogger } from './server-log.ts';
export type { Logger, ServerLogOptions } from './server-log.ts';
export { CallServer } from './call-server.ts';
export type { CallServerOptions, RequestGuard } from './call-server.ts';
export { DialPlan, compileAsteriskPattern } from './dial-plan.ts';
export type { DialRule, NumberMatch, Route, RouteAction } from './dial-plan.ts';
export { DigestAuthenticator, computeHa1 } from './digest-authenticator.ts';
export { DigestKeyRing } from './digest-key-ring.ts';
export type {
  DigestAlgorithm,
  DigestAuthenticatorOptions,
  AuthResult,
  AuthFailure,
  StoredSecrets,
} from './digest-authenticator.ts';
export { MediaRelay, MediaRelayError } from './media-relay.ts';
export type { MediaRelayOptions, RelaySessionStats } from './media-relay.ts';
export { userRecord, randomPassword } from './users.ts';
export { openStores, openRecords, type Stores, type StoreUrls } from '../store/open-stores.ts';
export type {
  UserStore,
  LocationStore,
  CdrStore,
  SecurityStore,
  NodeRegistry,
  Binding,
  UserRecord,
  CdrRecord,
  CdrCause,
  StoredCdr,
} from '../store/stores.ts';
export type { BindingRecord } from '../store/store.ts';
