// `trapezoid phone` through the real entry point: usage errors, a failed call, an answered one,
// and errors that say what to do (a certificate not trusted, no server there, a wrong domain).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { UserAgent } from '../ua/index.ts';
import { freePort } from '../../test/support/ports.ts';
import { scratch, serve, type Served } from '../../test/security-peer.ts';

const entry = fileURLToPath(new URL('../../bin/trapezoid.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function phone(args: string[], onLine?: (line: string) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [entry, 'phone', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      stdout += text;
      for (const line of text.split('\n')) if (line) onLine?.(line);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The JSON events of a run. */
function eventsOf(r: Run): Array<{ event: string; message?: string; status?: number }> {
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; message?: string; status?: number });
}

/** The message of the run's one error event. */
function errorOf(r: Run): string {
  const errors = eventsOf(r).filter((e) => e.event === 'error');
  assert.equal(errors.length, 1, r.stdout + r.stderr);
  return errors[0]!.message ?? '';
}

test('usage errors exit 2', async () => {
  assert.equal((await phone([])).code, 2);
  assert.equal((await phone(['--call', 'sip:a@127.0.0.1', '--answer'])).code, 2);
  assert.equal(
    (await phone(['--call', 'sip:a@127.0.0.1', '--transport', 'carrier-pigeon'])).code,
    2,
  );
  assert.equal((await phone(['--call', 'nobody'])).code, 2);
  const dtmf = await phone(['--call', 'sip:a@127.0.0.1', '--dtmf', '12x']);
  assert.equal(dtmf.code, 2);
  assert.match(dtmf.stderr, /--dtmf 12x: digits are 0-9, \*, #, A-D/);
});

test('media flags that cannot be used give an error event and exit 1, before any call', async () => {
  const missing = await phone(['--call', 'sip:a@127.0.0.1:9', '--play', '/no/such.wav', '--json']);
  assert.equal(missing.code, 1, missing.stderr);
  const event = JSON.parse(missing.stdout.trim()) as { event: string; message: string };
  assert.equal(event.event, 'error');
  assert.match(event.message, /--play \/no\/such\.wav: .*ENOENT/);
  const suite = await phone(['--call', 'sip:a@127.0.0.1:9', '--srtp', 'NULL_CIPHER', '--json']);
  assert.equal(suite.code, 1);
  assert.match(suite.stdout, /--srtp NULL_CIPHER: expected one of AES_CM_128_HMAC_SHA1_80/);
});

test('a call nobody answers exits 1 with an ended event', async (t) => {
  // A socket that takes every datagram and answers none.
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const { port } = silent.address() as AddressInfo;
  const r = await phone(['--call', `sip:x@127.0.0.1:${port}`, '--timeout', '0.5', '--json']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; by?: string });
  assert.equal(events[0].event, 'listening');
  const ended = events.find((e) => e.event === 'ended');
  assert.ok(ended, r.stdout);
  assert.notEqual(ended.by, 'remote');
});

test('--answer takes a call from a user agent and reports it as JSON', async () => {
  const caller = new UserAgent({ uri: 'sip:caller@127.0.0.1' });
  await caller.start();
  try {
    let listening: (port: number) => void = () => undefined;
    const port = new Promise<number>((resolve) => (listening = resolve));
    const run = phone(
      ['--answer', '--listen', 'udp:127.0.0.1:0', '--calls', '1', '--json'],
      (line) => {
        const e = JSON.parse(line) as { event: string; port?: number };
        if (e.event === 'listening' && e.port) listening(e.port);
      },
    );
    const call = await caller.invite(`sip:phone@127.0.0.1:${await port}`);
    assert.equal(call.state, 'answered');
    assert.equal(await call.bye(), 200);
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { event: string }).event);
    assert.deepEqual(names, ['listening', 'incoming', 'ringing', 'answered', 'ended']);
  } finally {
    await caller.stop();
  }
});

// ---- errors that say what to do (issue 11) --------------------------------------------------
// Against a real `trapezoid serve` (UDP, TCP and TLS listeners, a self-signed certificate made
// by `trapezoid cert`), run once for these tests.

const DOMAIN = 'errors.test';
const PASSWORD = 'errors-pw-1000';
let served: Served | undefined;
let tlsPort = 0;
let certFile = '';

before(async () => {
  const pki = scratch('phone-pki');
  const made = spawnSync(
    process.execPath,
    [entry, 'cert', '--out', pki, '--cn', 'localhost', '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(made.status, 0, made.stderr);
  const files = JSON.parse(made.stdout) as { cert: string; key: string };
  certFile = files.cert;
  const sip = await freePort();
  tlsPort = await freePort();
  served = await serve(
    {
      domain: DOMAIN,
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: sip },
        { transport: 'tcp', address: '127.0.0.1', port: sip },
        { transport: 'tls', address: '127.0.0.1', port: tlsPort },
      ],
      tls: { cert: files.cert, key: files.key },
      users: [{ user: '1000', password: PASSWORD }],
    },
    { sip, http: await freePort() },
    'phone-errors',
  );
});

after(async () => {
  await served?.stop();
});

const register = (server: string, ...more: string[]) =>
  phone(['--server', server, '--user', '1000', '--password', PASSWORD, '--json', ...more]);

test('regression: a TLS server certificate the phone does not trust was reported as "503 Service Unavailable"', async () => {
  const untrusting = await register(
    `127.0.0.1:${tlsPort}`,
    '--transport',
    'tls',
    '--domain',
    DOMAIN,
  );
  assert.equal(untrusting.code, 1, untrusting.stdout + untrusting.stderr);
  const message = errorOf(untrusting);
  assert.match(message, new RegExp(`certificate of tls:127\\.0\\.0\\.1:${tlsPort} is not trusted`));
  assert.match(message, /self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
  assert.match(message, /--tls-ca FILE/);
  // Not the old "503 Service Unavailable" (a 503 inside the port number, 127.0.0.1:50398, is fine).
  assert.doesNotMatch(message, /(?<![\d:])503(?!\d)|Service Unavailable/);
  // The flag it names is the fix.
  const trusting = await register(
    `127.0.0.1:${tlsPort}`,
    '--transport',
    'tls',
    '--domain',
    DOMAIN,
    '--tls-ca',
    certFile,
  );
  assert.equal(trusting.code, 0, trusting.stdout + trusting.stderr);
  assert.ok(
    eventsOf(trusting).some((e) => e.event === 'registered'),
    trusting.stdout,
  );
});

test('regression: --server localhost gave 503 (no SRV/NAPTR/A in DNS: the system resolver, /etc/hosts)', async () => {
  const r = await register(`localhost:${served!.sip}`, '--domain', DOMAIN);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(
    eventsOf(r).some((e) => e.event === 'registered' && e.status === 200),
    r.stdout,
  );
});

test('regression: 404 "domain not served here" did not say to use --domain', async () => {
  // The domain defaults to the --server host, 127.0.0.1, which the server does not serve.
  const r = await register(`127.0.0.1:${served!.sip}`);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const message = errorOf(r);
  assert.match(message, /404 Not Found \(domain not served here\)/);
  assert.match(
    message,
    /does not serve the domain "127\.0\.0\.1" \(taken from the --server host\)/,
  );
  assert.match(message, /--domain DOMAIN/);
  assert.equal(eventsOf(r).find((e) => e.event === 'error')?.status, 404);
});

test('regression: an unreachable UDP server was reported after 34 s of silence (ICMP port unreachable)', async () => {
  const port = await freePort(); // nothing listens there
  const started = Date.now();
  const r = await register(`127.0.0.1:${port}`, '--domain', DOMAIN);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const message = errorOf(r);
  assert.match(message, new RegExp(`no SIP server at udp:127\\.0\\.0\\.1:${port}`));
  assert.match(message, /port unreachable.*ECONNREFUSED/);
  assert.match(message, new RegExp(`Check --server 127\\.0\\.0\\.1:${port} and --transport udp`));
  // Timer F would be 32 s; the ICMP answer comes at once (the rest is starting node).
  assert.ok(seconds < 10, `reported after ${seconds} s`);
  // A call straight to a URI with nobody there: the same, and the call ends.
  const call = await phone(['--call', `sip:x@127.0.0.1:${port}`, '--json']);
  assert.equal(call.code, 1, call.stdout + call.stderr);
  assert.match(errorOf(call), /port unreachable/);
  assert.match(
    errorOf(call),
    new RegExp(`Check the host and port of --call sip:x@127\\.0\\.0\\.1:${port}`),
  );
  assert.ok(
    eventsOf(call).some((e) => e.event === 'ended'),
    call.stdout,
  );
});

test('regression: a refused TCP connection was reported as "503 Service Unavailable"', async () => {
  const port = await freePort();
  const r = await register(`127.0.0.1:${port}`, '--transport', 'tcp', '--domain', DOMAIN);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const message = errorOf(r);
  assert.match(message, new RegExp(`no SIP server at tcp:127\\.0\\.0\\.1:${port}`));
  assert.match(message, /connection was refused \(ECONNREFUSED\)/);
  assert.doesNotMatch(message, /(?<![\d:])503(?!\d)|Service Unavailable/);
});

test('a --server host name that resolves nowhere is named as such', async () => {
  const r = await register('no-such-host.invalid', '--domain', DOMAIN);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    errorOf(r),
    /--server no-such-host\.invalid: no address found for "no-such-host\.invalid"/,
  );
});

test('regression: a bad port and --play tone:abc are usage errors (exit 2 with the reason)', async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ['--server', '127.0.0.1:99999'],
      /'127\.0\.0\.1:99999' is invalid\. the port must be a number from 1 to 65535/,
    ],
    [['--server', '127.0.0.1:abc'], /the port must be a number from 1 to 65535/],
    [['--server', 'tcp:127.0.0.1'], /give the transport with --transport tcp/],
    [['--call', 'sip:a@127.0.0.1:0'], /'sip:a@127\.0\.0\.1:0' is invalid\. the port must be/],
    [['--call', 'sip:a@127.0.0.1:70000'], /Invalid URI: bad port/],
    [['--answer', '--listen', 'udp:127.0.0.1:65536'], /from 0 \(any\) to 65535/],
    [
      ['--call', 'sip:a@127.0.0.1', '--rtp-ports', '9000-80000'],
      /expected LOW-HIGH within 1024-65535/,
    ],
    [
      ['--call', 'sip:a@127.0.0.1', '--play', 'tone:abc'],
      /'tone:abc' is invalid\. expected tone:HZ/,
    ],
    [['--call', 'sip:a@127.0.0.1', '--play', 'tone:5000'], /between 0 and 4000 Hz/],
  ];
  const runs = await Promise.all(cases.map(([args]) => phone(args)));
  runs.forEach((r, i) => {
    const [args, reason] = cases[i]!;
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, reason, args.join(' '));
    assert.equal(r.stdout, '', 'nothing ran');
  });
});
