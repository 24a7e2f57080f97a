// An outgoing TCP or TLS connection being set up: it becomes a StreamConnection of the pool
// once connected (TLS: once its handshake is done), or fails with a TransportError on error,
// early close, timeout, or the layer's close().
import type { Socket } from 'node:net';
import type { Endpoint } from './endpoint.ts';
import { normalizeAddress } from './endpoint.ts';
import { TransportError } from './transport-error.ts';
import type { StreamConnection } from './stream-connection.ts';
import type { TransportHost } from './transport.ts';

/** A connection attempt that has not completed by then fails (the transaction times out later anyway). */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Waits for `socket` to emit `ready` ('connect', or 'secureConnect' for TLS). */
export function connectSocket(
  host: TransportHost,
  destination: Endpoint,
  socket: Socket,
  ready: 'connect' | 'secureConnect',
): Promise<StreamConnection> {
  const pool = host.connections;
  return new Promise((resolve, reject) => {
    const attempt = pool.beginAttempt(destination, reject, () => {
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
    socket.once(ready, () => {
      if (!attempt.succeed()) return;
      clearTimeout(timer);
      socket.off('error', fail);
      socket.off('close', closedEarly);
      if (host.closed) {
        socket.destroy();
        reject(new TransportError('closed', 'transport layer closed', destination));
        return;
      }
      resolve(
        pool.open({
          remote: destination,
          local: {
            protocol: destination.protocol,
            address: normalizeAddress(socket.localAddress ?? ''),
            port: socket.localPort ?? 0,
          },
          inbound: false,
          socket,
        }),
      );
    });
  });
}
