// The transport layer over real sockets on loopback: UDP, TCP, TLS, WS, WSS, IPv4 and IPv6,
// connection reuse, rport/received, keep-alive, limits, malformed input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect as tcpConnect, createServer as createTcpServer } from 'node:net';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { createResponse, newBranch, SipRequest, SipResponse } from '../sip/index.ts';
import { selfSignedCertificate } from '../../test/support/certificate.ts';
import { TransportLayer } from './transport-layer.ts';
import { TransportError } from './transport-error.ts';
import type { Endpoint, TransportProtocol } from './endpoint.ts';
import type { InboundMessage, TransportOptions } from './inbound-message.ts';

const open: TransportLayer[] = [];
after(async () => {
  await Promise.all(open.map((t) => t.close()));
});

function layer(options: TransportOptions = {}): TransportLayer {
  const t = new TransportLayer(options);
  open.push(t);
  return t;
}

/** The next inbound message on a layer (fails the test after 5 s instead of hanging). */
function nextMessage(
  t: TransportLayer,
  match: (m: InboundMessage) => boolean = () => true,
): Promise<InboundMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within 5 s')), 5000);
    let done = false;
    t.onMessage((m) => {
      if (done || !match(m)) return;
      done = true;
      clearTimeout(timer);
      resolve(m);
    });
  });
}

function options(protocol: TransportProtocol, host: string, port: number, extra = ''): SipRequest {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return new SipRequest('OPTIONS', `sip:bob@${hostPart}`, [
    ['Via', `SIP/2.0/${protocol.toUpperCase()} ${hostPart}:${port};branch=${newBranch()}`],
    ['Max-Forwards', '70'],
    ['From', `<sip:alice@${hostPart}>;tag=${extra || 'a1'}`],
    ['To', `<sip:bob@${hostPart}>`],
    ['Call-ID', `${newBranch()}@test`],
    ['CSeq', '1 OPTIONS'],
  ]);
}

/** A request from `a` to `b` over `protocol`; `b` answers 200 along §18.2.2; `a` gets it. */
async function roundTrip(
  a: TransportLayer,
  aEnd: Endpoint,
  b: TransportLayer,
  bEnd: Endpoint,
): Promise<{ request: InboundMessage; response: InboundMessage }> {
  const req = options(aEnd.protocol, aEnd.address, aEnd.port);
  const gotRequest = nextMessage(b, (m) => m.message instanceof SipRequest);
  const gotResponse = nextMessage(a, (m) => m.message instanceof SipResponse);
  await a.send(req, bEnd);
  const request = await gotRequest;
  const res = createResponse(request.message as SipRequest, 200, undefined, { toTag: 'b1' });
  await b.sendResponse(res, { connectionId: request.connectionId, source: request.source });
  const response = await gotResponse;
  return { request, response };
}

async function canListenIPv6(): Promise<boolean> {
  const s = createSocket('udp6');
  return new Promise((resolve) => {
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(0, '::1', () => s.close(() => resolve(true)));
  });
}

test('UDP on 127.0.0.1: request stamped with received and rport, response back to the source', async () => {
  const a = layer();
  const b = layer();
  const aEnd = await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const bEnd = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const { request, response } = await roundTrip(a, aEnd, b, bEnd);
  const via = (request.message as SipRequest).topVia;
  assert.equal(via.rport, aEnd.port, 'rport filled with the source port');
  assert.equal(via.received, '127.0.0.1', 'received set because rport was asked (RFC 3581 §4)');
  assert.equal(request.source.port, aEnd.port);
  assert.equal(request.connectionId, undefined);
  assert.equal((response.message as SipResponse).status, 200);
  assert.ok(a.stats.sent >= 1 && b.stats.received >= 1);
});

test('UDP on ::1 (IPv6) round trip', async (t) => {
  if (!(await canListenIPv6())) {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  const a = layer();
  const b = layer();
  const aEnd = await a.listen({ protocol: 'udp', address: '::1', port: 0 });
  const bEnd = await b.listen({ protocol: 'udp', address: '::1', port: 0 });
  const { request, response } = await roundTrip(a, aEnd, b, bEnd);
  assert.equal(request.source.address, '::1');
  assert.equal((request.message as SipRequest).topVia.rport, aEnd.port);
  assert.equal((response.message as SipResponse).status, 200);
  assert.equal(a.viaFor('udp', '::1').host, '[::1]');
});

test('behind a NAT: received names the real source and the response goes there (§18.2.2)', async () => {
  const a = layer({ rport: false });
  const b = layer();
  const aEnd = await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const bEnd = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  // sent-by claims a private host; the port is right (no rport asked).
  const req = options('udp', '127.0.0.1', aEnd.port);
  req.set('Via', `SIP/2.0/UDP nat-host.invalid:${aEnd.port};branch=${newBranch()}`);
  const gotRequest = nextMessage(b);
  const gotResponse = nextMessage(a);
  await a.send(req, bEnd);
  const request = await gotRequest;
  const via = (request.message as SipRequest).topVia;
  assert.equal(via.received, '127.0.0.1');
  assert.equal(via.rport, undefined, 'no rport added when not asked');
  await b.sendResponse(createResponse(request.message as SipRequest, 200));
  assert.equal(((await gotResponse).message as SipResponse).status, 200);
});

test('UDP with two listeners: a response leaves from the socket its request came in on', async () => {
  const a = layer();
  const b = layer();
  const aEnd = await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const second = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const gotRequest = nextMessage(b);
  const gotResponse = nextMessage(a);
  await a.send(options('udp', aEnd.address, aEnd.port), second);
  const request = await gotRequest;
  assert.equal(request.local.port, second.port);
  await b.sendResponse(createResponse(request.message as SipRequest, 200), {
    source: request.source,
    local: request.local,
  });
  assert.equal((await gotResponse).source.port, second.port);
});

test('TCP: one connection per destination, responses and requests back on the inbound connection', async () => {
  const a = layer();
  const b = layer();
  const aEnd = await a.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const first = await roundTrip(a, aEnd, b, bEnd);
  const second = await roundTrip(a, aEnd, b, bEnd);
  assert.ok(first.request.connectionId);
  assert.equal(first.request.connectionId, second.request.connectionId, 'connection reused');
  assert.equal(first.response.connectionId, second.response.connectionId);
  assert.equal(a.stats.connections, 1);
  assert.equal(b.stats.connections, 1);
  // b sends a new request to a's source endpoint: the inbound connection carries it.
  const back = nextMessage(a, (m) => m.message instanceof SipRequest);
  const result = await b.send(options('tcp', bEnd.address, bEnd.port), first.request.source);
  assert.equal(result.connectionId, first.request.connectionId);
  const got = await back;
  assert.equal(got.connectionId, first.response.connectionId);
  assert.equal(a.stats.connections, 1);
  assert.equal(b.stats.connections, 1);
});

test('TCP on ::1 (IPv6) round trip', async (t) => {
  if (!(await canListenIPv6())) {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  const a = layer();
  const b = layer();
  const aEnd = await a.listen({ protocol: 'tcp', address: '::1', port: 0 });
  const bEnd = await b.listen({ protocol: 'tcp', address: '::1', port: 0 });
  const { response } = await roundTrip(a, aEnd, b, bEnd);
  assert.equal((response.message as SipResponse).status, 200);
});

test('TLS with a self-signed certificate the client trusts', async (t) => {
  const pair = selfSignedCertificate(t);
  if (!pair) return;
  const a = layer({ tlsClient: { ca: pair.cert } });
  const b = layer();
  const aEnd = await a.listen({ protocol: 'tls', address: '127.0.0.1', port: 0, tls: pair });
  const bEnd = await b.listen({ protocol: 'tls', address: '127.0.0.1', port: 0, tls: pair });
  const { request, response } = await roundTrip(a, aEnd, b, bEnd);
  assert.equal(request.source.protocol, 'tls');
  assert.equal((response.message as SipResponse).status, 200);
  // A client that does not trust the certificate cannot connect: a transport error.
  const c = layer();
  await c.listen({ protocol: 'tls', address: '127.0.0.1', port: 0, tls: pair });
  await assert.rejects(c.send(options('tls', '127.0.0.1', 1), bEnd), { code: 'connect' });
});

test('WebSocket (RFC 7118): subprotocol sip, round trip, connection reuse', async () => {
  const a = layer();
  const b = layer();
  const bEnd = await b.listen({ protocol: 'ws', address: '127.0.0.1', port: 0 });
  // a has no ws listener: it is a pure WebSocket client with a .invalid Via host.
  const via = a.viaFor('ws');
  assert.match(via.host, /\.invalid$/);
  const aEnd: Endpoint = { protocol: 'ws', address: via.host, port: 5060 };
  await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const first = await roundTrip(a, aEnd, b, bEnd);
  const second = await roundTrip(a, aEnd, b, bEnd);
  assert.equal(first.request.connectionId, second.request.connectionId);
  assert.equal((second.response.message as SipResponse).status, 200);
  assert.equal(first.request.source.protocol, 'ws');
  // A WebSocket client that does not offer 'sip' is closed by the server.
  const stranger = new WebSocket(`ws://127.0.0.1:${bEnd.port}/`, 'chat');
  const code = await new Promise<number>((resolve) => {
    stranger.on('close', (c: number) => resolve(c));
    stranger.on('error', () => resolve(-1));
  });
  assert.ok(code !== 1000, `closed with ${code}`);
});

test('secure WebSocket (wss) round trip', async (t) => {
  const pair = selfSignedCertificate(t);
  if (!pair) return;
  const a = layer({ tlsClient: { ca: pair.cert } });
  const b = layer();
  const bEnd = await b.listen({ protocol: 'wss', address: '127.0.0.1', port: 0, tls: pair });
  const aEnd = await a.listen({ protocol: 'wss', address: '127.0.0.1', port: 0, tls: pair });
  const { request, response } = await roundTrip(a, aEnd, b, bEnd);
  assert.equal(request.source.protocol, 'wss');
  assert.equal((response.message as SipResponse).status, 200);
});

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

function readUntil(s: Socket, predicate: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timeout; got ${JSON.stringify(text)}`)), 5000);
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (predicate(text)) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve(text);
      }
    };
    s.on('data', onData);
  });
}

/** Everything the peer sends until it closes. */
function readAll(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.once('close', () => resolve(text));
  });
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error('socket not closed within 5 s')), 5000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('CRLF keep-alive (RFC 5626 §3.5.1): a CRLFCRLF ping gets a CRLF pong; pings are sent when asked', async () => {
  const b = layer();
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s = await rawConnect(bEnd.port);
  const pong = readUntil(s, (text) => text === '\r\n');
  s.write('\r\n\r\n');
  assert.equal(await pong, '\r\n');
  assert.equal(b.stats.pongsSent, 1);
  s.destroy();

  // A layer with keepAliveInterval pings its outbound connections; the peer answers.
  const a = layer({ keepAliveInterval: 20 });
  await a.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const gotRequest = nextMessage(b);
  await a.send(options('tcp', '127.0.0.1', 1), bEnd);
  await gotRequest;
  const deadline = Date.now() + 5000;
  while (b.stats.pongsSent < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(a.stats.pingsSent >= 1);
  assert.ok(b.stats.pongsSent >= 2, `pongs: ${b.stats.pongsSent}`);
});

test('limits: connections per source over the limit are refused and counted', async () => {
  const b = layer({ maxConnectionsPerSource: 2 });
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s1 = await rawConnect(bEnd.port);
  const s2 = await rawConnect(bEnd.port);
  const s3 = await rawConnect(bEnd.port);
  await closed(s3);
  assert.equal(b.stats.refusedConnections, 1);
  // The two admitted ones still work.
  const pong = readUntil(s2, (text) => text === '\r\n');
  s2.write('\r\n\r\n');
  await pong;
  s1.destroy();
  s2.destroy();
});

test('limits: an oversize datagram is dropped, an oversize stream message closes the connection', async () => {
  const b = layer({ maxMessageSize: 1000 });
  const bEnd = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const tcpEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const a = layer({ udpMaxRequestSize: 65535 });
  await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const big = options('udp', '127.0.0.1', 1);
  big.body = Buffer.alloc(1500, 'x');
  big.set('Content-Type', 'text/plain');
  await a.send(big, bEnd);
  const deadline = Date.now() + 5000;
  while (b.stats.oversize < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(b.stats.oversize, 1);

  const s = await rawConnect(tcpEnd.port);
  const answer = readAll(s);
  s.write(big.toBuffer());
  await closed(s);
  assert.match(await answer, /^SIP\/2\.0 513 Message of \d+ bytes exceeds the limit of 1000\r\n/);
  assert.match(await answer, /\r\nCSeq: 1 OPTIONS\r\n/);
  assert.equal(b.stats.framingErrors, 1);
});

test('a TCP stream that breaks framing (no Content-Length) is closed', async () => {
  const b = layer();
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s = await rawConnect(bEnd.port);
  const req = options('tcp', '127.0.0.1', 1)
    .toString()
    .replace(/Content-Length: 0\r\n/i, '');
  const answer = readAll(s);
  s.write(req);
  await closed(s);
  assert.match(await answer, /^SIP\/2\.0 400 Missing Content-Length/);
  assert.equal(b.stats.framingErrors, 1);
});

test('malformed request over UDP: 400 with the parser reason; the layer keeps working', async () => {
  const b = layer();
  const bEnd = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const raw = createSocket('udp4');
  await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
  const replies: string[] = [];
  raw.on('message', (d) => replies.push(d.toString('latin1')));
  const malformed: Array<{ source: Endpoint; reason: string }> = [];
  b.onMalformed((source, reason) => malformed.push({ source, reason }));
  const broken = [
    'OPTIONS sip:bob@127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/UDP 127.0.0.1:${raw.address().port};branch=z9hG4bKbroken`,
    'From: <sip:a@127.0.0.1>;tag=1',
    'To: <sip:bob@127.0.0.1>',
    'Call-ID: broken@test',
    'CSeq: one OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  raw.send(broken, bEnd.port, '127.0.0.1');
  const noVia = 'OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nCSeq: x\r\n\r\n';
  raw.send(noVia, bEnd.port, '127.0.0.1');
  raw.send('SIP/2.0 2OO OK\r\n\r\n', bEnd.port, '127.0.0.1');
  const deadline = Date.now() + 5000;
  while ((replies.length < 1 || b.stats.malformed < 3) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(b.stats.malformed, 3);
  assert.equal(b.stats.badRequestsSent, 1);
  // onMalformed hears of both malformed requests (answered or not), not of the broken response.
  assert.deepEqual(
    malformed.map((m) => m.reason.slice(0, 12)),
    ['Invalid CSeq', 'Invalid CSeq'],
  );
  assert.equal(replies.length, 1);
  assert.match(replies[0] ?? '', /^SIP\/2\.0 400 .*CSeq/i);
  assert.match(replies[0] ?? '', /branch=z9hG4bKbroken/);
  raw.close();
  // still alive: a good request goes through
  const a = layer();
  const aEnd = await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const { response } = await roundTrip(a, aEnd, b, bEnd);
  assert.equal((response.message as SipResponse).status, 200);
});

test('a request over 1300 bytes for a UDP destination goes over TCP (§18.1.1), else falls back to UDP', async () => {
  const a = layer();
  await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const aTcp = await a.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  // b listens UDP and TCP on the same port number.
  const b = layer();
  let bEnd: Endpoint | undefined;
  for (let i = 0; i < 20 && !bEnd; i++) {
    const u = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    try {
      await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: u.port });
      bEnd = u;
    } catch {
      /* that port is taken for TCP: try another */
    }
  }
  assert.ok(bEnd);
  const big = options('udp', '127.0.0.1', 1);
  big.set('Subject', 'x'.repeat(1400));
  const got = nextMessage(b);
  const result = await a.send(big, bEnd);
  assert.equal(result.endpoint.protocol, 'tcp');
  const inbound = await got;
  assert.equal(inbound.source.protocol, 'tcp');
  const via = (inbound.message as SipRequest).topVia;
  assert.equal(via.transport, 'TCP');
  assert.equal(via.port, aTcp.port);

  // c only listens on UDP: the TCP connect is refused, the request goes over UDP after all.
  const c = layer();
  const cEnd = await c.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const probe = createTcpServer();
  const tcpFree = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(cEnd.port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  if (tcpFree) {
    const big2 = options('udp', '127.0.0.1', 1);
    big2.set('Subject', 'y'.repeat(1400));
    const got2 = nextMessage(c);
    const result2 = await a.send(big2, cEnd);
    assert.equal(result2.endpoint.protocol, 'udp');
    assert.equal((await got2).source.protocol, 'udp');
  }
});

test('idle connections are closed after idleTimeout', async () => {
  const b = layer({ idleTimeout: 40 });
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s = await rawConnect(bEnd.port);
  await closed(s);
  assert.equal(b.stats.connections, 0);
});

// A listener that never completes the handshake (TLS) or never answers the upgrade (WebSocket):
// the connection attempt is still pending when close() is called.
for (const protocol of ['tls', 'ws'] as const) {
  test(`close() during a ${protocol} connection attempt settles the send (no hanging promise)`, async () => {
    const accepted = new Set<Socket>();
    const silent = createTcpServer((socket) => {
      accepted.add(socket);
      socket.on('error', () => undefined);
    });
    const port = await new Promise<number>((resolve) =>
      silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)),
    );
    const a = new TransportLayer();
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = a.send(options(protocol, '127.0.0.1', 1), {
        protocol,
        address: '127.0.0.1',
        port,
      });
      await new Promise((r) => setTimeout(r, 50));
      await a.close();
      // Settles at close(), not when the 10 s connect timeout would have fired.
      const outcome = await Promise.race([
        pending.then(
          () => 'sent',
          (err: unknown) => `rejected:${(err as { code?: string }).code}`,
        ),
        new Promise<string>((r) => (timer = setTimeout(() => r('still pending'), 3000))),
      ]);
      assert.equal(outcome, 'rejected:closed');
    } finally {
      clearTimeout(timer);
      await a.close();
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
}

test('close() leaves no socket behind and rejects later sends', async () => {
  const a = new TransportLayer();
  await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const tcp = await a.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  await a.close();
  await assert.rejects(a.send(options('udp', '127.0.0.1', 1), tcp), { code: 'closed' });
  await assert.rejects(rawConnect(tcp.port));
});

test('udpBufferSize sets the receive and send buffers of UDP sockets', async () => {
  const size = 1 << 20;
  const a = new TransportLayer({ udpBufferSize: size });
  const b = new TransportLayer();
  try {
    await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
    type Inside = { transports: { udp: { sockets: { socket: import('node:dgram').Socket }[] } } };
    const tuned = (a as unknown as Inside).transports.udp.sockets[0].socket;
    const plain = (b as unknown as Inside).transports.udp.sockets[0].socket;
    // Linux doubles what is asked (bookkeeping) and caps it at rmem_max / wmem_max.
    const cap = (file: string) => Number(readFileSync(file, 'utf8'));
    const rmax = cap('/proc/sys/net/core/rmem_max');
    const wmax = cap('/proc/sys/net/core/wmem_max');
    assert.ok(tuned.getRecvBufferSize() >= Math.min(size, rmax), 'receive buffer');
    assert.ok(tuned.getSendBufferSize() >= Math.min(size, wmax), 'send buffer');
    if (rmax >= size) assert.ok(tuned.getRecvBufferSize() > plain.getRecvBufferSize());
  } finally {
    await a.close();
    await b.close();
  }
});

test('checkSentBy (§18.1.2): a response whose top Via is not ours is dropped and counted', async () => {
  const a = layer({ checkSentBy: true });
  const b = layer();
  const aEnd = await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  await a.listen({ protocol: 'tcp', address: '127.0.0.1', port: aEnd.port });
  const bEnd = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  // Ours (the sent-by viaFor gives): delivered, over UDP and TCP alike.
  const { response } = await roundTrip(a, aEnd, b, bEnd);
  assert.equal((response.message as SipResponse).status, 200);
  assert.equal(a.stats.misdirectedResponses, 0);
  // Someone else's sent-by (another port, another host): dropped before any listener sees it.
  const seen: number[] = [];
  a.onMessage((m) => {
    if (m.message instanceof SipResponse) seen.push(m.message.status);
  });
  for (const sentBy of [`127.0.0.1:${aEnd.port + 1}`, `192.0.2.1:${aEnd.port}`]) {
    const res = createResponse(options('udp', '127.0.0.1', 1), 486, undefined, { toTag: 'x' });
    res.set('Via', `SIP/2.0/UDP ${sentBy};branch=${newBranch()}`);
    await b.sendBuffer(res.toBuffer(), aEnd);
  }
  // And one that is ours again, to know the two before it had their chance to arrive.
  const last = createResponse(options('udp', '127.0.0.1', 1), 200, undefined, { toTag: 'y' });
  const own = a.viaFor('udp');
  last.set('Via', `SIP/2.0/UDP ${own.host}:${own.port};branch=${newBranch()}`);
  const arrived = nextMessage(a, (m) => m.message instanceof SipResponse);
  await b.sendBuffer(last.toBuffer(), aEnd);
  await arrived;
  assert.deepEqual(seen, [200]);
  assert.equal(a.stats.misdirectedResponses, 2);
});

test('write backlog: a peer that never reads is cut off once maxWriteBacklog bytes wait for it', async () => {
  const MAX_WRITE_BACKLOG = 256 * 1024;
  const b = layer({ maxWriteBacklog: MAX_WRITE_BACKLOG });
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s = await rawConnect(bEnd.port);
  const first = nextMessage(b);
  s.write(options('tcp', '127.0.0.1', s.localPort!).toBuffer());
  const { connectionId } = await first;
  s.pause(); // and never reads again
  const chunk = Buffer.alloc(60_000, 'x');
  const errors: unknown[] = [];
  const back: Endpoint = { protocol: 'tcp', address: '127.0.0.1', port: s.localPort! };
  // The kernel's buffers take a few MB first; then the layer's own backlog fills, and stops.
  for (let i = 0; i < 2_000 && errors.length === 0; i++) {
    b.sendBuffer(chunk, back, { connectionId }).catch((err: unknown) => errors.push(err));
    await new Promise((r) => setImmediate(r));
  }
  const overflow = errors.find(
    (e) => e instanceof TransportError && /write backlog over 262144 bytes/.test(e.message),
  );
  assert.ok(overflow instanceof TransportError, `refused: ${String(errors[0])}`);
  assert.equal(overflow.code, 'send');
  assert.equal(b.stats.writeOverflows, 1);
  assert.equal(b.connection(connectionId!), undefined, 'the connection is gone');
  s.destroy();
});

test('write timeout: a peer that stops reading is closed when no byte is taken for writeTimeout', async () => {
  const b = layer({ writeTimeout: 300, maxWriteBacklog: 64 * 1024 * 1024 });
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s = await rawConnect(bEnd.port);
  const first = nextMessage(b);
  s.write(options('tcp', '127.0.0.1', s.localPort!).toBuffer());
  const { connectionId } = await first;
  s.pause(); // and never reads again
  const chunk = Buffer.alloc(60_000, 'x');
  // Enough to fill the kernel's buffers on both sides, far below maxWriteBacklog.
  for (let i = 0; i < 400; i++) b.sendBuffer(chunk, bEnd, { connectionId }).catch(() => undefined);
  const deadline = Date.now() + 5000;
  while (b.connection(connectionId!) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(b.connection(connectionId!), undefined, 'closed by the write timeout');
  assert.equal(b.stats.writeOverflows, 1);
  s.destroy();
});

test('keep-alive: the pings of one read get their pongs in one write', async () => {
  const b = layer();
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const s = await rawConnect(bEnd.port);
  const pongs = readUntil(s, (text) => text.length >= 6);
  s.write('\r\n\r\n\r\n\r\n\r\n\r\n');
  assert.equal(await pongs, '\r\n\r\n\r\n');
  assert.equal(b.stats.pongsSent, 3);
  s.destroy();
});

test('no reflection: a request keeps a Via maddr naming our own address, loses one naming another host', async () => {
  const b = layer();
  const bEnd = await b.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  const a = layer();
  await a.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  for (const [maddr, kept] of [
    ['127.0.0.1', true],
    ['127.0.0.9', false],
  ] as const) {
    const req = options('udp', '127.0.0.1', 5060);
    const via = req.via[0]!;
    req.set('Via', `SIP/2.0/UDP 127.0.0.1:5060;branch=${via.branch};maddr=${maddr}`);
    const got = nextMessage(b, (m) => m.message.via[0]?.branch === via.branch);
    await a.send(req, bEnd);
    const top = (await got).message.via[0]!;
    assert.equal(top.params.maddr, kept ? maddr : undefined, `maddr=${maddr}`);
  }
});

test('first-message timeout: an inbound connection that only pings is closed; one with a message is not', async () => {
  const b = layer({ firstMessageTimeout: 300 });
  const bEnd = await b.listen({ protocol: 'tcp', address: '127.0.0.1', port: 0 });
  const pinger = await rawConnect(bEnd.port);
  const talker = await rawConnect(bEnd.port);
  const first = nextMessage(b);
  talker.write(options('tcp', '127.0.0.1', talker.localPort!).toBuffer());
  await first;
  const ping = setInterval(() => pinger.write('\r\n\r\n'), 50);
  pinger.on('data', () => undefined);
  try {
    await closed(pinger);
  } finally {
    clearInterval(ping);
  }
  assert.equal(talker.destroyed, false);
  assert.ok(b.stats.timedOutConnections >= 1);
  talker.destroy();
});
