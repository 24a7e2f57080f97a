// SIP over WebSocket (RFC 7118): ws, and wss over TLS. The subprotocol `sip` is required both
// ways (§4); each WebSocket message carries one SIP message, text or binary (§5). A listener is
// an HTTP(S) server whose upgrades become connections of the pool; an inbound socket holds its
// place from TCP accept, through an upgrade that may never come.
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import { hostForHeader, normalizeAddress } from './endpoint.ts';
import { PROTOCOLS } from './protocols.ts';
import { TransportError } from './transport-error.ts';
import type { ListenOptions, SendOptions } from './inbound-message.ts';
import type { StreamConnection } from './stream-connection.ts';
import type { ProtocolTransport, SendDone, TransportHost } from './transport.ts';
import { listenServer } from './listen-server.ts';
import { socketEndpoints } from './connection-pool.ts';
import { CONNECT_TIMEOUT_MS } from './connect-socket.ts';

/** RFC 7118 §4: the WebSocket subprotocol. */
const WEBSOCKET_SUBPROTOCOL = 'sip';
/** WebSocket close code for a protocol error (RFC 6455 §7.4.1). */
const WS_CLOSE_PROTOCOL_ERROR = 1002;

/** ws, or wss when the protocol's table entry says secure. */
export class WebSocketTransport implements ProtocolTransport {
  readonly protocol: TransportProtocol;
  private readonly host: TransportHost;
  private readonly secure: boolean;
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(host: TransportHost, protocol: TransportProtocol) {
    this.host = host;
    this.protocol = protocol;
    this.secure = PROTOCOLS[protocol].secure;
  }

  async listen(opts: ListenOptions): Promise<Endpoint> {
    const protocol = this.protocol;
    const pool = this.host.connections;
    let http: HttpServer;
    if (this.secure) {
      if (!opts.tls) {
        throw new TransportError('no-listener', `${protocol} needs a key and certificate`);
      }
      http = createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert });
    } else {
      http = createHttpServer();
    }
    const wss = new WebSocketServer({
      server: http,
      path: opts.path,
      maxPayload: this.host.settings.maxMessageSize,
      handleProtocols: (offered: Set<string>) =>
        offered.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false,
    });
    let local: Endpoint = { protocol, address: opts.address, port: opts.port };
    // Counted and timed from TCP accept: an upgrade never completed holds a place too.
    http.on('connection', (socket: Socket) => pool.acceptPending(socket));
    wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
      const socket = request.socket;
      const openedAt = pool.settlePending(socket);
      if (ws.protocol !== WEBSOCKET_SUBPROTOCOL) {
        ws.close(WS_CLOSE_PROTOCOL_ERROR, 'subprotocol sip required');
        return;
      }
      if (this.host.closed) {
        ws.terminate();
        return;
      }
      pool.open({
        ...socketEndpoints(socket, protocol, local),
        inbound: true,
        ...(openedAt !== undefined ? { openedAt } : {}),
        webSocket: ws,
        webSocketTransport: socket,
      });
    });
    wss.on('error', (err: Error) => this.host.emitError(err));
    local = await listenServer(http, protocol, opts.address, opts.port, (err) =>
      this.host.emitError(err),
    );
    this.closers.push(
      () =>
        new Promise<void>((done) => {
          for (const client of wss.clients) client.terminate();
          wss.close(() => http.close(() => done()));
        }),
    );
    return local;
  }

  send(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void {
    this.host.connections.sendTo(buffer, destination, opts, (d) => this.connect(d), done);
  }

  /** Connects to `ws[s]://address:port/` asking for the subprotocol sip. */
  private connect(destination: Endpoint): Promise<StreamConnection> {
    const scheme = this.secure ? 'wss' : 'ws';
    const url = `${scheme}://${hostForHeader(destination.address)}:${destination.port}/`;
    const client = this.host.settings.tlsClient ?? {};
    const pool = this.host.connections;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, WEBSOCKET_SUBPROTOCOL, {
        rejectUnauthorized: client.rejectUnauthorized ?? true,
        ca: client.ca,
        maxPayload: this.host.settings.maxMessageSize,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
      });
      const attempt = pool.beginAttempt(destination, reject, () => ws.terminate());
      const fail = attempt.fail;
      ws.once('error', fail);
      ws.once('close', () => fail(new Error('connection closed before it was set up')));
      // Once open, the StreamConnection listens for 'close'; this one is then a no-op.
      ws.once('open', () => {
        if (attempt.settled()) return;
        if (this.host.closed) {
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
        resolve(
          pool.open({
            remote: destination,
            local: {
              protocol: destination.protocol,
              address: normalizeAddress(raw?.localAddress ?? ''),
              port: raw?.localPort ?? 0,
            },
            inbound: false,
            webSocket: ws,
            ...(raw ? { webSocketTransport: raw } : {}),
          }),
        );
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.closers.splice(0).map((close) => close()));
  }
}
