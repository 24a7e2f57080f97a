// Every stream connection of a transport layer (tcp, tls, ws, wss), whichever transport opened
// it: reuse (one connection per destination, §18.1.1 / RFC 5626 flows), the limits of a public
// address (per source, in total), the deadlines checked by one timer, keep-alive pings and pongs
// (RFC 5626 §3.5.1), and the last answer on a stream whose framing broke (§18.3).
import type { Socket } from 'node:net';
import { FramingError } from './stream-framer.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import { endpointKey, normalizeAddress } from './endpoint.ts';
import { PROTOCOLS } from './protocols.ts';
import { TransportError } from './transport-error.ts';
import type { SendOptions, SendResult, TransportStats } from './inbound-message.ts';
import { StreamConnection, KEEPALIVE_PING, KEEPALIVE_PONG } from './stream-connection.ts';
import type { ConnectionOwner, StreamConnectionInit } from './stream-connection.ts';
import { badRequestFor, looksLikeResponse } from './bad-request.ts';
import { tell, type SendDone, type TransportSettings } from './transport.ts';

/** After a last answer (400/513) the peer has this long to close its side before the connection is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** Pongs written for the pings of one read, at most (a flood of pings gets no more). */
const MAX_PONGS_PER_WRITE = 1024;
const PONGS = Buffer.alloc(MAX_PONGS_PER_WRITE * KEEPALIVE_PONG.length, KEEPALIVE_PONG);
/** The connection sweep runs at a quarter of the shortest timeout, within these bounds. */
const MIN_SWEEP_INTERVAL_MS = 10;
const MAX_SWEEP_INTERVAL_MS = 1_000;

/** An inbound socket whose TLS handshake or WebSocket upgrade has not completed yet. */
interface PendingSocket {
  socket: Socket;
  acceptedAt: number;
}

/** What the pool reports to the layer that owns it. */
export interface ConnectionPoolHost {
  readonly settings: TransportSettings;
  readonly stats: TransportStats;
  readonly closed: boolean;
  receive(data: Buffer, source: Endpoint, local: Endpoint, connectionId: string): boolean;
  emitError(error: Error): void;
  /** A malformed request refused here (broken framing, incomplete in time). */
  reportMalformed(source: Endpoint, reason: string): void;
}

/** One outgoing connection attempt, settled once (see beginAttempt). */
export interface ConnectAttempt {
  fail(err: Error): void;
  succeed(): boolean;
  settled(): boolean;
}

/** The fields of a StreamConnection the pool fills in itself. */
type ConnectionFields = Omit<StreamConnectionInit, 'id' | 'maxMessageSize' | 'maxWriteBacklog'>;

export class ConnectionPool implements ConnectionOwner {
  private readonly host: ConnectionPoolHost;
  private readonly settings: TransportSettings;
  private readonly connections = new Map<string, StreamConnection>();
  private readonly byKey = new Map<string, StreamConnection>();
  private readonly connecting = new Map<string, Promise<StreamConnection>>();
  private readonly perSource = new Map<string, number>();
  /** How each admitted inbound socket gives its place back. */
  private readonly places = new WeakMap<Socket, () => void>();
  /** Inbound sockets still in their TLS handshake or WebSocket upgrade, by 'address|port'. */
  private readonly pendingSockets = new Map<string, PendingSocket>();
  /** Connection attempts in flight: close() cancels each (its send rejects with 'closed'). */
  private readonly pendingAttempts = new Set<{ cancel(): void }>();
  private keepAliveTimer?: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  private nextConnection = 1;

  constructor(host: ConnectionPoolHost) {
    this.host = host;
    const settings = host.settings;
    this.settings = settings;
    if (settings.keepAliveInterval && settings.keepAliveInterval > 0) {
      this.keepAliveTimer = setInterval(() => this.sendPings(), settings.keepAliveInterval);
      this.keepAliveTimer.unref();
    }
    // One timer for every connection's deadlines (no timer per connection or per message).
    let shortest = CLOSE_GRACE_MS;
    for (const t of [
      settings.firstMessageTimeout,
      settings.messageTimeout,
      settings.idleTimeout,
      settings.writeTimeout,
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

  /** The open connection with this id, if any. */
  get(id: string): StreamConnection | undefined {
    const c = this.connections.get(id);
    return c && !c.closed ? c : undefined;
  }

  /**
   * Sends bytes on the connection `opts` names while it is open, else on the one to
   * `destination`, else on a new one made by `connect` (concurrent sends share the attempt).
   */
  send(
    buffer: Buffer,
    destination: Endpoint,
    opts: SendOptions,
    connect: (destination: Endpoint) => Promise<StreamConnection>,
  ): Promise<SendResult> {
    if (opts.connectionId) {
      const connection = this.get(opts.connectionId);
      if (connection) return this.write(connection, buffer);
    }
    const key = endpointKey(destination);
    const existing = this.byKey.get(key);
    if (existing && !existing.closed) return this.write(existing, buffer);
    let attempt = this.connecting.get(key);
    if (!attempt) {
      if (this.connections.size >= this.settings.maxConnections) {
        return Promise.reject(new TransportError('connect', 'too many connections', destination));
      }
      let opened: Promise<StreamConnection>;
      try {
        opened = connect(destination);
      } catch (err) {
        opened = Promise.reject(
          new TransportError('connect', (err as Error).message, destination, err),
        );
      }
      attempt = opened.finally(() => this.connecting.delete(key));
      this.connecting.set(key, attempt);
    }
    return attempt.then((connection) => this.write(connection, buffer));
  }

  /** send(), telling `done` how it ended. */
  sendTo(
    buffer: Buffer,
    destination: Endpoint,
    opts: SendOptions,
    connect: (destination: Endpoint) => Promise<StreamConnection>,
    done: SendDone,
  ): void {
    tell(this.send(buffer, destination, opts, connect), done);
  }

  write(connection: StreamConnection, buffer: Buffer): Promise<SendResult> {
    return connection.write(buffer).then(() => {
      this.host.stats.sent++;
      return { endpoint: connection.remote, connectionId: connection.id };
    });
  }

  /**
   * One outgoing connection attempt, settled once: `fail` runs `abort` (drop the socket) and
   * rejects with a TransportError; `succeed` says whether the attempt was still open. Until then
   * close() cancels it, so no send waits for a connect timeout after close().
   */
  beginAttempt(
    destination: Endpoint,
    reject: (err: TransportError) => void,
    abort: () => void,
  ): ConnectAttempt {
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

  /** Makes and registers a connection (outbound, or inbound once accepted and set up). */
  open(fields: ConnectionFields): StreamConnection {
    const connection = new StreamConnection(
      {
        ...fields,
        id: `c${this.nextConnection++}`,
        maxMessageSize: this.settings.maxMessageSize,
        maxWriteBacklog: this.settings.maxWriteBacklog,
      },
      this,
    );
    this.connections.set(connection.id, connection);
    this.byKey.set(endpointKey(connection.remote), connection);
    this.host.stats.connections = this.connections.size;
    return connection;
  }

  /**
   * Admits an inbound TCP socket under the per-source and total limits, or refuses it (closed
   * at once, counted). It holds its place until the TCP socket closes, whatever runs over it.
   */
  admitSocket(socket: Socket): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    if (!this.admit(address)) {
      socket.destroy();
      return false;
    }
    // The place is given back once: when the socket closes, or earlier, when we close it
    // ourselves (its 'close' event comes a turn later, and a new connection from the same
    // source accepted in between must not be refused for a place already given up).
    let held = true;
    const free = () => {
      if (!held) return;
      held = false;
      this.release(address);
    };
    this.places.set(socket, free);
    socket.once('close', free);
    return true;
  }

  /** Gives back the place of an admitted socket we are closing (see admitSocket). */
  private freePlace(socket: Socket | undefined): void {
    if (socket) this.places.get(socket)?.();
  }

  /**
   * An inbound socket whose TLS handshake or WebSocket upgrade is still to come: admitted, and
   * closed by the sweep if it has not become a connection within firstMessageTimeout.
   */
  acceptPending(socket: Socket): void {
    if (!this.admitSocket(socket)) return;
    const key = pendingKey(socket);
    this.pendingSockets.set(key, { socket, acceptedAt: Date.now() });
    socket.once('close', () => {
      if (this.pendingSockets.get(key)?.socket === socket) this.pendingSockets.delete(key);
    });
  }

  /** When the pending socket under `socket` was accepted (and it is pending no more). */
  settlePending(socket: Socket): number | undefined {
    const key = pendingKey(socket);
    const pending = this.pendingSockets.get(key);
    if (!pending) return undefined;
    this.pendingSockets.delete(key);
    return pending.acceptedAt;
  }

  /** Makes a connection of an admitted inbound socket (TCP, or TLS once its handshake is done). */
  acceptSocket(socket: Socket, protocol: TransportProtocol, local: Endpoint): void {
    const openedAt = this.settlePending(socket);
    if (this.host.closed) {
      socket.destroy();
      return;
    }
    this.open({
      ...socketEndpoints(socket, protocol, local),
      inbound: true,
      ...(openedAt !== undefined ? { openedAt } : {}),
      socket,
    });
  }

  /** Destroys every connection and pending socket, cancels attempts, stops the timers. */
  close(): void {
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    clearInterval(this.sweepTimer);
    for (const attempt of [...this.pendingAttempts]) attempt.cancel();
    this.pendingAttempts.clear();
    for (const connection of [...this.connections.values()]) connection.destroy();
    for (const pending of [...this.pendingSockets.values()]) pending.socket.destroy();
  }

  private admit(address: string): boolean {
    if (this.host.closed) return false;
    const fromSource = this.perSource.get(address) ?? 0;
    if (
      fromSource >= this.settings.maxConnectionsPerSource ||
      this.connections.size + this.pendingSockets.size >= this.settings.maxConnections
    ) {
      this.host.stats.refusedConnections++;
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

  // ---- connection events (ConnectionOwner) --------------------------------------------------

  connectionMessage(connection: StreamConnection, message: Buffer): void {
    if (this.host.receive(message, connection.remote, connection.local, connection.id)) {
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
      this.host.stats.pongsSent += n;
    } else {
      this.host.stats.pongsSkipped += pings;
    }
  }

  /** §18.3 framing broken: a 400 (513 for too large) naming why, then the connection closes. */
  connectionFramingError(connection: StreamConnection, error: Error): void {
    this.host.stats.framingErrors++;
    this.host.emitError(error);
    if (error instanceof FramingError) {
      this.closeMalformed(connection, error.head, error.reason, error.status);
    } else {
      connection.destroy();
    }
  }

  connectionOverflow(_connection: StreamConnection): void {
    this.host.stats.writeOverflows++;
  }

  connectionError(connection: StreamConnection, error: Error): void {
    this.host.emitError(new TransportError('send', error.message, connection.remote, error));
  }

  connectionClosed(connection: StreamConnection): void {
    this.freePlace(connection.tcpSocket);
    this.connections.delete(connection.id);
    const key = endpointKey(connection.remote);
    if (this.byKey.get(key) === connection) this.byKey.delete(key);
    // An inbound TCP/TLS connection's place under the limits was freed above (a WebSocket's when
    // its TCP socket closes).
    this.host.stats.connections = this.connections.size;
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
      this.host.stats.malformed++;
      this.host.reportMalformed(connection.remote, reason);
      answer = badRequestFor(head, reason, { status, requireVia: false });
      if (answer) {
        this.host.stats.badRequestsSent++;
        this.host.stats.sent++;
      }
    }
    connection.closeWith(answer);
  }

  /** CRLFCRLF pings on our own connections of the transports that use them (RFC 5626 §3.5.1). */
  private sendPings(): void {
    for (const connection of this.connections.values()) {
      if (connection.inbound || connection.closed) continue;
      if (!PROTOCOLS[connection.protocol].crlfKeepAlive) continue;
      this.host.stats.pingsSent++;
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
    const { firstMessageTimeout, messageTimeout, idleTimeout, writeTimeout } = this.settings;
    for (const c of this.connections.values()) {
      if (c.closingSince !== 0) {
        if (now - c.closingSince > CLOSE_GRACE_MS) c.destroy();
        continue;
      }
      if (writeTimeout > 0 && c.stalledFor(now) > writeTimeout) {
        this.host.stats.writeOverflows++;
        c.destroy();
        continue;
      }
      if (
        messageTimeout > 0 &&
        c.messageStartedAt !== 0 &&
        now - c.messageStartedAt > messageTimeout
      ) {
        this.timedOut(c, `Message not complete within ${messageTimeout / 1000} s`);
      } else if (!c.inbound) {
        continue; // ours: closed when its peer closes it, or at close()
      } else if (
        firstMessageTimeout > 0 &&
        c.messagesAccepted === 0 &&
        now - c.openedAt > firstMessageTimeout
      ) {
        this.timedOut(c, `No complete message within ${firstMessageTimeout / 1000} s`);
      } else if (idleTimeout > 0 && now - c.lastActivity > idleTimeout) {
        this.timedOut(c, 'Connection idle');
      }
    }
    if (firstMessageTimeout > 0) {
      for (const pending of this.pendingSockets.values()) {
        if (now - pending.acceptedAt > firstMessageTimeout) {
          this.host.stats.timedOutConnections++;
          this.freePlace(pending.socket);
          pending.socket.destroy();
        }
      }
    }
  }

  /** Closes a connection past a deadline; a message it had begun is answered 400 first. */
  private timedOut(connection: StreamConnection, reason: string): void {
    this.host.stats.timedOutConnections++;
    const head = connection.pendingBytes;
    if (head) this.closeMalformed(connection, head, reason, 400);
    else connection.destroy();
  }
}

/** The key of a socket in its handshake or upgrade: a TLSSocket has its TCP socket's. */
function pendingKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
}

/** The two ends of an accepted socket as endpoints of `protocol` (the listener's as a fallback). */
export function socketEndpoints(
  socket: Socket,
  protocol: TransportProtocol,
  listener: Endpoint,
): { remote: Endpoint; local: Endpoint } {
  return {
    remote: {
      protocol,
      address: normalizeAddress(socket.remoteAddress ?? ''),
      port: socket.remotePort ?? 0,
    },
    local: {
      protocol,
      address: normalizeAddress(socket.localAddress ?? listener.address),
      port: socket.localPort ?? listener.port,
    },
  };
}
