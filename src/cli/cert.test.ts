// `trapezoid cert` through the real command: the key and certificate it writes belong together,
// name the CN, 127.0.0.1 and ::1, last --days, and a TLS client that trusts the certificate
// verifies a server using it on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { repoRoot } from '../../test/support/peers.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const run = (args: string[]) =>
  spawnSync(process.execPath, [bin, 'cert', ...args], { cwd: repoRoot, encoding: 'utf8' });

const DAY_MS = 86_400_000;

test('trapezoid cert writes a key and a self-signed certificate a TLS client can verify', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'trapezoid-cert-')), 'pki');
  const res = run(['--out', dir, '--cn', 'sip.test', '--days', '30', '--json']);
  assert.equal(res.status, 0, res.stderr);
  const info = JSON.parse(res.stdout) as { key: string; cert: string; fingerprint: string };
  assert.equal(info.key, join(dir, 'key.pem'));
  assert.equal(info.cert, join(dir, 'cert.pem'));
  assert.equal(statSync(info.key).mode & 0o777, 0o600, 'the key is readable by its owner only');

  const key = readFileSync(info.key, 'utf8');
  const certPem = readFileSync(info.cert, 'utf8');
  const cert = new X509Certificate(certPem);
  assert.ok(cert.checkPrivateKey(createPrivateKey(key)), 'key.pem is the key of cert.pem');
  assert.equal(cert.subject, 'CN=sip.test');
  assert.equal(cert.issuer, cert.subject, 'self-signed');
  assert.ok(cert.verify(cert.publicKey));
  assert.equal(info.fingerprint.toUpperCase(), cert.fingerprint);
  const san = cert.subjectAltName ?? '';
  assert.match(san, /DNS:sip\.test/);
  assert.match(san, /IP Address:127\.0\.0\.1/);
  assert.match(san, /IP Address:(0:0:0:0:0:0:0:1|::1)/);
  const lifetime = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
  assert.ok(Math.abs(lifetime - 30 * DAY_MS) < 2 * 60_000, `lifetime ${lifetime} ms`);

  // A server with it on 127.0.0.1; a client that trusts only this certificate verifies it.
  const server = createServer({ key, cert: certPem }, (socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: certPem }, () => {
        assert.equal(socket.authorized, true);
      });
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.equal(greeting, 'hello');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('trapezoid cert refuses to overwrite without --force and rejects a bad --days', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-cert-'));
  assert.equal(run(['--out', dir]).status, 0);
  const first = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const again = run(['--out', dir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists \(use --force/);
  assert.equal(readFileSync(join(dir, 'cert.pem'), 'utf8'), first);
  assert.equal(run(['--out', dir, '--force']).status, 0);
  assert.notEqual(readFileSync(join(dir, 'cert.pem'), 'utf8'), first);
  const bad = run(['--out', dir, '--days', 'soon', '--force']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--days/);
});
