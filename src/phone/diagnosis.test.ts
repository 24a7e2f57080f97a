// The phone's diagnoses against real sockets on loopback: ICMP port unreachable over UDP, a
// refused TCP connection, a TLS server whose certificate is not trusted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { selfSignedCertificate } from '../cli/cert.ts';
import { freePort } from '../../test/support/ports.ts';
import { diagnoseConnection, hintFor, watchUdpServers } from './diagnosis.ts';

const check = { named: '--server X' };
const udp = (port: number) => ({ protocol: 'udp' as const, address: '127.0.0.1', port });

test('UDP: "port unreachable" once every server a request may go to says so', async () => {
  const [a, b] = [await freePort(), await freePort()];
  const watch = watchUdpServers([udp(a), udp(b), udp(a)], check);
  try {
    const message = await watch.unreachable;
    assert.equal(
      message,
      `no SIP server at udp:127.0.0.1:${a} or udp:127.0.0.1:${b}: the host answered "port ` +
        'unreachable" (ECONNREFUSED). Is the server running there? Check --server X.',
    );
  } finally {
    watch.close();
  }
});

test('UDP: while one server listens, no "unreachable" (RFC 3263 fail-over goes on)', async (t) => {
  const live = createSocket('udp4');
  let keepAlives = 0;
  live.on('message', (m) => {
    assert.equal(m.toString(), '\r\n\r\n');
    keepAlives++;
  });
  await new Promise<void>((resolve) => live.bind(0, '127.0.0.1', resolve));
  t.after(() => live.close());
  const watch = watchUdpServers([udp(await freePort()), udp(live.address().port)], check);
  const verdict = await Promise.race([
    watch.unreachable,
    new Promise<string>((resolve) => setTimeout(() => resolve('silence'), 1200)),
  ]);
  watch.close();
  assert.equal(verdict, 'silence');
  assert.ok(keepAlives >= 2, `${keepAlives} keep-alives (at once, then after 0.5 s)`);
});

test('TCP refused and a TLS certificate not trusted are named; a trusted one is fine', async (t) => {
  const port = await freePort();
  assert.match(
    (await diagnoseConnection({ protocol: 'tcp', address: '127.0.0.1', port }, check)) ?? '',
    new RegExp(`^no SIP server at tcp:127\\.0\\.0\\.1:${port}: the connection was refused`),
  );
  const pair = await selfSignedCertificate({ cn: 'localhost' });
  const server = createServer({ key: pair.key, cert: pair.cert }, (s) => s.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const target = {
    protocol: 'tls' as const,
    address: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
  };
  const untrusted = await diagnoseConnection(target, check);
  assert.match(
    untrusted ?? '',
    /is not trusted: it is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)/,
  );
  assert.match(untrusted ?? '', /--tls-ca FILE/);
  const other = await selfSignedCertificate({ cn: 'other' });
  const wrongCa = await diagnoseConnection(target, {
    ...check,
    tlsCa: { path: 'other.pem', pem: Buffer.from(other.cert) },
  });
  assert.match(wrongCa ?? '', /--tls-ca other\.pem holds neither it nor the CA that signed it/);
  const trusted = await diagnoseConnection(target, {
    ...check,
    tlsCa: { path: 'cert.pem', pem: Buffer.from(pair.cert) },
  });
  assert.equal(trusted, undefined);
});

test('hints: 404 domain not served names --domain; 401 asks for --password', () => {
  const context = { domain: '127.0.0.1', domainGiven: false, user: '1000', passwordGiven: false };
  assert.match(
    hintFor(404, 'Not Found (domain not served here)', context) ?? '',
    /"127\.0\.0\.1" \(taken from the --server host\): give the domain it serves with --domain/,
  );
  assert.equal(hintFor(404, 'Not Found', context), undefined);
  assert.match(hintFor(401, 'Unauthorized', context) ?? '', /give --user and --password/);
  assert.match(
    hintFor(407, 'Proxy Authentication Required', { ...context, passwordGiven: true }) ?? '',
    /did not accept the password of "1000"/,
  );
});
