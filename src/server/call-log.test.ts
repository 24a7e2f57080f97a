// The call log's kept messages (call-log.ts KeptMessage): read back exact during the call and
// after its end, a message sent as the bytes that went, credentials redacted before they are
// kept, the same text for the API (JSON) and the capture ring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, type SipRequest, type SipResponse } from '../sip/index.ts';
import type { Endpoint, InboundMessage } from '../transport/index.ts';
import { SqliteCdrStore } from '../store/sqlite-cdrs.ts';
import { CallCapture } from './call-capture.ts';
import { CallTap } from './call-tap.ts';
import { CallLog, KeptMessage, LADDERS_KEPT } from './call-log.ts';
import { summarize } from './console-model.ts';

const phone: Endpoint = { protocol: 'udp', address: '192.0.2.10', port: 5062 };
const server: Endpoint = { protocol: 'udp', address: '192.0.2.1', port: 5060 };
const callee: Endpoint = { protocol: 'udp', address: '192.0.2.20', port: 5080 };

function request(method: string, seq: number, extra = '', body = ''): SipRequest {
  return parseMessage(
    Buffer.from(
      `${method} sip:bob@example.com SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-${seq}\r\n` +
        `From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n` +
        `Call-ID: log-1@192.0.2.10\r\nCSeq: ${seq} ${method}\r\nMax-Forwards: 70\r\n${extra}` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    ),
  ) as SipRequest;
}

function response(status: number, reason: string, seq: number, padding: string): SipResponse {
  return parseMessage(
    Buffer.from(
      `SIP/2.0 ${status} ${reason}\r\n` +
        `Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-${seq}\r\n` +
        `From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n` +
        `Call-ID: log-1@192.0.2.10\r\nCSeq: ${seq} INVITE\r\nX-Padding: ${padding}\r\n` +
        `Content-Length: 0\r\n\r\n`,
    ),
  ) as SipResponse;
}

/** A call log on a fresh SQLite file, its messages also going to a capture ring. */
async function tappedLog(): Promise<{ store: SqliteCdrStore; log: CallLog; capture: CallCapture }> {
  const store = await SqliteCdrStore.open({
    path: join(mkdtempSync(join(tmpdir(), 'trapezoid-log-')), 'cdrs.db'),
  });
  const log = new CallLog(store, 'n1');
  const capture = new CallCapture();
  log.tap = new CallTap(capture, undefined);
  return { store, log, capture };
}

/** A Proxy-Authorization line for our realm with this digest response. */
function digest(response: string): string {
  return (
    'Proxy-Authorization: Digest username="alice", realm="example.com", nonce="n0", ' +
    `uri="sip:bob@example.com", response="${response}"\r\n`
  );
}

test('call log: a call of 42 messages reads back exact during and after the call, sent ones as they went; credentials never kept', async () => {
  const { store, log, capture } = await tappedLog();

  const invite = request(
    'INVITE',
    1,
    digest('0123456789abcdef0123456789abcdef'),
    'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
  );
  const inbound: InboundMessage = {
    message: invite,
    source: phone,
    local: server,
    receivedAt: Date.now(),
  };
  const handle = log.observe(invite, inbound, { initial: true });
  assert.ok(handle);
  const expected: string[] = [invite.toString()];
  // 39 provisional responses of about 600 bytes each, by turns received and passed upstream.
  for (let i = 0; i < 39; i++) {
    const r = response(180, 'Ringing', 1, `${i}-${'x'.repeat(500)}`);
    handle.onMessage(i % 2 === 0 ? 'from-downstream' : 'upstream', r, callee, server);
    expected.push(r.toString());
  }

  // A message sent is kept as the bytes that went (the transport added rport to its Via), and
  // still without the credentials of another realm it carries.
  const cancel = request(
    'CANCEL',
    1,
    'Authorization: Digest username="alice", realm="far.example", nonce="n1", ' +
      'uri="sip:bob@example.com", response="fedcba9876543210fedcba9876543210"\r\n',
  );
  const wire = Buffer.from(cancel.toString().replace('branch=z9hG4bK-1', 'branch=z9hG4bK-1;rport'));
  handle.onMessage('downstream', cancel, callee, server, wire);
  const keptCancel = log.list()[0]!.messages[40]!.raw;
  assert.match(keptCancel, /branch=z9hG4bK-1;rport/);
  assert.match(
    keptCancel,
    /realm="far.example", nonce="n1", uri="sip:bob@example.com", response="<redacted>"/,
  );
  assert.doesNotMatch(keptCancel, /fedcba98/);
  expected.push(keptCancel);

  const check = (when: string, n: number): void => {
    const call = log.list().find((c) => c.callId === 'log-1@192.0.2.10');
    assert.ok(call, when);
    assert.equal(call.messages.length, n, when);
    // The INVITE is kept with its digest response redacted; user name and realm stay.
    const first = call.messages[0]!.raw;
    assert.doesNotMatch(first, /0123456789abcdef/, when);
    assert.match(first, /response="<redacted>"/, when);
    assert.match(first, /username="alice", realm="example.com"/, when);
    assert.match(first, /m=audio 4000 RTP\/AVP 0\r\n$/, when);
    for (let i = 1; i < n; i++) assert.equal(call.messages[i]!.raw, expected[i], `${when} #${i}`);
    // Who sent what to whom: the caller's INVITE in, then the callee's and ours by turns.
    assert.equal(call.messages[0]!.from, 'udp:192.0.2.10:5062');
    assert.equal(call.messages[1]!.from, 'udp:192.0.2.20:5080');
    assert.equal(call.messages[2]!.to, 'udp:192.0.2.20:5080');
    // The API's JSON carries the same text, as plain fields.
    const json = JSON.parse(JSON.stringify(call)) as {
      messages: { ts: number; from: string; to: string; label: string; raw: string }[];
    };
    assert.deepEqual(Object.keys(json.messages[5]!).sort(), ['from', 'label', 'raw', 'to', 'ts']);
    assert.equal(json.messages[5]!.raw, expected[5]);
    assert.equal(json.messages[5]!.label, '180 Ringing');
    assert.equal(json.messages[0]!.raw, first);
    // The capture ring shares the log's bytes: its file holds the same redacted text.
    const packets = capture.packets('log-1@192.0.2.10')!;
    assert.equal(packets.length, n);
    const file = capture.pcapng('log-1@192.0.2.10')!;
    assert.ok(file.includes(Buffer.from('response="<redacted>"')), when);
    assert.ok(!file.includes(Buffer.from('0123456789abcdef')), when);
    assert.ok(!file.includes(Buffer.from('fedcba98')), when);
    assert.ok(file.includes(Buffer.from(`38-${'x'.repeat(500)}`)), when);
  };
  check('during the call', 41);

  // The call fails (a 486 ends it): the call moves to the recent ones.
  const busy = response(486, 'Busy Here', 1, 'end');
  handle.onMessage('from-downstream', busy, callee, server);
  expected.push(busy.toString());
  await handle.onFinal(invite, busy);
  const ended = log.list().find((c) => c.callId === 'log-1@192.0.2.10')!;
  assert.equal(ended.cause, 'callee-busy');
  check('after the end', 42);
  await store.close();
});

test('call log: a received message is kept as it came; credentials taken off it since are redacted all the same', async () => {
  const { store, log, capture } = await tappedLog();
  const invite = request('INVITE', 1, digest('00112233445566778899aabbccddeeff'));
  const asReceived = invite.toString();
  // Changed after it came in (the header consumed, our own line added): the log shows the wire.
  invite.remove('Proxy-Authorization');
  invite.append('X-Changed-Here', 'yes');
  const inbound: InboundMessage = { message: invite, source: phone, local: server, receivedAt: 0 };
  assert.ok(log.observe(invite, inbound, { initial: true }));
  const kept = log.list()[0]!.messages[0]!.raw;
  assert.doesNotMatch(kept, /X-Changed-Here/);
  assert.match(kept, /Proxy-Authorization: Digest username="alice"/);
  assert.match(kept, /response="<redacted>"/);
  assert.doesNotMatch(kept, /00112233/);
  assert.equal(kept, asReceived.replace('00112233445566778899aabbccddeeff', '<redacted>'));
  assert.ok(!capture.pcapng('log-1@192.0.2.10')!.includes(Buffer.from('00112233')));
  await store.close();
});

function callMessage(first: string, callId: string, cseq: string, toTag = '', body = ''): string {
  return (
    `${first}\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-${callId.split('@')[0]}-${cseq.replace(' ', '')}\r\n` +
    `From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>${toTag}\r\n` +
    `Call-ID: ${callId}\r\nCSeq: ${cseq}\r\nMax-Forwards: 70\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

test('call log: the newest 50 finished calls keep their messages; further back only failed ones do, answered ones keep their summary', async () => {
  const store = await SqliteCdrStore.open({
    path: join(mkdtempSync(join(tmpdir(), 'trapezoid-log-')), 'cdrs.db'),
  });
  const log = new CallLog(store, 'n1');
  const sdp =
    'v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\n';
  const parse = (text: string): SipRequest & SipResponse =>
    parseMessage(Buffer.from(text)) as SipRequest & SipResponse;
  const inbound = (message: SipRequest): InboundMessage => ({
    message,
    source: phone,
    local: server,
    receivedAt: Date.now(),
  });
  const CALLS = 60;
  for (let i = 0; i < CALLS; i++) {
    const callId = `ladder-${i}@192.0.2.10`;
    const invite = parse(callMessage('INVITE sip:bob@example.com SIP/2.0', callId, '1 INVITE'));
    const handle = log.observe(invite, inbound(invite), { initial: true })!;
    if (i % 3 === 0) {
      // Every third call fails.
      const busy = parse(callMessage('SIP/2.0 486 Busy Here', callId, '1 INVITE', ';tag=b1'));
      handle.onMessage('from-downstream', busy, callee, server);
      await handle.onFinal(invite, busy);
      continue;
    }
    const ok = parse(callMessage('SIP/2.0 200 OK', callId, '1 INVITE', ';tag=b1', sdp));
    handle.onMessage('from-downstream', ok, callee, server);
    handle.onMessage('upstream', ok, phone, server);
    await handle.onFinal(invite, ok);
    const bye = parse(callMessage('BYE sip:bob@example.com SIP/2.0', callId, '2 BYE', ';tag=b1'));
    const byeHandle = log.observe(bye, inbound(bye), { initial: false, byCaller: true })!;
    const byeOk = parse(callMessage('SIP/2.0 200 OK', callId, '2 BYE', ';tag=b1'));
    byeHandle.onMessage('from-downstream', byeOk, callee, server);
    await byeHandle.onFinal(bye, byeOk);
  }
  const calls = log.list(); // newest first
  assert.equal(calls.length, CALLS);
  for (const [age, call] of calls.entries()) {
    const i = CALLS - 1 - age;
    assert.equal(call.callId, `ladder-${i}@192.0.2.10`);
    const failed = i % 3 === 0;
    const summary = summarize(call, false);
    assert.equal(summary.state, failed ? 'failed' : 'ended');
    assert.equal(summary.messageCount, failed ? 2 : 5, `call ${i}`);
    if (age < LADDERS_KEPT || failed) {
      assert.equal(call.messages.length, summary.messageCount, `call ${i} keeps its messages`);
      assert.equal(summary.ladderLetGo, undefined);
      assert.equal(call.messagesLetGo, undefined);
    } else {
      assert.equal(call.messages.length, 0, `answered call ${i}, ${age} calls back, let go`);
      assert.equal(call.messagesLetGo, 5);
      assert.equal(summary.ladderLetGo, true);
    }
    if (!failed) assert.equal(summary.codec, 'PCMA', `call ${i}: the codec stays in the summary`);
  }
  // The CDRs are all there, whatever the log kept in memory.
  assert.equal((await store.listCdrs({ limit: 100 })).length, CALLS);
  await store.close();
});

test("a kept message's label is read from its start line: a request's method, a response's status and reason", () => {
  const at: Endpoint = { protocol: 'udp', address: '127.0.0.1', port: 5060 };
  const kept = (startLine: string): KeptMessage =>
    new KeptMessage(
      0,
      at,
      at,
      Buffer.from(`${startLine}\r\nCall-ID: k1\r\nContent-Length: 0\r\n\r\n`),
    );
  assert.equal(kept('INVITE sip:1001@example.com SIP/2.0').label, 'INVITE');
  assert.equal(kept('SIP/2.0 180 Ringing').label, '180 Ringing');
  assert.equal(kept('SIP/2.0 486 Busy Here').label, '486 Busy Here');
  assert.equal(kept('SIP/2.0 200 Très bien').label, '200 Très bien', 'a UTF-8 reason phrase');
});
