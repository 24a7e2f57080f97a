// Ports for tests: every port a test names comes from here (or is port 0, bound by the code under
// test), never from a random guess in a range. A guess can land on a port another process holds,
// and a fresh clone's CI run once failed with EADDRINUSE that way.
//
//   freePort(address)               one port, for a server that must be told its port before it
//                                   starts (`trapezoid serve --config`, SIPp -p, Kamailio, ...)
//   freePortBlock(count, options)   `count` consecutive ports (RTP/RTCP pairs, a relay's range,
//                                   baresip's SIP port and its TLS port + 1)
//
// The operating system picks the port (a UDP bind to port 0, so it is one nobody holds); each
// port of the answer is then bound on UDP and TCP on the address the test will use, all at once,
// to check it is free for both; and no port is handed out twice in this process. Between the
// check and the server's bind another process could still take the port: the OS picks among
// ~28,000 ephemeral ports at random, so that is one chance in tens of thousands per port, not
// the one in a few hundred of guessing in a small shared range.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server } from 'node:net';

export interface PortOptions {
  /** The address the port will be used on (default 127.0.0.1). */
  address?: string;
}

export interface PortBlockOptions extends PortOptions {
  /** The first port is a multiple of this (2 for an even RTP port). Default 1. */
  align?: number;
}

/** Ports handed out by this process: never given twice, even once their check sockets closed. */
const handedOut = new Set<number>();

const ATTEMPTS = 100;
const LAST_PORT = 65535;

function bindUdp(port: number, address: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind(port, address, () => resolve(socket));
  });
}

function listenTcp(port: number, address: string): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, address, () => resolve(server));
  });
}

function closeAll(held: Array<Socket | Server>): Promise<void> {
  return Promise.all(
    held.map((h) => new Promise<void>((resolve) => h.close(() => resolve()))),
  ).then(() => undefined);
}

/** A port number the OS has just given a UDP socket (and taken back). */
async function portFromSystem(address: string): Promise<number> {
  const socket = await bindUdp(0, address);
  if (!socket) throw new Error(`cannot bind UDP on ${address}: is the address configured?`);
  const { port } = socket.address();
  await closeAll([socket]);
  return port;
}

/** Whether ports first .. first + count - 1 are all free on UDP and TCP (checked together). */
async function blockFree(first: number, count: number, address: string): Promise<boolean> {
  const held: Array<Socket | Server> = [];
  try {
    for (let port = first; port < first + count; port++) {
      if (handedOut.has(port)) return false;
      const udp = await bindUdp(port, address);
      if (!udp) return false;
      held.push(udp);
      const tcp = await listenTcp(port, address);
      if (!tcp) return false;
      held.push(tcp);
    }
    return true;
  } finally {
    await closeAll(held);
  }
}

/** `count` consecutive ports, each free on UDP and TCP on the address; resolves with the first. */
export async function freePortBlock(
  count: number,
  options: PortBlockOptions = {},
): Promise<number> {
  const address = options.address ?? '127.0.0.1';
  const align = options.align ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count ${count}: expected >= 1`);
  for (let i = 0; i < ATTEMPTS; i++) {
    const seed = await portFromSystem(address);
    const first = seed - (seed % align);
    if (first < 1024 || first + count - 1 > LAST_PORT) continue;
    if (await blockFree(first, count, address)) {
      for (let port = first; port < first + count; port++) handedOut.add(port);
      return first;
    }
  }
  throw new Error(`no ${count} consecutive free ports on ${address} after ${ATTEMPTS} tries`);
}

/** One port free on UDP and TCP on the address (default 127.0.0.1), not handed out before. */
export function freePort(options: PortOptions = {}): Promise<number> {
  return freePortBlock(1, options);
}

/** A range 'LOW-HIGH' of `count` free ports, LOW even (an RTP port range for a phone or relay). */
export async function freePortRange(count: number, options: PortOptions = {}): Promise<string> {
  const first = await freePortBlock(count, { ...options, align: 2 });
  return `${first}-${first + count - 1}`;
}
