// MediaRelayProxy: which SIP messages get their SDP rewritten, and the CDR summary (including a
// session the relay timed out before the call ended). Real relay, real sockets (ports 30900-30999).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { RtpPacket } from '../media/index.ts';
import { parseMessage, type SipRequest, type SipResponse } from '../sip/index.ts';
import { MediaRelay } from './media-relay.ts';
import { MediaRelayProxy } from './media-relay-proxy.ts';

const HOST = '127.0.0.1';

function sdp(port: number): string {
  return `v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;
}

function request(method: string, callId: string, body?: string, cseq = 1): SipRequest {
  const text = [
    `${method} sip:b@192.0.2.2 SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
    'From: <sip:a@192.0.2.1>;tag=ta',
    `To: <sip:b@192.0.2.2>${method === 'INVITE' ? '' : ';tag=tb'}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${body?.length ?? 0}`,
    '',
    body ?? '',
  ].join('\r\n');
  return parseMessage(text) as SipRequest;
}

function response(status: number, callId: string, body?: string, method = 'INVITE'): SipResponse {
  const text = [
    `SIP/2.0 ${status} X`,
    'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
    'From: <sip:a@192.0.2.1>;tag=ta',
    'To: <sip:b@192.0.2.2>;tag=tb',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${body?.length ?? 0}`,
    '',
    body ?? '',
  ].join('\r\n');
  return parseMessage(text) as SipResponse;
}

async function setUp(t: TestContext, first: number, timeoutSeconds = 30) {
  const relay = new MediaRelay({
    address: HOST,
    ports: [first, first + 19],
    timeoutSeconds,
    spare: 2,
  });
  t.after(() => relay.close());
  await relay.ready();
  return { relay, proxy: new MediaRelayProxy(relay) };
}

const relayPort = (m: SipRequest | SipResponse) =>
  Number(/^m=audio (\d+)/m.exec(m.body.toString())![1]);

test('INVITE and its 183/200 are rewritten with Content-Length; other messages are left alone', async (t) => {
  const { relay, proxy } = await setUp(t, 30900);
  const inv = request('INVITE', 'c1', sdp(4000));
  proxy.request(inv);
  assert.match(inv.body.toString(), /^c=IN IP4 127\.0\.0\.1\r$/m);
  assert.equal(inv.get('Content-Length'), String(inv.body.length));
  const early = response(183, 'c1', sdp(5000));
  proxy.response(early);
  const ok = response(200, 'c1', sdp(5000));
  proxy.response(ok);
  assert.equal(relayPort(ok), relayPort(early));
  assert.notEqual(relayPort(ok), 5000);
  // An error response with a body, a 2xx to another method, a MESSAGE with SDP: untouched.
  for (const m of [response(488, 'c1', sdp(6000)), response(200, 'c1', sdp(6000), 'OPTIONS')]) {
    proxy.response(m);
    assert.equal(relayPort(m), 6000);
  }
  const message = request('MESSAGE', 'c1', sdp(6000), 2);
  proxy.request(message);
  assert.equal(relayPort(message), 6000);
  assert.equal(relay.sessionCount, 1);
});

test('a 2xx or ACK of a call whose INVITE never went through the relay opens nothing', async (t) => {
  const { relay, proxy } = await setUp(t, 30920);
  const ok = response(200, 'unknown', sdp(5000));
  proxy.response(ok);
  assert.equal(relayPort(ok), 5000);
  const ack = request('ACK', 'unknown', sdp(4000));
  proxy.request(ack);
  assert.equal(relayPort(ack), 4000);
  assert.equal(relay.sessionCount, 0);
  // After the call ended, a retransmitted 200 does not open ports again.
  proxy.request(request('INVITE', 'c2', sdp(4000)));
  proxy.response(response(200, 'c2', sdp(5000)));
  assert.ok(proxy.end('c2'));
  proxy.response(response(200, 'c2', sdp(5000)));
  assert.equal(relay.sessionCount, 0);
});

test('end() summarises the media for the CDR, also after the relay timed the session out', async (t) => {
  const { relay, proxy } = await setUp(t, 30940, 0.3);
  const inv = request('INVITE', 'c3', sdp(4000));
  proxy.request(inv);
  const ok = response(200, 'c3', sdp(5000));
  proxy.response(ok);
  const phone = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => phone.bind(0, HOST, resolve));
  t.after(() => phone.close());
  for (let seq = 1; seq <= 10; seq++) {
    if (seq === 4) continue; // one lost
    const packet = new RtpPacket({
      payloadType: 0,
      sequenceNumber: seq,
      timestamp: seq * 160,
      ssrc: 9,
      payload: Buffer.alloc(160),
    }).marshal();
    await new Promise<void>((resolve) => phone.send(packet, relayPort(ok), HOST, () => resolve()));
  }
  const deadline = Date.now() + 3000;
  while (relay.sessionCount > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(relay.sessionCount, 0, 'timed out');
  const summary = proxy.end('c3');
  assert.ok(summary);
  assert.equal(summary.packets, 9);
  assert.equal(summary.lost, 1);
  assert.equal(summary.dropped, 0);
  assert.ok(summary.mos !== undefined && summary.mos > 1 && summary.mos < 4.5);
  assert.equal(proxy.end('c3'), undefined, 'given once');
});
