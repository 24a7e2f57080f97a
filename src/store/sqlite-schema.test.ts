// The embedded default's file (sqlite-schema.ts): files older trapezoids wrote open and are
// brought up to date, their rows read by the async stores; a file newer than the code is refused.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteCdrStore } from './sqlite-cdrs.ts';
import { openSqlite, SQLITE_CACHE_MB, SQLITE_SCHEMA_VERSION } from './sqlite-schema.ts';
import { SqliteUserStore } from './sqlite-users.ts';
import { openLegacySqlite } from '../../test/support/legacy-sqlite.ts';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'trapezoid-schema-')), 'test.db');

const versions = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
};

test('a file from before the media columns and causes opens, gains them, keeps its CDRs', async () => {
  const path = tempDb();
  const old = new Database(path);
  // The cdrs table with none of the columns added since: no media, no cause, no dialog, and a
  // duration that may not be NULL.
  old.exec(`CREATE TABLE cdrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, caller TEXT NOT NULL,
    callee TEXT NOT NULL, dialled TEXT NOT NULL, start INTEGER NOT NULL, answer INTEGER,
    end INTEGER, duration REAL NOT NULL, final_status INTEGER NOT NULL, final_reason TEXT,
    hung_up_by TEXT, trunk TEXT)`);
  old
    .prepare(
      `INSERT INTO cdrs (call_id, caller, callee, dialled, start, duration, final_status)
       VALUES ('old', '1000', '1001', '1001', 5, 0, 486)`,
    )
    .run();
  old.close();

  const store = await SqliteCdrStore.open({ path });
  try {
    const fresh = {
      callId: 'new',
      caller: '1000',
      callee: '1001',
      dialled: '1001',
      start: 10,
      answer: 11,
      finalStatus: 200,
      cause: 'answered' as const,
    };
    // Answered and not ended: a NULL duration, which the old table refused.
    await store.addCdr('k-new', 'local', fresh);
    assert.equal((await store.openCdr('new'))?.duration, undefined);
    await store.updateCdr('k-new', {
      ...fresh,
      end: 20,
      duration: 9,
      packets: 900,
      lost: 3,
      jitterMs: 1.25,
      mos: 4.3,
      dropped: 7,
    });
    const [now, older] = await store.listCdrs();
    assert.equal(older!.callId, 'old');
    assert.equal(older!.key, 'legacy-1');
    assert.equal(older!.finalStatus, 486);
    assert.equal(older!.duration, 0);
    assert.equal(older!.cause, 'failed', 'an old unanswered row gets the cause its answer implies');
    assert.equal(older!.packets, undefined);
    assert.equal(older!.dropped, undefined);
    assert.equal(now!.cause, 'answered');
    assert.deepEqual(
      [now!.packets, now!.lost, now!.jitterMs, now!.mos, now!.dropped],
      [900, 3, 1.25, 4.3, 7],
    );
  } finally {
    await store.close();
  }
  // Opening again changes nothing (the columns are there, the migrations recorded once).
  const again = await SqliteCdrStore.open({ path });
  assert.equal((await again.listCdrs()).length, 2);
  await again.close();
  assert.deepEqual(versions(path), [1]);
  assert.equal(SQLITE_SCHEMA_VERSION, 1);
});

test('a file of the last version before the store split: its users and CDRs are read as they were', async () => {
  const path = tempDb();
  const old = openLegacySqlite(path);
  old
    .prepare(
      `INSERT INTO users (user, domain, ha1_md5, ha1_sha256, display_name) VALUES
         ('1000', 'old.example', ?, ?, 'Alice'), ('1001', 'old.example', ?, NULL, NULL)`,
    )
    .run('a'.repeat(32), 'b'.repeat(64), 'c'.repeat(32));
  old
    .prepare(
      `INSERT INTO cdrs (call_id, caller, callee, dialled, start, answer, end, duration,
         final_status, hung_up_by, trunk, cause) VALUES
         ('c1', '1000', '1001', '1001', 100, 200, 5200, 5, 200, 'callee', 'uplink', 'answered')`,
    )
    .run();
  old.close();

  const db = openSqlite({ path });
  const users = SqliteUserStore.onDatabase(db);
  const cdrs = SqliteCdrStore.onDatabase(db);
  try {
    assert.deepEqual(await users.listUsers('old.example'), [
      {
        user: '1000',
        domain: 'old.example',
        ha1Md5: 'a'.repeat(32),
        ha1Sha256: 'b'.repeat(64),
        displayName: 'Alice',
      },
      { user: '1001', domain: 'old.example', ha1Md5: 'c'.repeat(32) },
    ]);
    assert.deepEqual(await cdrs.listCdrs(), [
      {
        key: 'legacy-1',
        node: '',
        id: 1,
        callId: 'c1',
        caller: '1000',
        callee: '1001',
        dialled: '1001',
        start: 100,
        answer: 200,
        end: 5200,
        duration: 5,
        finalStatus: 200,
        hungUpBy: 'callee',
        trunk: 'uplink',
        cause: 'answered',
      },
    ]);
  } finally {
    await users.close();
    await cdrs.close();
    db.close();
  }
  assert.deepEqual(versions(path), [1]);
});

test('a file whose schema is newer than this trapezoid is refused', () => {
  const path = tempDb();
  openSqlite({ path }).close();
  const newer = new Database(path);
  newer
    .prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)')
    .run(SQLITE_SCHEMA_VERSION + 1, Date.now());
  newer.close();
  assert.throws(() => openSqlite({ path }), /schema version 2 is newer than this trapezoid knows/);
});

test('the page cache is bounded: SQLITE_CACHE_MB by default, or as asked', () => {
  // Negative: KiB (SQLite's own sign convention); better-sqlite3 alone would leave 16 MB.
  const dflt = openSqlite({ path: tempDb() });
  const asked = openSqlite({ path: tempDb(), cacheMb: 1.5 });
  try {
    assert.equal(dflt.pragma('cache_size', { simple: true }), -SQLITE_CACHE_MB * 1024);
    assert.equal(asked.pragma('cache_size', { simple: true }), -1536);
  } finally {
    dflt.close();
    asked.close();
  }
});
