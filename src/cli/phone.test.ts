// `trapezoid phone` through the real entry point: usage errors, a failed call, an answered one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { UserAgent } from '../ua/index.ts';

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

/** A UDP port nobody listens on (bound, read, released). */
function unusedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
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

test('a call nobody answers exits 1 with an ended event', async () => {
  const port = await unusedPort();
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
