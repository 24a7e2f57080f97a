// The transport layer (RFC 3261 §18): parses each inbound message once, and sends requests and
// responses along §18.1.1 and §18.2.2 with RFC 3581 (rport). The sockets are those of one
// ProtocolTransport per protocol (udp-transport.ts, tcp-transport.ts, tls-transport.ts,
// websocket-transport.ts), the stream connections the ConnectionPool's; the facts of each
// protocol come from protocols.ts. It knows nothing of transactions.
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { parseMessage, SipParseError, SipRequest } from '../sip/index.ts';
import type { SipMessage, SipResponse, Via } from '../sip/index.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import { hostForHeader, isIPv6, normalizeAddress } from './endpoint.ts';
import { isReliableProtocol, PROTOCOL_NAMES, PROTOCOLS, protocolCarrier } from './protocols.ts';
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
import { ConnectionPool } from './connection-pool.ts';
import { badRequestFor, looksLikeResponse } from './bad-request.ts';
import { askRport, replaceTopVia, responseDestination, stampReceived } from './via-address.ts';
import {
  failSoon,
  tell,
  type PreparedMessage,
  type ProtocolTransport,
  type SendDone,
  type Transport,
  type TransportHost,
  type TransportSettings,
} from './transport.ts';

export type { PreparedMessage } from './transport.ts';

const DEFAULT_MAX_MESSAGE_SIZE = 65535;
const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64;
const DEFAULT_MAX_CONNECTIONS = 10000;
/** §18.1.1: with the path MTU unknown, requests over 1300 bytes go over a congestion-controlled transport. */
const DEFAULT_UDP_MAX_REQUEST_SIZE = 1300;
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
/** Over UDP, a request too large moves to this transport (§18.1.1: congestion controlled). */
const LARGE_REQUEST_PROTOCOL: TransportProtocol = 'tcp';

const NO_OPTIONS: SendOptions = Object.freeze({});

type MessageListener = (inbound: InboundMessage) => void;
type ErrorListener = (error: Error) => void;
/** A malformed request (unparseable, broken framing, incomplete in time): where from and why. */
type MalformedListener = (source: Endpoint, reason: string) => void;

function settingsOf(options: TransportOptions): TransportSettings {
  return {
    ...options,
    maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    maxConnectionsPerSource: options.maxConnectionsPerSource ?? DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxWriteBacklog: options.maxWriteBacklog ?? DEFAULT_MAX_WRITE_BACKLOG_BYTES,
    firstMessageTimeout: options.firstMessageTimeout ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS,
    messageTimeout: options.messageTimeout ?? DEFAULT_MESSAGE_TIMEOUT_MS,
    idleTimeout: options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS,
    writeTimeout: options.writeTimeout ?? DEFAULT_WRITE_TIMEOUT_MS,
  };
}

export class TransportLayer implements Transport, TransportHost {
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

  readonly settings: TransportSettings;
  readonly connections: ConnectionPool;
  private readonly udpMaxRequestSize: number;
  private readonly addRport: boolean;
  private readonly options: TransportOptions;
  private readonly transports: Readonly<Record<TransportProtocol, ProtocolTransport>>;
  /** Every listener's endpoint, in the order listened on. */
  private readonly listening: Endpoint[] = [];
  private readonly messageListeners: MessageListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];
  private readonly malformedListeners: MalformedListener[] = [];
  /** Made once: whether a request's Via maddr may be followed (see stampReceived). */
  private readonly maddrAllowed = (destination: Endpoint): boolean =>
    this.isOwnAddress(destination.address) || (this.options.trustMaddr?.(destination) ?? false);
  private readonly viaCache = new Map<string, Readonly<ViaSentBy>>();
  /** 'host|port' of every sent-by viaFor() can give (for §18.1.2), made on first use. */
  private ownSentBy: Set<string> | undefined;
  /** Every address we listen on or write in Via (wildcards: the machine's), made on first use. */
  private ownAddresses: Set<string> | undefined;
  private isClosed = false;
  private readonly invalidHost = `${randomBytes(6).toString('hex')}.invalid`;

  constructor(options: TransportOptions = {}) {
    this.options = options;
    this.settings = settingsOf(options);
    this.udpMaxRequestSize = options.udpMaxRequestSize ?? DEFAULT_UDP_MAX_REQUEST_SIZE;
    this.addRport = options.rport ?? true;
    this.connections = new ConnectionPool(this);
    const transports = {} as Record<TransportProtocol, ProtocolTransport>;
    for (const protocol of PROTOCOL_NAMES) transports[protocol] = protocolCarrier(protocol)(this);
    this.transports = transports;
  }

  /** Whether close() has run. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Every endpoint listened on, with its real port: UDP first, then the others as opened. */
  get listeners(): readonly Endpoint[] {
    return [
      ...this.listening.filter((e) => e.protocol === 'udp'),
      ...this.listening.filter((e) => e.protocol !== 'udp'),
    ];
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
    if (this.isClosed) throw new TransportError('closed', 'transport layer closed');
    const local = await this.transports[opts.protocol].listen(opts);
    this.listening.push(local);
    this.forgetVias();
    return local;
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
      for (const protocol of PROTOCOL_NAMES) {
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
    const transport = PROTOCOLS[protocol].viaTransport;
    const all = this.listeners;
    const sameProtocol = all.filter((e) => e.protocol === protocol);
    const pick = (list: readonly Endpoint[]): Endpoint | undefined =>
      list.find((e) => isIPv6(e.address) === wantV6) ?? list[0];
    const listener = pick(sameProtocol);
    if (listener) {
      return { transport, host: this.options.viaHost ?? hostOf(listener), port: listener.port };
    }
    if (PROTOCOLS[protocol].invalidViaHost) return { transport, host: this.invalidHost };
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
    if (
      !isRequest ||
      isReliableProtocol(destination.protocol) ||
      buffer.length <= this.udpMaxRequestSize
    ) {
      return { endpoint: destination, buffer };
    }
    const via = message.firstVia;
    if (!via) return { endpoint: destination, buffer };
    const sentBy = this.viaFor(LARGE_REQUEST_PROTOCOL, destination.address);
    replaceTopVia(message, {
      ...via,
      transport: sentBy.transport,
      host: sentBy.host,
      port: sentBy.port,
    });
    return {
      endpoint: { ...destination, protocol: LARGE_REQUEST_PROTOCOL },
      buffer: message.toBuffer(),
      fallback: { endpoint: destination, buffer },
    };
  }

  /** The endpoint `send()` would use for this message (UDP may become TCP, §18.1.1). */
  route(message: SipMessage, destination: Endpoint): Endpoint {
    if (!(message instanceof SipRequest) || isReliableProtocol(destination.protocol)) {
      return destination;
    }
    return message.toBuffer().length > this.udpMaxRequestSize
      ? { ...destination, protocol: LARGE_REQUEST_PROTOCOL }
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

  /** sendPrepared, telling `done` (see SendDone): no Promise unless there is a fallback. */
  sendPreparedTo(prepared: PreparedMessage, opts: SendOptions, done: SendDone): void {
    if (prepared.fallback) tell(this.sendPrepared(prepared, opts), done);
    else this.sendBufferTo(prepared.buffer, prepared.endpoint, opts, done);
  }

  /**
   * Sends a response along §18.2.2 / RFC 3581 §4: over the connection its request came on while
   * it is open, else to the address its top Via names (received, rport, sent-by). `local` picks
   * the UDP socket (the one the request came in on).
   */
  sendResponse(response: SipResponse, via: ResponseRoute = {}): Promise<SendResult> {
    const top = response.firstVia;
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
    via: ResponseRoute = NO_OPTIONS,
  ): Promise<SendResult> {
    return new Promise((resolve, reject) =>
      this.sendResponseBytesTo(buffer, target, via, new Settle(resolve, reject)),
    );
  }

  /** sendResponseBytes, telling `done`. */
  sendResponseBytesTo(buffer: Buffer, target: Endpoint, via: ResponseRoute, done: SendDone): void {
    if (via.connectionId !== undefined) {
      const connection = this.connections.get(via.connectionId);
      if (connection) {
        tell(this.connections.write(connection, buffer), done);
        return;
      }
    }
    this.sendBufferTo(buffer, target, via.local ? { local: via.local } : NO_OPTIONS, done);
  }

  /** Sends raw bytes to an endpoint (the connection given, reused, or a new one). */
  sendBuffer(
    buffer: Buffer,
    destination: Endpoint,
    opts: SendOptions = NO_OPTIONS,
  ): Promise<SendResult> {
    return new Promise((resolve, reject) =>
      this.sendBufferTo(buffer, destination, opts, new Settle(resolve, reject)),
    );
  }

  /** sendBuffer, telling `done`: what every send comes down to. */
  sendBufferTo(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void {
    if (this.isClosed) {
      const err = new TransportError('closed', 'transport layer closed', destination);
      failSoon(done, err);
      return;
    }
    this.transports[destination.protocol].send(buffer, destination, opts, done);
  }

  /** The open connection with this id, if any. */
  connection(id: string): { id: string; remote: Endpoint; local: Endpoint } | undefined {
    const c = this.connections.get(id);
    return c ? { id: c.id, remote: c.remote, local: c.local } : undefined;
  }

  /** Closes every socket and connection and clears every timer. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.connections.close();
    await Promise.all(PROTOCOL_NAMES.map((p) => this.transports[p].close()));
    this.listening.length = 0;
    this.forgetVias();
  }

  // ---- inbound ---------------------------------------------------------------------------

  /**
   * Parses one message and hands it up; answers 400 to a request that fails to parse. Returns
   * whether the message was handed up.
   */
  receive(data: Buffer, source: Endpoint, local: Endpoint, connectionId?: string): boolean {
    this.stats.received++;
    if (data.length > this.settings.maxMessageSize) {
      this.stats.oversize++;
      return false;
    }
    let message: SipRequest | SipResponse;
    try {
      message = parseMessage(data, { maxSize: this.settings.maxMessageSize });
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

  reportMalformed(source: Endpoint, reason: string): void {
    for (const listener of this.malformedListeners) {
      try {
        listener(source, reason);
      } catch (err) {
        this.emitError(err as Error);
      }
    }
  }

  emitError(error: Error): void {
    for (const listener of this.errorListeners) {
      try {
        listener(error);
      } catch {
        /* a listener's own failure must not take the transport down */
      }
    }
  }
}

/** A sent-by as a set key: host without brackets, lower case, and the port as written. */
function sentByKey(host: string, port: number | undefined): string {
  return `${host.replace(/^\[|\]$/g, '').toLowerCase()}|${port ?? ''}`;
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

/** A send's Promise settled through SendDone (sendBuffer and sendResponseBytes). */
class Settle implements SendDone {
  constructor(
    private readonly resolve: (result: SendResult) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  sendSucceeded(endpoint: Endpoint, connectionId: string | undefined): void {
    this.resolve(connectionId === undefined ? { endpoint } : { endpoint, connectionId });
  }

  sendFailed(error: Error): void {
    this.reject(error);
  }
}
