// SIP over UDP (RFC 3261 §18): one socket per listener; a datagram is one message. Responses
// leave from the socket their request came in on, requests from the first socket of the
// destination's address family (so listen on UDP before sending over it).
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import type { Endpoint } from './endpoint.ts';
import { isIPv6, normalizeAddress } from './endpoint.ts';
import { TransportError } from './transport-error.ts';
import type { ListenOptions, SendOptions } from './inbound-message.ts';
import {
  failSoon,
  type ProtocolTransport,
  type SendDone,
  type TransportHost,
} from './transport.ts';

interface UdpListener {
  socket: UdpSocket;
  local: Endpoint;
}

/** A datagram of only CR, LF, space or tab: a keep-alive, not a message. */
function isWhitespaceOnly(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b !== 0x0d && b !== 0x0a && b !== 0x20 && b !== 0x09) return false;
  }
  return true;
}

/**
 * The socket's address lookup. Node's default runs dns.lookup for every datagram sent, which for
 * an IP literal (all a SIP transport sends to: destinations are resolved before) answers on the
 * next tick: a closure and a deferred call per message. An IP literal is answered at once here;
 * a name still goes to dns.lookup.
 */
function lookupLiteral(
  address: string,
  family: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const version = isIP(address);
  if (version !== 0) callback(null, address, version);
  else dnsLookup(address, family as number, callback);
}

function sameAddress(a: Endpoint, b: Endpoint): boolean {
  return normalizeAddress(a.address) === normalizeAddress(b.address);
}

export class UdpTransport implements ProtocolTransport {
  readonly protocol = 'udp' as const;
  private readonly host: TransportHost;
  private readonly sockets: UdpListener[] = [];

  constructor(host: TransportHost) {
    this.host = host;
  }

  listen(opts: ListenOptions): Promise<Endpoint> {
    const type = isIPv6(opts.address) ? 'udp6' : 'udp4';
    const buffer = this.host.settings.udpBufferSize;
    const socket = createSocket({
      type,
      reuseAddr: false,
      lookup: lookupLiteral,
      ...(buffer && buffer > 0 ? { recvBufferSize: buffer, sendBufferSize: buffer } : {}),
    });
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
        socket.on('error', (err) => this.host.emitError(err));
        socket.on('message', (data: Buffer, rinfo: RemoteInfo) => {
          if (isWhitespaceOnly(data)) return; // keep-alive datagrams are not messages
          this.host.receive(
            data,
            { protocol: 'udp', address: rinfo.address, port: rinfo.port },
            local,
          );
        });
        this.sockets.push({ socket, local });
        resolve(local);
      });
    });
  }

  /** Out of the socket `opts.local` names when given (a response leaves where its request came in). */
  send(buffer: Buffer, destination: Endpoint, opts: SendOptions, done: SendDone): void {
    const socket = this.socketFor(destination, opts.local);
    if (socket === undefined) {
      const err = new TransportError(
        'no-listener',
        'no UDP socket for this address family',
        destination,
      );
      failSoon(done, err);
      return;
    }
    // The one closure of a send: Node's callback is told nothing else.
    socket.send(buffer, destination.port, normalizeAddress(destination.address), (err) => {
      if (err) done.sendFailed(new TransportError('send', err.message, destination, err));
      else {
        this.host.stats.sent++;
        done.sendSucceeded(destination, undefined);
      }
    });
  }

  /** The listener bound at `local` when given and there, else the first of the destination's family. */
  private socketFor(destination: Endpoint, local: Endpoint | undefined): UdpSocket | undefined {
    const sockets = this.sockets;
    if (local !== undefined)
      for (const u of sockets)
        if (u.local.port === local.port && sameAddress(u.local, local)) return u.socket;
    const wantV6 = isIPv6(destination.address);
    for (const u of sockets) if (isIPv6(u.local.address) === wantV6) return u.socket;
    return undefined;
  }

  async close(): Promise<void> {
    const sockets = this.sockets.splice(0);
    await Promise.all(
      sockets.map((u) => new Promise<void>((resolve) => u.socket.close(() => resolve()))),
    );
  }
}
