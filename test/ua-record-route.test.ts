// Record-Route and the dialog route set (RFC 3261 §12.1.1, §12.1.2, §12.2.1.1, §16.6 step 4):
// two user agents talk through two tiny record-routing forwarders on loopback UDP
// (alice -> P1 -> P2 -> bob). The callee must copy Record-Route into its 180 and 200, the caller
// must reverse it into its route set, and every in-dialog request (ACK, re-INVITE, BYE, from
// either side) must then go through both forwarders with loose routing.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createResponse, newBranch, parseMessage, SipRequest } from '../src/sip/index.ts';
import { UserAgent, type IncomingCall } from '../src/ua/index.ts';

/** A stateless record-routing forwarder (just enough of §16 for the test). */
class Forwarder {
  /** Requests seen, as 'METHOD' (in arrival order). */
  readonly requests: string[] = [];
  /** Responses seen, as 'STATUS METHOD'. */
  readonly responses: string[] = [];
  private readonly socket: Socket = createSocket('udp4');
  port = 0;
  /** The next forwarder for dialog-creating requests, if any (a Route is pushed toward it). */
  next: Forwarder | undefined;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
    this.port = this.socket.address().port;
    this.socket.on('message', (data) => this.onMessage(data));
  }

  get uri(): string {
    return `sip:127.0.0.1:${this.port};lr`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private isMe(host: string, port: number | undefined): boolean {
    return host === '127.0.0.1' && port === this.port;
  }

  private onMessage(data: Buffer): void {
    const msg = parseMessage(data);
    if (msg instanceof SipRequest) {
      this.requests.push(msg.method);
      const top = msg.route[0];
      if (top && this.isMe(top.uri.host, top.uri.port)) msg.removeFirst('Route');
      const initial = msg.to.tag === undefined;
      if (initial && msg.method === 'INVITE') {
        msg.prepend('Record-Route', `<${this.uri}>`);
        if (this.next) msg.prepend('Route', `<${this.next.uri}>`);
      }
      const target = msg.route[0]?.uri ?? msg.requestUri;
      msg.prepend('Via', `SIP/2.0/UDP 127.0.0.1:${this.port};branch=${newBranch()}`);
      this.socket.send(msg.toBuffer(), target.port ?? 5060, target.host);
      return;
    }
    this.responses.push(`${msg.status} ${msg.cseq.method}`);
    msg.removeFirst('Via');
    const via = msg.via[0];
    const port = typeof via.rport === 'number' ? via.rport : (via.port ?? 5060);
    this.socket.send(msg.toBuffer(), port, via.received ?? via.host);
  }
}

let alice: UserAgent;
let bob: UserAgent;
let p1: Forwarder;
let p2: Forwarder;

async function setUp(): Promise<string> {
  p1 = new Forwarder();
  p2 = new Forwarder();
  await p1.start();
  await p2.start();
  p1.next = p2;
  // alice sends her out-of-dialog requests to P1 (outbound proxy); bob knows no proxy at all.
  alice = new UserAgent({
    uri: 'sip:alice@127.0.0.1',
    server: `udp:127.0.0.1:${p1.port}`,
    listen: 'udp:127.0.0.1:0',
  });
  bob = new UserAgent({ uri: 'sip:bob@127.0.0.1', listen: 'udp:127.0.0.1:0' });
  await alice.start();
  await bob.start();
  const port = bob.listening.find((e) => e.protocol === 'udp')?.port;
  return `sip:bob@127.0.0.1:${port}`;
}

afterEach(async () => {
  await alice.stop();
  await bob.stop();
  await p1.close();
  await p2.close();
});

function nextInvite(ua: UserAgent): Promise<IncomingCall> {
  return new Promise((resolve) => ua.once('invite', resolve));
}

test('the callee copies Record-Route into 180 and 200; the caller reverses it into its route set', async () => {
  const bobUri = await setUp();
  const incoming = nextInvite(bob);
  const ringingRoutes: string[][] = [];
  const answering = incoming.then((c) => {
    c.ring();
    return c.accept({ body: 'v=0\r\n' });
  });
  const call = await alice.invite(bobUri, {
    onCall: (c) => c.on('ringing', (res) => ringingRoutes.push(res.getAll('Record-Route'))),
  });
  const bobCall = await incoming;
  assert.equal(await answering, true, 'the ACK reached bob');
  const rr = [`<${p2.uri}>`, `<${p1.uri}>`];
  assert.deepEqual(bobCall.request.getAll('Record-Route'), rr, 'the INVITE was record-routed');
  assert.deepEqual(ringingRoutes, [rr], '180 carries the Record-Route (§12.1.1)');
  // UAS: Record-Route order; UAC: reversed (§12.1.1, §12.1.2).
  assert.deepEqual(bobCall.dialog?.routeSet, rr);
  assert.deepEqual(call.dialog?.routeSet, [`<${p1.uri}>`, `<${p2.uri}>`]);
  // The ACK for the 2xx went alice -> P1 -> P2 -> bob, not straight to bob's Contact.
  assert.deepEqual(p1.requests, ['INVITE', 'ACK']);
  assert.deepEqual(p2.requests, ['INVITE', 'ACK']);
  assert.ok(p1.responses.includes('200 INVITE') && p1.responses.includes('180 INVITE'));

  // A re-INVITE and the BYE from the caller take the same path.
  const re = await call.reinvite({ body: 'v=0\r\no=again\r\n' });
  assert.equal(re.status, 200);
  const bobEnded = bobCall.whenEnded();
  assert.equal(await call.bye(), 200);
  assert.equal((await bobEnded).by, 'remote');
  for (const p of [p1, p2]) {
    assert.deepEqual(p.requests, ['INVITE', 'ACK', 'INVITE', 'ACK', 'BYE']);
    assert.ok(p.responses.includes('200 BYE'));
  }
});

test("the callee's BYE follows its route set (P2 then P1) back to the caller", async () => {
  const bobUri = await setUp();
  const incoming = nextInvite(bob);
  const answering = incoming.then((c) => c.accept());
  const call = await alice.invite(bobUri);
  const bobCall = await incoming;
  assert.equal(await answering, true);
  const aliceEnded = call.whenEnded();
  assert.equal(await bobCall.bye(), 200);
  assert.equal((await aliceEnded).by, 'remote');
  assert.deepEqual(p2.requests, ['INVITE', 'ACK', 'BYE']);
  assert.deepEqual(p1.requests, ['INVITE', 'ACK', 'BYE']);
  assert.ok(p2.responses.includes('200 BYE') && p1.responses.includes('200 BYE'));
});

test('the route set comes from the 2xx, not from an earlier 180 of the same dialog (§13.2.2.4)', async () => {
  // No forwarders here: a scripted UAS on a raw socket that record-routes itself in the 200 but
  // names an unreachable proxy in its 180. The ACK and BYE must follow the 200's route set.
  p1 = new Forwarder();
  p2 = new Forwarder();
  await p1.start();
  await p2.start();
  alice = new UserAgent({ uri: 'sip:alice@127.0.0.1', listen: 'udp:127.0.0.1:0' });
  bob = new UserAgent({ uri: 'sip:bob@127.0.0.1', listen: 'udp:127.0.0.1:0' });
  await alice.start();
  await bob.start();
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const port = sock.address().port;
  const seen: { method: string; routes: string[] }[] = [];
  sock.on('message', (buf, rinfo) => {
    const msg = parseMessage(buf);
    if (!(msg instanceof SipRequest)) return;
    seen.push({ method: msg.method, routes: msg.getAll('Route') });
    const reply = (status: number, rr: string) => {
      const res = createResponse(msg, status, undefined, { toTag: 'uas' });
      res.set('Contact', `<sip:uas@127.0.0.1:${port}>`);
      if (rr) res.set('Record-Route', rr);
      sock.send(res.toBuffer(), rinfo.port, rinfo.address);
    };
    if (msg.method === 'INVITE') {
      reply(180, '<sip:proxy.invalid;lr>');
      setTimeout(() => reply(200, `<sip:127.0.0.1:${port};lr>`), 20);
    } else if (msg.method === 'BYE') reply(200, '');
  });
  try {
    const call = await alice.invite(`sip:uas@127.0.0.1:${port}`);
    assert.deepEqual(call.dialog?.routeSet, [`<sip:127.0.0.1:${port};lr>`]);
    assert.equal(await call.bye(), 200);
    const inDialog = seen.filter((s) => s.method !== 'INVITE');
    assert.deepEqual(inDialog, [
      { method: 'ACK', routes: [`<sip:127.0.0.1:${port};lr>`] },
      { method: 'BYE', routes: [`<sip:127.0.0.1:${port};lr>`] },
    ]);
  } finally {
    sock.close();
  }
});
