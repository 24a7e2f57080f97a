import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallTracker } from './call-tracker.ts';
import type { MessageOrigin } from './call-tracker.ts';
import { callOutcome, ladderCall } from './call-summary.ts';

const A = { src: '10.0.0.1', srcPort: 5060, dst: '10.0.0.2', dstPort: 5060 };
const B = { src: '10.0.0.2', srcPort: 5060, dst: '10.0.0.1', dstPort: 5060 };
let frame = 0;
function at(dir: typeof A, ts: number): MessageOrigin {
  return { ...dir, ts, frame: ++frame, transport: 'UDP' };
}

function request(
  method: string,
  cseq: number,
  opts: { toTag?: string; fromTag?: string; branch?: string; body?: string; type?: string } = {},
): string {
  const body = opts.body ?? '';
  return [
    `${method} sip:bob@10.0.0.2 SIP/2.0`,
    `Via: SIP/2.0/UDP 10.0.0.1:5060;branch=${opts.branch ?? 'z9hG4bK' + method + cseq}`,
    `From: "Alice" <sip:alice@example.com>;tag=${opts.fromTag ?? 'a1'}`,
    `To: <sip:bob@example.com>${opts.toTag ? ';tag=' + opts.toTag : ''}`,
    'Call-ID: call-1',
    `CSeq: ${cseq} ${method === 'ACK' || method === 'CANCEL' ? method : method}`,
    'Max-Forwards: 70',
    ...(opts.type ? [`Content-Type: ${opts.type}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

function response(
  status: number,
  reason: string,
  cseq: number,
  method: string,
  branch: string,
  toTag = 'b1',
): string {
  return [
    `SIP/2.0 ${status} ${reason}`,
    `Via: SIP/2.0/UDP 10.0.0.1:5060;branch=${branch}`,
    'From: "Alice" <sip:alice@example.com>;tag=a1',
    `To: <sip:bob@example.com>;tag=${toTag}`,
    'Call-ID: call-1',
    `CSeq: ${cseq} ${method}`,
    'Server: TestUAS/1.0',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

test('a completed call: state, who hung up, retransmissions, INFO DTMF, stats', () => {
  const t = new CallTracker();
  t.ingest(Buffer.from(request('INVITE', 1)), at(A, 1));
  t.ingest(Buffer.from(request('INVITE', 1)), at(A, 1.5)); // retransmission
  t.ingest(Buffer.from(response(180, 'Ringing', 1, 'INVITE', 'z9hG4bKINVITE1')), at(B, 2));
  t.ingest(Buffer.from(response(200, 'OK', 1, 'INVITE', 'z9hG4bKINVITE1')), at(B, 3));
  t.ingest(Buffer.from(request('ACK', 1, { toTag: 'b1' })), at(A, 3.1));
  t.ingest(
    Buffer.from(
      request('INFO', 2, {
        toTag: 'b1',
        body: 'Signal=9\r\nDuration=160\r\n',
        type: 'application/dtmf-relay',
      }),
    ),
    at(A, 4),
  );
  // The callee hangs up: its BYE carries the callee's tag in From.
  const bye = request('BYE', 1, { toTag: 'a1', fromTag: 'b1' })
    .replace('From: "Alice" <sip:alice@example.com>;tag=b1', 'From: <sip:bob@example.com>;tag=b1')
    .replace('To: <sip:bob@example.com>;tag=a1', 'To: "Alice" <sip:alice@example.com>;tag=a1');
  t.ingest(Buffer.from(bye), at(B, 10));
  const record = t.calls.get('call-1')!;
  const call = ladderCall(record);
  assert.equal(call.state, 'completed');
  assert.equal(call.finalStatus, 200);
  assert.equal(call.hungUpBy, 'callee');
  assert.equal(call.from, 'alice@example.com');
  assert.equal(call.fromDisplay, 'Alice');
  assert.equal(call.duration, 9);
  assert.deepEqual(
    call.messages.map((m) => [m.label, m.retransmission ?? false]),
    [
      ['INVITE', false],
      ['INVITE', true],
      ['180 Ringing', false],
      ['200 OK', false],
      ['ACK', false],
      ['INFO', false],
      ['BYE', false],
    ],
  );
  assert.equal(record.messages[5].dtmf, '9');
  assert.equal(call.hosts.find((h) => h.id === '10.0.0.2:5060')?.userAgent, 'TestUAS/1.0');
  const stats = t.statistics.snapshot();
  assert.deepEqual(stats.byMethod, { INVITE: 2, ACK: 1, INFO: 1, BYE: 1 });
  assert.equal(stats.byClass['2xx'], 1);
  assert.equal(stats.retransmissions, 1);
});

test('rejected and cancelled calls', () => {
  const busy = new CallTracker();
  busy.ingest(Buffer.from(request('INVITE', 1)), at(A, 1));
  busy.ingest(Buffer.from(response(486, 'Busy Here', 1, 'INVITE', 'z9hG4bKINVITE1')), at(B, 2));
  assert.deepEqual(
    { ...callOutcome(busy.calls.get('call-1')!) },
    { state: 'rejected', finalStatus: 486, finalReason: 'Busy Here' },
  );

  const cancelled = new CallTracker();
  cancelled.ingest(Buffer.from(request('INVITE', 1)), at(A, 1));
  cancelled.ingest(Buffer.from(request('CANCEL', 1, { branch: 'z9hG4bKINVITE1' })), at(A, 2));
  assert.equal(callOutcome(cancelled.calls.get('call-1')!).state, 'cancelled');
  cancelled.ingest(
    Buffer.from(response(487, 'Request Terminated', 1, 'INVITE', 'z9hG4bKINVITE1')),
    at(B, 3),
  );
  assert.equal(callOutcome(cancelled.calls.get('call-1')!).finalStatus, 487);

  // 407 then a retried INVITE that is answered: the challenge does not make it rejected.
  const auth = new CallTracker();
  auth.ingest(Buffer.from(request('INVITE', 1)), at(A, 1));
  auth.ingest(
    Buffer.from(response(407, 'Proxy Authentication Required', 1, 'INVITE', 'z9hG4bKINVITE1')),
    at(B, 2),
  );
  auth.ingest(Buffer.from(request('INVITE', 2)), at(A, 3));
  assert.equal(callOutcome(auth.calls.get('call-1')!).state, 'in-progress');
  auth.ingest(Buffer.from(response(200, 'OK', 2, 'INVITE', 'z9hG4bKINVITE2')), at(B, 4));
  assert.equal(callOutcome(auth.calls.get('call-1')!).state, 'in-progress');
  assert.equal(callOutcome(auth.calls.get('call-1')!).finalStatus, 200);
});

test('unparseable SIP is recorded with frame and reason, never thrown', () => {
  const t = new CallTracker();
  const ok = t.ingest(
    Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\nVia: garbage\r\n\r\n'),
    at(A, 1),
  );
  assert.equal(ok, false);
  assert.equal(t.parseFailures.length, 1);
  assert.equal(t.parseFailures[0].frame, frame);
  assert.ok(t.parseFailures[0].reason.length > 0);
  assert.equal(t.statistics.parseErrors, 1);
  assert.equal(t.calls.size, 0);
});

test('SDP endpoints are reported with the side that announced them', () => {
  const seen: string[] = [];
  const t = new CallTracker({
    onMediaEndpoint: (callId, e, side) =>
      seen.push(
        `${callId} ${side} ${e.address}:${e.port} ${[...e.formats.values()].map((f) => f.name).join(',')}`,
      ),
  });
  const sdp = (ip: string, port: number): string =>
    `v=0\r\no=- 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n`;
  t.ingest(
    Buffer.from(request('INVITE', 1, { body: sdp('10.0.0.1', 4000), type: 'application/sdp' })),
    at(A, 1),
  );
  const answer = response(200, 'OK', 1, 'INVITE', 'z9hG4bKINVITE1').replace(
    'Content-Length: 0\r\n\r\n',
    `Content-Type: application/sdp\r\nContent-Length: ${sdp('10.0.0.2', 5000).length}\r\n\r\n${sdp('10.0.0.2', 5000)}`,
  );
  t.ingest(Buffer.from(answer), at(B, 2));
  assert.deepEqual(seen, [
    'call-1 caller 10.0.0.1:4000 PCMA,telephone-event',
    'call-1 callee 10.0.0.2:5000 PCMA,telephone-event',
  ]);
  assert.match(
    t.calls.get('call-1')!.messages[0].sdp!,
    /^SDP PCMA,telephone-event 10\.0\.0\.1:4000/,
  );
});
