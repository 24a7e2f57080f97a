// SqliteLocationStore: the LocationStore contract through two connections to one file, and the
// migration of a bindings table an older trapezoid wrote (older columns keep working both ways).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { locationStoreContract } from './location-store.contract.ts';
import { SqliteLocationStore } from './sqlite-locations.ts';
import { openLegacySqlite } from '../../test/support/legacy-sqlite.ts';

test('SqliteLocationStore', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-locations-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  await t.test('LocationStore contract', async (t) => {
    await locationStoreContract(t, async () => {
      const file = join(dir, `contract${++n}.db`);
      return { a: new SqliteLocationStore(file), b: new SqliteLocationStore(file) };
    });
  });

  await t.test(
    'race: two processes register one contact on one file with interleaved CSeqs',
    async (t) => {
      const file = join(dir, 'race.db');
      await new SqliteLocationStore(file).close(); // the table exists before both start
      // Each process waits for the start time, registers its CSeqs (odd or even, 1..4000) one
      // after another, and prints what it was told: how many accepted, how many said "added".
      const child = (parity: number) =>
        spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            '--input-type=module',
            '-e',
            `
            import { SqliteLocationStore } from ${JSON.stringify(new URL('./sqlite-locations.ts', import.meta.url).href)};
            const store = new SqliteLocationStore(${JSON.stringify(file)});
            console.log('ready');
            process.stdin.once('data', async (d) => {
              const startAt = Number(String(d));
              while (Date.now() < startAt); // both start within a millisecond of each other
              let accepted = 0, added = 0;
              for (let cseq = ${parity}; cseq <= 4000; cseq += 2) {
                const out = await store.register({
                  aor: 'sip:race@example.test', callId: 'race', cseq,
                  target: { protocol: 'udp', address: '192.0.2.1', port: 5060 },
                  flow: { node: 'p${parity}' }, maxBindings: 10, now: Date.now(),
                  contacts: [{ contact: 'sip:race@192.0.2.1', expires: 600, q: 1 }],
                });
                if (out.ok) { accepted++; added += out.changes.filter((c) => c.action === 'added').length; }
              }
              console.log(JSON.stringify({ accepted, added }));
              await store.close();
              process.exit(0);
            });`,
          ],
          { stdio: ['pipe', 'pipe', 'inherit'] },
        );
      const procs = [child(1), child(2)];
      t.after(() => {
        for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill();
      });
      const lines = procs.map((p) => createInterface({ input: p.stdout! })[Symbol.asyncIterator]());
      for (const l of lines) assert.equal((await l.next()).value, 'ready');
      const startAt = Date.now() + 300;
      for (const p of procs) p.stdin!.end(String(startAt));
      const results = await Promise.all(
        lines.map(
          async (l) =>
            JSON.parse((await l.next()).value as string) as { accepted: number; added: number },
        ),
      );
      const check = new SqliteLocationStore(file);
      const [bound] = await check.lookup('sip:race@example.test', 0);
      await check.close();
      assert.equal(bound!.cseq, 4000, 'the highest CSeq is what stays');
      assert.equal(results[0]!.added + results[1]!.added, 1, 'one add, then refreshes');
    },
  );

  await t.test("opens an older trapezoid's file, and that version still reads it", async () => {
    const file = join(dir, 'old.db');
    const now = Date.now();
    const old = openLegacySqlite(file);
    old
      .prepare(
        `INSERT INTO bindings (aor, contact, target, q, expires_at, call_id, cseq, user_agent,
           connection_id) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
      )
      .run(
        'sip:1000@example.test',
        'sip:1000@192.0.2.5:5060',
        'tcp:[2001:db8::5]:5070',
        1,
        now + 60_000,
        'old@phone',
        3,
        'conn-9',
      );
    old.close();

    const store = new SqliteLocationStore(file, { node: 'solo' });
    assert.deepEqual(await store.lookup('sip:1000@example.test', now), [
      {
        aor: 'sip:1000@example.test',
        contact: 'sip:1000@192.0.2.5:5060',
        target: { protocol: 'tcp', address: '2001:db8::5', port: 5070 },
        flow: { node: 'solo', connectionId: 'conn-9' },
        q: 1,
        expiresAt: now + 60_000,
        callId: 'old@phone',
        cseq: 3,
      },
    ]);
    const out = await store.register({
      aor: 'sip:1000@example.test',
      callId: 'old@phone',
      cseq: 3,
      target: { protocol: 'udp', address: '192.0.2.5', port: 5060 },
      flow: { node: 'solo' },
      contacts: [{ contact: 'sip:1000@192.0.2.5:5060', expires: 60, q: 1 }],
      maxBindings: 10,
      now,
    });
    assert.deepEqual(out, { ok: false, reason: 'out-of-order' }, 'old rows take part in §10.3');
    assert.equal(await store.removeFlow('solo', 'conn-9'), 1, 'an old row’s flow is this node’s');
    await store.register({
      aor: 'sip:2000@example.test',
      callId: 'new@phone',
      cseq: 1,
      target: { protocol: 'udp', address: '192.0.2.6', port: 5062 },
      flow: { node: 'solo' },
      contacts: [{ contact: 'sip:2000@192.0.2.6:5062', expires: 60, q: 0.7 }],
      maxBindings: 10,
      now,
    });
    await store.close();

    // That version's lookup (its columns only) finds the new row in the shape it knows.
    const reopened = openLegacySqlite(file);
    assert.deepEqual(
      reopened
        .prepare(
          `SELECT target, q, cseq, call_id FROM bindings WHERE aor = ? AND expires_at > ?
           ORDER BY q DESC, expires_at DESC`,
        )
        .raw()
        .all('sip:2000@example.test', now),
      [['udp:192.0.2.6:5062', 0.7, 1, 'new@phone']],
    );
    reopened.close();
  });
});
