// The four state machines over real UDP (and TCP) on 127.0.0.1, with short timers. The far end
// is either another TransactionLayer or a raw UDP socket that plays a peer message by message,
// so retransmissions, ACKs and absorbed duplicates can be counted on the wire.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { createResponse, newBranch, parseMessage, SipRequest, SipResponse } from '../sip/index.ts';
import type { SipMessage } from '../sip/index.ts';
import { TransportLayer } from '../transport/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { TransactionLayer } from './transaction-layer.ts';
import type { ClientTransaction } from './client-transaction.ts';
import type { ServerTransaction } from './server-transaction.ts';

const TIMERS = { T1: 10, T2: 40, T4: 30, timerD: 30, trying100: 20 };
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function stack(protocol: 'udp' | 'tcp' = 'udp'): Promise<{
  transport: TransportLayer;
  layer: TransactionLayer;
  end: Endpoint;
}> {
  const transport = new TransportLayer();
  const layer = new TransactionLayer(transport, TIMERS);
  cleanups.push(async () => {
    layer.close();
    await transport.close();
  });
  const end = await transport.listen({ protocol, address: '127.0.0.1', port: 0 });
  return { transport, layer, end };
}

/** A bare UDP socket playing the far end by hand. */
class RawPeer {
  readonly messages: SipMessage[] = [];
  /** The datagrams as they came. */
  readonly raw: Buffer[] = [];
  readonly socket: UdpSocket = createSocket('udp4');
  port = 0;

  async open(): Promise<Endpoint> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
    this.port = this.socket.address().port;
    this.socket.on('message', (d) => {
      this.raw.push(d);
      this.messages.push(parseMessage(d));
    });
    cleanups.push(() => new Promise<void>((r) => this.socket.close(() => r())));
    return { protocol: 'udp', address: '127.0.0.1', port: this.port };
  }

  send(message: SipMessage | string, to: Endpoint): void {
    const data = typeof message === 'string' ? message : message.toBuffer();
    this.socket.send(data, to.port, to.address);
  }

  requests(method: string): SipRequest[] {
    return this.messages.filter(
      (m): m is SipRequest => m instanceof SipRequest && m.method === method,
    );
  }

  responses(status?: number): SipResponse[] {
    return this.messages.filter(
      (m): m is SipResponse =>
        m instanceof SipResponse && (status === undefined || m.status === status),
    );
  }
}

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function request(
  method: string,
  opts: { via?: string; cseq?: number; callId?: string } = {},
): SipRequest {
  const headers: [string, string][] = [];
  if (opts.via) headers.push(['Via', opts.via]);
  headers.push(
    ['Max-Forwards', '70'],
    ['From', '<sip:alice@127.0.0.1>;tag=f1'],
    ['To', '<sip:bob@127.0.0.1>'],
    ['Call-ID', opts.callId ?? `${newBranch()}@test`],
    ['CSeq', `${opts.cseq ?? 1} ${method}`],
    ['Contact', '<sip:alice@127.0.0.1>'],
  );
  return new SipRequest(method, 'sip:bob@127.0.0.1', headers);
}

test('non-INVITE over UDP: client and server pair, final response, both tables empty after K and J', async () => {
  const a = await stack();
  const b = await stack();
  let serverTx: ServerTransaction | undefined;
  b.layer.onRequest((req, tx) => {
    serverTx = tx;
    tx?.respond(createResponse(req, 200, undefined, { toTag: 't1' }));
  });
  const finals: number[] = [];
  let terminated = false;
  const tx = a.layer.sendRequest(request('OPTIONS'), b.end, {
    onFinal: (res) => finals.push(res.status),
    onTerminated: () => (terminated = true),
  });
  assert.equal(tx.state, 'trying');
  assert.match(tx.id, /^z9hG4bK/);
  await until('final response', () => finals.length > 0);
  assert.deepEqual(finals, [200]);
  assert.equal(tx.state, 'completed');
  assert.equal(serverTx?.state, 'completed');
  await until('both transactions ended', () => a.layer.size === 0 && b.layer.size === 0);
  assert.ok(terminated);
  assert.equal(serverTx?.state, 'terminated');
});

test('Timer E retransmits a non-INVITE request with growing intervals, Timer F times out', async () => {
  const a = await stack();
  const peer = new RawPeer();
  const to = await peer.open();
  let timedOut = false;
  let terminatedAfterTimeout = false;
  a.layer.sendRequest(request('REGISTER'), to, {
    onTimeout: () => (timedOut = true),
    onTerminated: () => (terminatedAfterTimeout = timedOut),
  });
  await until('Timer F', () => timedOut);
  assert.ok(terminatedAfterTimeout);
  const sent = peer.requests('REGISTER');
  // T1 = 10, T2 = 40, F = 640 ms: 0,10,30,70,110,... at least 5 sends, far fewer than 64.
  assert.ok(sent.length >= 5 && sent.length < 40, `sent ${sent.length}`);
  const branches = new Set(sent.map((r) => r.topVia.branch));
  assert.equal(branches.size, 1, 'retransmissions are the same request');
  assert.equal(a.layer.size, 0);
  assert.equal(a.layer.stats.timeouts, 1);
});

test('a non-INVITE server transaction absorbs retransmissions and resends its last response', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  let tuCalls = 0;
  b.layer.onRequest((req, tx) => {
    tuCalls++;
    tx?.respond(createResponse(req, 202, undefined, { toTag: 'x' }));
  });
  const req = request('MESSAGE', {
    via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${newBranch()}`,
  });
  peer.send(req, b.end);
  await until('first response', () => peer.responses(202).length === 1);
  peer.send(req, b.end);
  peer.send(req, b.end);
  await until('resent responses', () => peer.responses(202).length === 3);
  assert.equal(tuCalls, 1);
  assert.ok(b.layer.stats.absorbed >= 2);
});

test('INVITE client: a 486 is ACKed by the transaction (§17.1.1.3), a retransmitted 486 ACKed again', async () => {
  const a = await stack();
  const peer = new RawPeer();
  const to = await peer.open();
  const finals: number[] = [];
  const tx = a.layer.sendRequest(request('INVITE'), to, {
    onFinal: (res) => finals.push(res.status),
  });
  await until('INVITE', () => peer.requests('INVITE').length >= 1);
  const invite = peer.requests('INVITE')[0] as SipRequest;
  const busy = createResponse(invite, 486, undefined, { toTag: 'busy1' });
  peer.send(busy, { protocol: 'udp', address: '127.0.0.1', port: a.end.port });
  await until('ACK', () => peer.requests('ACK').length === 1);
  const ack = peer.requests('ACK')[0] as SipRequest;
  assert.equal(ack.topVia.branch, invite.topVia.branch, 'same branch as the INVITE');
  assert.equal(ack.uri, invite.uri);
  assert.equal(ack.cseq.seq, invite.cseq.seq);
  assert.equal(ack.cseq.method, 'ACK');
  assert.equal(ack.to.tag, 'busy1');
  assert.equal(ack.callId, invite.callId);
  assert.equal(ack.via.length, 1);
  assert.equal(tx.state, 'completed');
  peer.send(busy, { protocol: 'udp', address: '127.0.0.1', port: a.end.port });
  await until('second ACK', () => peer.requests('ACK').length === 2);
  assert.deepEqual(finals, [486]);
  await until('Timer D', () => a.layer.size === 0);
});

test('INVITE client: 2xx moves to Accepted (RFC 6026) and every 2xx reaches the TU until Timer M', async () => {
  const a = await stack();
  const peer = new RawPeer();
  const to = await peer.open();
  const finals: string[] = [];
  const provisional: number[] = [];
  const tx = a.layer.sendRequest(request('INVITE'), to, {
    onProvisional: (res) => provisional.push(res.status),
    onFinal: (res) => finals.push(`${res.status} ${res.to.tag}`),
  });
  await until('INVITE', () => peer.requests('INVITE').length >= 1);
  const invite = peer.requests('INVITE')[0] as SipRequest;
  const back: Endpoint = { protocol: 'udp', address: '127.0.0.1', port: a.end.port };
  peer.send(createResponse(invite, 180, undefined, { toTag: 'u1' }), back);
  await until('180', () => provisional.length === 1);
  assert.equal(tx.state, 'proceeding');
  await pause(20); // let a retransmission already on the wire land
  const sentBefore = peer.requests('INVITE').length;
  await pause(60);
  assert.equal(peer.requests('INVITE').length, sentBefore, 'no Timer A in Proceeding');
  peer.send(createResponse(invite, 200, undefined, { toTag: 'u1' }), back);
  peer.send(createResponse(invite, 200, undefined, { toTag: 'u1' }), back);
  peer.send(createResponse(invite, 200, undefined, { toTag: 'fork2' }), back);
  await until('three 2xx', () => finals.length === 3);
  assert.deepEqual(finals, ['200 u1', '200 u1', '200 fork2']);
  assert.equal(tx.state, 'accepted');
  assert.equal(peer.requests('ACK').length, 0, 'the ACK for a 2xx is the TU’s');
  await until('Timer M', () => a.layer.size === 0);
  // After the transaction, a 2xx retransmission is a stray response for the TU.
  let stray = 0;
  a.layer.onStrayResponse(() => stray++);
  peer.send(createResponse(invite, 200, undefined, { toTag: 'u1' }), back);
  await until('stray 2xx', () => stray === 1);
});

test('INVITE client: Timer A retransmits, Timer B times out when nothing answers', async () => {
  const a = await stack();
  const peer = new RawPeer();
  const to = await peer.open();
  let timedOut = false;
  a.layer.sendRequest(request('INVITE'), to, { onTimeout: () => (timedOut = true) });
  await until('Timer B', () => timedOut);
  const n = peer.requests('INVITE').length;
  // 0,10,30,70,150,310,630 ms before 640: 7 sends (doubling, no cap for INVITE).
  assert.ok(n >= 5 && n <= 8, `sent ${n}`);
  assert.equal(a.layer.size, 0);
});

test('INVITE server: 100 Trying when the TU is slow, 486 retransmitted by Timer G until the ACK', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  let serverTx: ServerTransaction | undefined;
  let tuCalls = 0;
  b.layer.onRequest((_req, tx) => {
    tuCalls++;
    serverTx = tx;
  });
  const invite = request('INVITE', {
    via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${newBranch()};rport`,
  });
  peer.send(invite, b.end);
  await until('100 Trying', () => peer.responses(100).length === 1);
  const trying = peer.responses(100)[0] as SipResponse;
  assert.equal(trying.to.tag, undefined, 'no To tag on 100 Trying');
  peer.send(invite, b.end); // a retransmission: absorbed, the 100 resent
  await until('100 resent', () => peer.responses(100).length === 2);
  assert.equal(tuCalls, 1);
  const tx = serverTx as ServerTransaction;
  tx.respond(createResponse(tx.request, 486, undefined, { toTag: 'b486' }));
  await until('486 retransmitted', () => peer.responses(486).length >= 3);
  assert.equal(tx.state, 'completed');
  const ack = new SipRequest('ACK', invite.uri, [
    ['Via', invite.get('Via') as string],
    ['Max-Forwards', '70'],
    ['From', invite.get('From') as string],
    ['To', `${invite.get('To')};tag=b486`],
    ['Call-ID', invite.callId],
    ['CSeq', `${invite.cseq.seq} ACK`],
  ]);
  peer.send(ack, b.end);
  await until('Confirmed', () => tx.state === 'confirmed');
  await pause(10); // a 486 already on the wire
  const count = peer.responses(486).length;
  peer.send(ack, b.end); // an ACK retransmission: absorbed
  await until('Timer I', () => b.layer.size === 0);
  assert.equal(peer.responses(486).length, count, 'no 486 after the ACK');
  assert.equal(tuCalls, 1, 'ACK for a non-2xx never reaches the TU');
});

test('INVITE server: Timer H reports a missing ACK', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  let timeouts = 0;
  b.layer.onRequest((req, tx) => {
    if (!tx) return;
    tx.onTimeout = () => timeouts++;
    tx.respond(createResponse(req, 603, undefined, { toTag: 'd' }));
  });
  peer.send(
    request('INVITE', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${newBranch()}` }),
    b.end,
  );
  await until('Timer H', () => timeouts === 1);
  assert.equal(b.layer.size, 0);
  assert.equal(peer.responses(100).length, 0, 'no 100 when the TU answered at once');
});

test('INVITE server: Accepted absorbs INVITE retransmissions, passes TU 2xx and ACKs to the TU', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  const seen: string[] = [];
  let serverTx: ServerTransaction | undefined;
  b.layer.onRequest((req, tx) => {
    seen.push(`${req.method} ${tx ? 'tx' : 'no-tx'}`);
    if (req.method === 'INVITE' && tx) {
      serverTx = tx;
      tx.respond(createResponse(req, 200, undefined, { toTag: 'ok' }));
    }
  });
  const branch = newBranch();
  const invite = request('INVITE', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch}` });
  peer.send(invite, b.end);
  await until('200', () => peer.responses(200).length === 1);
  const tx = serverTx as ServerTransaction;
  assert.equal(tx.state, 'accepted');
  peer.send(invite, b.end);
  await pause(30);
  assert.equal(peer.responses(200).length, 1, 'INVITE retransmission absorbed in Accepted');
  tx.respond(createResponse(invite, 200, undefined, { toTag: 'ok' })); // the TU's 2xx retransmission
  await until('TU 2xx passed on', () => peer.responses(200).length === 2);
  const ack = (b2: string): SipRequest =>
    new SipRequest('ACK', invite.uri, [
      ['Via', `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${b2}`],
      ['Max-Forwards', '70'],
      ['From', invite.get('From') as string],
      ['To', `${invite.get('To')};tag=ok`],
      ['Call-ID', invite.callId],
      ['CSeq', `${invite.cseq.seq} ACK`],
    ]);
  peer.send(ack(newBranch()), b.end); // RFC 3261 2xx ACK: its own branch
  peer.send(ack(branch), b.end); // same branch: matches the transaction in Accepted
  await until('both ACKs at the TU', () => seen.length === 3);
  assert.deepEqual(seen, ['INVITE tx', 'ACK no-tx', 'ACK no-tx']);
  await until('Timer L', () => b.layer.size === 0);
});

test("respond() returns the bytes it sent and sentBytes gives the request's, exactly as the peer got them; nothing when the state sends nothing", async () => {
  const b = await stack();
  const peer = new RawPeer();
  const peerEnd = await peer.open();
  const sent: (Buffer | undefined)[] = [];
  b.layer.onRequest((req, tx) => {
    if (req.method !== 'INVITE' || !tx) return;
    sent.push(tx.respond(createResponse(req, 180, undefined, { toTag: 'r' })));
    sent.push(tx.respond(createResponse(req, 486, undefined, { toTag: 'r' })));
    // Completed: a later response from the TU goes nowhere.
    sent.push(tx.respond(createResponse(req, 200, undefined, { toTag: 'r' })));
  });
  const invite = request('INVITE', {
    via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${newBranch()}`,
  });
  peer.send(invite, b.end);
  await until('180 and 486', () => peer.responses(486).length > 0);
  assert.equal(sent.length, 3);
  assert.ok(sent[0]!.equals(peer.raw[0]!), 'the 180 as it went');
  assert.ok(sent[1]!.equals(peer.raw[1]!), 'the 486 as it went');
  assert.equal(sent[2], undefined);

  // The client side: the bytes of the request as sent, ;rport the transport added included.
  const tx = b.layer.sendRequest(request('OPTIONS'), peerEnd, {});
  await until('OPTIONS', () => peer.requests('OPTIONS').length === 1);
  const wire = peer.raw.find((d) => d.subarray(0, 8).toString() === 'OPTIONS ')!;
  assert.match(wire.toString(), /;rport/);
  assert.ok(tx.sentBytes?.equals(wire), 'the OPTIONS as it went');
  peer.send(createResponse(peer.requests('OPTIONS')[0]!, 200, undefined, { toTag: 'o' }), b.end);
  await until('OPTIONS settled', () => tx.state !== 'trying');
  assert.equal(tx.sentBytes, undefined, 'a settled request is not sent again');

  // Outside a transaction (a proxy's forwarded ACK): prepared once, the Via added, sent as is.
  const ack = request('ACK'); // no Via: prepareStateless adds ours
  const prepared = b.layer.prepareStateless(ack, peerEnd);
  assert.match(ack.get('Via') ?? '', /;branch=z9hG4bK/);
  await b.layer.transport.sendPrepared(prepared);
  await until('ACK', () => peer.requests('ACK').length === 1);
  const ackWire = peer.raw.find((d) => d.subarray(0, 4).toString() === 'ACK ')!;
  assert.ok(prepared.buffer.equals(ackWire), 'the ACK as it went');
});

test('CANCEL matches its INVITE server transaction (§9.2)', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  let inviteTx: ServerTransaction | undefined;
  let cancelled: ServerTransaction | undefined;
  let strangerMatch: ServerTransaction | undefined | null = null;
  b.layer.onRequest((req, tx) => {
    if (!tx) return;
    if (req.method === 'INVITE') inviteTx = tx;
    if (req.method === 'CANCEL' && req.callId === 'other@test') strangerMatch = tx.invite;
    else if (req.method === 'CANCEL') {
      cancelled = tx.invite;
      tx.respond(createResponse(req, 200, undefined, { toTag: 'c' }));
      tx.invite?.respond(createResponse(tx.invite.request, 487, undefined, { toTag: 'c' }));
    }
  });
  const branch = newBranch();
  const via = `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${branch}`;
  const invite = request('INVITE', { via, callId: 'call@test' });
  peer.send(invite, b.end);
  await until('INVITE at the TU', () => inviteTx !== undefined);
  peer.send(request('CANCEL', { via, callId: 'call@test' }), b.end);
  peer.send(
    request('CANCEL', {
      via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${newBranch()}`,
      callId: 'other@test',
    }),
    b.end,
  );
  await until('487', () => peer.responses(487).length >= 1);
  assert.equal(cancelled, inviteTx);
  await until('stranger CANCEL', () => strangerMatch !== null);
  assert.equal(strangerMatch, undefined, 'a CANCEL with another branch matches nothing');
  assert.equal(peer.responses(200).length, 1);
});

test('RFC 2543 fallback: a branch without the magic cookie matches by Request-URI, tags, Call-ID, CSeq, Via', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  let tuCalls = 0;
  b.layer.onRequest((req, tx) => {
    tuCalls++;
    tx?.respond(createResponse(req, 200, undefined, { toTag: 'old' }));
  });
  const via = `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=oldstyle1`;
  const first = request('OPTIONS', { via, callId: 'legacy@test', cseq: 5 });
  peer.send(first, b.end);
  peer.send(first, b.end);
  await until('two responses', () => peer.responses(200).length === 2);
  assert.equal(tuCalls, 1, 'the duplicate matched the transaction');
  peer.send(request('OPTIONS', { via, callId: 'legacy@test', cseq: 6 }), b.end);
  await until('third response', () => peer.responses(200).length === 3);
  assert.equal(tuCalls, 2, 'another CSeq is another transaction');
  const noBranch = `SIP/2.0/UDP 127.0.0.1:${peer.port}`;
  peer.send(request('OPTIONS', { via: noBranch, callId: 'nobranch@test' }), b.end);
  peer.send(request('OPTIONS', { via: noBranch, callId: 'nobranch@test' }), b.end);
  await until('no-branch responses', () => peer.responses(200).length === 5);
  assert.equal(tuCalls, 3);
  // RFC 4475 §3.2.1 (badbranch): the magic cookie alone is matched the RFC 2543 way too.
  const cookieOnly = `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bK`;
  peer.send(request('OPTIONS', { via: cookieOnly, callId: 'cookie-a@test' }), b.end);
  peer.send(request('OPTIONS', { via: cookieOnly, callId: 'cookie-b@test' }), b.end);
  await until('cookie-only responses', () => peer.responses(200).length === 7);
  assert.equal(tuCalls, 5, 'two Call-IDs with the bare cookie are two transactions');
});

test('transport errors reach the TU and end the transaction', async () => {
  const a = await stack('tcp');
  // a port with nothing listening
  const probe = createServer();
  const port = await new Promise<number>((resolve) =>
    probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)),
  );
  await new Promise<void>((r) => probe.close(() => r()));
  let error: Error | undefined;
  let tx: ClientTransaction | undefined;
  await new Promise<void>((resolve) => {
    tx = a.layer.sendRequest(
      request('OPTIONS'),
      { protocol: 'tcp', address: '127.0.0.1', port },
      {
        onTransportError: (err) => (error = err),
        onTerminated: () => resolve(),
      },
    );
  });
  assert.ok(error);
  assert.equal(tx?.state, 'terminated');
  assert.equal(a.layer.size, 0);
  assert.equal(a.layer.stats.transportErrors, 1);
});

test('over TCP nothing is retransmitted and Completed ends at once (timers K, J, D, I are 0)', async () => {
  const a = await stack('tcp');
  const b = await stack('tcp');
  let serverEnded = false;
  b.layer.onRequest((req, tx) => {
    if (!tx) return;
    tx.onTerminated = () => (serverEnded = true);
    tx.respond(createResponse(req, req.method === 'INVITE' ? 480 : 200, undefined, { toTag: 'r' }));
  });
  const finals: number[] = [];
  a.layer.sendRequest(request('OPTIONS'), b.end, { onFinal: (r) => finals.push(r.status) });
  a.layer.sendRequest(request('INVITE'), b.end, { onFinal: (r) => finals.push(r.status) });
  await until('both finals', () => finals.length === 2);
  await until('all ended', () => a.layer.size === 0 && b.layer.size === 0);
  assert.ok(serverEnded);
  assert.equal(a.layer.stats.retransmissions, 0);
  assert.equal(b.layer.stats.retransmissions, 0);
});

test('a TU that throws on an INVITE: 500 is sent for it and the transaction still ends', async () => {
  const b = await stack();
  const peer = new RawPeer();
  await peer.open();
  const errors: string[] = [];
  b.transport.onError((err) => errors.push(err.message));
  b.layer.onRequest(() => {
    throw new Error('TU bug');
  });
  peer.send(
    request('INVITE', { via: `SIP/2.0/UDP 127.0.0.1:${peer.port};branch=${newBranch()}` }),
    b.end,
  );
  await until('the 500', () => peer.responses(500).length > 0);
  assert.deepEqual(errors, ['TU bug'], 'the failure is still reported');
  assert.equal(peer.responses(100).length, 0);
  // Completed -> Timer H (64*T1) ends it even without an ACK: nothing waits forever.
  await until('the table empty', () => b.layer.size === 0);
});

test('endpoint(): one shared object per place, so settled transactions do not each keep a copy', async () => {
  const { layer } = await stack();
  const a = layer.endpoint({ protocol: 'udp', address: '192.0.2.7', port: 5060 });
  const b = layer.endpoint({ protocol: 'udp', address: '192.0.2.7', port: 5060 });
  assert.equal(a, b, 'equal endpoints give one object');
  assert.deepEqual(a, { protocol: 'udp', address: '192.0.2.7', port: 5060 });
  assert.notEqual(layer.endpoint({ protocol: 'tcp', address: '192.0.2.7', port: 5060 }), a);
  assert.notEqual(layer.endpoint({ protocol: 'udp', address: '192.0.2.7', port: 5061 }), a);
  // Bounded: many distinct places do not grow it without end; answers stay right after a reset.
  for (let i = 0; i < 10_000; i++)
    layer.endpoint({ protocol: 'udp', address: '10.0.0.1', port: i });
  const again = layer.endpoint({ protocol: 'udp', address: '192.0.2.7', port: 5060 });
  assert.deepEqual(again, a);
  assert.equal(layer.endpoint({ protocol: 'udp', address: '192.0.2.7', port: 5060 }), again);
});
