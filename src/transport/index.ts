// The transport layer's public face: import from here only.
export type { Endpoint, TransportProtocol } from './endpoint.ts';
export {
  defaultPort,
  endpointKey,
  formatEndpoint,
  hostForHeader,
  isReliableProtocol,
  normalizeAddress,
  protocolFromToken,
} from './endpoint.ts';
export type {
  InboundMessage,
  ListenOptions,
  ResponseRoute,
  SendOptions,
  SendResult,
  TransportOptions,
  TransportStats,
  ViaSentBy,
} from './inbound-message.ts';
export { TransportError } from './transport-error.ts';
export type { TransportErrorCode } from './transport-error.ts';
export { TransportLayer } from './transport-layer.ts';
export type { PreparedMessage } from './transport-layer.ts';
export { responseDestination, stampReceived } from './via-address.ts';
export { badRequestFor, safeReason } from './bad-request.ts';
