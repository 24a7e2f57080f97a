// Regression for issue 17 (proxy memory): a transaction that only absorbs retransmissions keeps
// its key and the bytes it needs, not the parsed messages or the TU's handlers. Over real UDP on
// 127.0.0.1 with short timers; whether an object was let go is asked of the garbage collector
// (WeakRef after a full collection), and what the transaction still answers is checked on the wire.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createResponse, newBranch, parseMessage, SipRequest, SipResponse } from '../sip/index.ts';
import { TransportLayer } from '../transport/index.ts';
import type { Endpoint } from '../transport/index.ts';
import { TransactionLayer } from './transaction-layer.ts';
import type { ServerTransaction } from './server-transaction.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Timer J and K long enough to look at the transaction in Completed. */
const TIMERS = { T1: 50, T2: 200, T4: 3000, timerD: 3000, trying100: 100 };
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function stack(
  retain: 'messages' | 'minimum' = 'messages',
): Promise<{ layer: TransactionLayer; end: Endpoint }> {
  const transport = new TransportLayer();
  const layer = new TransactionLayer(transport, TIMERS, { retain });
  cleanups.push(async () => {
    layer.close();
    await transport.close();
  });
  const end = await transport.listen({ protocol: 'udp', address: '127.0.0.1', port: 0 });
  return { layer, end };
}

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A full collection once the current job's WeakRef targets are released (a macrotask later). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 10));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

function message(method: string, via?: string): SipRequest {
  const headers: [string, string][] = via === undefined ? [] : [['Via', via]];
  return new SipRequest(method, 'sip:bob@127.0.0.1', [
    ...headers,
    ['Max-Forwards', '70'],
    ['From', '<sip:alice@127.0.0.1>;tag=f1'],
    ['To', '<sip:bob@127.0.0.1>'],
    ['Call-ID', `${newBranch()}@test`],
    ['CSeq', `1 ${method}`],
  ]);
}

/**
 * A layer retaining the minimum (a) and one answering every request 200 with `toTag` (b);
 * `uas()` is b's last server transaction.
 */
async function minimumToAnsweringUas(toTag: string): Promise<{
  a: { layer: TransactionLayer; end: Endpoint };
  b: { layer: TransactionLayer; end: Endpoint };
  uas: () => ServerTransaction;
}> {
  const a = await stack('minimum');
  const b = await stack();
  let last: ServerTransaction | undefined;
  b.layer.onRequest((req, tx) => {
    if (!tx) return;
    last = tx;
    tx.respond(createResponse(req, 200, undefined, { toTag }));
  });
  return { a, b, uas: () => last! };
}

/** A bare UDP socket on 127.0.0.1 playing the far end; what it receives, in order. */
async function udpPeer(): Promise<{ peer: Socket; received: Buffer[]; port: number }> {
  const peer = createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => peer.close(() => r())));
  const received: Buffer[] = [];
  peer.on('message', (d) => received.push(d));
  return { peer, received, port: peer.address().port };
}

test('a Completed non-INVITE server transaction keeps the bytes of its response, not the parsed messages', async () => {
  const b = await stack();
  const { peer, received, port } = await udpPeer();

  let tx: ServerTransaction | undefined;
  let requestRef: WeakRef<SipRequest> | undefined;
  let responseRef: WeakRef<SipResponse> | undefined;
  b.layer.onRequest((req, serverTx) => {
    tx = serverTx;
    requestRef = new WeakRef(req);
    const res = createResponse(req, 202, 'Accepted Here', { toTag: 'x1' });
    res.set('X-Kept', 'bytes');
    responseRef = new WeakRef(res);
    serverTx?.respond(res);
  });
  const req = message('MESSAGE', `SIP/2.0/UDP 127.0.0.1:${port};branch=${newBranch()}`);
  const bytes = req.toBuffer();
  peer.send(bytes, b.end.port, b.end.address);
  await until('the response', () => received.length === 1);
  assert.equal(tx?.state, 'completed');
  assert.ok(await collected(requestRef!), 'the parsed request is let go in Completed');
  assert.ok(await collected(responseRef!), 'the parsed response is let go in Completed');

  // Retransmissions are still answered, with the very bytes sent first (Timer J is running).
  peer.send(bytes, b.end.port, b.end.address);
  peer.send(bytes, b.end.port, b.end.address);
  await until('the resent responses', () => received.length === 3);
  assert.deepEqual(received[1], received[0]);
  assert.deepEqual(received[2], received[0]);
  assert.equal(b.layer.stats.absorbed, 2);

  // A TU that still asks gets them back, parsed from those bytes.
  assert.equal(tx!.request.callId, req.callId);
  assert.equal(tx!.request.method, 'MESSAGE');
  assert.equal(tx!.inbound.source.port, port);
  assert.equal(tx!.lastResponse?.status, 202);
  assert.equal(tx!.lastResponse?.get('X-Kept'), 'bytes');
  assert.equal(tx!.state, 'completed');
});

test('a Completed client transaction lets go of the TU handlers (all but onTerminated) and its parsed messages', async () => {
  const a = await stack();
  const b = await stack();
  b.layer.onRequest((req, tx) => tx?.respond(createResponse(req, 200, undefined, { toTag: 't' })));

  // The TU's per-request state, reachable only through the handlers given to the transaction.
  let stateRef: WeakRef<object> | undefined;
  let requestRef: WeakRef<SipRequest> | undefined;
  let finals = 0;
  let terminated = false;
  // Made outside the scope holding the TU state (closures of one scope share their variables).
  const onTerminated = (): void => {
    terminated = true;
  };
  const tx = ((): ReturnType<TransactionLayer['sendRequest']> => {
    const tuState = { big: Buffer.alloc(64 * 1024) };
    stateRef = new WeakRef(tuState);
    const req = message('OPTIONS');
    requestRef = new WeakRef(req);
    return a.layer.sendRequest(req, b.end, {
      onFinal: () => {
        finals += tuState.big.length > 0 ? 1 : 0;
      },
      onTerminated,
    });
  })();
  const branch = tx.id;
  await until('the final response', () => finals === 1);
  assert.equal(tx.state, 'completed');
  assert.ok(await collected(stateRef!), 'the handlers (and what they hold) are let go');
  assert.ok(await collected(requestRef!), 'the parsed request is let go');

  // What a TU may still ask is there, parsed again from the bytes sent and received.
  assert.equal(tx.request.topVia.branch, branch);
  assert.equal(tx.request.method, 'OPTIONS');
  assert.equal(tx.lastResponse?.status, 200);
  assert.equal(parseMessage(tx.request.toBuffer()).callId, tx.request.callId);

  // onTerminated still comes, once Timer K ends the transaction.
  await until('Timer K', () => terminated, 10_000);
  assert.equal(a.layer.size, 0);
});

test('an Accepted INVITE server transaction lets go of the parsed 2xx and still passes the TU its 2xx retransmissions', async () => {
  const b = await stack();
  const { peer, received, port } = await udpPeer();

  let tx: ServerTransaction | undefined;
  let responseRef: WeakRef<SipResponse> | undefined;
  b.layer.onRequest((req, serverTx) => {
    if (!serverTx) return;
    tx = serverTx;
    const ok = createResponse(req, 200, undefined, { toTag: 'a1' });
    responseRef = new WeakRef(ok);
    serverTx.respond(ok);
  });
  const invite = message('INVITE', `SIP/2.0/UDP 127.0.0.1:${port};branch=${newBranch()}`);
  peer.send(invite.toBuffer(), b.end.port, b.end.address);
  await until('the 200', () => received.length === 1);
  assert.equal(tx?.state, 'accepted');
  assert.ok(await collected(responseRef!), 'the parsed 2xx is let go in Accepted');
  assert.equal(tx!.lastResponse?.status, 200, 'and parsed again when asked');
  // The TU's own 2xx retransmission (§13.3.1.4) still goes out in Accepted.
  tx!.respond(parseMessage(received[0]!) as SipResponse);
  await until('the 2xx retransmission', () => received.length === 2);
  assert.deepEqual(received[1], received[0]);
});

test("retain 'minimum': a settled server transaction keeps none of its request, and still absorbs and answers", async () => {
  const b = await stack('minimum');
  const { peer, received, port } = await udpPeer();
  const txs: ServerTransaction[] = [];
  b.layer.onRequest((req, serverTx) => {
    if (!serverTx) return;
    txs.push(serverTx);
    serverTx.respond(createResponse(req, 200, undefined, { toTag: 'm1' }));
  });

  // An INVITE with a body: Accepted keeps neither the body nor the 2xx.
  const invite = message('INVITE', `SIP/2.0/UDP 127.0.0.1:${port};branch=${newBranch()}`);
  invite.set('Contact', '<sip:alice@127.0.0.1>');
  invite.set('Content-Type', 'application/sdp');
  invite.body = Buffer.from('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n');
  peer.send(invite.toBuffer(), b.end.port, b.end.address);
  await until('the 200', () => received.length === 1);
  const inviteTx = txs[0]!;
  assert.equal(inviteTx.state, 'accepted');
  assert.equal(inviteTx.lastResponse, undefined, 'Accepted keeps no response');
  assert.throws(() => inviteTx.request, /not kept/, 'nor its request');
  assert.throws(() => inviteTx.inbound, /not kept/);
  // A retransmitted INVITE is absorbed, not answered; the TU's 2xx retransmission goes out.
  peer.send(invite.toBuffer(), b.end.port, b.end.address);
  inviteTx.respond(parseMessage(received[0]!) as SipResponse);
  await until('the 2xx retransmission', () => received.length === 2);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(received.length, 2, 'the retransmitted INVITE got nothing');
  assert.deepEqual(received[1], received[0]);

  // A BYE in Completed still resends its very response (Timer J).
  const bye = message('BYE', `SIP/2.0/UDP 127.0.0.1:${port};branch=${newBranch()}`);
  peer.send(bye.toBuffer(), b.end.port, b.end.address);
  await until('the BYE 200', () => received.length === 3);
  peer.send(bye.toBuffer(), b.end.port, b.end.address);
  await until('the resent BYE 200', () => received.length === 4);
  assert.deepEqual(received[3], received[2]);
  assert.equal(txs[1]!.state, 'completed');
  assert.throws(() => txs[1]!.request, /BYE transaction is completed: its request is not kept/);
});

test("retain 'minimum': a settled client transaction keeps no response; setHandlers lets an Accepted one's TU state go", async () => {
  const { a, b, uas } = await minimumToAnsweringUas('c1');
  let stateRef: WeakRef<object> | undefined;
  let firstFinals = 0;
  let lateFinals = 0;
  const tx = ((): ReturnType<TransactionLayer['sendRequest']> => {
    const tuState = { big: Buffer.alloc(64 * 1024) };
    stateRef = new WeakRef(tuState);
    return a.layer.sendRequest(message('INVITE'), b.end, {
      onFinal: () => {
        firstFinals += tuState.big.length > 0 ? 1 : 0;
      },
    });
  })();
  await until('the 2xx', () => firstFinals === 1);
  assert.equal(tx.state, 'accepted');
  assert.equal(tx.lastResponse, undefined);
  assert.throws(() => tx.request, /not kept/);
  assert.equal(tx.id + '|INVITE', tx.key, 'the id is the key less its method');
  tx.setHandlers({ onFinal: (res) => void (lateFinals += res.status === 200 ? 1 : 0) });
  assert.ok(await collected(stateRef!), 'the old handlers (and what they hold) are let go');
  // A 2xx retransmission reaches the new handler.
  uas().respond(createResponse(uas().request, 200, undefined, { toTag: 'c1' }));
  await until('the late 2xx', () => lateFinals === 1);
  assert.equal(firstFinals, 1);
});

test("retain 'minimum': settled server transactions become rows of the layer's table; the objects go, the rows answer until 64*T1", async () => {
  const b = await stack('minimum');
  const { peer, received, port } = await udpPeer();
  const refs: WeakRef<ServerTransaction>[] = [];
  const seen: string[] = [];
  let cancel: { invite: boolean; answered: boolean } | undefined;
  b.layer.onRequest((req, tx) => {
    seen.push(req.method);
    if (!tx) return;
    refs.push(new WeakRef(tx));
    if (req.method === 'CANCEL') cancel = { invite: !!tx.invite, answered: tx.inviteAnswered };
    tx.respond(createResponse(req, 200, undefined, { toTag: 'r1' }));
  });
  const send = (m: SipRequest) => peer.send(m.toBuffer(), b.end.port, b.end.address);
  const branch = newBranch();
  const invite = message('INVITE', `SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`);
  const bye = message('BYE', `SIP/2.0/UDP 127.0.0.1:${port};branch=${newBranch()}`);
  send(invite);
  await until('the 200 to the INVITE', () => received.length === 1);
  send(bye);
  await until('the 200 to the BYE', () => received.length === 2);
  assert.equal(b.layer.settledSize, 2, 'both settled as rows');
  assert.equal(b.layer.size, 2, 'and still counted');
  // Nothing but the test held the objects: with the rows they are let go.
  assert.ok(await collected(refs[0]!), 'the INVITE server transaction is let go');
  assert.ok(await collected(refs[1]!), 'the BYE server transaction is let go');

  // The rows answer as the transactions did: the BYE's very 200 again, the INVITE absorbed.
  const absorbed = b.layer.stats.absorbed;
  send(bye);
  await until('the resent 200', () => received.length === 3);
  assert.deepEqual(received[2], received[1]);
  send(invite);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(received.length, 3, 'a retransmitted INVITE gets nothing in Accepted');
  assert.equal(b.layer.stats.absorbed, absorbed + 2);
  assert.deepEqual(seen, ['INVITE', 'BYE'], 'the TU saw neither retransmission');
  // An ACK goes to the TU (RFC 6026 Accepted), a CANCEL finds its INVITE answered (§9.2).
  const ack = message('ACK', `SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`);
  send(ack);
  const cancelRequest = message('CANCEL', `SIP/2.0/UDP 127.0.0.1:${port};branch=${branch}`);
  send(cancelRequest);
  await until('the ACK and the CANCEL reach the TU', () => seen.length === 4);
  assert.deepEqual(seen.slice(2), ['ACK', 'CANCEL']);
  assert.deepEqual(cancel, { invite: false, answered: true });

  // Timer J and L (64*T1 = 3.2 s here): the rows end; the same BYE is a new request then.
  await until('the rows end', () => b.layer.settledSize === 1, 5000); // the CANCEL's is newer
  send(bye);
  await until('the BYE reaches the TU again', () => seen.length === 5);
  assert.equal(seen[4], 'BYE');
});

test("retain 'minimum': an Accepted client transaction handed over becomes a row; later 2xx reach the handler until Timer M", async () => {
  const { a, b, uas } = await minimumToAnsweringUas('h1');
  const late: string[] = [];
  const stray: number[] = [];
  a.layer.onStrayResponse((res) => stray.push(res.status));
  let firsts = 0;
  const ref = ((): WeakRef<object> => {
    const tx = a.layer.sendRequest(message('INVITE'), b.end, { onFinal: () => void firsts++ });
    return new WeakRef(tx);
  })();
  await until('the 2xx', () => firsts === 1);
  // Handed over in a scope of its own: the test keeps nothing of it but its key.
  const key = ((): string => {
    const tx = ref.deref() as ReturnType<TransactionLayer['sendRequest']>;
    tx.handOver({ onLateFinal: (res, k) => void late.push(`${res.status} ${k}`) });
    return tx.key;
  })();
  assert.equal(a.layer.settledSize, 1, 'held as a row');
  assert.ok(await collected(ref), 'the client transaction object is let go');
  // The UAS resends its 2xx: the handler gets it with the key; a 1xx would be dropped.
  const resent = uas().respond(createResponse(uas().request, 200, undefined, { toTag: 'h1' }))!;
  await until('the late 2xx', () => late.length === 1);
  assert.deepEqual(late, [`200 ${key}`]);
  assert.equal(firsts, 1);
  // Timer M (64*T1 = 3.2 s from the first 2xx): the row ends; a 2xx then is a stray.
  // (The UAS's own transaction has ended by then too: its 2xx is sent again as it was.)
  await until('Timer M', () => a.layer.settledSize === 0, 5000);
  await b.layer.sendStateless(parseMessage(resent) as SipResponse);
  await until('the stray 2xx', () => stray.length === 1);
  assert.deepEqual(late, [`200 ${key}`]);
});
