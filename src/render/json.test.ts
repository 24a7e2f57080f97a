import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderJson } from './json.ts';
import { exampleReport, proxiedCall } from './example-calls.ts';

test('renderJson round-trips a call and a report', () => {
  const call = proxiedCall();
  const text = renderJson(call);
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(call)));
  const report = exampleReport({ x: 'AAAA' });
  assert.deepEqual(JSON.parse(renderJson(report)), JSON.parse(JSON.stringify(report)));
  assert.ok(text.includes('\n  "callId": "a84b4c76e66710@pc33.example.com"'));
});
