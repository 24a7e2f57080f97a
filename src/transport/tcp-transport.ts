// SIP over TCP (RFC 3261 §18): a byte stream framed by Content-Length (§18.3, StreamFramer).
// Connections, their limits and reuse are the ConnectionPool's; this file opens them.
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Endpoint } from './endpoint.ts';
import { normalizeAddress } from './endpoint.ts';
import type { ListenOptions, SendOptions } from './inbound-message.ts';
import type { StreamConnection } from './stream-connection.ts';
import type { ProtocolTransport, SendDone, TransportHost } from './transport.ts';
import { closeServer, listenServer } from './listen-server.ts';
import { connectSocket } from './connect-socket.ts';

export class TcpTransport implements ProtocolTransport {
  readonly protocol = 'tcp' as const;
  private readonly host: TransportHost;
  private readonly servers: Server[] = [];

  constructor(host: TransportHost) {
    this.host = host;
  }

  async listen(opts: ListenOptions): Promise<Endpoint> {
    const pool = this.host.connections;
    let local: Endpoint = { protocol: 'tcp', address: opts.address, port: opts.port };
    const server = createServer((socket: Socket) => {
      if (pool.admitSocket(socket)) pool.acceptSocket(socket, 'tcp', local);
    });
    local = await listenServer(server, 'tcp', opts.address, opts.port, (err) =>
      this.host.emitError(err),
    );
    this.servers.push(server);
    return local;
  }

  send(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void {
    this.host.connections.sendTo(buffer, destination, opts, (d) => this.connect(d), done);
  }

  private connect(destination: Endpoint): Promise<StreamConnection> {
    const socket = connect({ host: normalizeAddress(destination.address), port: destination.port });
    return connectSocket(this.host, destination, socket, 'connect');
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.splice(0).map(closeServer));
  }
}
