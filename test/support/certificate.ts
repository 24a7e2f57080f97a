// A self-signed certificate for 127.0.0.1 and ::1, made once per test process with openssl, for
// the TLS and WSS tests. Skips (fails under CI=true) when openssl is missing.
import type { TestContext } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from './peers.ts';

let made: { key: Buffer; cert: Buffer } | undefined;

export function selfSignedCertificate(t: TestContext): { key: Buffer; cert: Buffer } | undefined {
  if (made) return made;
  const openssl = needTool(t, 'openssl');
  if (!openssl) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-tls-'));
  try {
    execFileSync(
      openssl,
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,IP:::1',
      ],
      { stdio: 'ignore' },
    );
    made = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    return made;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
