// Two user agents in one process, on loopback UDP/TCP: calls answered, rejected, cancelled,
// re-INVITEd and hung up from either side, and OPTIONS.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { createResponse, parseMessage, SipParseError, SipRequest } from '../src/sip/index.ts';
import { CallFailedError, UserAgent, type CallEnd, type IncomingCall } from '../src/ua/index.ts';

let alice: UserAgent;
let bob: UserAgent;
let bobUri = '';

async function pair(transport: 'udp' | 'tcp'): Promise<void> {
  alice = new UserAgent({
    uri: 'sip:alice@127.0.0.1',
    transport,
    listen: `${transport}:127.0.0.1:0`,
  });
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
  await assert.rejects(
    attempt,
    (err: unknown) => err instanceof CallFailedError && err.status === 487,
  );
  const end = await (await incoming).whenEnded();
  assert.deepEqual(end, { status: 487, reason: 'Request Terminated', by: 'remote' });
});

test('re-INVITE updates the session; the callee then hangs up', async () => {
  const incoming = nextInvite(bob);
  void incoming.then((c) => c.accept({ body: 'v=0\r\ns=bob\r\n' }));
  const call = await alice.invite(bobUri, { body: 'v=0\r\ns=first\r\n' });
  const bobCall = await incoming;
  const reinvited = new Promise<string>((resolve) =>
    bobCall.once('reinvite', (req) => resolve(req.body.toString())),
  );
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
  for (const m of ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS'])
    assert.ok(res.allow.includes(m), m);
});

test('an INVITE nobody listens for is answered 480', async () => {
  await assert.rejects(
    alice.invite(bobUri),
    (err: unknown) => err instanceof CallFailedError && err.status === 480,
  );
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

test('a retransmitted 2xx gets the same ACK again (RFC 3261 §13.2.2.4)', async () => {
  // A scripted UAS on a raw UDP socket: answers the INVITE with 200, sends that 200 again 50 ms
  // later (as if our ACK were lost), records ACKs, answers BYE.
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = (sock.address() as AddressInfo).port;
  const acks: string[] = [];
  sock.on('message', (buf, rinfo) => {
    const msg = parseMessage(buf);
    if (!(msg instanceof SipRequest)) return;
    const reply = (status: number) => {
      const res = createResponse(msg, status, undefined, { toTag: 'scripted' });
      res.set('Contact', `<sip:uas@127.0.0.1:${port}>`);
      return res.toBuffer();
    };
    if (msg.method === 'INVITE') {
      const ok = reply(200);
      sock.send(ok, rinfo.port, rinfo.address);
      setTimeout(() => sock.send(ok, rinfo.port, rinfo.address), 50);
    } else if (msg.method === 'ACK') {
      acks.push(msg.topVia.branch ?? '');
    } else if (msg.method === 'BYE') {
      sock.send(reply(200), rinfo.port, rinfo.address);
    }
  });
  try {
    const call = await alice.invite(`sip:uas@127.0.0.1:${port}`);
    for (let i = 0; i < 100 && acks.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(acks.length, 2, 'one ACK per 2xx received');
    assert.equal(acks[0], acks[1], 'the very same ACK is sent again');
    assert.equal(await call.bye(), 200);
  } finally {
    sock.close();
  }
});

test('a 2xx from a second fork is ACKed and that dialog is ended with BYE', async () => {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = (sock.address() as AddressInfo).port;
  const seen: string[] = [];
  sock.on('message', (buf, rinfo) => {
    const msg = parseMessage(buf);
    if (!(msg instanceof SipRequest)) return;
    const reply = (tag: string) => {
      const res = createResponse(msg, 200, undefined, { toTag: tag });
      res.set('Contact', `<sip:${tag}@127.0.0.1:${port}>`);
      return res.toBuffer();
    };
    if (msg.method === 'INVITE') {
      sock.send(reply('first'), rinfo.port, rinfo.address);
      setTimeout(() => sock.send(reply('second'), rinfo.port, rinfo.address), 30);
    } else {
      seen.push(`${msg.method} ${msg.to.tag ?? ''}`);
      if (msg.method === 'BYE') sock.send(reply(msg.to.tag ?? ''), rinfo.port, rinfo.address);
    }
  });
  try {
    const call = await alice.invite(`sip:uas@127.0.0.1:${port}`);
    assert.equal(call.dialog?.remoteTag, 'first');
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ['ACK first', 'ACK second', 'BYE second']);
    assert.equal(call.state, 'answered', 'the first dialog stays up');
    assert.equal(await call.bye(), 200);
    assert.equal(seen.at(-1), 'BYE first');
  } finally {
    sock.close();
  }
});

test('an INVITE with a broken or missing Contact is answered 400 and never reaches the app', async () => {
  const bobPort = bob.listening.find((e) => e.protocol === 'udp')?.port ?? 0;
  let invites = 0;
  bob.on('invite', (c) => {
    invites++;
    void c.accept();
  });
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = (sock.address() as AddressInfo).port;
  const answers: string[] = [];
  sock.on('message', (buf) => {
    const msg = parseMessage(buf);
    if (!(msg instanceof SipRequest) && msg.status >= 200)
      answers.push(`${msg.status} ${msg.reason}`);
  });
  const invite = (n: number, contact?: string) => {
    const headers: [string, string][] = [
      ['Via', `SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-bad-contact-${n}`],
      ['Max-Forwards', '70'],
      ['From', `<sip:mallory@127.0.0.1>;tag=m${n}`],
      ['To', '<sip:bob@127.0.0.1>'],
      ['Call-ID', `bad-contact-${n}`],
      ['CSeq', '1 INVITE'],
    ];
    if (contact !== undefined) headers.push(['Contact', contact]);
    sock.send(new SipRequest('INVITE', bobUri, headers).toBuffer(), bobPort, '127.0.0.1');
  };
  try {
    invite(1, '<sip:mallory@127.0.0.1'); // unclosed bracket
    invite(2); // none
    invite(3, '<mailto:mallory@example.com>');
    for (let i = 0; i < 100 && answers.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(answers.length, 3, answers.join(' | '));
    assert.ok(
      answers.every((a) => a.startsWith('400 ')),
      answers.join(' | '),
    );
    assert.ok(
      answers.some((a) => a === '400 Missing Contact'),
      answers.join(' | '),
    );
    // The unclosed bracket is caught by the parser already (the transport answers it).
    assert.ok(
      answers.every((a) => a.includes('Contact')),
      answers.join(' | '),
    );
    assert.equal(invites, 0);
    assert.equal(bob.activeCalls.length, 0);
  } finally {
    sock.close();
  }
});

test('a target that is not a valid URI is refused before anything is sent', async () => {
  await assert.rejects(alice.invite('bob smith'), SipParseError);
  await assert.rejects(alice.invite('sip:<<>>'), /Invalid URI/);
  await assert.rejects(alice.options('sip:bob@'), SipParseError);
  assert.equal(alice.activeCalls.length, 0);
});
