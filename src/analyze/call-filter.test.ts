import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LadderCall, LadderMessage } from '../render/model.ts';
import { FilterSyntaxError, matchesFilter, parseFilter } from './call-filter.ts';

function message(kind: 'request' | 'response', method: string, status?: number): LadderMessage {
  return {
    index: 0,
    time: 0,
    ts: 0,
    from: 'a:5060',
    to: 'b:5060',
    transport: 'UDP',
    kind,
    method,
    ...(status !== undefined ? { status } : {}),
    label: status !== undefined ? String(status) : method,
    raw: '',
  };
}

const call: LadderCall = {
  callId: 'abc123@host',
  from: '+491000@example.com',
  to: 'bob@example.com',
  firstMethod: 'INVITE',
  start: 0,
  duration: 1,
  state: 'rejected',
  finalStatus: 486,
  hosts: [],
  messages: [
    message('request', 'INVITE'),
    message('response', 'INVITE', 100),
    message('response', 'INVITE', 486),
  ],
  rtp: [],
};

test('filters: each key matches what its help says', () => {
  const yes = [
    'callid=abc',
    'user=bob',
    'user=bob@example.com',
    'number=1000',
    'from=491000',
    'to=BOB',
    'method=invite',
    'status=486',
    'status=4xx',
    'state=rejected',
    'method=INVITE,status=4xx',
    'method!=BYE',
  ];
  for (const f of yes) assert.equal(matchesFilter(call, parseFilter(f)), true, f);
  const no = [
    'callid=zzz',
    'user=alice',
    'number=2000',
    'method=BYE',
    'status=200',
    'status=2xx',
    'state=completed',
    'method=INVITE,status=2xx',
    'status!=486',
  ];
  for (const f of no) assert.equal(matchesFilter(call, parseFilter(f)), false, f);
});

test('filters: syntax errors name the problem', () => {
  assert.throws(() => parseFilter('nokey'), FilterSyntaxError);
  assert.throws(() => parseFilter('color=red'), /unknown filter key 'color'/);
  assert.throws(() => parseFilter('status=abc'), /bad status/);
  assert.throws(() => parseFilter('user='), /has no value/);
  assert.deepEqual(parseFilter(''), []);
});
