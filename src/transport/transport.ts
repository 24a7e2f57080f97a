// The transport layer's two seams.
//
//   Transport          what the transaction layer and the user agent core send and receive
//                      through (RFC 3261 §18 seen from above): TransportLayer is the one here;
//                      a test or another stack can put anything with this shape in its place.
//   ProtocolTransport  one transport's sockets (udp-transport.ts, tcp-transport.ts,
//                      tls-transport.ts, websocket-transport.ts): listen, send bytes, close.
//                      The TransportLayer keeps one per protocol and never switches on which.
import type { SipMessage, SipResponse } from '../sip/index.ts';
import type { Endpoint } from './endpoint.ts';
import type { TransportProtocol } from './protocols.ts';
import type {
  InboundMessage,
  ListenOptions,
  ResponseRoute,
  SendOptions,
  SendResult,
  TransportOptions,
  TransportStats,
  ViaSentBy,
} from './inbound-message.ts';
import type { ConnectionPool } from './connection-pool.ts';

/** A request or response ready to go: where, and the exact bytes (kept for retransmissions). */
export interface PreparedMessage {
  endpoint: Endpoint;
  buffer: Buffer;
  /** For a request moved from UDP to TCP (§18.1.1): what to send if the TCP connect is refused. */
  fallback?: { endpoint: Endpoint; buffer: Buffer };
}

/**
 * How a send ended (what a send's Promise would settle with), for the senders of every message
 * of a call (transactions, the proxy's ACK): they are told through an object they already are,
 * so no Promise, no result object and no closure of theirs is made per message. Called once,
 * never before the send method has returned.
 */
export interface SendDone {
  /** The bytes left toward `endpoint` (on stream connection `connectionId`, if one). */
  sendSucceeded(endpoint: Endpoint, connectionId: string | undefined): void;
  sendFailed(error: Error): void;
}

/** What the transaction layer and the UA core need of a transport layer. */
export interface Transport {
  /** Every parsed inbound message (a request's top Via already stamped, RFC 3581). */
  onMessage(listener: (inbound: InboundMessage) => void): void;
  /** Connection failures and socket errors: never thrown at the caller. */
  onError(listener: (error: Error) => void): void;
  /** Whether requests sent get ';rport' in their top Via (RFC 3581 §3). */
  readonly asksRport: boolean;
  /** §17: whether the transaction layer leaves retransmission to the transport. */
  isReliable(protocol: TransportProtocol): boolean;
  /** The sent-by of a Via we originate on `protocol` (toward an address of that family). */
  viaFor(protocol: TransportProtocol, destinationAddress?: string): Readonly<ViaSentBy>;
  /** rport, the §18.1.1 UDP-to-TCP move, and the bytes: what a retransmission resends. */
  prepare(message: SipMessage, destination: Endpoint): PreparedMessage;
  send(message: SipMessage, destination: Endpoint, opts?: SendOptions): Promise<SendResult>;
  sendPrepared(prepared: PreparedMessage, opts?: SendOptions): Promise<SendResult>;
  /** §18.2.2: the request's connection while open, else the address its top Via names. */
  sendResponse(response: SipResponse, route?: ResponseRoute): Promise<SendResult>;
  sendResponseBytes(buffer: Buffer, target: Endpoint, route?: ResponseRoute): Promise<SendResult>;
  sendBuffer(buffer: Buffer, destination: Endpoint, opts?: SendOptions): Promise<SendResult>;
  /** sendPrepared, telling `done` (see SendDone). */
  sendPreparedTo(prepared: PreparedMessage, opts: SendOptions, done: SendDone): void;
  /** sendResponseBytes, telling `done`. */
  sendResponseBytesTo(buffer: Buffer, target: Endpoint, route: ResponseRoute, done: SendDone): void;
  /** sendBuffer, telling `done`. */
  sendBufferTo(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void;
}

/** The transport layer's options with every default filled in. */
export interface TransportSettings extends TransportOptions {
  readonly maxMessageSize: number;
  readonly maxConnectionsPerSource: number;
  readonly maxConnections: number;
  readonly maxWriteBacklog: number;
  readonly firstMessageTimeout: number;
  readonly messageTimeout: number;
  readonly idleTimeout: number;
  readonly writeTimeout: number;
}

/** What a ProtocolTransport may use of the layer that owns it. */
export interface TransportHost {
  readonly settings: TransportSettings;
  readonly stats: TransportStats;
  /** Stream connections (tcp, tls, ws, wss): shared limits, deadlines and reuse. */
  readonly connections: ConnectionPool;
  readonly closed: boolean;
  /** Parses one message and hands it up; answers 400 to one that fails. Whether it went up. */
  receive(data: Buffer, source: Endpoint, local: Endpoint, connectionId?: string): boolean;
  emitError(error: Error): void;
}

/** One transport's sockets: a file per transport, one instance per protocol in a layer. */
export interface ProtocolTransport {
  readonly protocol: TransportProtocol;
  /** Opens a listener; resolves with the bound endpoint (the real port when 0 was asked). */
  listen(opts: ListenOptions): Promise<Endpoint>;
  /** Sends bytes (the connection given, one reused, or a new one for a stream). */
  send(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void;
  /** Closes its listeners (the pool closes stream connections). */
  close(): Promise<void>;
}

/** Tells `done` how a send's Promise settled. */
export function tell(sent: Promise<SendResult>, done: SendDone): void {
  sent.then(
    (result) => done.sendSucceeded(result.endpoint, result.connectionId),
    (err: Error) => done.sendFailed(err),
  );
}

/** Tells `done` of a send that failed before it began: on the next tick, as a Promise would. */
export function failSoon(done: SendDone, error: Error): void {
  process.nextTick(sendFailed, done, error);
}

function sendFailed(done: SendDone, error: Error): void {
  done.sendFailed(error);
}
