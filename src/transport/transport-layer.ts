// The transport layer (RFC 3261 §18): owns every socket, parses each inbound message once, and
// sends requests and responses along §18.1.1 and §18.2.2 with RFC 3581 (rport) and RFC 7118
// (WebSocket). It knows nothing of transactions.
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram';
import { createServer as createTcpServer, connect as tcpConnect, isIP } from 'node:net';
import type { Server as TcpServer, Socket, AddressInfo } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { WebSocket, WebSocketServer } from 'ws';
import { parseMessage, SipParseError, SipRequest } from '../sip/index.ts';
import type { SipMessage, SipResponse, Via } from '../sip/index.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import {
  endpointKey,
  hostForHeader,
  isIPv6,
  isReliableProtocol,
  normalizeAddress,
} from './endpoint.ts';
import { TransportError } from './transport-error.ts';
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
import { StreamConnection, KEEPALIVE_PING, KEEPALIVE_PONG } from './stream-connection.ts';
import type { ConnectionOwner } from './stream-connection.ts';
import { badRequestFor, looksLikeResponse } from './bad-request.ts';
import { askRport, replaceTopVia, responseDestination, stampReceived } from './via-address.ts';
import { FramingError } from './stream-framer.ts';

const DEFAULT_MAX_MESSAGE_SIZE = 65535;
const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64;
const DEFAULT_MAX_CONNECTIONS = 10000;
/** §18.1.1: with the path MTU unknown, requests over 1300 bytes go over a congestion-controlled transport. */
const DEFAULT_UDP_MAX_REQUEST_SIZE = 1300;
/** A connection attempt that has not completed by then fails (the transaction times out later anyway). */
const CONNECT_TIMEOUT_MS = 10_000;
/** RFC 7118 §4: the WebSocket subprotocol. */
const WEBSOCKET_SUBPROTOCOL = 'sip';
/** WebSocket close code for a protocol error (RFC 6455 §7.4.1). */
const WS_CLOSE_PROTOCOL_ERROR = 1002;
/**
 * An inbound connection must bring its first SIP message (TLS handshake and WebSocket upgrade
 * included) within this, else it is closed: idle and slowloris connections hold nothing for long
 * (Kamailio's tcp_msg_read_timeout is 20 s).
 */
const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 20_000;
/** A message begun must be complete within 64*T1 (§17.1.2.2 Timer F's span: 32 s). */
const DEFAULT_MESSAGE_TIMEOUT_MS = 64 * 500;
/**
 * An inbound connection with no bytes either way for this long is closed. Above RFC 5626
 * §4.4.1's 95-120 s keep-alive interval for connection-oriented flows, so phones that send CRLF
 * keep-alives keep theirs (Kamailio's tcp_connection_lifetime is 120 s).
 */
const DEFAULT_IDLE_TIMEOUT_MS = 180_000;
/** Bytes that wait for the peer to read them longer than this close the connection (Kamailio's tcp_send_timeout is 10 s). */
const DEFAULT_WRITE_TIMEOUT_MS = 10_000;
/** Bytes allowed to wait for a peer that does not read, per connection: 16 messages of the largest size. */
const DEFAULT_MAX_WRITE_BACKLOG_BYTES = 1024 * 1024;
/** After a last answer (400/513) the peer has this long to close its side before the connection is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** Pongs written for the pings of one read, at most (a flood of pings gets no more). */
const MAX_PONGS_PER_WRITE = 1024;
const PONGS = Buffer.alloc(MAX_PONGS_PER_WRITE * KEEPALIVE_PONG.length, KEEPALIVE_PONG);
/** The connection sweep runs at a quarter of the shortest timeout, within these bounds. */
const MIN_SWEEP_INTERVAL_MS = 10;
const MAX_SWEEP_INTERVAL_MS = 1_000;

const NO_OPTIONS: SendOptions = Object.freeze({});

type MessageListener = (inbound: InboundMessage) => void;
type ErrorListener = (error: Error) => void;
/** A malformed request (unparseable, broken framing, incomplete in time): where from and why. */
type MalformedListener = (source: Endpoint, reason: string) => void;

/** An inbound socket whose TLS handshake or WebSocket upgrade has not completed yet. */
interface PendingSocket {
  socket: Socket;
  acceptedAt: number;
}

interface UdpListener {
  socket: UdpSocket;
  local: Endpoint;
}

interface StreamListener {
  local: Endpoint;
  close(): Promise<void>;
}

/** A request or response ready to go: where, and the exact bytes (kept for retransmissions). */
export interface PreparedMessage {
  endpoint: Endpoint;
  buffer: Buffer;
  /** For a request moved from UDP to TCP (§18.1.1): what to send if the TCP connect is refused. */
  fallback?: { endpoint: Endpoint; buffer: Buffer };
}

function isWhitespaceOnly(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x09) return false;
  }
  return true;
}

export class TransportLayer implements ConnectionOwner {
  readonly stats: TransportStats = {
    received: 0,
    sent: 0,
    malformed: 0,
    badRequestsSent: 0,
    oversize: 0,
    refusedConnections: 0,
    framingErrors: 0,
    pongsSent: 0,
    pingsSent: 0,
    connections: 0,
    misdirectedResponses: 0,
    timedOutConnections: 0,
    writeOverflows: 0,
    pongsSkipped: 0,
  };

  private readonly maxMessageSize: number;
  private readonly maxConnectionsPerSource: number;
  private readonly maxConnections: number;
  private readonly udpMaxRequestSize: number;
  private readonly addRport: boolean;
  private readonly firstMessageTimeout: number;
  private readonly messageTimeout: number;
  private readonly idleTimeout: number;
  private readonly writeTimeout: number;
  private readonly maxWriteBacklog: number;
  private readonly options: TransportOptions;
  private readonly udp: UdpListener[] = [];
  private readonly streamListeners: StreamListener[] = [];
  private readonly connections = new Map<string, StreamConnection>();
  private readonly connectionsByKey = new Map<string, StreamConnection>();
  private readonly connecting = new Map<string, Promise<StreamConnection>>();
  private readonly perSource = new Map<string, number>();
  /** Inbound sockets still in their TLS handshake or WebSocket upgrade, by 'address|port'. */
  private readonly pendingSockets = new Map<string, PendingSocket>();
  private readonly messageListeners: MessageListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];
  private readonly malformedListeners: MalformedListener[] = [];
  /** Made once: whether a request's Via maddr may be followed (see stampReceived). */
  private readonly maddrAllowed = (destination: Endpoint): boolean =>
    this.isOwnAddress(destination.address) || (this.options.trustMaddr?.(destination) ?? false);
  /** Connection attempts in flight: close() cancels each (its send rejects with 'closed'). */
  private readonly pendingAttempts = new Set<{ cancel(): void }>();
  private keepAliveTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private nextConnection = 1;
  private readonly viaCache = new Map<string, Readonly<ViaSentBy>>();
  /** 'host|port' of every sent-by viaFor() can give (for §18.1.2), made on first use. */
  private ownSentBy: Set<string> | undefined;
  /** Every address we listen on or write in Via (wildcards: the machine's), made on first use. */
  private ownAddresses: Set<string> | undefined;
  private closed = false;
  private readonly invalidHost = `${randomBytes(6).toString('hex')}.invalid`;

  constructor(options: TransportOptions = {}) {
    this.options = options;
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxConnectionsPerSource =
      options.maxConnectionsPerSource ?? DEFAULT_MAX_CONNECTIONS_PER_SOURCE;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.udpMaxRequestSize = options.udpMaxRequestSize ?? DEFAULT_UDP_MAX_REQUEST_SIZE;
    this.addRport = options.rport ?? true;
    this.firstMessageTimeout = options.firstMessageTimeout ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS;
    this.messageTimeout = options.messageTimeout ?? DEFAULT_MESSAGE_TIMEOUT_MS;
    this.idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.writeTimeout = options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT_MS;
    this.maxWriteBacklog = options.maxWriteBacklog ?? DEFAULT_MAX_WRITE_BACKLOG_BYTES;
    if (options.keepAliveInterval && options.keepAliveInterval > 0) {
      this.keepAliveTimer = setInterval(() => this.sendPings(), options.keepAliveInterval);
      this.keepAliveTimer.unref();
    }
    // One timer for every connection's deadlines (no timer per connection or per message).
    let shortest = CLOSE_GRACE_MS;
    for (const t of [
      this.firstMessageTimeout,
      this.messageTimeout,
      this.idleTimeout,
      this.writeTimeout,
    ]) {
      if (t > 0 && t < shortest) shortest = t;
    }
    const every = Math.min(
      MAX_SWEEP_INTERVAL_MS,
      Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor(shortest / 4)),
    );
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  /** Every endpoint listened on, with its real port. */
  get listeners(): readonly Endpoint[] {
    return [...this.udp.map((u) => u.local), ...this.streamListeners.map((s) => s.local)];
  }

  onMessage(listener: MessageListener): void {
    this.messageListeners.push(listener);
  }

  onError(listener: ErrorListener): void {
    this.errorListeners.push(listener);
  }

  /**
   * Called for every malformed request this layer refuses itself, answered (400/513) or not:
   * unparseable, broken stream framing, or not complete within messageTimeout.
   */
  onMalformed(listener: MalformedListener): void {
    this.malformedListeners.push(listener);
  }

  /** Whether requests sent get ';rport' in their top Via (RFC 3581 §3). */
  get asksRport(): boolean {
    return this.addRport;
  }

  isReliable(protocol: TransportProtocol): boolean {
    return isReliableProtocol(protocol);
  }

  /** Opens a listener; resolves with the bound endpoint (the real port when 0 was asked). */
  async listen(opts: ListenOptions): Promise<Endpoint> {
    if (this.closed) throw new TransportError('closed', 'transport layer closed');
    switch (opts.protocol) {
      case 'udp':
        return this.listenUdp(opts);
      case 'tcp':
      case 'tls':
        return this.listenStream(opts);
      case 'ws':
      case 'wss':
        return this.listenWebSocket(opts);
    }
  }

  /**
   * The Via sent-by for a message we originate on `protocol` (toward `destination`'s address
   * family when given): the listener's address and port, `options.viaHost` if set, and for a
   * WebSocket client with no listener a random `.invalid` host (RFC 7118 §5.2).
   */
  viaFor(protocol: TransportProtocol, destinationAddress?: string): Readonly<ViaSentBy> {
    // Asked for every message a user agent builds: answered from a cache that listen() and
    // close() clear (the answer depends only on the listeners and the options).
    const wantV6 = destinationAddress !== undefined && isIPv6(destinationAddress);
    const key = wantV6 ? `${protocol}6` : protocol;
    let sentBy = this.viaCache.get(key);
    if (!sentBy) {
      sentBy = Object.freeze(this.computeVia(protocol, wantV6));
      this.viaCache.set(key, sentBy);
    }
    return sentBy;
  }

  private forgetVias(): void {
    this.viaCache.clear();
    this.ownSentBy = undefined;
    this.ownAddresses = undefined;
  }

  /** Whether `address` is one of ours: a listener's, the viaHost, or the machine's for a wildcard. */
  private isOwnAddress(address: string): boolean {
    let own = this.ownAddresses;
    if (!own) {
      own = new Set();
      if (this.options.viaHost) own.add(normalizeAddress(this.options.viaHost).toLowerCase());
      for (const listener of this.listeners) {
        const a = normalizeAddress(listener.address);
        if (a === '0.0.0.0' || a === '::') {
          for (const list of Object.values(networkInterfaces())) {
            for (const info of list ?? []) own.add(normalizeAddress(info.address));
          }
        } else {
          own.add(a.toLowerCase());
        }
      }
      this.ownAddresses = own;
    }
    return own.has(normalizeAddress(address).toLowerCase());
  }

  /** §18.1.2: whether a response's top Via names a sent-by this layer writes. */
  private isOwnSentBy(via: Via): boolean {
    let own = this.ownSentBy;
    if (!own) {
      own = new Set();
      for (const protocol of ALL_PROTOCOLS) {
        for (const toward of [undefined, '::1']) {
          const sentBy = this.viaFor(protocol, toward);
          own.add(sentByKey(sentBy.host, sentBy.port));
        }
      }
      this.ownSentBy = own;
    }
    return own.has(sentByKey(via.host, via.port));
  }

  private computeVia(protocol: TransportProtocol, wantV6: boolean): ViaSentBy {
    const transport = protocol.toUpperCase();
    const all = this.listeners;
    const sameProtocol = all.filter((e) => e.protocol === protocol);
    const pick = (list: readonly Endpoint[]): Endpoint | undefined =>
      list.find((e) => isIPv6(e.address) === wantV6) ?? list[0];
    const listener = pick(sameProtocol);
    if (listener) {
      return { transport, host: this.options.viaHost ?? hostOf(listener), port: listener.port };
    }
    if (protocol === 'ws' || protocol === 'wss') return { transport, host: this.invalidHost };
    const any = pick(all);
    return { transport, host: this.options.viaHost ?? (any ? hostOf(any) : this.invalidHost) };
  }

  /**
   * Readies a message for `destination`: asks for rport in a request's top Via (RFC 3581 §3),
   * moves a request too large for UDP to TCP (§18.1.1, rewriting the Via transport and sent-by),
   * and serializes it. The buffer is what a retransmission resends.
   */
  prepare(message: SipMessage, destination: Endpoint): PreparedMessage {
    const isRequest = message instanceof SipRequest;
    if (isRequest && this.addRport) askRport(message);
    const buffer = message.toBuffer();
    if (!isRequest || destination.protocol !== 'udp' || buffer.length <= this.udpMaxRequestSize) {
      return { endpoint: destination, buffer };
    }
    const via = message.via[0];
    if (!via) return { endpoint: destination, buffer };
    const sentBy = this.viaFor('tcp', destination.address);
    replaceTopVia(message, { ...via, transport: 'TCP', host: sentBy.host, port: sentBy.port });
    return {
      endpoint: { ...destination, protocol: 'tcp' },
      buffer: message.toBuffer(),
      fallback: { endpoint: destination, buffer },
    };
  }

  /** The endpoint `send()` would use for this message (UDP may become TCP, §18.1.1). */
  route(message: SipMessage, destination: Endpoint): Endpoint {
    if (!(message instanceof SipRequest) || destination.protocol !== 'udp') return destination;
    return message.toBuffer().length > this.udpMaxRequestSize
      ? { ...destination, protocol: 'tcp' }
      : destination;
  }

  /** Sends a request or response to a destination (see README for the rules). */
  send(
    message: SipMessage,
    destination: Endpoint,
    opts: SendOptions = NO_OPTIONS,
  ): Promise<SendResult> {
    return this.sendPrepared(this.prepare(message, destination), opts);
  }

  /** Sends prepared bytes; retries over UDP when an oversize request's TCP connect fails. */
  async sendPrepared(
    prepared: PreparedMessage,
    opts: SendOptions = NO_OPTIONS,
  ): Promise<SendResult> {
    if (!prepared.fallback) return this.sendBuffer(prepared.buffer, prepared.endpoint, opts);
    try {
      return await this.sendBuffer(prepared.buffer, prepared.endpoint, opts);
    } catch (err) {
      if (err instanceof TransportError && err.code === 'connect') {
        return this.sendBuffer(prepared.fallback.buffer, prepared.fallback.endpoint);
      }
      throw err;
    }
  }

  /**
   * Sends a response along §18.2.2 / RFC 3581 §4: over the connection its request came on while
   * it is open, else to the address its top Via names (received, rport, sent-by). `local` picks
   * the UDP socket (the one the request came in on).
   */
  sendResponse(response: SipResponse, via: ResponseRoute = {}): Promise<SendResult> {
    const top = response.via[0];
    const destination = top ? responseDestination(top, via.source?.protocol) : via.source;
    if (!destination) {
      return Promise.reject(new TransportError('send', 'response has no Via to route by'));
    }
    return this.sendResponseBytes(response.toBuffer(), destination, via);
  }

  /** §18.2.2 for bytes already made: the request's connection while open, else `target`. */
  sendResponseBytes(
    buffer: Buffer,
    target: Endpoint,
    via: ResponseRoute = {},
  ): Promise<SendResult> {
    if (via.connectionId !== undefined) {
      const connection = this.connections.get(via.connectionId);
      if (connection && !connection.closed) return this.writeTo(connection, buffer);
    }
    return this.sendBuffer(buffer, target, via.local ? { local: via.local } : NO_OPTIONS);
  }

  /** Sends raw bytes to an endpoint (the connection given, reused, or a new one). */
  sendBuffer(
    buffer: Buffer,
    destination: Endpoint,
    opts: SendOptions = NO_OPTIONS,
  ): Promise<SendResult> {
    if (this.closed) {
      return Promise.reject(new TransportError('closed', 'transport layer closed', destination));
    }
    if (destination.protocol === 'udp') return this.sendUdp(buffer, destination, opts.local);
    if (opts.connectionId) {
      const connection = this.connections.get(opts.connectionId);
      if (connection && !connection.closed) return this.writeTo(connection, buffer);
    }
    const existing = this.connectionsByKey.get(endpointKey(destination));
    if (existing && !existing.closed) return this.writeTo(existing, buffer);
    return this.connect(destination).then((connection) => this.writeTo(connection, buffer));
  }

  /** The open connection with this id, if any. */
  connection(id: string): { id: string; remote: Endpoint; local: Endpoint } | undefined {
    const c = this.connections.get(id);
    return c && !c.closed ? { id: c.id, remote: c.remote, local: c.local } : undefined;
  }

  /** Closes every socket and connection and clears every timer. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const attempt of [...this.pendingAttempts]) attempt.cancel();
    this.pendingAttempts.clear();
    for (const connection of [...this.connections.values()]) connection.destroy();
    for (const pending of [...this.pendingSockets.values()]) pending.socket.destroy();
    await Promise.all(this.streamListeners.map((l) => l.close()));
    this.streamListeners.length = 0;
    this.forgetVias();
    await Promise.all(
      this.udp.map((u) => new Promise<void>((resolve) => u.socket.close(() => resolve()))),
    );
    this.udp.length = 0;
  }

  // ---- inbound ---------------------------------------------------------------------------

  /**
   * Parses one message and hands it up; answers 400 to a request that fails to parse. Returns
   * whether the message was handed up.
   */
  private receive(data: Buffer, source: Endpoint, local: Endpoint, connectionId?: string): boolean {
    this.stats.received++;
    if (data.length > this.maxMessageSize) {
      this.stats.oversize++;
      return false;
    }
    let message: SipRequest | SipResponse;
    try {
      message = parseMessage(data, { maxSize: this.maxMessageSize });
    } catch (err) {
      this.stats.malformed++;
      this.answerMalformed(data, reasonOf(err), source, connectionId);
      return false;
    }
    try {
      // The headers every layer above relies on: present and well formed (parsed once, cached).
      const top = message.topVia;
      void message.cseq;
      if (!(message instanceof SipRequest)) {
        if (this.options.checkSentBy && !this.isOwnSentBy(top)) {
          this.stats.misdirectedResponses++;
          return false;
        }
      } else {
        void message.callId;
        void message.from;
        void message.to;
        stampReceived(message, source, this.maddrAllowed);
      }
    } catch (err) {
      this.stats.malformed++;
      this.answerMalformed(data, reasonOf(err), source, connectionId);
      return false;
    }
    const inbound: InboundMessage = { message, source, local, receivedAt: Date.now() };
    if (connectionId !== undefined) inbound.connectionId = connectionId;
    for (const listener of this.messageListeners) {
      try {
        listener(inbound);
      } catch (err) {
        this.emitError(err as Error);
      }
    }
    return true;
  }

  private answerMalformed(
    data: Buffer,
    reason: string,
    source: Endpoint,
    connectionId?: string,
  ): void {
    if (looksLikeResponse(data)) return;
    this.reportMalformed(source, reason);
    const answer = badRequestFor(data, reason);
    if (!answer) return;
    this.stats.badRequestsSent++;
    this.sendBuffer(answer, source, connectionId ? { connectionId } : {}).catch((err: Error) =>
      this.emitError(err),
    );
  }

  private reportMalformed(source: Endpoint, reason: string): void {
    for (const listener of this.malformedListeners) {
      try {
        listener(source, reason);
      } catch (err) {
        this.emitError(err as Error);
      }
    }
  }

  /**
   * The last word on a stream that cannot go on (broken framing, a message not complete in
   * time): a request gets `status reason` on the connection (even without a Via: it goes back
   * on the connection, §18.2.2), is counted as malformed, and the connection closes.
   */
  private closeMalformed(
    connection: StreamConnection,
    head: Buffer | undefined,
    reason: string,
    status: 400 | 513,
  ): void {
    let answer: Buffer | undefined;
    if (head && head.length > 0 && !looksLikeResponse(head)) {
      this.stats.malformed++;
      this.reportMalformed(connection.remote, reason);
      answer = badRequestFor(head, reason, { status, requireVia: false });
      if (answer) {
        this.stats.badRequestsSent++;
        this.stats.sent++;
      }
    }
    connection.closeWith(answer);
  }

  private emitError(error: Error): void {
    for (const listener of this.errorListeners) {
      try {
        listener(error);
      } catch {
        /* a listener's own failure must not take the transport down */
      }
    }
  }

  // ---- UDP ---------------------------------------------------------------------------------

  private listenUdp(opts: ListenOptions): Promise<Endpoint> {
    const type = isIPv6(opts.address) ? 'udp6' : 'udp4';
    const buffer = this.options.udpBufferSize;
    const socket = createSocket(
      buffer && buffer > 0
        ? { type, reuseAddr: false, recvBufferSize: buffer, sendBufferSize: buffer }
        : { type, reuseAddr: false },
    );
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        socket.close();
        reject(new TransportError('no-listener', `cannot listen: ${err.message}`, undefined, err));
      };
      socket.once('error', onError);
      socket.bind(opts.port, normalizeAddress(opts.address), () => {
        socket.off('error', onError);
        const address = socket.address();
        const local: Endpoint = { protocol: 'udp', address: address.address, port: address.port };
        socket.on('error', (err) => this.emitError(err));
        socket.on('message', (data: Buffer, rinfo: RemoteInfo) => {
          if (isWhitespaceOnly(data)) return; // keep-alive datagrams are not messages
          this.receive(data, { protocol: 'udp', address: rinfo.address, port: rinfo.port }, local);
        });
        this.udp.push({ socket, local });
        this.forgetVias();
        resolve(local);
      });
    });
  }

  /** Out of the socket `local` names when given (a response leaves where its request came in). */
  private sendUdp(buffer: Buffer, destination: Endpoint, local?: Endpoint): Promise<SendResult> {
    const wantV6 = isIPv6(destination.address);
    const listener =
      (local && this.udp.find((u) => u.local.port === local.port && sameAddress(u.local, local))) ??
      this.udp.find((u) => isIPv6(u.local.address) === wantV6);
    if (!listener) {
      return Promise.reject(
        new TransportError('no-listener', 'no UDP socket for this address family', destination),
      );
    }
    return new Promise((resolve, reject) => {
      listener.socket.send(
        buffer,
        destination.port,
        normalizeAddress(destination.address),
        (err) => {
          if (err) reject(new TransportError('send', err.message, destination, err));
          else {
            this.stats.sent++;
            resolve({ endpoint: destination });
          }
        },
      );
    });
  }

  // ---- TCP and TLS ------------------------------------------------------------------------

  private listenStream(opts: ListenOptions): Promise<Endpoint> {
    const protocol = opts.protocol;
    let server: TcpServer;
    if (protocol === 'tls') {
      if (!opts.tls) {
        return Promise.reject(new TransportError('no-listener', 'tls needs a key and certificate'));
      }
      server = createTlsServer({ key: opts.tls.key, cert: opts.tls.cert });
      // Counted and timed from TCP accept: a handshake never completed holds a place too.
      server.on('connection', (socket: Socket) => this.acceptPending(socket));
      server.on('secureConnection', (socket: TLSSocket) => this.accept(socket, protocol, local));
      server.on('tlsClientError', (err: Error) => this.emitError(err));
    } else {
      server = createTcpServer();
      server.on('connection', (socket: Socket) => {
        if (this.admitSocket(socket)) this.accept(socket, protocol, local);
      });
    }
    let local: Endpoint = { protocol, address: opts.address, port: opts.port };
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new TransportError('no-listener', `cannot listen: ${err.message}`, undefined, err));
      server.once('error', onError);
      server.listen(opts.port, normalizeAddress(opts.address), () => {
        server.off('error', onError);
        server.on('error', (err) => this.emitError(err));
        const address = server.address() as AddressInfo;
        local = { protocol, address: address.address, port: address.port };
        this.forgetVias();
        this.streamListeners.push({
          local,
          close: () => new Promise<void>((done) => server.close(() => done())),
        });
        resolve(local);
      });
    });
  }

  /**
   * Admits an inbound TCP socket under the per-source and total limits, or refuses it (closed
   * at once, counted). It holds its place until the TCP socket closes, whatever runs over it.
   */
  private admitSocket(socket: Socket): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    if (!this.admit(address)) {
      socket.destroy();
      return false;
    }
    socket.once('close', () => this.release(address));
    return true;
  }

  /**
   * An inbound socket whose TLS handshake or WebSocket upgrade is still to come: admitted, and
   * closed by the sweep if it has not become a connection within firstMessageTimeout.
   */
  private acceptPending(socket: Socket): void {
    if (!this.admitSocket(socket)) return;
    const key = pendingKey(socket);
    this.pendingSockets.set(key, { socket, acceptedAt: Date.now() });
    socket.once('close', () => {
      if (this.pendingSockets.get(key)?.socket === socket) this.pendingSockets.delete(key);
    });
  }

  /** When the pending socket under `socket` was accepted (and it is pending no more). */
  private settlePending(socket: Socket): number | undefined {
    const key = pendingKey(socket);
    const pending = this.pendingSockets.get(key);
    if (!pending) return undefined;
    this.pendingSockets.delete(key);
    return pending.acceptedAt;
  }

  /** Makes a connection of an admitted inbound socket (TCP, or TLS once its handshake is done). */
  private accept(socket: Socket, protocol: TransportProtocol, local: Endpoint): void {
    const openedAt = this.settlePending(socket);
    if (this.closed) {
      socket.destroy();
      return;
    }
    const address = normalizeAddress(socket.remoteAddress ?? '');
    const remote: Endpoint = { protocol, address, port: socket.remotePort ?? 0 };
    const localEnd: Endpoint = {
      protocol,
      address: normalizeAddress(socket.localAddress ?? local.address),
      port: socket.localPort ?? local.port,
    };
    this.register(
      new StreamConnection(
        {
          id: this.newConnectionId(),
          remote,
          local: localEnd,
          inbound: true,
          maxMessageSize: this.maxMessageSize,
          maxWriteBacklog: this.maxWriteBacklog,
          ...(openedAt !== undefined ? { openedAt } : {}),
          socket,
        },
        this,
      ),
    );
  }

  private admit(address: string): boolean {
    if (this.closed) return false;
    const fromSource = this.perSource.get(address) ?? 0;
    if (
      fromSource >= this.maxConnectionsPerSource ||
      this.connections.size + this.pendingSockets.size >= this.maxConnections
    ) {
      this.stats.refusedConnections++;
      return false;
    }
    this.perSource.set(address, fromSource + 1);
    return true;
  }

  private release(address: string): void {
    const count = (this.perSource.get(address) ?? 1) - 1;
    if (count > 0) this.perSource.set(address, count);
    else this.perSource.delete(address);
  }

  private register(connection: StreamConnection): void {
    this.connections.set(connection.id, connection);
    this.connectionsByKey.set(endpointKey(connection.remote), connection);
    this.stats.connections = this.connections.size;
  }

  private newConnectionId(): string {
    return `c${this.nextConnection++}`;
  }

  /** One connection per destination: concurrent sends share the attempt. */
  private connect(destination: Endpoint): Promise<StreamConnection> {
    const key = endpointKey(destination);
    const pending = this.connecting.get(key);
    if (pending) return pending;
    if (this.connections.size >= this.maxConnections) {
      return Promise.reject(new TransportError('connect', 'too many connections', destination));
    }
    const attempt = (
      destination.protocol === 'ws' || destination.protocol === 'wss'
        ? this.connectWebSocket(destination)
        : this.connectStream(destination)
    ).finally(() => this.connecting.delete(key));
    this.connecting.set(key, attempt);
    return attempt;
  }

  /**
   * One outgoing connection attempt, settled once: `fail` runs `abort` (drop the socket) and
   * rejects with a TransportError; `succeed` says whether the attempt was still open. Until then
   * close() of the layer cancels it, so no send waits for a connect timeout after close().
   */
  private beginAttempt(
    destination: Endpoint,
    reject: (err: TransportError) => void,
    abort: () => void,
  ): { fail(err: Error): void; succeed(): boolean; settled(): boolean } {
    let settled = false;
    const handle = {
      cancel: () => fail(new TransportError('closed', 'transport layer closed', destination)),
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      this.pendingAttempts.delete(handle);
      abort();
      reject(
        err instanceof TransportError
          ? err
          : new TransportError('connect', err.message, destination, err),
      );
    };
    this.pendingAttempts.add(handle);
    return {
      fail,
      succeed: () => {
        if (settled) return false;
        settled = true;
        this.pendingAttempts.delete(handle);
        return true;
      },
      settled: () => settled,
    };
  }

  private connectStream(destination: Endpoint): Promise<StreamConnection> {
    const host = normalizeAddress(destination.address);
    const tlsOptions = this.options.tlsClient ?? {};
    return new Promise((resolve, reject) => {
      const socket: Socket =
        destination.protocol === 'tls'
          ? tlsConnect({
              host,
              port: destination.port,
              servername: isIP(host) ? undefined : host,
              rejectUnauthorized: tlsOptions.rejectUnauthorized ?? true,
              ca: tlsOptions.ca,
            })
          : tcpConnect({ host, port: destination.port });
      const attempt = this.beginAttempt(destination, reject, () => {
        clearTimeout(timer);
        socket.on('error', () => undefined); // late errors of a dead attempt are not news
        socket.destroy();
      });
      const fail = attempt.fail;
      const timer = setTimeout(() => fail(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
      timer.unref();
      const closedEarly = (): void => fail(new Error('connection closed before it was set up'));
      socket.once('error', fail);
      socket.once('close', closedEarly);
      socket.once(destination.protocol === 'tls' ? 'secureConnect' : 'connect', () => {
        if (!attempt.succeed()) return;
        clearTimeout(timer);
        socket.off('error', fail);
        socket.off('close', closedEarly);
        if (this.closed) {
          socket.destroy();
          reject(new TransportError('closed', 'transport layer closed', destination));
          return;
        }
        const connection = new StreamConnection(
          {
            id: this.newConnectionId(),
            remote: destination,
            local: {
              protocol: destination.protocol,
              address: normalizeAddress(socket.localAddress ?? ''),
              port: socket.localPort ?? 0,
            },
            inbound: false,
            maxMessageSize: this.maxMessageSize,
            maxWriteBacklog: this.maxWriteBacklog,
            socket,
          },
          this,
        );
        this.register(connection);
        resolve(connection);
      });
    });
  }

  private writeTo(connection: StreamConnection, buffer: Buffer): Promise<SendResult> {
    return connection.write(buffer).then(() => {
      this.stats.sent++;
      return { endpoint: connection.remote, connectionId: connection.id };
    });
  }

  // ---- WebSocket (RFC 7118) ---------------------------------------------------------------

  private listenWebSocket(opts: ListenOptions): Promise<Endpoint> {
    const protocol = opts.protocol;
    let http: HttpServer;
    if (protocol === 'wss') {
      if (!opts.tls) {
        return Promise.reject(new TransportError('no-listener', 'wss needs a key and certificate'));
      }
      http = createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert });
    } else {
      http = createHttpServer();
    }
    const wss = new WebSocketServer({
      server: http,
      path: opts.path,
      maxPayload: this.maxMessageSize,
      handleProtocols: (offered: Set<string>) =>
        offered.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false,
    });
    let local: Endpoint = { protocol, address: opts.address, port: opts.port };
    // Counted and timed from TCP accept: an upgrade never completed holds a place too.
    http.on('connection', (socket: Socket) => this.acceptPending(socket));
    wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
      const socket = request.socket;
      const openedAt = this.settlePending(socket);
      if (ws.protocol !== WEBSOCKET_SUBPROTOCOL) {
        ws.close(WS_CLOSE_PROTOCOL_ERROR, 'subprotocol sip required');
        return;
      }
      if (this.closed) {
        ws.terminate();
        return;
      }
      const address = normalizeAddress(socket.remoteAddress ?? '');
      this.register(
        new StreamConnection(
          {
            id: this.newConnectionId(),
            remote: { protocol, address, port: socket.remotePort ?? 0 },
            local: {
              protocol,
              address: normalizeAddress(socket.localAddress ?? local.address),
              port: socket.localPort ?? local.port,
            },
            inbound: true,
            maxMessageSize: this.maxMessageSize,
            maxWriteBacklog: this.maxWriteBacklog,
            ...(openedAt !== undefined ? { openedAt } : {}),
            webSocket: ws,
            webSocketTransport: socket,
          },
          this,
        ),
      );
    });
    wss.on('error', (err: Error) => this.emitError(err));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new TransportError('no-listener', `cannot listen: ${err.message}`, undefined, err));
      http.once('error', onError);
      http.listen(opts.port, normalizeAddress(opts.address), () => {
        http.off('error', onError);
        http.on('error', (err) => this.emitError(err));
        const address = http.address() as AddressInfo;
        local = { protocol, address: address.address, port: address.port };
        this.forgetVias();
        this.streamListeners.push({
          local,
          close: () =>
            new Promise<void>((done) => {
              for (const client of wss.clients) client.terminate();
              wss.close(() => http.close(() => done()));
            }),
        });
        resolve(local);
      });
    });
  }

  private connectWebSocket(destination: Endpoint): Promise<StreamConnection> {
    const scheme = destination.protocol === 'wss' ? 'wss' : 'ws';
    const url = `${scheme}://${hostForHeader(destination.address)}:${destination.port}/`;
    const tlsOptions = this.options.tlsClient ?? {};
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, WEBSOCKET_SUBPROTOCOL, {
        rejectUnauthorized: tlsOptions.rejectUnauthorized ?? true,
        ca: tlsOptions.ca,
        maxPayload: this.maxMessageSize,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
      });
      const attempt = this.beginAttempt(destination, reject, () => ws.terminate());
      const fail = attempt.fail;
      ws.once('error', fail);
      ws.once('close', () => fail(new Error('connection closed before it was set up')));
      // Once open, the StreamConnection listens for 'close'; this one is then a no-op.
      ws.once('open', () => {
        if (attempt.settled()) return;
        if (this.closed) {
          fail(new TransportError('closed', 'transport layer closed', destination));
          return;
        }
        if (ws.protocol !== WEBSOCKET_SUBPROTOCOL) {
          fail(new Error('server did not accept subprotocol sip'));
          return;
        }
        attempt.succeed();
        ws.off('error', fail);
        const raw = (ws as unknown as { _socket?: Socket })._socket;
        const connection = new StreamConnection(
          {
            id: this.newConnectionId(),
            remote: destination,
            local: {
              protocol: destination.protocol,
              address: normalizeAddress(raw?.localAddress ?? ''),
              port: raw?.localPort ?? 0,
            },
            inbound: false,
            maxMessageSize: this.maxMessageSize,
            maxWriteBacklog: this.maxWriteBacklog,
            webSocket: ws,
            ...(raw ? { webSocketTransport: raw } : {}),
          },
          this,
        );
        this.register(connection);
        resolve(connection);
      });
    });
  }

  // ---- connection events (ConnectionOwner) --------------------------------------------------

  connectionMessage(connection: StreamConnection, message: Buffer): void {
    if (this.receive(message, connection.remote, connection.local, connection.id)) {
      connection.messagesAccepted++;
    }
  }

  /**
   * RFC 5626 §3.5.1: each ping gets a pong, all those of one read in one write (at most
   * MAX_PONGS_PER_WRITE), and none while earlier bytes still wait for the peer to read them.
   */
  connectionPing(connection: StreamConnection, pings: number): void {
    const n = pings < MAX_PONGS_PER_WRITE ? pings : MAX_PONGS_PER_WRITE;
    if (connection.writeKeepAlive(PONGS.subarray(0, n * KEEPALIVE_PONG.length))) {
      this.stats.pongsSent += n;
    } else {
      this.stats.pongsSkipped += pings;
    }
  }

  /** §18.3 framing broken: a 400 (513 for too large) naming why, then the connection closes. */
  connectionFramingError(connection: StreamConnection, error: Error): void {
    this.stats.framingErrors++;
    this.emitError(error);
    if (error instanceof FramingError) {
      this.closeMalformed(connection, error.head, error.reason, error.status);
    } else {
      connection.destroy();
    }
  }

  connectionOverflow(_connection: StreamConnection): void {
    this.stats.writeOverflows++;
  }

  connectionError(connection: StreamConnection, error: Error): void {
    this.emitError(new TransportError('send', error.message, connection.remote, error));
  }

  connectionClosed(connection: StreamConnection): void {
    this.connections.delete(connection.id);
    const key = endpointKey(connection.remote);
    if (this.connectionsByKey.get(key) === connection) this.connectionsByKey.delete(key);
    // (an inbound connection's place under the per-source limit is freed by its TCP socket's close)
    this.stats.connections = this.connections.size;
  }

  private sendPings(): void {
    for (const connection of this.connections.values()) {
      if (connection.inbound || connection.closed) continue;
      if (connection.protocol !== 'tcp' && connection.protocol !== 'tls') continue;
      this.stats.pingsSent++;
      connection.write(KEEPALIVE_PING).catch(() => undefined);
    }
  }

  /**
   * Every connection's deadlines, checked by one timer: a last answer's grace period, a peer
   * that does not read (writeTimeout), a message begun but not complete (messageTimeout), and
   * for inbound connections the first message and idleness. Then the handshakes and upgrades that
   * never completed. (Deleting the current entry while iterating a Map is safe.)
   */
  private sweep(): void {
    const now = Date.now();
    for (const c of this.connections.values()) {
      if (c.closingSince !== 0) {
        if (now - c.closingSince > CLOSE_GRACE_MS) c.destroy();
        continue;
      }
      if (this.writeTimeout > 0 && c.stalledFor(now) > this.writeTimeout) {
        this.stats.writeOverflows++;
        c.destroy();
        continue;
      }
      if (
        this.messageTimeout > 0 &&
        c.messageStartedAt !== 0 &&
        now - c.messageStartedAt > this.messageTimeout
      ) {
        this.timedOut(c, `Message not complete within ${this.messageTimeout / 1000} s`);
      } else if (!c.inbound) {
        continue; // ours: closed when its peer closes it, or at close()
      } else if (
        this.firstMessageTimeout > 0 &&
        c.messagesAccepted === 0 &&
        now - c.openedAt > this.firstMessageTimeout
      ) {
        this.timedOut(c, `No complete message within ${this.firstMessageTimeout / 1000} s`);
      } else if (this.idleTimeout > 0 && now - c.lastActivity > this.idleTimeout) {
        this.timedOut(c, 'Connection idle');
      }
    }
    if (this.firstMessageTimeout > 0) {
      for (const pending of this.pendingSockets.values()) {
        if (now - pending.acceptedAt > this.firstMessageTimeout) {
          this.stats.timedOutConnections++;
          pending.socket.destroy();
        }
      }
    }
  }

  /** Closes a connection past a deadline; a message it had begun is answered 400 first. */
  private timedOut(connection: StreamConnection, reason: string): void {
    this.stats.timedOutConnections++;
    const head = connection.pendingBytes;
    if (head) this.closeMalformed(connection, head, reason, 400);
    else connection.destroy();
  }
}

const ALL_PROTOCOLS: readonly TransportProtocol[] = ['udp', 'tcp', 'tls', 'ws', 'wss'];

/** A sent-by as a set key: host without brackets, lower case, and the port as written. */
function sentByKey(host: string, port: number | undefined): string {
  return `${host.replace(/^\[|\]$/g, '').toLowerCase()}|${port ?? ''}`;
}

/** The key of a socket in its handshake or upgrade: a TLSSocket has its TCP socket's. */
function pendingKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
}

function sameAddress(a: Endpoint, b: Endpoint): boolean {
  return normalizeAddress(a.address) === normalizeAddress(b.address);
}

/** The parser's reason for a 400 reason phrase. */
function reasonOf(err: unknown): string {
  if (err instanceof SipParseError) return err.reason;
  return err instanceof Error ? err.message : 'Bad Request';
}

/** The host for a Via: a wildcard listener names the machine's first external address. */
function hostOf(e: Endpoint): string {
  if (e.address !== '0.0.0.0' && e.address !== '::') return hostForHeader(e.address);
  const wantV6 = e.address === '::';
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (!info.internal && (info.family === 'IPv6') === wantV6) return hostForHeader(info.address);
    }
  }
  return wantV6 ? '[::1]' : '127.0.0.1';
}
