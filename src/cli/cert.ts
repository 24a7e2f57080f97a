// `trapezoid cert [--out DIR] [--cn NAME] [--days N]`: a self-signed key.pem and cert.pem for a
// tls listener in tests and labs (config `tls: { cert, key }`). The certificate names the CN and
// 127.0.0.1 and ::1 in its subjectAltName, so a client connecting to the loopback address can
// verify it when given the certificate as its CA. Not for production: a real deployment uses a
// certificate from a CA.
import type { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import selfsigned from 'selfsigned';

export interface CertificateOptions {
  /** Common name, also the first subjectAltName (default 'localhost'). */
  cn?: string;
  /** Validity in days from now (default 365). */
  days?: number;
}

export interface SelfSignedCertificate {
  /** PEM private key (RSA 2048). */
  key: string;
  /** PEM certificate. */
  cert: string;
  /** SHA-1 fingerprint, as selfsigned reports it. */
  fingerprint: string;
}

const DAY_MS = 86_400_000;

/** A self-signed certificate for `cn`, 127.0.0.1 and ::1. */
export async function selfSignedCertificate(
  opts: CertificateOptions = {},
): Promise<SelfSignedCertificate> {
  const cn = opts.cn ?? 'localhost';
  const days = opts.days ?? 365;
  const altNames: Array<{ type: 2 | 7; value?: string; ip?: string }> = [
    isIP(cn) ? { type: 7, ip: cn } : { type: 2, value: cn },
  ];
  for (const ip of ['127.0.0.1', '::1']) if (ip !== cn) altNames.push({ type: 7, ip });
  const notBeforeDate = new Date(Date.now() - 60_000); // a minute of slack for clock skew
  const pems = await selfsigned.generate([{ name: 'commonName', value: cn }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + days * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { key: pems.private, cert: pems.cert, fingerprint: pems.fingerprint };
}

interface CertCommandOptions {
  out: string;
  cn: string;
  days: string;
  force?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('cert')
    .description('write a self-signed key.pem and cert.pem for a tls listener (tests, labs)')
    .option('-o, --out <dir>', 'directory to write key.pem and cert.pem into', '.')
    .option(
      '--cn <name>',
      'common name (also in subjectAltName with 127.0.0.1 and ::1)',
      'localhost',
    )
    .option('--days <n>', 'validity in days', '365')
    .option('-f, --force', 'overwrite an existing key.pem / cert.pem')
    .option('--json', 'print the paths and fingerprint as one JSON line')
    .action(async (opts: CertCommandOptions) => {
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days < 1 || days > 36_500) {
        process.stderr.write(`trapezoid cert: --days must be a whole number from 1 to 36500\n`);
        process.exit(2);
      }
      const dir = resolve(opts.out);
      const keyPath = join(dir, 'key.pem');
      const certPath = join(dir, 'cert.pem');
      if (!opts.force && (existsSync(keyPath) || existsSync(certPath))) {
        process.stderr.write(
          `trapezoid cert: ${existsSync(keyPath) ? keyPath : certPath} exists (use --force to overwrite)\n`,
        );
        process.exit(1);
      }
      const pems = await selfSignedCertificate({ cn: opts.cn, days });
      mkdirSync(dir, { recursive: true });
      writeFileSync(keyPath, pems.key, { mode: 0o600 });
      writeFileSync(certPath, pems.cert);
      const out = {
        key: keyPath,
        cert: certPath,
        cn: opts.cn,
        days,
        fingerprint: pems.fingerprint,
      };
      process.stdout.write(
        opts.json
          ? `${JSON.stringify(out)}\n`
          : `wrote ${keyPath} and ${certPath} (CN ${opts.cn}, ${days} days, SHA-1 ${pems.fingerprint})\n`,
      );
    });
}
