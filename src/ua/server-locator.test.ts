// RFC 3263 resolution against a tiny authoritative DNS server on loopback UDP, written here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { orderSrv, ServerLocator } from './server-locator.ts';
import { UserAgent } from './user-agent.ts';
import { freePort } from '../../test/support/ports.ts';

// DNS message (RFC 1035 §4.1):
//   header   ID(16) | QR OPCODE AA TC RD RA Z RCODE (16) | QDCOUNT | ANCOUNT | NSCOUNT | ARCOUNT
//   question QNAME (labels) | QTYPE(16) | QCLASS(16)
//   answer   NAME | TYPE(16) | CLASS(16) | TTL(32) | RDLENGTH(16) | RDATA
const HEADER_LENGTH = 12;
const TYPE = { A: 1, AAAA: 28, SRV: 33, NAPTR: 35 } as const;
const FLAGS_NOERROR = 0x8180; // QR, RD, RA
const FLAGS_NXDOMAIN = 0x8183; // ... RCODE 3
const POINTER_TO_QUESTION = 0xc000 | HEADER_LENGTH;

type Rdata = Buffer;
const zone = new Map<string, Rdata[]>();
const names = new Set<string>();
const queries: string[] = [];

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p.length > 0);
  return Buffer.concat([
    ...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])),
    Buffer.from([0]),
  ]);
}
function charString(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
}
function u16(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}
function add(name: string, type: number, rdata: Buffer): void {
  names.add(name);
  const key = `${name}|${type}`;
  zone.set(key, [...(zone.get(key) ?? []), rdata]);
}
const naptr = (name: string, order: number, pref: number, service: string, replacement: string) =>
  add(
    name,
    TYPE.NAPTR,
    Buffer.concat([
      u16(order, pref),
      charString('s'),
      charString(service),
      charString(''),
      encodeName(replacement),
    ]),
  );
const srv = (name: string, priority: number, weight: number, port: number, target: string) =>
  add(name, TYPE.SRV, Buffer.concat([u16(priority, weight, port), encodeName(target)]));
const a = (name: string, ip: string) => add(name, TYPE.A, Buffer.from(ip.split('.').map(Number)));
const aaaa = (name: string, last: number) => {
  const b = Buffer.alloc(16);
  b[15] = last; // ::<last>
  add(name, TYPE.AAAA, b);
};

function readQuestion(msg: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let off = HEADER_LENGTH;
  while (msg[off] !== 0) {
    const len = msg[off];
    labels.push(msg.subarray(off + 1, off + 1 + len).toString());
    off += 1 + len;
  }
  off += 1;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), end: off + 4 };
}

function answer(query: Buffer): Buffer {
  const q = readQuestion(query);
  queries.push(`${q.name}|${q.type}`);
  const rdatas = zone.get(`${q.name}|${q.type}`) ?? [];
  const flags = names.has(q.name) ? FLAGS_NOERROR : FLAGS_NXDOMAIN;
  const header = u16(query.readUInt16BE(0), flags, 1, rdatas.length, 0, 0);
  const answers = rdatas.map((rd) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(q.type, 0);
    fixed.writeUInt16BE(1, 2); // class IN
    fixed.writeUInt32BE(60, 4);
    fixed.writeUInt16BE(rd.length, 8);
    return Buffer.concat([u16(POINTER_TO_QUESTION), fixed, rd]);
  });
  return Buffer.concat([header, query.subarray(HEADER_LENGTH, q.end), ...answers]);
}

let server: Socket;
let dnsAddress = '';

before(async () => {
  // NAPTR: TCP preferred (order 10) over UDP (order 20); an unknown service is ignored.
  naptr('example.test', 20, 10, 'SIP+D2U', '_sip._udp.example.test');
  naptr('example.test', 10, 10, 'SIP+D2T', '_sip._tcp.example.test');
  naptr('example.test', 5, 10, 'SIP+X99', '_sip._bogus.example.test');
  // SRV priority 5 beats 10 whatever the order in the answer.
  srv('_sip._tcp.example.test', 10, 0, 5070, 'b.example.test');
  srv('_sip._tcp.example.test', 5, 10, 5080, 'a.example.test');
  srv('_sip._udp.example.test', 1, 0, 5090, 'a.example.test');
  a('a.example.test', '127.0.0.2');
  a('b.example.test', '127.0.0.3');
  aaaa('b.example.test', 3);
  a('example.test', '127.0.0.9');
  // No NAPTR, SRV for UDP only.
  srv('_sip._udp.srvonly.test', 1, 0, 5100, 'a.example.test');
  names.add('srvonly.test');
  // Nothing but address records.
  a('plain.test', '127.0.0.4');
  aaaa('plain.test', 4);
  // sips: only the secure NAPTR service counts.
  naptr('secure.test', 10, 10, 'SIP+D2U', '_sip._udp.secure.test');
  naptr('secure.test', 20, 10, 'SIPS+D2T', '_sips._tcp.secure.test');
  srv('_sip._udp.secure.test', 1, 0, 5060, 'a.example.test');
  srv('_sips._tcp.secure.test', 1, 0, 5061, 'b.example.test');

  server = createSocket('udp4');
  server.on('message', (msg, rinfo) => server.send(answer(msg), rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  dnsAddress = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

const locator = () =>
  new ServerLocator({ servers: [dnsAddress], timeout: 500, tries: 1, random: () => 0.5 });
const short = (ts: { transport: string; address: string; port: number }[]) =>
  ts.map((t) => `${t.transport}:${t.address}:${t.port}`);

test('NAPTR order picks TCP first, then SRV priority, then UDP', async () => {
  const targets = await locator().locate({ scheme: 'sip', host: 'example.test', params: {} });
  assert.deepEqual(short(targets), [
    'tcp:127.0.0.2:5080',
    'tcp:127.0.0.3:5070',
    'tcp:::3:5070',
    'udp:127.0.0.2:5090',
  ]);
});

test('without NAPTR the SRV records of supported transports are used', async () => {
  const targets = await locator().locate({ scheme: 'sip', host: 'srvonly.test', params: {} });
  assert.deepEqual(short(targets), ['udp:127.0.0.2:5100']);
});

test('without NAPTR or SRV, A then AAAA with the default transport and port', async () => {
  const targets = await locator().locate({ scheme: 'sip', host: 'plain.test', params: {} });
  assert.deepEqual(short(targets), ['udp:127.0.0.4:5060', 'udp:::4:5060']);
});

test('an explicit port skips NAPTR and SRV', async () => {
  queries.length = 0;
  const targets = await locator().locate({
    scheme: 'sip',
    host: 'example.test',
    port: 7000,
    params: {},
  });
  assert.deepEqual(short(targets), ['udp:127.0.0.9:7000']);
  assert.ok(queries.every((q) => !q.endsWith(`|${TYPE.NAPTR}`) && !q.endsWith(`|${TYPE.SRV}`)));
});

test('a transport parameter goes straight to that SRV', async () => {
  queries.length = 0;
  const targets = await locator().locate({
    scheme: 'sip',
    host: 'example.test',
    params: { transport: 'udp' },
  });
  assert.deepEqual(short(targets), ['udp:127.0.0.2:5090']);
  assert.ok(!queries.includes(`example.test|${TYPE.NAPTR}`));
});

test('a numeric host makes no DNS query', async () => {
  queries.length = 0;
  const targets = await locator().locate({
    scheme: 'sip',
    host: '127.0.0.7',
    params: { transport: 'tcp' },
  });
  assert.deepEqual(short(targets), ['tcp:127.0.0.7:5060']);
  const v6 = await locator().locate({ scheme: 'sips', host: '[::1]', port: 5071, params: {} });
  assert.deepEqual(short(v6), ['tls:::1:5071']);
  assert.equal(queries.length, 0);
});

// The locator's own defaultPort once gave 5060/5061 to ws/wss while the transport layer's gave
// 80/443; both now read the protocol table, which follows RFC 7118 §3.
test('WebSocket with no port and no SRV: ports 80 and 443 (RFC 7118 §3), not 5060/5061', async () => {
  const ws = await locator().locate({
    scheme: 'sip',
    host: '127.0.0.8',
    params: { transport: 'ws' },
  });
  assert.deepEqual(short(ws), ['ws:127.0.0.8:80']);
  const wss = await locator().locate({
    scheme: 'sips',
    host: 'plain.test',
    params: { transport: 'ws' },
  });
  assert.deepEqual(short(wss), ['wss:127.0.0.4:443', 'wss:::4:443']);
});

test('a sips URI uses only secure NAPTR services', async () => {
  const targets = await locator().locate({ scheme: 'sips', host: 'secure.test', params: {} });
  assert.deepEqual(short(targets), ['tls:127.0.0.3:5061', 'tls:::3:5061']);
});

test('transports the UA does not support are skipped', async () => {
  const udpOnly = new ServerLocator({
    servers: [dnsAddress],
    transports: ['udp'],
    timeout: 500,
    tries: 1,
  });
  const targets = await udpOnly.locate({ scheme: 'sip', host: 'example.test', params: {} });
  assert.deepEqual(short(targets), ['udp:127.0.0.2:5090']);
});

test('a name with no NAPTR, SRV or A in DNS resolves through the system resolver: localhost (RFC 3263 fallback)', async () => {
  // Our DNS server answers NXDOMAIN for localhost; getaddrinfo reads /etc/hosts.
  queries.length = 0;
  const targets = await locator().locate({ scheme: 'sip', host: 'localhost', params: {} });
  assert.equal(targets[0]?.address, '127.0.0.1', JSON.stringify(targets));
  assert.deepEqual(
    new Set(targets.map((t) => `${t.transport}:${t.port}:${t.host}`)),
    new Set(['udp:5060:localhost']),
  );
  // DNS was asked first, as RFC 3263 says.
  assert.ok(queries.includes(`localhost|${TYPE.NAPTR}`), queries.join(' '));
  assert.ok(queries.includes(`localhost|${TYPE.A}`), queries.join(' '));
  const withPort = await locator().locate({
    scheme: 'sip',
    host: 'localhost',
    port: 5999,
    params: { transport: 'tcp' },
  });
  assert.equal(short(withPort)[0], 'tcp:127.0.0.1:5999');
});

test('records in DNS win over the system resolver', async () => {
  let asked = 0;
  const l = new ServerLocator({
    servers: [dnsAddress],
    timeout: 500,
    tries: 1,
    lookup: () => {
      asked++;
      return Promise.resolve([{ address: '192.0.2.1', family: 4 }]);
    },
  });
  const targets = await l.locate({ scheme: 'sip', host: 'plain.test', port: 5070, params: {} });
  assert.deepEqual(short(targets), ['udp:127.0.0.4:5070', 'udp:::4:5070']);
  assert.equal(asked, 0);
  const none = await l.locate({ scheme: 'sip', host: 'nowhere.test', port: 5070, params: {} });
  assert.deepEqual(short(none), ['udp:192.0.2.1:5070']);
  assert.equal(asked, 1);
});

test('a DNS server that cannot be reached: one query, then the system resolver', async () => {
  // A UDP port nobody answers on, and an ICMP port unreachable for each query sent to it.
  const deadDns = `127.0.0.1:${await freePort()}`;
  let asked = 0;
  const l = new ServerLocator({
    servers: [deadDns],
    timeout: 300,
    tries: 1,
    lookup: (host) => {
      asked++;
      return host === 'pbx.lan'
        ? Promise.resolve([
            { address: '::1', family: 6 },
            { address: '127.0.0.1', family: 4 },
          ])
        : Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
    },
  });
  const started = Date.now();
  const targets = await l.locate({ scheme: 'sip', host: 'pbx.lan', params: {} });
  assert.deepEqual(short(targets), ['udp:127.0.0.1:5060', 'udp:::1:5060'], 'IPv4 first');
  // NAPTR found no server: the 5 SRV and 2 address queries were not sent (each would wait).
  assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
  assert.deepEqual(await l.locate({ scheme: 'sip', host: 'unknown.lan', params: {} }), []);
  assert.equal(asked, 2);
});

test('SRV weights order records of one priority (RFC 2782)', () => {
  const recs = [
    { priority: 1, weight: 10, port: 1, name: 'light' },
    { priority: 1, weight: 90, port: 2, name: 'heavy' },
    { priority: 0, weight: 0, port: 3, name: 'first' },
  ];
  // Draw in [0, 101): 50.5 falls in heavy's share (10 < x <= 100), 5.05 in light's.
  assert.deepEqual(
    orderSrv(recs, () => 0.5).map((r) => r.name),
    ['first', 'heavy', 'light'],
  );
  assert.deepEqual(
    orderSrv(recs, () => 0.05).map((r) => r.name),
    ['first', 'light', 'heavy'],
  );
});

test('a user agent resolves through NAPTR and SRV and fails over to the next server (RFC 3263 §4.3)', async () => {
  // A TCP port nobody listens on, then a live user agent: SRV priority 1 points at the dead one.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const callee = new UserAgent({ uri: 'sip:svc@failover.test', listen: 'tcp:127.0.0.1:0' });
  const caller = new UserAgent({
    uri: 'sip:alice@failover.test',
    listen: 'udp:127.0.0.1:0',
    dnsServers: [dnsAddress],
  });
  try {
    await callee.start();
    const livePort = callee.listening.find((e) => e.protocol === 'tcp')?.port ?? 0;
    naptr('failover.test', 10, 10, 'SIP+D2T', '_sip._tcp.failover.test');
    srv('_sip._tcp.failover.test', 1, 0, deadPort, 'dead.failover.test');
    srv('_sip._tcp.failover.test', 2, 0, livePort, 'live.failover.test');
    a('dead.failover.test', '127.0.0.1');
    a('live.failover.test', '127.0.0.1');
    await caller.start();
    queries.length = 0;
    const res = await caller.options('sip:svc@failover.test');
    assert.equal(res.status, 200, 'answered by the second SRV target');
    // ... after the first one refused the connection (a transport error, not a timeout).
    assert.equal(caller.transactions?.stats.transportErrors, 1);
    assert.equal(caller.transactions?.stats.timeouts, 0);
    assert.deepEqual(queries.slice(0, 2), [
      `failover.test|${TYPE.NAPTR}`,
      `_sip._tcp.failover.test|${TYPE.SRV}`,
    ]);
    // The transaction that reached the live server went over TCP (NAPTR said SIP+D2T).
    assert.equal(res.topVia.transport.toUpperCase(), 'TCP');
  } finally {
    await caller.stop();
    await callee.stop();
  }
});
