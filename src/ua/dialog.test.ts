import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, SipRequest, SipResponse } from '../sip/index.ts';
import { Dialog } from './dialog.ts';

function request(text: string): SipRequest {
  const m = parseMessage(text.replace(/\r?\n/g, '\r\n'));
  assert.ok(m instanceof SipRequest);
  return m;
}
function response(text: string): SipResponse {
  const m = parseMessage(text.replace(/\r?\n/g, '\r\n'));
  assert.ok(m instanceof SipResponse);
  return m;
}

const invite = request(`INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr>
Content-Length: 0

`);

const ok = response(`SIP/2.0 200 OK
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Contact: <sip:bob@192.0.2.4;transport=udp>
Record-Route: <sip:p2.biloxi.example.com;lr>
Record-Route: <sip:p1.atlanta.example.com;lr>
Content-Length: 0

`);

test('UAC dialog: id from tags, route set reversed, remote target from Contact', () => {
  const d = Dialog.fromResponse(invite, ok);
  assert.equal(d.state, 'confirmed');
  assert.equal(d.callId, 'a84b4c76e66710');
  assert.equal(d.localTag, '1928301774');
  assert.equal(d.remoteTag, 'a6c85cf');
  assert.equal(d.remoteTarget, 'sip:bob@192.0.2.4;transport=udp');
  assert.equal(d.routeSet.length, 2);
  assert.match(d.routeSet[0], /p1\.atlanta/);
  assert.match(d.routeSet[1], /p2\.biloxi/);
  assert.equal(d.localSeq, 314159);
  assert.equal(d.remoteSeq, undefined);
  assert.equal(d.secure, false);
});

test('UAS dialog: route set in Record-Route order, remote CSeq from the request', () => {
  const d = Dialog.fromRequest(invite, 'uas-tag', 'confirmed');
  assert.equal(d.localTag, 'uas-tag');
  assert.equal(d.remoteTag, '1928301774');
  assert.match(d.routeSet[0], /p2\.biloxi/);
  assert.match(d.routeSet[1], /p1\.atlanta/);
  assert.equal(d.remoteTarget, 'sip:alice@pc33.atlanta.example.com');
  assert.equal(d.remoteSeq, 314159);
  assert.match(d.localParty, /tag=uas-tag/);
});

test('in-dialog requests: next CSeq, Route headers, tags; ACK keeps the INVITE CSeq', () => {
  const d = Dialog.fromResponse(invite, ok);
  const bye = d.createRequest('BYE');
  assert.equal(bye.uri, 'sip:bob@192.0.2.4;transport=udp');
  assert.equal(bye.cseq.seq, 314160);
  assert.equal(bye.cseq.method, 'BYE');
  assert.equal(bye.from.tag, '1928301774');
  assert.equal(bye.to.tag, 'a6c85cf');
  assert.equal(bye.route.length, 2);
  assert.equal(bye.route[0].uri.host, 'p1.atlanta.example.com');
  const ack = d.createRequest('ACK', { cseq: 314159 });
  assert.equal(ack.cseq.seq, 314159);
  assert.equal(d.localSeq, 314160);
});

test('a strict router at the top of the route set takes the Request-URI', () => {
  const strict = response(
    ok
      .toString()
      .replace(
        'Record-Route: <sip:p1.atlanta.example.com;lr>',
        'Record-Route: <sip:p1.atlanta.example.com>',
      ),
  );
  const d = Dialog.fromResponse(invite, strict);
  const bye = d.createRequest('BYE');
  assert.equal(bye.uri, 'sip:p1.atlanta.example.com');
  const routes = bye.getAll('Route');
  assert.match(routes[0], /p2\.biloxi/);
  assert.match(routes[routes.length - 1], /sip:bob@192\.0\.2\.4/);
});

test('remote CSeq must grow; ACK and CANCEL are exempt', () => {
  const d = Dialog.fromRequest(invite, 't', 'confirmed');
  const older = request(
    invite
      .toString()
      .replace('CSeq: 314159 INVITE', 'CSeq: 314158 BYE')
      .replace('INVITE sip', 'BYE sip'),
  );
  assert.equal(d.acceptRemoteSeq(older), false);
  const newer = request(
    invite
      .toString()
      .replace('CSeq: 314159 INVITE', 'CSeq: 314160 BYE')
      .replace('INVITE sip', 'BYE sip'),
  );
  assert.equal(d.acceptRemoteSeq(newer), true);
  assert.equal(d.remoteSeq, 314160);
});

test('a sips Request-URI makes the dialog secure', () => {
  const secureInvite = request(invite.toString().replace('INVITE sip:bob', 'INVITE sips:bob'));
  assert.equal(Dialog.fromResponse(secureInvite, ok).secure, true);
});
