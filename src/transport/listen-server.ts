// Binding a listening server (TCP, TLS, or the HTTP server under a WebSocket listener): the
// bound endpoint, or a TransportError naming why it could not listen.
import type { Server as NetServer, AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import { normalizeAddress } from './endpoint.ts';
import { TransportError } from './transport-error.ts';

/**
 * Listens on `address`:`port` (0: any free port). Errors after the bind go to `onError`; the
 * promise resolves with the real endpoint.
 */
export function listenServer(
  server: NetServer | HttpServer,
  protocol: TransportProtocol,
  address: string,
  port: number,
  onError: (err: Error) => void,
): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void =>
      reject(new TransportError('no-listener', `cannot listen: ${err.message}`, undefined, err));
    server.once('error', failed);
    server.listen(port, normalizeAddress(address), () => {
      server.off('error', failed);
      server.on('error', onError);
      const bound = server.address() as AddressInfo;
      resolve({ protocol, address: bound.address, port: bound.port });
    });
  });
}

/** Stops accepting; resolves once the server has closed. */
export function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise<void>((done) => server.close(() => done()));
}
