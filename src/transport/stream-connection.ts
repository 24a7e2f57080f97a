// One connection-oriented flow: a TCP or TLS socket (framed by StreamFramer, §18.3) or a
// WebSocket (one SIP message per WebSocket message, RFC 7118 §5). The ConnectionPool owns it.
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import { FramingError, StreamFramer } from './stream-framer.ts';
import type { Endpoint } from './endpoint.ts';
import { TransportError } from './transport-error.ts';

/** What a connection reports to its owner. */
export interface ConnectionOwner {
  connectionMessage(connection: StreamConnection, message: Buffer): void;
  /** `pings` CRLFCRLF pings arrived in one read (a WebSocket message: 1). */
  connectionPing(connection: StreamConnection, pings: number): void;
  /** The stream broke framing: answer (`closeWith`) or destroy it. */
  connectionFramingError(connection: StreamConnection, error: Error): void;
  /** A write was refused: the peer let more than maxWriteBacklog bytes wait (it is then destroyed). */
  connectionOverflow(connection: StreamConnection): void;
  connectionError(connection: StreamConnection, error: Error): void;
  connectionClosed(connection: StreamConnection): void;
}

/** RFC 5626 §3.5.1: a ping is CRLFCRLF, the pong a single CRLF. */
export const KEEPALIVE_PING = Buffer.from('\r\n\r\n', 'latin1');
export const KEEPALIVE_PONG = Buffer.from('\r\n', 'latin1');

const CR = 0x0d;
const LF = 0x0a;

/** Whether a WebSocket message holds only line ends (a keep-alive, never a SIP message). */
function onlyLineEnds(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b !== CR && b !== LF) return false;
  }
  return true;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** What a connection is made of: its ends, its limits, and a socket or a WebSocket. */
export interface StreamConnectionInit {
  id: string;
  remote: Endpoint;
  local: Endpoint;
  inbound: boolean;
  maxMessageSize: number;
  /** Bytes allowed to wait for the peer to read them; a write beyond closes the connection. */
  maxWriteBacklog: number;
  openedAt?: number;
  socket?: Socket;
  webSocket?: WebSocket;
  /** The socket under a WebSocket (where its write backlog is seen). */
  webSocketTransport?: Socket;
}

export class StreamConnection {
  readonly id: string;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** True when the peer opened it. */
  readonly inbound: boolean;
  /** Date.now() when the TCP connection was accepted or set up (before any TLS/WebSocket handshake). */
  readonly openedAt: number;
  /** Date.now() of the last bytes in or out (keep-alives included). */
  lastActivity = Date.now();
  /** SIP messages the owner accepted from it (`messageAccepted`). */
  messagesAccepted = 0;
  /** Date.now() when the bytes of a message not complete yet began to arrive; 0 when none is. */
  messageStartedAt = 0;
  /** Date.now() since when written bytes have waited with none taken by the peer; 0 when none wait. */
  private backlogSince = 0;
  /** Bytes the kernel had taken at the last `stalledFor` check. */
  private flushedAtCheck = 0;
  /** Date.now() when the connection began to close after a last answer (`closeWith`); 0 if not. */
  closingSince = 0;
  /** No more writes: closing or closed. */
  closed = false;
  private ended = false;
  private readonly owner: ConnectionOwner;
  private readonly socket?: Socket;
  private readonly webSocket?: WebSocket;
  private readonly framer?: StreamFramer;
  /** The TCP (or TLS) socket the bytes go out on, under a WebSocket too. */
  private readonly transportSocket?: Socket;
  private readonly maxWriteBacklog: number;

  constructor(init: StreamConnectionInit, owner: ConnectionOwner) {
    this.id = init.id;
    this.remote = init.remote;
    this.local = init.local;
    this.inbound = init.inbound;
    this.openedAt = init.openedAt ?? this.lastActivity;
    this.maxWriteBacklog = init.maxWriteBacklog;
    this.owner = owner;
    if (init.socket) {
      const socket = init.socket;
      this.socket = socket;
      this.framer = new StreamFramer({ maxMessageSize: init.maxMessageSize });
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', (err: Error) => this.owner.connectionError(this, err));
      socket.on('close', () => this.onClose());
    } else if (init.webSocket) {
      const ws = init.webSocket;
      this.webSocket = ws;
      ws.on('message', (data: RawData) => this.onWebSocketMessage(toBuffer(data)));
      ws.on('error', (err: Error) => this.owner.connectionError(this, err));
      ws.on('close', () => this.onClose());
    }
    this.transportSocket = init.socket ?? init.webSocketTransport;
  }

  get protocol(): Endpoint['protocol'] {
    return this.remote.protocol;
  }

  /** Bytes written but not yet taken by the kernel (the peer is not reading fast enough). */
  get writeBacklog(): number {
    if (this.transportSocket) return this.transportSocket.writableLength;
    return this.webSocket ? this.webSocket.bufferedAmount : 0;
  }

  /**
   * For the owner's periodic check: how long (ms) bytes have waited for the peer with none of
   * them taken since; 0 when none wait or some were taken since the last check.
   */
  stalledFor(now: number): number {
    const socket = this.transportSocket;
    if (!socket || socket.writableLength === 0) {
      this.backlogSince = 0;
      return 0;
    }
    const flushed = socket.bytesWritten - socket.writableLength;
    if (this.backlogSince === 0 || flushed !== this.flushedAtCheck) {
      this.flushedAtCheck = flushed;
      this.backlogSince = now;
      return 0;
    }
    return now - this.backlogSince;
  }

  /** The bytes of a message not complete yet (for the 400 a timeout sends). */
  get pendingBytes(): Buffer | undefined {
    return this.framer && this.framer.buffered > 0 ? this.framer.pending : undefined;
  }

  /**
   * Writes bytes (a whole message). A write that would leave more than `maxWriteBacklog` bytes
   * waiting for a peer that does not read closes the connection instead (the owner hears of it
   * through `connectionOverflow`): memory per connection stays bounded.
   */
  write(data: Buffer): Promise<void> {
    if (this.closed) {
      return Promise.reject(new TransportError('closed', 'connection closed', this.remote));
    }
    const backlog = this.writeBacklog;
    if (backlog > 0 && backlog + data.length > this.maxWriteBacklog) {
      this.owner.connectionOverflow(this);
      this.destroy();
      return Promise.reject(
        new TransportError(
          'send',
          `peer not reading: write backlog over ${this.maxWriteBacklog} bytes`,
          this.remote,
        ),
      );
    }
    this.lastActivity = Date.now();
    return new Promise((resolve, reject) => {
      const done = (err?: Error | null): void => {
        if (err) reject(new TransportError('send', err.message, this.remote, err));
        else resolve();
      };
      if (this.socket) this.socket.write(data, done);
      // RFC 7118 §5.1: text frames must be UTF-8; anything else goes in a binary frame.
      else if (this.webSocket) this.webSocket.send(data, { binary: !isUtf8(data) }, done);
      else done(new Error('no socket'));
    });
  }

  /**
   * Writes a keep-alive (RFC 5626 §3.5.1) unless bytes already wait for the peer: a peer that
   * pings without reading gets no queue of pongs. Returns whether it was written.
   */
  writeKeepAlive(data: Buffer): boolean {
    if (this.closed || this.writeBacklog > 0) return false;
    this.lastActivity = Date.now();
    if (this.socket) this.socket.write(data);
    else if (this.webSocket) this.webSocket.send(data, { binary: false });
    else return false;
    return true;
  }

  /**
   * Sends a last answer (a 400 or 513) and closes: the write side ends after it; the owner
   * destroys the connection if the peer has not closed its side by a grace period later.
   */
  closeWith(answer: Buffer | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closingSince = Date.now();
    if (this.socket) {
      if (answer) this.socket.end(answer);
      else this.socket.end();
    } else if (this.webSocket) {
      this.webSocket.close();
    }
  }

  /** The TCP (or TLS) socket under it; undefined for a WebSocket connection. */
  get tcpSocket(): Socket | undefined {
    return this.socket;
  }

  /** Closes at once (a peer that broke framing, a refused or idle connection, shutdown). */
  destroy(): void {
    this.closed = true;
    if (this.socket) this.socket.destroy();
    else if (this.webSocket) this.webSocket.terminate();
    this.onClose();
  }

  private onData(chunk: Buffer): void {
    const framer = this.framer;
    if (!framer || this.closed) return; // closing: what else the peer sends is not read
    const now = Date.now();
    this.lastActivity = now;
    let messages: Buffer[];
    const pongsBefore = framer.pongsDue;
    try {
      messages = framer.push(chunk);
    } catch (err) {
      // Messages framed before the break are still handled, then the break is answered.
      const framed = err instanceof FramingError ? err.framed : [];
      for (const message of framed) {
        if (this.closed) return;
        this.owner.connectionMessage(this, message);
      }
      if (!this.closed) this.owner.connectionFramingError(this, err as Error);
      return;
    }
    const pings = framer.pongsDue - pongsBefore;
    if (pings > 0) this.owner.connectionPing(this, pings);
    for (const message of messages) {
      if (this.closed) return;
      this.owner.connectionMessage(this, message);
    }
    if (framer.buffered === 0) this.messageStartedAt = 0;
    else if (this.messageStartedAt === 0 || messages.length > 0) this.messageStartedAt = now;
  }

  private onWebSocketMessage(data: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    if (onlyLineEnds(data)) {
      if (data.length >= KEEPALIVE_PING.length) this.owner.connectionPing(this, 1);
      return;
    }
    this.owner.connectionMessage(this, data);
  }

  private onClose(): void {
    this.closed = true;
    if (this.ended) return;
    this.ended = true;
    this.owner.connectionClosed(this);
  }
}
