// Receives HEPv3 over UDP, as Homer's collector does: Kamailio's siptrace, heplify, sngrep -H or
// another trapezoid send one HEP message per datagram (hep3.ts decodes it).
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

/**
 * Socket receive buffer asked for: it absorbs the moments the analyzer is not scheduled (the
 * kernel caps it at net.core.rmem_max; raise that on a busy collector).
 */
const RECEIVE_BUFFER_BYTES = 32 * 1024 * 1024;

export interface HepAddress {
  transport: 'udp';
  address: string;
  port: number;
}

/** Reads 'udp:ADDR:PORT' ('udp:[::1]:9060' for IPv6); throws a message for the user if not. */
export function parseHepAddress(text: string): HepAddress {
  const m = /^udp:(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new Error(`--hep ${text}: expected udp:ADDRESS:PORT (e.g. udp:0.0.0.0:9060)`);
  }
  return { transport: 'udp', address: m[1] ?? m[2]!, port };
}

export class HepCollector {
  /** Datagrams received. */
  received = 0;
  private socket: Socket | undefined;
  private readonly onMessage: (payload: Buffer, ts: number) => void;

  /** `onMessage` gets each datagram and its arrival time (seconds since the epoch). */
  constructor(onMessage: (payload: Buffer, ts: number) => void) {
    this.onMessage = onMessage;
  }

  /** Binds; resolves with the bound port (useful with port 0). */
  listen(address: HepAddress): Promise<number> {
    const socket = createSocket({
      type: isIPv6(address.address) ? 'udp6' : 'udp4',
      recvBufferSize: RECEIVE_BUFFER_BYTES,
    });
    this.socket = socket;
    socket.on('message', (msg) => {
      this.received++;
      this.onMessage(msg, Date.now() / 1000);
    });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) =>
        reject(
          new Error(`cannot listen for HEP on ${address.address}:${address.port}: ${err.message}`),
        ),
      );
      socket.bind(address.port, address.address, () => {
        socket.removeAllListeners('error');
        resolve(socket.address().port);
      });
    });
  }

  /** The socket's receive buffer as the kernel granted it (capped by net.core.rmem_max). */
  get receiveBufferBytes(): number | undefined {
    return this.socket?.getRecvBufferSize();
  }

  close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }
}
