// Two user agents in one process, on loopback UDP/TCP: calls answered, rejected, cancelled,
// re-INVITEd and hung up from either side, and OPTIONS.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { CallFailedError, UserAgent, type CallEnd, type IncomingCall } from '../src/ua/index.ts';

let alice: UserAgent;
let bob: UserAgent;
let bobUri = '';

async function pair(transport: 'udp' | 'tcp'): Promise<void> {
  alice = new UserAgent({ uri: 'sip:alice@127.0.0.1', transport, listen: `${transport}:127.0.0.1:0` });
  bob = new UserAgent({ uri: 'sip:bob@127.0.0.1', transport, listen: `${transport}:127.0.0.1:0` });
  await alice.start();
  await bob.start();
  const port = bob.listening.find((e) => e.protocol === transport)?.port;
  bobUri = `sip:bob@127.0.0.1:${port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
}

beforeEach(() => pair('udp'));
afterEach(async () => {
  await alice.stop();
  await bob.stop();
});

function nextInvite(ua: UserAgent): Promise<IncomingCall> {
  return new Promise((resolve) => ua.once('invite', resolve));
}

test('a call is rung, answered and hung up by the caller', async () => {
  const incoming = nextInvite(bob);
  const ringing: number[] = [];
  const answering = incoming.then((call) => {
    call.ring();
    return call.accept({ body: 'v=0\r\n' });
  });
  const call = await alice.invite(bobUri, {
    body: 'v=0\r\no=offer\r\n',
    onCall: (c) => c.on('ringing', (res) => ringing.push(res.status)),
  });
  assert.equal(call.state, 'answered');
  assert.deepEqual(ringing, [180]);
  assert.equal(call.remoteBody?.toString(), 'v=0\r\n');
  const bobCall = await incoming;
  assert.equal(await answering, true, 'the callee saw the ACK');
  assert.equal(bobCall.remoteBody?.toString(), 'v=0\r\no=offer\r\n');
  const bobEnded = bobCall.whenEnded();
  assert.equal(await call.bye(), 200);
  assert.deepEqual(await bobEnded, { status: 200, reason: 'BYE', by: 'remote' } satisfies CallEnd);
  assert.equal((await call.whenEnded()).by, 'local');
  assert.equal(alice.activeCalls.length + bob.activeCalls.length, 0);
});

test('a rejected call rejects invite() with the final status', async () => {
  bob.once('invite', (c) => c.reject(486));
  await assert.rejects(alice.invite(bobUri), (err: unknown) => {
    assert.ok(err instanceof CallFailedError);
    assert.equal(err.status, 486);
    return true;
  });
});

test('CANCEL after ringing ends both sides with 487', async () => {
  const incoming = nextInvite(bob);
  void incoming.then((c) => c.ring());
  const attempt = alice.invite(bobUri, {
    onCall: (c) => c.once('ringing', () => void c.cancel()),
  });
  await assert.rejects(attempt, (err: unknown) => err instanceof CallFailedError && err.status === 487);
  const end = await (await incoming).whenEnded();
  assert.deepEqual(end, { status: 487, reason: 'Request Terminated', by: 'remote' });
});

test('re-INVITE updates the session; the callee then hangs up', async () => {
  const incoming = nextInvite(bob);
  void incoming.then((c) => c.accept({ body: 'v=0\r\ns=bob\r\n' }));
  const call = await alice.invite(bobUri, { body: 'v=0\r\ns=first\r\n' });
  const bobCall = await incoming;
  const reinvited = new Promise<string>((resolve) => bobCall.once('reinvite', (req) => resolve(req.body.toString())));
  const res = await call.reinvite({ body: 'v=0\r\ns=second\r\n' });
  assert.equal(res.status, 200);
  assert.equal(await reinvited, 'v=0\r\ns=second\r\n');
  assert.equal(res.body.toString(), 'v=0\r\ns=bob\r\n');
  const aliceEnded = call.whenEnded();
  await bobCall.bye();
  assert.equal((await aliceEnded).by, 'remote');
});

test('OPTIONS is answered 200 with Allow', async () => {
  const res = await alice.options(bobUri);
  assert.equal(res.status, 200);
  for (const m of ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS']) assert.ok(res.allow.includes(m), m);
});

test('an INVITE nobody listens for is answered 480', async () => {
  await assert.rejects(alice.invite(bobUri), (err: unknown) => err instanceof CallFailedError && err.status === 480);
});

test('calls work over TCP too', async () => {
  await alice.stop();
  await bob.stop();
  await pair('tcp');
  bob.once('invite', (c) => void c.accept());
  const call = await alice.invite(bobUri);
  assert.equal(call.state, 'answered');
  assert.equal(await call.bye(), 200);
});
