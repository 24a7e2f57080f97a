import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServerLogger } from './server-log.ts';

/** What `run` logged into a file, once something is there (pino-pretty writes on a later tick). */
async function withFile(run: (fd: number) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-log-'));
  const path = join(dir, 'log');
  const fd = openSync(path, 'w');
  try {
    run(fd);
    const deadline = Date.now() + 5000;
    while (readFileSync(path, 'utf8') === '' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    return readFileSync(path, 'utf8');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('JSON lines: level by name, ISO time, the event and its fields; below the level nothing', async () => {
  const text = await withFile((fd) => {
    const log = createServerLogger({ level: 'warn', pretty: false, fd });
    log.info({ event: 'listening', port: 5060 }, 'not written at warn');
    log.warn({ event: 'ban', source: '192.0.2.1', seconds: 60 }, 'security: banned 192.0.2.1');
    log.flush();
  });
  const lines = text.trim().split('\n');
  assert.equal(lines.length, 1, text);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line.level, 'warn');
  assert.equal(line.event, 'ban');
  assert.equal(line.source, '192.0.2.1');
  assert.equal(line.msg, 'security: banned 192.0.2.1');
  assert.equal(new Date(String(line.time)).toISOString(), line.time);
});

test('readable lines for a person: the level word and the message, not JSON', async () => {
  const text = await withFile((fd) => {
    const log = createServerLogger({ level: 'info', pretty: true, fd });
    log.info({ event: 'listening', port: 5060 }, 'SIP listening on udp:127.0.0.1:5060');
  });
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  const first = plain.split('\n')[0]!;
  assert.match(first, /INFO/);
  assert.match(first, /SIP listening on udp:127\.0\.0\.1:5060/);
  assert.throws(() => JSON.parse(first) as unknown);
  assert.equal(plain.trimEnd().split('\n').length, 1, `one line per event: ${plain}`);
});
