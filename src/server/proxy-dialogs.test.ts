import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, parseUri, SipRequest, SipResponse } from '../sip/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { ProxyDialogs, ROUTE_TOKEN_PARAM } from './proxy-dialogs.ts';

const CALL = 'dlg-1@10.0.0.1';
const caller: Endpoint = { protocol: 'udp', address: '10.0.0.1', port: 5060 };
const callee: Endpoint = { protocol: 'udp', address: '10.0.0.2', port: 5070 };

function message(lines: string[]): SipRequest | SipResponse {
  return parseMessage(Buffer.from([...lines, 'Content-Length: 0', '', ''].join('\r\n')));
}

function invite(): SipRequest {
  return message([
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKcaller1',
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a1',
    'To: <sip:bob@example.com>',
    `Call-ID: ${CALL}`,
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@10.0.0.1:5060>',
  ]) as SipRequest;
}

/** A response from the callee to the INVITE, our Record-Route (with `token`) echoed. */
function answer(status: string, toTag: string, contact: string, token: string): SipResponse {
  return message([
    `SIP/2.0 ${status}`,
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKcaller1',
    `Record-Route: <sip:127.0.0.1:5060;lr;${ROUTE_TOKEN_PARAM}=${token}>`,
    'From: <sip:alice@example.com>;tag=a1',
    `To: <sip:bob@example.com>;tag=${toTag}`,
    `Call-ID: ${CALL}`,
    'CSeq: 1 INVITE',
    `Contact: <${contact}>`,
  ]) as SipResponse;
}

/** An in-dialog request from the caller toward the callee tagged `toTag`. */
function fromCaller(method: string, toTag: string): SipRequest {
  return message([
    `${method} sip:bob@10.0.0.2:5070 SIP/2.0`,
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKcaller2',
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a1',
    `To: <sip:bob@example.com>;tag=${toTag}`,
    `Call-ID: ${CALL}`,
    `CSeq: 2 ${method}`,
  ]) as SipRequest;
}

/** How `dialogs` routes an in-dialog request from the caller (`method`, to the callee tagged
 * `toTag`) whose next hop is `next`, having come through our Route. */
function routeFromCaller(dialogs: ProxyDialogs, method: string, toTag: string, next: string) {
  return dialogs.route(fromCaller(method, toTag), parseUri(next), true, false);
}

test('an 18x sets up an early dialog a request can follow; its 2xx moves the callee to its Contact', () => {
  const dialogs = new ProxyDialogs(Buffer.alloc(32, 1));
  const token = dialogs.begin(invite(), { endpoint: caller });
  assert.equal(dialogs.begin(invite(), { endpoint: caller }), token, 'one token per dialog');

  dialogs.response(answer('180 Ringing', 'b1', 'sip:bob@10.0.0.2:5070', token), callee);
  const early = routeFromCaller(dialogs, 'UPDATE', 'b1', 'sip:bob@10.0.0.2:5070');
  assert.equal(early.ok, true);
  if (early.ok) {
    assert.equal(early.towardCallee, true);
    assert.equal(early.toward.hop, 'sip:bob@10.0.0.2:5070');
    assert.deepEqual(early.toward.endpoint, callee);
  }
  // A participant may not send the dialog's requests on to a third host.
  const elsewhere = routeFromCaller(dialogs, 'UPDATE', 'b1', 'sip:x@10.9.9.9');
  assert.deepEqual(elsewhere.ok ? 'routed' : elsewhere.status, 403);
  // What would be stored with the CDR is the early side until a 2xx comes.
  assert.equal(dialogs.record(CALL, 'b1')?.callee.hop, 'sip:bob@10.0.0.2:5070');

  dialogs.response(answer('200 OK', 'b1', 'sip:bob@10.0.0.2:5080', token), callee);
  const record = dialogs.record(CALL, 'b1');
  assert.equal(record?.callee.hop, 'sip:bob@10.0.0.2:5080', "the 2xx's Contact");
  assert.equal(record?.caller.hop, 'sip:alice@10.0.0.1:5060');
  const bye = routeFromCaller(dialogs, 'BYE', 'b1', 'sip:bob@10.0.0.2:5080');
  assert.equal(bye.ok, true);

  dialogs.end(CALL);
  const gone = routeFromCaller(dialogs, 'BYE', 'b1', 'sip:bob@10.0.0.2:5080');
  assert.deepEqual(gone.ok ? 'routed' : gone.status, 481);
});

test('a fork that fails leaves no early dialog; an unknown tag and a forged token get nowhere', () => {
  const dialogs = new ProxyDialogs(Buffer.alloc(32, 2));
  const token = dialogs.begin(invite(), { endpoint: caller });
  dialogs.response(answer('180 Ringing', 'b2', 'sip:bob@10.0.0.2:5070', token), callee);
  dialogs.response(answer('486 Busy Here', 'b2', 'sip:bob@10.0.0.2:5070', token), callee);
  const failed = routeFromCaller(dialogs, 'UPDATE', 'b2', 'sip:bob@10.0.0.2:5070');
  assert.deepEqual(failed.ok ? 'routed' : failed.status, 481);
  assert.equal(dialogs.record(CALL, 'b2'), undefined);
  const unknown = routeFromCaller(dialogs, 'UPDATE', 'zz', 'sip:bob@10.0.0.2:5070');
  assert.deepEqual(unknown.ok ? 'routed' : unknown.status, 481);

  const ours = parseUri(`sip:127.0.0.1:5060;lr;${ROUTE_TOKEN_PARAM}=${token}`);
  assert.equal(dialogs.validToken(ours, fromCaller('BYE', 'b2')), true);
  const forged = parseUri(`sip:127.0.0.1:5060;lr;${ROUTE_TOKEN_PARAM}=AAAAAAAAAAAAAAAA`);
  assert.equal(dialogs.validToken(forged, fromCaller('BYE', 'b2')), false);
  // Another server's secret signs other tokens.
  assert.notEqual(new ProxyDialogs(Buffer.alloc(32, 3)).token(CALL, 'a1'), token);
});
