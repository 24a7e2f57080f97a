import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortPool, PortPoolError } from './port-pool.ts';

test('pairs are even RTP ports with RTCP = RTP + 1 inside the range', () => {
  const pool = new PortPool(20001, 20010);
  // 20002/3, 20004/5, 20006/7, 20008/9 fit; 20010 has no 20011.
  assert.equal(pool.capacity, 4);
  const ports: number[] = [];
  for (let p = pool.take(); p !== undefined; p = pool.take()) ports.push(p);
  assert.deepEqual(ports, [20002, 20004, 20006, 20008]);
  for (const p of ports) {
    assert.equal(p % 2, 0);
    assert.ok(p >= 20001 && p + 1 <= 20010);
  }
  assert.equal(pool.available, 0);
  assert.equal(pool.inUse, 4);
  assert.equal(pool.take(), undefined);
});

test('freed pairs go to the back of the queue', () => {
  const pool = new PortPool(20000, 20005);
  const a = pool.take()!;
  const b = pool.take()!;
  pool.give(a);
  // 20004 was never used: it comes before the freed 20000.
  assert.equal(pool.take(), 20004);
  assert.equal(pool.take(), a);
  assert.equal(pool.take(), undefined);
  pool.give(b);
  assert.equal(pool.isTaken(b), false);
  assert.equal(pool.take(), b);
  assert.equal(pool.isTaken(b), true);
});

test('giving back a pair twice or one never taken throws', () => {
  const pool = new PortPool(20000, 20003);
  const a = pool.take()!;
  pool.give(a);
  assert.throws(() => pool.give(a), PortPoolError);
  assert.throws(() => pool.give(20001), PortPoolError);
  assert.equal(pool.available, 2);
});

test('every pair is handed out once before any is reused, over many cycles', () => {
  const pool = new PortPool(30000, 30099);
  assert.equal(pool.capacity, 50);
  const held: number[] = [];
  const seen = new Set<number>();
  for (let round = 0; round < 500; round++) {
    const p = pool.take()!;
    assert.ok(!held.includes(p), `port ${p} handed out twice`);
    held.push(p);
    seen.add(p);
    if (held.length > 10) pool.give(held.shift()!);
  }
  assert.equal(seen.size, 50);
  assert.equal(pool.inUse + pool.available, 50);
});

test('parse reads the configuration form and rejects bad ranges', () => {
  const pool = PortPool.parse('20000-29999');
  assert.equal(pool.capacity, 5000);
  assert.throws(() => PortPool.parse('20000'), PortPoolError);
  assert.throws(() => new PortPool(3000, 2000), PortPoolError);
  assert.throws(() => new PortPool(20001, 20001), PortPoolError);
  assert.throws(() => new PortPool(0, 10), PortPoolError);
  assert.throws(() => new PortPool(65534, 65536), PortPoolError);
});
