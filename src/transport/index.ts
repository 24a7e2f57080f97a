/**
 * The transport layer's public face: import from here only.
 *
 * @module trapezoid/transport
 */
export type { Endpoint, TransportProtocol } from './endpoint.ts';
export { endpointKey, formatEndpoint, hostForHeader, normalizeAddress } from './endpoint.ts';
export {
  PROTOCOLS,
  PROTOCOL_NAMES,
  defaultPort,
  isReliableProtocol,
  isSecureProtocol,
  isTransportProtocol,
  protocolForNaptr,
  protocolForUri,
  protocolFromToken,
  uriScheme,
  uriTransportParam,
} from './protocols.ts';
export type { ProtocolFacts } from './protocols.ts';
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
// ProtocolTransport, TransportHost and the pool are this layer's inside: a new transport is a
// file here plus its table entry (see README.md), not something added from outside.
export type { PreparedMessage, SendDone, Transport } from './transport.ts';
export { TransportError } from './transport-error.ts';
export type { TransportErrorCode } from './transport-error.ts';
export { TransportLayer } from './transport-layer.ts';
export { responseDestination, stampReceived } from './via-address.ts';
export { badRequestFor, safeReason } from './bad-request.ts';
export { StreamFramer, FramingError, type StreamFramerOptions } from './stream-framer.ts';
