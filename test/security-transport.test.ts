// The transport half of "the call server is safe on a public address": each attack found against
// `trapezoid serve` is replayed here against a served child over raw TCP/UDP sockets, with the
// stream limits shortened through the config's `transport:` section so the timeouts show within
// seconds. Attackers use their own loopback source addresses (127.0.0.11 and up): the per-source
// connection limit of one test never touches another's.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync, rmSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { repoRoot } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { RawClient, metric, scratch, serve, sipRequest, type Served } from './security-peer.ts';

const DOMAIN = 'transport.trapezoid';
/** The limits the served child runs with (seconds), short so that a test sees them act. */
const FIRST_MESSAGE_TIMEOUT_S = 2;
const MESSAGE_TIMEOUT_S = 3;
const IDLE_TIMEOUT_S = 4;
const WRITE_TIMEOUT_S = 2;
const MAX_CONNECTIONS_PER_SOURCE = 64;
/** How long past a limit a loaded 2-core machine may take to act on it. */
const SLACK_MS = 6_000;

let server: Served;
let tcpPort: number;
let tlsPort: number;
let wsPort: number;
let pki: string;

before(async () => {
  const sip = await freePort();
  tlsPort = await freePort();
  wsPort = await freePort();
  tcpPort = sip;
  const http = await freePort();
  // The certificate pair for the TLS listener, made by `trapezoid cert`.
  pki = scratch('transport-pki');
  const made = spawnSync(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'cert', '--out', pki, '--cn', 'localhost', '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(made.status, 0, made.stderr);
  const files = JSON.parse(made.stdout) as { cert: string; key: string };
  server = await serve(
    {
      domain: DOMAIN,
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: sip },
        { transport: 'tcp', address: '127.0.0.1', port: sip },
        { transport: 'tls', address: '127.0.0.1', port: tlsPort },
        { transport: 'ws', address: '127.0.0.1', port: wsPort },
      ],
      tls: { cert: files.cert, key: files.key },
      users: [{ user: '1000', password: 'pw-1000-transport' }],
      transport: {
        firstMessageTimeoutSeconds: FIRST_MESSAGE_TIMEOUT_S,
        messageTimeoutSeconds: MESSAGE_TIMEOUT_S,
        idleTimeoutSeconds: IDLE_TIMEOUT_S,
        writeTimeoutSeconds: WRITE_TIMEOUT_S,
        maxConnectionsPerSource: MAX_CONNECTIONS_PER_SOURCE,
      },
    },
    { sip, http },
    'transport',
  );
});

after(async () => {
  await server?.stop();
  if (pki) rmSync(pki, { recursive: true, force: true });
});

// ---- raw stream clients --------------------------------------------------------------------

/** A raw TCP connection from `from` and everything it has received; `closedAt` once closed. */
interface Conn {
  socket: Socket;
  text: string;
  closedAt: number | undefined;
  closed: Promise<void>;
}

function watch(socket: Socket, read = true): Conn {
  const conn: Conn = { socket, text: '', closedAt: undefined, closed: Promise.resolve() };
  if (read) socket.on('data', (d: Buffer) => (conn.text += d.toString('latin1')));
  socket.on('error', () => undefined); // a reset is one way of being closed
  conn.closed = new Promise((resolve) =>
    socket.once('close', () => {
      conn.closedAt = Date.now();
      resolve();
    }),
  );
  return conn;
}

function open(port: number, from: string, read = true): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port, localAddress: from });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(watch(socket, read));
    });
  });
}

let sequence = 0;

/** An OPTIONS to the server over TCP from `conn`, with a fresh branch. */
function optionsOverTcp(conn: Conn, extra: string[] = [], body = ''): string {
  const n = ++sequence;
  const local = `${conn.socket.localAddress}:${conn.socket.localPort}`;
  return [
    `OPTIONS sip:${DOMAIN} SIP/2.0`,
    `Via: SIP/2.0/TCP ${local};branch=z9hG4bK-tr-${process.pid}-${n}`,
    'Max-Forwards: 70',
    `From: <sip:probe@${DOMAIN}>;tag=t${n}`,
    `To: <sip:${DOMAIN}>`,
    `Call-ID: tr-${process.pid}-${n}@${conn.socket.localAddress}`,
    `CSeq: ${n} OPTIONS`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The served child's resident set size in MB (/proc/PID/status VmRSS). */
function serverRssMb(): number {
  const status = readFileSync(`/proc/${server.peer.child.pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  assert.ok(kb, 'VmRSS of the server');
  return Number(kb) / 1024;
}

/** An OPTIONS over UDP from a fresh client: the answer's time in ms, or undefined. */
async function udpOptionsMs(from: string, ms: number): Promise<number | undefined> {
  const client = await RawClient.open(from);
  try {
    const text = sipRequest(client, {
      method: 'OPTIONS',
      uri: `sip:${DOMAIN}`,
      from: `sip:probe@${DOMAIN}`,
      to: `sip:${DOMAIN}`,
    });
    return (await client.request(text, server.sip, ms))?.elapsed;
  } finally {
    await client.close();
  }
}

// ---- 1. write backlog ----------------------------------------------------------------------

test('keep-alive backlog: CRLF pings from connections that never read cannot grow the server; they are closed and OPTIONS stays prompt', async () => {
  const PINGS_PER_WRITE = 16_384; // 64 KiB of "\r\n\r\n" per write
  const FLOOD_LIMIT_MS = WRITE_TIMEOUT_S * 1000 + 15_000;
  const flood = Buffer.from('\r\n\r\n'.repeat(PINGS_PER_WRITE), 'latin1');
  const CLIENT_BUFFER_BYTES = 256 * 1024; // what this test itself queues, at most
  // Reading ~1 GB/s of pings churns buffers (RSS grows some tens of MB, and stays flat); the
  // attack grew it by 564 MB, never released.
  const RSS_GROWTH_LIMIT_MB = 128;
  const rssBefore = serverRssMb();
  const conns: Conn[] = [];
  for (let i = 0; i < 3; i++) {
    // A well-behaved start (one OPTIONS answered), then it stops reading and floods pings.
    const conn = await open(tcpPort, '127.0.0.11');
    conn.socket.write(optionsOverTcp(conn));
    await until('200 to the first OPTIONS', 10_000, () => conn.text.includes('SIP/2.0 200'));
    conn.socket.pause();
    conn.socket.removeAllListeners('data');
    conns.push(conn);
  }
  let rssPeak = rssBefore;
  let optionsMs: number | undefined;
  const started = Date.now();
  const floods = conns.map(async (conn) => {
    while (conn.closedAt === undefined && Date.now() - started < FLOOD_LIMIT_MS) {
      if (conn.socket.writableLength > CLIENT_BUFFER_BYTES) {
        await Promise.race([
          new Promise((r) => conn.socket.once('drain', r)),
          conn.closed,
          new Promise((r) => setTimeout(r, 200)),
        ]);
      } else {
        conn.socket.write(flood);
        await new Promise((r) => setImmediate(r));
      }
    }
  });
  const samples: number[] = []; // RSS every 100 ms, for the log line
  const sampler = setInterval(() => {
    try {
      samples.push(serverRssMb());
      rssPeak = Math.max(rssPeak, samples[samples.length - 1]!);
    } catch {
      /* the child is gone: the assertions below say so */
    }
  }, 100);
  try {
    // During the flood, another client is still answered promptly.
    await new Promise((r) => setTimeout(r, 500));
    optionsMs = await udpOptionsMs('127.0.0.12', 5_000);
    await Promise.all(floods);
  } finally {
    clearInterval(sampler);
    for (const conn of conns) conn.socket.destroy();
  }
  const rssAfter = serverRssMb();
  console.log(
    `keep-alive backlog: RSS ${rssBefore.toFixed(0)} MB before, ${rssPeak.toFixed(0)} MB peak, ` +
      `${rssAfter.toFixed(0)} MB after; OPTIONS during the flood ${optionsMs?.toFixed(1)} ms; ` +
      `closed after ${conns.map((c) => (c.closedAt ?? NaN) - started).join(', ')} ms; ` +
      `RSS each second: ${samples.filter((_, i) => i % 10 === 0).map((v) => v.toFixed(0))}`,
  );
  for (const conn of conns) {
    assert.ok(conn.closedAt !== undefined, 'the server closed the connection that never reads');
    assert.ok(conn.closedAt - started < FLOOD_LIMIT_MS);
  }
  assert.ok(
    rssPeak - rssBefore < RSS_GROWTH_LIMIT_MB,
    `RSS grew ${(rssPeak - rssBefore).toFixed(0)} MB`,
  );
  assert.ok(optionsMs !== undefined, 'OPTIONS answered during the flood');
  assert.ok(optionsMs < 2_000, `OPTIONS took ${optionsMs} ms`);
  // The flood over, the server stands down from overload control (src/server/overload.ts) if the
  // flood had it refusing new requests: the next test's first requests are answered, not 503.
  const over = Date.now();
  while (metric(await server.get('/metrics'), 'trapezoid_overloaded') !== 0) {
    assert.ok(Date.now() - over < 5_000, 'still overloaded 5 s after the flood');
    await new Promise((r) => setTimeout(r, 50));
  }
});

// ---- 2. idle and slowloris connections -----------------------------------------------------

test('idle and slowloris connections: closed by the first-message, message and idle timeouts; a phone sending keep-alives stays', async () => {
  const started = Date.now();
  // 40 connections that never send a byte, to each stream listener's kind.
  const idle = await Promise.all(Array.from({ length: 40 }, () => open(tcpPort, '127.0.0.13')));
  const idleTls = await open(tlsPort, '127.0.0.13'); // TCP accepted, no TLS handshake
  const idleWs = await open(wsPort, '127.0.0.13'); // TCP accepted, no HTTP upgrade
  // 10 slowloris: the header block of a first message, one byte every 250 ms.
  const slow = await Promise.all(Array.from({ length: 10 }, () => open(tcpPort, '127.0.0.14')));
  // One that sent a message and then dribbles the next: the message timeout, not the first.
  const dribbler = await open(tcpPort, '127.0.0.14');
  dribbler.socket.write(optionsOverTcp(dribbler));
  await until('200 to the dribbler', 10_000, () => dribbler.text.includes('SIP/2.0 200'));
  const dribbleStart = Date.now();
  const dribbled = optionsOverTcp(dribbler);
  let offset = 0;
  const dribble = setInterval(() => {
    for (const conn of [...slow, dribbler]) {
      if (conn.closedAt === undefined && !conn.socket.destroyed) {
        conn.socket.write(dribbled.charAt(offset % dribbled.length));
      }
    }
    offset++;
  }, 250);
  // A phone: one request, then a CRLF keep-alive every second (RFC 5626): it must stay open.
  const phone = await open(tcpPort, '127.0.0.15');
  phone.socket.write(optionsOverTcp(phone));
  await until('200 to the phone', 10_000, () => phone.text.includes('SIP/2.0 200'));
  const answered = phone.text.length;
  const ping = setInterval(() => phone.socket.write('\r\n\r\n'), 1_000);
  // One that sent a message and then fell silent: closed by the idle timeout.
  const silent = await open(tcpPort, '127.0.0.15');
  silent.socket.write(optionsOverTcp(silent));
  const firstDeadline = FIRST_MESSAGE_TIMEOUT_S * 1000 + SLACK_MS;
  try {
    await Promise.race([
      Promise.all([...idle, idleTls, idleWs, ...slow].map((c) => c.closed)),
      new Promise((r) => setTimeout(r, firstDeadline)),
    ]);
    for (const conn of [...idle, idleTls, idleWs, ...slow]) {
      assert.ok(conn.closedAt !== undefined, 'a connection without a first message is closed');
      assert.ok(conn.closedAt - started >= FIRST_MESSAGE_TIMEOUT_S * 1000 - 100, 'not before');
    }
    await Promise.race([
      Promise.all([dribbler.closed, silent.closed]),
      new Promise((r) => setTimeout(r, IDLE_TIMEOUT_S * 1000 + SLACK_MS)),
    ]);
    assert.ok(dribbler.closedAt !== undefined, 'a message dribbled forever is cut off');
    assert.ok(dribbler.closedAt - dribbleStart >= MESSAGE_TIMEOUT_S * 1000 - 100);
    assert.match(dribbler.text, /SIP\/2\.0 400 Message not complete within 3 s\r\n/);
    assert.ok(silent.closedAt !== undefined, 'an idle connection is closed');
    // The phone has outlived the idle timeout by its keep-alives and is still answered.
    await until('phone older than the idle timeout', 20_000, () => {
      return Date.now() - started > (IDLE_TIMEOUT_S + 1) * 1000;
    });
    assert.equal(phone.closedAt, undefined, 'the phone sending keep-alives keeps its connection');
    assert.match(phone.text.slice(answered), /^(\r\n)+$/, 'its pings got CRLF pongs');
    const before = phone.text.length;
    phone.socket.write(optionsOverTcp(phone));
    await until('phone answered', 10_000, () => phone.text.slice(before).includes('SIP/2.0 200'));
  } finally {
    clearInterval(dribble);
    clearInterval(ping);
    for (const conn of [...idle, idleTls, idleWs, ...slow, dribbler, phone, silent]) {
      conn.socket.destroy();
    }
  }
});

test('idle TLS: a phone that completes the handshake but never sends a message is closed', async () => {
  const started = Date.now();
  const tcp = await open(tlsPort, '127.0.0.16', false);
  const socket = tlsConnect({ socket: tcp.socket, rejectUnauthorized: false });
  const conn = watch(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  await Promise.race([
    conn.closed,
    new Promise((r) => setTimeout(r, FIRST_MESSAGE_TIMEOUT_S * 1000 + SLACK_MS)),
  ]);
  socket.destroy();
  assert.ok(conn.closedAt !== undefined, 'closed by the first-message timeout');
  assert.ok(conn.closedAt - started >= FIRST_MESSAGE_TIMEOUT_S * 1000 - 100);
});

// ---- 3. unfinished WebSocket upgrades ------------------------------------------------------

test('unfinished WebSocket upgrades: they count against the per-source connection limit and time out', async () => {
  // A child of its own, with a first-message timeout long enough that the limit is seen to hold
  // before any of the held connections times out, and a small limit.
  const LIMIT = 16;
  const TIMEOUT_S = 8;
  const sip = await freePort();
  const ws = await freePort();
  const child = await serve(
    {
      domain: DOMAIN,
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: sip },
        { transport: 'tcp', address: '127.0.0.1', port: sip },
        { transport: 'ws', address: '127.0.0.1', port: ws },
      ],
      transport: { firstMessageTimeoutSeconds: TIMEOUT_S, maxConnectionsPerSource: LIMIT },
    },
    { sip, http: await freePort() },
    'transport-ws',
  );
  const FROM = '127.0.0.17';
  const held: Conn[] = [];
  try {
    // Each sends half an upgrade request and stops.
    const half = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${ws}\r\nUpgrade: websocket\r\n`;
    const started = Date.now();
    held.push(...(await Promise.all(Array.from({ length: LIMIT }, () => open(ws, FROM)))));
    for (const conn of held) conn.socket.write(half);
    // (the client sees 'connect' before the server has accepted: let it catch up first)
    await new Promise((r) => setTimeout(r, 1_000));
    // The limit is reached: one more, to any stream listener, is refused at once.
    const refusedWs = await open(ws, FROM);
    const refusedTcp = await open(sip, FROM);
    await Promise.race([
      Promise.all([refusedWs.closed, refusedTcp.closed]),
      new Promise((r) => setTimeout(r, 2_000)),
    ]);
    assert.ok(Date.now() - started < TIMEOUT_S * 1000, 'checked before any timeout');
    assert.ok(refusedWs.closedAt !== undefined, 'connection over the limit (ws) refused');
    assert.ok(refusedTcp.closedAt !== undefined, 'connection over the limit (tcp) refused');
    assert.equal(held.filter((c) => c.closedAt !== undefined).length, 0, 'the held ones stay');
    // The unfinished upgrades time out, which frees their places.
    await Promise.race([
      Promise.all(held.map((c) => c.closed)),
      new Promise((r) => setTimeout(r, TIMEOUT_S * 1000 + SLACK_MS)),
    ]);
    assert.equal(held.filter((c) => c.closedAt === undefined).length, 0, 'all timed out');
    for (const conn of held) assert.ok(conn.closedAt! - started >= TIMEOUT_S * 1000 - 100);
    const again = await open(sip, FROM);
    again.socket.write(optionsOverTcp(again));
    await until('a new connection from the source is served', 10_000, () =>
      again.text.includes('SIP/2.0 200'),
    );
    again.socket.destroy();
  } finally {
    for (const conn of held) conn.socket.destroy();
    await child.stop();
  }
});

// ---- 4. TCP framing errors -----------------------------------------------------------------

test('framing errors: a valid message before a bad Content-Length in one segment is answered, then 400 with the reason and close', async () => {
  const conn = await open(tcpPort, '127.0.0.18');
  const good = optionsOverTcp(conn);
  const bad = optionsOverTcp(conn).replace(/Content-Length: 0/, 'Content-Length: 12x');
  conn.socket.write(good + bad);
  await Promise.race([conn.closed, new Promise((r) => setTimeout(r, 10_000))]);
  conn.socket.destroy();
  assert.match(conn.text, /^SIP\/2\.0 200 /, 'the message framed first is handled');
  assert.match(conn.text, /\r\n\r\nSIP\/2\.0 400 Invalid Content-Length\r\n/);
  assert.ok(conn.closedAt !== undefined, 'then the connection is closed');
});

test('framing errors: a header block over the size limit gets 513, garbage gets 400, before the close', async () => {
  const big = await open(tcpPort, '127.0.0.18');
  const head = optionsOverTcp(big).split('\r\nContent-Length')[0]!;
  big.socket.write(`${head}\r\nX-Filler: ${'a'.repeat(70_000)}`);
  const garbage = await open(tcpPort, '127.0.0.18');
  garbage.socket.write(
    Buffer.concat([Buffer.from([0, 1, 2, 0xff, 0xfe]), Buffer.from('\r\n\r\n')]),
  );
  await Promise.race([
    Promise.all([big.closed, garbage.closed]),
    new Promise((r) => setTimeout(r, 10_000)),
  ]);
  big.socket.destroy();
  garbage.socket.destroy();
  assert.match(big.text, /^SIP\/2\.0 513 Message header block exceeds 65535 bytes\r\n/);
  assert.match(big.text, /\r\nCSeq: \d+ OPTIONS\r\n/, 'the answer echoes the request');
  assert.ok(big.closedAt !== undefined);
  assert.match(garbage.text, /^SIP\/2\.0 400 Missing Content-Length/);
  assert.ok(garbage.closedAt !== undefined);
});

test('framing errors: a Content-Length longer than the body times out with a 400 instead of holding the connection', async () => {
  const conn = await open(tcpPort, '127.0.0.18');
  conn.socket.write(optionsOverTcp(conn)); // a first message: not the first-message timeout
  await until('200', 10_000, () => conn.text.includes('SIP/2.0 200'));
  const started = Date.now();
  const short = optionsOverTcp(conn).replace(/Content-Length: 0/, 'Content-Length: 100');
  conn.socket.write(`${short}only ten b`);
  await Promise.race([
    conn.closed,
    new Promise((r) => setTimeout(r, MESSAGE_TIMEOUT_S * 1000 + SLACK_MS)),
  ]);
  conn.socket.destroy();
  assert.ok(conn.closedAt !== undefined, 'closed by the message timeout');
  assert.ok(conn.closedAt - started >= MESSAGE_TIMEOUT_S * 1000 - 100);
  assert.match(conn.text, /SIP\/2\.0 400 Message not complete within 3 s\r\n/);
});

// ---- 5. malformed counting -----------------------------------------------------------------

test('malformed counting: every malformed request the transport refuses, over UDP and TCP, is in trapezoid_malformed_requests_total', async () => {
  const count = async (): Promise<number> =>
    metric(await server.get('/metrics'), 'trapezoid_malformed_requests_total') ?? NaN;
  const before = await count();
  assert.ok(Number.isFinite(before), 'the metric is exported');
  // UDP: requests the parser refuses (a CSeq with no number), each answered 400.
  const udp = await RawClient.open('127.0.0.19');
  const UDP_MALFORMED = 10;
  let answered = 0;
  for (let i = 0; i < UDP_MALFORMED; i++) {
    const text = sipRequest(udp, {
      method: 'OPTIONS',
      uri: `sip:${DOMAIN}`,
      from: `sip:probe@${DOMAIN}`,
      to: `sip:${DOMAIN}`,
    }).replace('Max-Forwards: 70', 'Max-Forwards: abc');
    const got = await udp.request(text, server.sip, 5_000);
    if (got?.res.status === 400) answered++;
  }
  await udp.close();
  assert.equal(answered, UDP_MALFORMED, 'each got its 400');
  // TCP: the same on one connection (framing intact, it stays open), then a framing error.
  const conn = await open(tcpPort, '127.0.0.19');
  const TCP_MALFORMED = 4;
  for (let i = 0; i < TCP_MALFORMED; i++) {
    conn.socket.write(optionsOverTcp(conn).replace('Max-Forwards: 70', 'Max-Forwards: abc'));
  }
  await until('400s over TCP', 10_000, () => conn.text.split('SIP/2.0 400').length - 1 >= 4);
  conn.socket.write(optionsOverTcp(conn).replace(/Content-Length: 0/, 'Content-Length: -1'));
  await Promise.race([conn.closed, new Promise((r) => setTimeout(r, 10_000))]);
  conn.socket.destroy();
  const expected = before + UDP_MALFORMED + TCP_MALFORMED + 1;
  let after = await count();
  for (let i = 0; i < 40 && after < expected; i++) {
    await new Promise((r) => setTimeout(r, 250));
    after = await count();
  }
  assert.equal(after, expected, `counted ${after - before} of ${expected - before}`);
});

// ---- 6. no reflection ----------------------------------------------------------------------

/** Binds a UDP socket; resolves with it and its port. */
function udpBind(address: string, port = 0): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, address, () => resolve(s));
  });
}

for (const [attack, viaParams] of [
  ['maddr', ';rport;maddr=127.0.0.9'],
  ['received', ';received=127.0.0.9'],
] as const) {
  test(`no reflection (${attack}): a request whose Via names a third host is answered to its source only`, async () => {
    const sender = await udpBind('127.0.0.3');
    const port = sender.address().port;
    // The third host, listening on the port the Via names.
    const victim = await udpBind('127.0.0.9', port);
    const toVictim: Buffer[] = [];
    const toSender: Buffer[] = [];
    victim.on('message', (m) => toVictim.push(m));
    sender.on('message', (m) => toSender.push(m));
    try {
      const n = ++sequence;
      const request = [
        `REGISTER sip:${DOMAIN} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.3:${port};branch=z9hG4bK-refl-${process.pid}-${n}${viaParams}`,
        'Max-Forwards: 70',
        `From: <sip:1000@${DOMAIN}>;tag=r${n}`,
        `To: <sip:1000@${DOMAIN}>`,
        `Call-ID: refl-${process.pid}-${n}@127.0.0.3`,
        'CSeq: 1 REGISTER',
        `Contact: <sip:1000@127.0.0.3:${port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      sender.send(request, server.sip, '127.0.0.1');
      await until('the 401 to the sender', 10_000, () => toSender.length > 0);
      await new Promise((r) => setTimeout(r, 500)); // time for a stray copy to the third host
      assert.match(toSender[0]!.toString('latin1'), /^SIP\/2\.0 401 /);
      assert.equal(toVictim.length, 0, 'nothing reached the third host');
    } finally {
      sender.close();
      victim.close();
    }
  });
}
