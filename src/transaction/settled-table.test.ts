// The settled table against a Map as oracle: rows found by key with their kind, route and
// response bytes; ended on time, in order; the ring and its index growing and wrapping, and
// deletion by backward shift leaving every other key findable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCEPTED,
  COMPLETED,
  MAX_KEY_BYTES,
  MAX_PROBE,
  NO_ROW,
  SettledTable,
  settledHash,
} from './settled-table.ts';
import type { ResponseRoute, SettledKind } from './settled-table.ts';

const route: ResponseRoute = {
  target: { protocol: 'udp', address: '127.0.0.1', port: 5060 },
  local: { protocol: 'udp', address: '127.0.0.1', port: 5070 },
  connectionId: undefined,
};
const other: ResponseRoute = { ...route, connectionId: 'tcp-7' };

test('a row is found by its key and gives back its kind, route and the bytes it resends', () => {
  const table = new SettledTable(32_000);
  const ok = Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
  assert.ok(table.add('z9hG4bK-a|127.0.0.1:5060|BYE', COMPLETED, route, ok));
  assert.ok(table.add('z9hG4bK-a|127.0.0.1:5060|INVITE', ACCEPTED, other));
  assert.equal(table.size, 2);
  const bye = table.find('z9hG4bK-a|127.0.0.1:5060|BYE');
  const invite = table.find('z9hG4bK-a|127.0.0.1:5060|INVITE');
  assert.notEqual(bye, NO_ROW);
  assert.notEqual(invite, NO_ROW);
  assert.equal(table.kind(bye), COMPLETED);
  assert.equal(table.kind(invite), ACCEPTED);
  assert.deepEqual(table.response(bye), ok);
  assert.equal(table.response(invite), undefined);
  assert.equal(table.route(bye), route);
  assert.equal(table.route(invite), other);
  // Another sent-by, another method, a prefix: not the same key.
  assert.equal(table.find('z9hG4bK-a|127.0.0.2:5060|BYE'), NO_ROW);
  assert.equal(table.find('z9hG4bK-a|127.0.0.1:5060|CANCEL'), NO_ROW);
  assert.equal(table.find('z9hG4bK-a|127.0.0.1:5060|BY'), NO_ROW);
  // Keys in UTF-8 are compared as bytes; one past the limit is refused (it stays a transaction).
  assert.ok(table.add('z9hG4bK-é|[::1]:5060|BYE', COMPLETED, route, ok));
  assert.notEqual(table.find('z9hG4bK-é|[::1]:5060|BYE'), NO_ROW);
  assert.equal(table.find('z9hG4bK-e|[::1]:5060|BYE'), NO_ROW);
  assert.equal(table.add('x'.repeat(MAX_KEY_BYTES + 1), ACCEPTED, route), false);
  assert.equal(table.size, 3);
});

test('rows end in order once their time has come, and end() ends one early', () => {
  const table = new SettledTable(1000);
  const t0 = performance.now();
  table.add('k1', ACCEPTED, route);
  table.add('k2', ACCEPTED, route);
  assert.ok(table.nextDue! >= t0 + 1000);
  assert.equal(table.expire(t0 + 500), 0, 'not yet');
  assert.equal(table.size, 2);
  table.end(table.find('k1'));
  assert.equal(table.find('k1'), NO_ROW);
  assert.equal(table.size, 1);
  assert.equal(table.expire(performance.now() + 1001), 1, 'k2 ends; k1 had ended');
  assert.equal(table.find('k2'), NO_ROW);
  assert.equal(table.size, 0);
  assert.equal(table.nextDue, undefined);
});

test('thousands of rows through growth, wrap-around and expiry agree with a Map', () => {
  const table = new SettledTable(0);
  const oracle = new Map<string, { kind: SettledKind; response?: Buffer }>();
  const order: string[] = [];
  let next = 0;
  // Deterministic pseudo-random steps: add a batch, end some early, expire the oldest.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < 60; round++) {
    const adds = 50 + rand(400);
    for (let i = 0; i < adds; i++) {
      const key = `z9hG4bK${(next++).toString(36)}|10.0.${rand(4)}.1:5060|${rand(2) ? 'BYE' : 'INVITE'}`;
      if (oracle.has(key)) continue;
      const kind: SettledKind = key.endsWith('BYE') ? COMPLETED : ACCEPTED;
      const response = kind === COMPLETED ? Buffer.from(`SIP/2.0 200 OK ${key}`) : undefined;
      assert.ok(table.add(key, kind, route, response));
      oracle.set(key, { kind, ...(response ? { response } : {}) });
      order.push(key);
    }
    // End a few before their time.
    for (let i = 0; i < 10 && order.length > 0; i++) {
      const key = order[rand(order.length)]!;
      if (!oracle.has(key)) continue;
      table.end(table.find(key));
      oracle.delete(key);
    }
    // Expire the oldest rows: with a lifetime of 0 every row is due; expire a prefix by hand.
    if (round % 3 === 2) {
      assert.equal(table.expire(performance.now() + 1), [...oracle.keys()].length);
      oracle.clear();
      order.length = 0;
    }
    assert.equal(table.size, oracle.size);
    for (const [key, want] of oracle) {
      const row = table.find(key);
      assert.notEqual(row, NO_ROW, key);
      assert.equal(table.kind(row), want.kind);
      assert.deepEqual(table.response(row), want.response);
    }
    for (let i = 0; i < 20; i++) {
      const key = order[rand(Math.max(1, order.length))];
      if (key !== undefined && !oracle.has(key)) assert.equal(table.find(key), NO_ROW);
    }
  }
  table.clear();
  assert.equal(table.size, 0);
});

test('keys crafted to share one place in the index: past MAX_PROBE a row is refused, and every row placed is still found', () => {
  const seed = 0x12345678;
  const table = new SettledTable(32_000, seed);
  // The index starts at 2048 places: find keys whose hash has the same low 11 bits.
  const home = settledHash(seed, 'z9hG4bK-home|10.0.0.1:5060|BYE') & 2047;
  const colliding: string[] = [];
  for (let i = 0; colliding.length < MAX_PROBE + 5; i++) {
    const key = `z9hG4bK-${i}|10.0.0.1:5060|BYE`;
    if ((settledHash(seed, key) & 2047) === home) colliding.push(key);
  }
  const added = colliding.filter((key) => table.add(key, ACCEPTED, route));
  assert.equal(added.length, MAX_PROBE + 1, 'home and the MAX_PROBE places after it');
  for (const key of added) assert.notEqual(table.find(key), NO_ROW, key);
  for (const key of colliding.slice(added.length)) assert.equal(table.find(key), NO_ROW);
  // Ending rows makes room again (backward shift keeps the others findable).
  table.end(table.find(added[0]!));
  assert.ok(table.add(colliding[added.length]!, ACCEPTED, route));
  for (const key of [...added.slice(1), colliding[added.length]!])
    assert.notEqual(table.find(key), NO_ROW, key);
});
