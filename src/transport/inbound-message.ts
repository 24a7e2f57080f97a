import type { SipRequest, SipResponse } from '../sip/index.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';

/** A parsed message as the transport layer hands it up. */
export interface InboundMessage {
  /** Parsed once; a request's top Via already carries received/rport (RFC 3581). */
  message: SipRequest | SipResponse;
  source: Endpoint;
  local: Endpoint;
  /** Set for stream transports: `send(..., { connectionId })` goes back on that connection. */
  connectionId?: string;
  /** Date.now() when the bytes arrived. */
  receivedAt: number;
}

export interface ListenOptions {
  protocol: TransportProtocol;
  address: string;
  /** 0 = any free port. */
  port: number;
  /** Key and certificate (PEM): required for tls and wss. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** ws/wss: the HTTP path accepted (default: any). */
  path?: string;
}

export interface TransportOptions {
  /** Largest inbound message in bytes (default 65535). */
  maxMessageSize?: number;
  /** Inbound connections allowed from one source IP (default 64). */
  maxConnectionsPerSource?: number;
  /** Connections allowed in total (default 10000). */
  maxConnections?: number;
  /** Requests larger than this for a UDP destination go over TCP (§18.1.1, default 1300). */
  udpMaxRequestSize?: number;
  /** Add ';rport' to the top Via of requests sent (RFC 3581 §3, default true). */
  rport?: boolean;
  /** Send CRLFCRLF pings on outbound tcp/tls connections every this many ms (0 = off). */
  keepAliveInterval?: number;
  /**
   * ms an inbound connection has to bring its first complete SIP message, counted from TCP
   * accept (a TLS handshake or WebSocket upgrade included); CRLF keep-alives do not count.
   * Default 20000; 0 = no limit.
   */
  firstMessageTimeout?: number;
  /** ms a message begun on a stream has to complete (headers and body); default 32000 (64*T1); 0 = no limit. */
  messageTimeout?: number;
  /**
   * Close inbound connections with no bytes either way (CRLF keep-alives count) for this many
   * ms. Default 180000 (above RFC 5626's 95-120 s keep-alive interval); 0 = never.
   */
  idleTimeout?: number;
  /** ms written bytes may wait for a peer that does not read before its connection closes; default 10000; 0 = no limit. */
  writeTimeout?: number;
  /**
   * Bytes allowed to wait per connection for a peer that does not read (default 1048576): a
   * write beyond it closes the connection. Keep-alive pongs are not queued behind waiting bytes.
   */
  maxWriteBacklog?: number;
  /**
   * Whether a response may follow a request's Via `maddr` (§18.2.2) to `destination` besides our
   * own addresses (the default allows only those): any other maddr is removed from the Via at
   * receipt, so responses go to the request's source (received, rport).
   */
  trustMaddr?: (destination: Endpoint) => boolean;
  /** Options for outbound tls and wss connections. */
  tlsClient?: { rejectUnauthorized?: boolean; ca?: string | Buffer };
  /** Host written in Via sent-by instead of the listening address. */
  viaHost?: string;
  /**
   * Receive and send buffer of each UDP socket in bytes (default: the system's, often ~200 KB).
   * Larger absorbs bursts under load; the kernel caps it (net.core.rmem_max / wmem_max).
   */
  udpBufferSize?: number;
  /**
   * §18.1.2: drop (and count) a response whose top Via sent-by is not one this layer writes
   * (`viaFor`). Off by default: turn it on when every Via you send comes from `viaFor` (the
   * transaction layer and the user agent only make those).
   */
  checkSentBy?: boolean;
}

/** How to send: on a given stream connection, or out of a given UDP socket. */
export interface SendOptions {
  /** Use this stream connection while it is open (RFC 5626 flows, responses). */
  connectionId?: string;
  /** UDP: send from the listener bound here (defaults to the first of the address family). */
  local?: Endpoint;
}

/** Where a response goes (§18.2.2): the request's connection, else its Via; `local` picks the UDP socket. */
export interface ResponseRoute {
  connectionId?: string;
  /** Where the request came from: its protocol is the fallback for a Via transport we do not know. */
  source?: Endpoint;
  local?: Endpoint;
}

/** What a send really used: a UDP destination may have become TCP (§18.1.1). */
export interface SendResult {
  endpoint: Endpoint;
  connectionId?: string;
}

/** Counters; `connections` is the number open now. */
export interface TransportStats {
  received: number;
  sent: number;
  malformed: number;
  badRequestsSent: number;
  oversize: number;
  refusedConnections: number;
  framingErrors: number;
  pongsSent: number;
  pingsSent: number;
  connections: number;
  /** Responses dropped because their top Via sent-by is not ours (§18.1.2, `checkSentBy`). */
  misdirectedResponses: number;
  /** Connections closed by firstMessageTimeout, messageTimeout or idleTimeout (handshakes included). */
  timedOutConnections: number;
  /** Connections closed because their peer did not read (maxWriteBacklog, writeTimeout). */
  writeOverflows: number;
  /** Pings left unanswered because bytes already waited for the peer to read them. */
  pongsSkipped: number;
}

/** The Via sent-by for messages we originate on a protocol. */
export interface ViaSentBy {
  transport: string;
  host: string;
  port?: number;
}
