// SIP over TLS (RFC 3261 §26.2.1, the transport of sips: URIs): TCP framing under TLS. An
// inbound socket holds its place (and its first-message deadline) from TCP accept, through a
// handshake that may never complete; outbound connections check the server's certificate
// (TransportOptions.tlsClient) and name the host (SNI) when it is not an IP address.
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { createServer, connect } from 'node:tls';
import type { Server, TLSSocket } from 'node:tls';
import type { Endpoint } from './endpoint.ts';
import { normalizeAddress } from './endpoint.ts';
import { TransportError } from './transport-error.ts';
import type { ListenOptions, SendOptions } from './inbound-message.ts';
import type { StreamConnection } from './stream-connection.ts';
import type { ProtocolTransport, SendDone, TransportHost } from './transport.ts';
import { closeServer, listenServer } from './listen-server.ts';
import { connectSocket } from './connect-socket.ts';

export class TlsTransport implements ProtocolTransport {
  readonly protocol = 'tls' as const;
  private readonly host: TransportHost;
  private readonly servers: Server[] = [];

  constructor(host: TransportHost) {
    this.host = host;
  }

  async listen(opts: ListenOptions): Promise<Endpoint> {
    if (!opts.tls) throw new TransportError('no-listener', 'tls needs a key and certificate');
    const pool = this.host.connections;
    let local: Endpoint = { protocol: 'tls', address: opts.address, port: opts.port };
    const server = createServer({ key: opts.tls.key, cert: opts.tls.cert });
    // Counted and timed from TCP accept: a handshake never completed holds a place too.
    server.on('connection', (socket: Socket) => pool.acceptPending(socket));
    server.on('secureConnection', (socket: TLSSocket) => pool.acceptSocket(socket, 'tls', local));
    server.on('tlsClientError', (err: Error) => this.host.emitError(err));
    local = await listenServer(server, 'tls', opts.address, opts.port, (err) =>
      this.host.emitError(err),
    );
    this.servers.push(server);
    return local;
  }

  send(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void {
    this.host.connections.sendTo(buffer, destination, opts, (d) => this.connect(d), done);
  }

  private connect(destination: Endpoint): Promise<StreamConnection> {
    const host = normalizeAddress(destination.address);
    const client = this.host.settings.tlsClient ?? {};
    const socket = connect({
      host,
      port: destination.port,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: client.rejectUnauthorized ?? true,
      ca: client.ca,
    });
    return connectSocket(this.host, destination, socket, 'secureConnect');
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.splice(0).map(closeServer));
  }
}
