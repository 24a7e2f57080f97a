// Memory per binding: 100k phones register (each its own address-of-record, contact and source)
// through the location service into the SQLite location store, and the process grows by at most 2 KB per binding.
// Bindings live in SQLite (its page cache is bounded), not in JavaScript objects, so the growth
// measured here is the server's whole in-process cost of holding them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseMessage, SipRequest } from '../sip/index.ts';
import { SqliteLocationStore } from '../store/sqlite-locations.ts';
import { LocationService } from './location-service.ts';

const BINDINGS = 100_000;
const LIMIT_BYTES_PER_BINDING = 2048;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage();
}

test(`${BINDINGS} bindings cost at most ${LIMIT_BYTES_PER_BINDING} bytes each`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-bindings-'));
  const store = new SqliteLocationStore(join(dir, 'b.db'));
  const registrar = new LocationService(
    store,
    { minExpires: 60, maxExpires: 3600, defaultExpires: 3600 },
    () => 1_000_000,
  );
  try {
    // Warm up the code paths (JIT, statement cache) so the baseline is not charged to bindings.
    const register = async (i: number): Promise<void> => {
      const user = String(1_000_000 + i);
      const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const text =
        `REGISTER sip:mem.test SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP ${host}:5060;branch=z9hG4bK${i}x;rport\r\n` +
        `From: <sip:${user}@mem.test>;tag=f${i}\r\n` +
        `To: <sip:${user}@mem.test>\r\n` +
        `Call-ID: reg-${i}@${host}\r\n` +
        `CSeq: 1 REGISTER\r\n` +
        `Contact: <sip:${user}@${host}:5060;transport=udp>;expires=3600\r\n` +
        `Content-Length: 0\r\n\r\n`;
      const req = parseMessage(text);
      assert.ok(req instanceof SipRequest);
      const res = await registrar.register(req, `sip:${user}@mem.test`, {
        target: { protocol: 'udp', address: host, port: 5060 + (i % 1000) },
        flow: { node: 'local' },
      });
      if (res.status !== 200) assert.fail(`binding ${i}: ${res.status} ${res.reason}`);
    };
    for (let i = 0; i < 2000; i++) await register(BINDINGS + i);
    const before = settle();
    for (let i = 0; i < BINDINGS; i++) await register(i);
    const after = settle();
    const rssPer = (after.rss - before.rss) / BINDINGS;
    const heapPer = (after.heapUsed - before.heapUsed) / BINDINGS;
    t.diagnostic(`per binding: rss ${Math.round(rssPer)} B, heap ${Math.round(heapPer)} B`);
    assert.equal((await store.all(1_000_000, 1_000_000)).length, BINDINGS + 2000);
    assert.deepEqual(
      (await store.lookup('sip:1012345@mem.test', 1_000_000)).map((b) => b.target),
      [{ protocol: 'udp', address: '10.0.48.57', port: 5405 }],
    );
    assert.ok(
      rssPer <= LIMIT_BYTES_PER_BINDING,
      `RSS grew ${Math.round(rssPer)} bytes per binding (heap ${Math.round(heapPer)})`,
    );
    assert.ok(heapPer <= LIMIT_BYTES_PER_BINDING, `heap grew ${Math.round(heapPer)} per binding`);
  } finally {
    await store.close();
  }
});
