// One connection-oriented flow: a TCP or TLS socket (framed by StreamFramer, §18.3) or a
// WebSocket (one SIP message per WebSocket message, RFC 7118 §5). The TransportLayer owns it.
import { isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import type { WebSocket, RawData } from 'ws';
import { StreamFramer } from './stream-framer.ts';
import type { Endpoint } from './endpoint.ts';
import { TransportError } from './transport-error.ts';

/** What a connection reports to its owner. */
export interface ConnectionOwner {
  connectionMessage(connection: StreamConnection, message: Buffer): void;
  connectionPing(connection: StreamConnection): void;
  connectionFramingError(connection: StreamConnection, error: Error): void;
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

export class StreamConnection {
  readonly id: string;
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** True when the peer opened it. */
  readonly inbound: boolean;
  lastActivity = Date.now();
  closed = false;
  private readonly owner: ConnectionOwner;
  private readonly socket?: Socket;
  private readonly webSocket?: WebSocket;
  private readonly framer?: StreamFramer;

  constructor(
    init: {
      id: string;
      remote: Endpoint;
      local: Endpoint;
      inbound: boolean;
      maxMessageSize: number;
      socket?: Socket;
      webSocket?: WebSocket;
    },
    owner: ConnectionOwner,
  ) {
    this.id = init.id;
    this.remote = init.remote;
    this.local = init.local;
    this.inbound = init.inbound;
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
  }

  get protocol(): Endpoint['protocol'] {
    return this.remote.protocol;
  }

  /** Writes bytes (a whole message, or a keep-alive). */
  write(data: Buffer): Promise<void> {
    if (this.closed) {
      return Promise.reject(new TransportError('closed', 'connection closed', this.remote));
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

  /** Closes at once (a peer that broke framing, a refused or idle connection, shutdown). */
  destroy(): void {
    if (this.socket) this.socket.destroy();
    else if (this.webSocket) this.webSocket.terminate();
    this.onClose();
  }

  private onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    const framer = this.framer;
    if (!framer) return;
    let messages: Buffer[];
    const pongsBefore = framer.pongsDue;
    try {
      messages = framer.push(chunk);
    } catch (err) {
      this.owner.connectionFramingError(this, err as Error);
      this.destroy();
      return;
    }
    const pings = framer.pongsDue - pongsBefore;
    for (let i = 0; i < pings; i++) this.owner.connectionPing(this);
    for (const message of messages) {
      if (this.closed) return;
      this.owner.connectionMessage(this, message);
    }
  }

  private onWebSocketMessage(data: Buffer): void {
    this.lastActivity = Date.now();
    if (onlyLineEnds(data)) {
      if (data.length >= KEEPALIVE_PING.length) this.owner.connectionPing(this);
      return;
    }
    this.owner.connectionMessage(this, data);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.connectionClosed(this);
  }
}
