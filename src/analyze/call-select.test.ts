import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LadderCall } from '../render/model.ts';
import { defaultCall, selectCallById } from './call-select.ts';

function call(callId: string, firstMethod = 'INVITE'): LadderCall {
  return {
    callId,
    from: 'a@h',
    to: 'b@h',
    firstMethod,
    start: 0,
    duration: 0,
    state: 'completed',
    hosts: [],
    messages: [],
    rtp: [],
  };
}

const calls = [call('abc123@h1', 'REGISTER'), call('abd456@h1'), call('x-abc@h2')];
const ids = (s: ReturnType<typeof selectCallById>): string[] =>
  'calls' in s ? s.calls.map((c) => c.callId) : [];

test('selectCallById: exact, then unique prefix, then unique piece', () => {
  assert.deepEqual(ids(selectCallById(calls, 'abd456@h1')), ['abd456@h1']);
  assert.deepEqual(ids(selectCallById(calls, 'abc')), ['abc123@h1'], 'a prefix beats a piece');
  assert.deepEqual(ids(selectCallById(calls, '456')), ['abd456@h1']);
  assert.deepEqual(ids(selectCallById(calls, '@h2')), ['x-abc@h2']);
});

test('selectCallById: ambiguous and unknown answers name the matches', () => {
  const ambiguous = selectCallById(calls, 'ab');
  assert.ok('error' in ambiguous);
  assert.deepEqual(ambiguous.matches, ['abc123@h1', 'abd456@h1']);
  assert.match(ambiguous.error, /2 calls start with 'ab'/);
  const none = selectCallById(calls, 'zzz');
  assert.ok('error' in none);
  assert.deepEqual(none.matches, []);
});

test('defaultCall: the first INVITE, not the first REGISTER', () => {
  assert.equal(defaultCall(calls)?.callId, 'abd456@h1');
  assert.equal(defaultCall([call('r', 'REGISTER')])?.callId, 'r');
  assert.equal(defaultCall([]), undefined);
});
