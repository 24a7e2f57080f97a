import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIGEST_SECRET, openStores, parseRecordsUrl, redactUrl } from './open-stores.ts';

test('records URLs: sqlite:PATH, a bare path, postgres://; anything else is refused by name', () => {
  assert.deepEqual(parseRecordsUrl('sqlite:./t.db'), { kind: 'sqlite', path: './t.db' });
  assert.deepEqual(parseRecordsUrl('./t.db'), { kind: 'sqlite', path: './t.db' });
  assert.deepEqual(parseRecordsUrl('postgres://u:p@h/db'), {
    kind: 'postgres',
    url: 'postgres://u:p@h/db',
  });
  assert.throws(() => parseRecordsUrl('mysql://u:secret@h/db'), /mysql:\/\/u:\*\*\*@h\/db/);
  assert.throws(() => parseRecordsUrl('sqlite:'), /names no file/);
  assert.equal(redactUrl('redis://:hunter2@127.0.0.1:6379'), 'redis://:***@127.0.0.1:6379');
});

test('live URLs: local or redis://; anything else is refused before a file is opened', async () => {
  await assert.rejects(
    openStores({ records: 'sqlite::memory:', live: 'memcached://x' }, { node: 'a' }),
    /store\.live: memcached:\/\/x: use local or redis/,
  );
});

test('regression: a digest nonce key that outlived a restart made a request from before it replayable', async () => {
  // One process, SQLite: nonce counts live in memory, so the keys that sign nonces must too. The
  // Record-Route secret must survive (a restarted server still routes the BYEs of its calls).
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-open-stores-'));
  try {
    const urls = { records: `sqlite:${join(dir, 't.db')}`, live: 'local' };
    const first = await openStores(urls, { node: 'local' });
    const digest1 = await first.security.secrets(DIGEST_SECRET, 3_600_000, 2);
    const route1 = await first.security.secrets('record-route', 3_600_000, 1);
    await first.close();
    const second = await openStores(urls, { node: 'local' });
    const digest2 = await second.security.secrets(DIGEST_SECRET, 3_600_000, 2);
    const route2 = await second.security.secrets('record-route', 3_600_000, 1);
    await second.close();
    assert.notDeepEqual(
      digest2.map((k) => k.key.toString('hex')),
      digest1.map((k) => k.key.toString('hex')),
    );
    assert.equal(route2[0]!.key.toString('hex'), route1[0]!.key.toString('hex'));
    assert.equal(first.shared, false);
    assert.deepEqual(first.describe, { records: `sqlite:${join(dir, 't.db')}`, live: 'local' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
