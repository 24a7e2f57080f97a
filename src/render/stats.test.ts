import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderStats } from './stats.ts';

test('stats list methods by count, classes in order and codes by number, with bars', () => {
  const text = renderStats({
    byMethod: { ACK: 3, INVITE: 6, BYE: 2 },
    byClass: { '1xx': 4, '2xx': 8, '3xx': 0, '4xx': 2, '5xx': 0, '6xx': 0 },
    byCode: { '486': 2, '100': 4, '200': 8 },
  });
  const lines = text.split('\n');
  const row = (key: string): string => lines.find((l) => l.trim().startsWith(key + ' '))!;
  const methods = lines.slice(1, 4).map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(methods, ['INVITE', 'ACK', 'BYE']);
  assert.match(row('INVITE'), /INVITE\s+6\s+█{30}$/);
  assert.match(row('ACK'), /ACK\s+3\s+█{15}$/);
  assert.match(row('3xx'), /3xx\s+0$/);
  const codes = lines.filter((l) => /^ {2}\d{3} /.test(l)).map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(codes, ['100', '200', '486']);
  assert.equal(text.includes('\x1b'), false);
  assert.ok(
    renderStats({
      byMethod: {},
      byClass: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, '6xx': 0 },
      byCode: {},
    }).includes('(none)'),
  );
  assert.ok(
    renderStats(
      {
        byMethod: { INVITE: 1 },
        byClass: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, '6xx': 0 },
        byCode: {},
      },
      { color: true },
    ).includes('\x1b['),
  );
});
