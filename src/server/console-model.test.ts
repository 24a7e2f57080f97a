import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderSvg } from '../render/index.ts';
import type { CdrRecord } from '../store/store.ts';
import {
  callCodec,
  cdrCsv,
  cdrMatches,
  ladderCall,
  summarize,
  type LoggedCall,
} from './console-model.ts';

const sdp = (pt: string, map = '') =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP ${pt} 101\r\n${map}a=rtpmap:101 telephone-event/8000\r\n`;

function message(ts: number, from: string, to: string, first: string, cseq: string, body = '') {
  const label = first.startsWith('SIP/2.0 ') ? first.slice(8) : first.split(' ')[0]!;
  const raw = `${first}\r\nCall-ID: c1\r\nCSeq: ${cseq}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  return { ts, from, to, label, raw };
}

const A = 'udp:127.0.0.2:5062';
const S = 'udp:127.0.0.1:5060';
const B = 'udp:127.0.0.3:5064';

function call(): LoggedCall {
  return {
    callId: 'c1',
    caller: '2001@t',
    callee: '2002@t',
    dialled: '2002',
    start: 1000,
    messages: [
      message(1000, A, S, 'INVITE sip:2002@t SIP/2.0', '2 INVITE', sdp('0 8')),
      message(1001, S, B, 'INVITE sip:2002@127.0.0.3 SIP/2.0', '2 INVITE', sdp('0 8')),
      message(1040, B, S, 'SIP/2.0 180 Ringing', '2 INVITE'),
    ],
  };
}

test('a logged call as the render layer draws it: hosts, arrows, kinds and SDP', () => {
  const c = call();
  assert.equal(summarize(c, false).state, 'ringing');
  const ladder = ladderCall(c);
  assert.deepEqual(
    ladder.hosts.map((h) => h.id),
    ['127.0.0.2:5062', '127.0.0.1:5060', '127.0.0.3:5064'],
  );
  assert.deepEqual(
    ladder.messages.map((m) => [m.kind, m.method, m.status, m.from, m.to]),
    [
      ['request', 'INVITE', undefined, '127.0.0.2:5062', '127.0.0.1:5060'],
      ['request', 'INVITE', undefined, '127.0.0.1:5060', '127.0.0.3:5064'],
      ['response', 'INVITE', 180, '127.0.0.3:5064', '127.0.0.1:5060'],
    ],
  );
  assert.equal(ladder.messages[0]!.sdp, 'SDP PCMU 127.0.0.1:4000');
  assert.equal(ladder.messages[2]!.time, 0.04);
  assert.equal(ladder.state, 'in-progress');
  const svg = renderSvg(ladder);
  assert.equal(svg.match(/data-testid="arrow"/g)?.length, 3);
});

test('the codec is the first payload of the last answer with SDP; states follow the answer and the end', () => {
  const c = call();
  assert.equal(callCodec(c), undefined, 'an offer alone does not say');
  c.messages.push(message(1090, B, S, 'SIP/2.0 200 OK', '2 INVITE', sdp('8')));
  assert.equal(callCodec(c), 'PCMA');
  c.messages.push(
    message(1091, B, S, 'SIP/2.0 200 OK', '2 INVITE', sdp('96', 'a=rtpmap:96 opus/48000/2\r\n')),
  );
  assert.equal(callCodec(c), 'opus');
  c.answer = 1090;
  assert.equal(summarize(c, true).state, 'answered');
  c.end = 5000;
  assert.equal(summarize(c, true).state, 'ended');
  assert.equal(ladderCall(c).state, 'completed');
  const failed = { ...call(), end: 1100, finalStatus: 486 };
  assert.equal(summarize(failed, false).state, 'failed');
  assert.equal(ladderCall(failed).state, 'rejected');
});

const row = (over: Partial<CdrRecord>): CdrRecord => ({
  id: 1,
  callId: 'c1',
  caller: '2001@console.test',
  callee: '2002@console.test',
  dialled: '2002',
  start: Date.parse('2026-12-04T10:00:00Z'),
  finalStatus: 200,
  cause: 'answered',
  ...over,
});

test('CDR search: number, user, status or class, cause, trunk and time range, all given must match', () => {
  const r = row({ trunk: 'carrier' });
  assert.ok(cdrMatches(r, {}));
  assert.ok(cdrMatches(r, { number: '200' }));
  assert.ok(!cdrMatches(r, { number: '3001' }));
  assert.ok(cdrMatches(r, { user: '2001' }));
  assert.ok(!cdrMatches(r, { user: '200' }), 'a user is matched whole');
  assert.ok(cdrMatches(r, { status: '2xx' }));
  assert.ok(!cdrMatches(r, { status: '4xx' }));
  assert.ok(
    cdrMatches(row({ finalStatus: 486, cause: 'callee-busy' }), {
      status: '486',
      cause: 'callee-busy',
    }),
  );
  assert.ok(!cdrMatches(r, { trunk: 'other' }));
  assert.ok(cdrMatches(r, { since: r.start - 1, until: r.start + 1 }));
  assert.ok(!cdrMatches(r, { since: r.start + 1 }));
});

test('CDR CSV: RFC 4180 quoting, ISO times, and no formula a spreadsheet would run', () => {
  const csv = cdrCsv([row({ caller: '=HYPERLINK("http://x")@evil', finalReason: 'Busy, Here' })]);
  const [head, line] = csv.split('\r\n');
  assert.match(head!, /^id,callId,caller,callee,dialled,start,/);
  assert.match(
    line!,
    /^1,c1,"'=HYPERLINK\(""http:\/\/x""\)@evil",2002@console\.test,2002,2026-12-04T10:00:00\.000Z,/,
  );
  assert.match(line!, /,"Busy, Here",answered,/);
});
