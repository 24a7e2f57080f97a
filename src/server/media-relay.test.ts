// The media relay with real UDP sockets on 127.0.0.1 playing the two phones (A calls, B answers).
// Relay ports come from 30000-30999, a range of their own per test.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { RtpPacket, SdpParseError, SrtpContext, isSrtpDrop } from '../media/index.ts';
import { sdpMediaEndpoints } from './sdp-rewrite.ts';
import {
  MediaRelay,
  MediaRelayError,
  type MediaRelayOptions,
  type RelayEndReason,
  type RelaySessionStats,
} from './media-relay.ts';

const HOST = '127.0.0.1';

interface Received {
  msg: Buffer;
  rinfo: RemoteInfo;
}

/** A phone's UDP socket with a queue of what it received. */
class Phone {
  readonly queue: Received[] = [];
  private waiter: (() => void) | undefined;
  constructor(
    readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (msg, rinfo) => {
      this.queue.push({ msg, rinfo });
      this.waiter?.();
    });
  }

  static async open(t: TestContext, host = HOST): Promise<Phone> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    const phone = new Phone(socket, socket.address().port);
    t.after(() => socket.close());
    return phone;
  }

  send(msg: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(msg, port, HOST, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** The next datagram, or a rejection after `ms`. */
  async next(ms = 1000): Promise<Received> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`nothing received on port ${this.port} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }
}

function rtp(seq: number, ssrc: number, payload = Buffer.alloc(160, seq & 0xff), pt = 0): Buffer {
  return new RtpPacket({
    payloadType: pt,
    sequenceNumber: seq & 0xffff,
    timestamp: (seq * 160) >>> 0,
    ssrc,
    payload,
  }).marshal();
}

/** An RTCP receiver report with no report block (RFC 3550 6.4.2): packet type 201. */
function rtcpRr(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

function sdp(
  user: string,
  port: number,
  extra: string[] = [],
  version = 1,
  address = HOST,
): string {
  return (
    [
      'v=0',
      `o=${user} 1 ${version} IN IP4 ${address}`,
      's=-',
      `c=IN IP4 ${address}`,
      't=0 0',
      `m=audio ${port} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000',
      ...extra,
      'a=sendrecv',
    ].join('\r\n') + '\r\n'
  );
}

/** The relay port and address an SDP points at (its first stream). */
function target(text: string): { address: string; port: number; rtcpPort: number } {
  const [e] = sdpMediaEndpoints(text);
  assert.ok(e && e.address !== undefined, `no stream in ${text}`);
  return { address: e.address, port: e.port, rtcpPort: e.rtcpPort };
}

async function relayFor(
  t: TestContext,
  first: number,
  options: Partial<MediaRelayOptions> = {},
): Promise<MediaRelay> {
  const relay = new MediaRelay({
    address: HOST,
    ports: [first, first + 99],
    timeoutSeconds: 30,
    spare: 4,
    ...options,
  });
  t.after(() => relay.close());
  await relay.ready();
  return relay;
}

/** A call set up through the relay: A offers, B answers. Returns what each phone sends to. */
async function call(
  relay: MediaRelay,
  a: Phone,
  b: Phone,
  extra: string[] = [],
): Promise<{ aSendsTo: number; bSendsTo: number; offer: string; answer: string }> {
  const offer = relay.offer('call-1', 'tag-a', sdp('a', a.port, extra));
  const answer = relay.answer('call-1', 'tag-b', sdp('b', b.port, extra));
  await relay.ready();
  return { aSendsTo: target(answer).port, bSendsTo: target(offer).port, offer, answer };
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, HOST, () => s.close(() => resolve(true)));
  });
}

test('offer and answer point at the relay; RTP flows both ways from the relay ports', async (t) => {
  const relay = await relayFor(t, 30000);
  const [a, b] = [await Phone.open(t), await Phone.open(t)];
  const { aSendsTo, bSendsTo, offer, answer } = await call(relay, a, b);
  // What B is told: the relay's address and a relay port, everything else unchanged.
  assert.equal(target(offer).address, HOST);
  assert.notEqual(bSendsTo, a.port);
  assert.ok(bSendsTo >= 30000 && bSendsTo < 30100 && bSendsTo % 2 === 0);
  assert.ok(aSendsTo >= 30000 && aSendsTo < 30100 && aSendsTo !== bSendsTo);
  assert.equal(target(offer).rtcpPort, bSendsTo + 1);
  assert.match(offer, /^o=a 1 1 IN IP4 127\.0\.0\.1\r$/m);
  assert.match(answer, /a=rtpmap:101 telephone-event\/8000/);

  const fromA = rtp(1, 0xaaaa);
  await a.send(fromA, aSendsTo);
  const atB = await b.next();
  assert.deepEqual(atB.msg, fromA);
  assert.equal(atB.rinfo.port, bSendsTo, 'B receives from the port it sends to (symmetric RTP)');
  const fromB = rtp(7, 0xbbbb);
  await b.send(fromB, bSendsTo);
  const atA = await a.next();
  assert.deepEqual(atA.msg, fromB);
  assert.equal(atA.rinfo.port, aSendsTo);

  for (let seq = 2; seq <= 10; seq++) if (seq !== 5) await a.send(rtp(seq, 0xaaaa), aSendsTo);
  for (let i = 0; i < 8; i++) await b.next();
  const stats = relay.stats('call-1')!;
  const aToB = stats.streams.find((s) => s.from === 'tag-a')!;
  const bToA = stats.streams.find((s) => s.from === 'tag-b')!;
  assert.equal(aToB.packets, 9);
  assert.equal(aToB.lost, 1, 'seq 5 never sent');
  assert.equal(aToB.codec, 'PCMU');
  assert.ok(aToB.mos !== undefined && aToB.mos > 1 && aToB.mos < 4.5);
  assert.equal(aToB.dropped, 0);
  assert.equal(bToA.packets, 1);
  assert.deepEqual(aToB.latched, { address: HOST, port: a.port });
});

test('latching: a phone behind NAT sends from another port than its SDP says; media follows it', async (t) => {
  const relay = await relayFor(t, 30100);
  const [a, b, aNat] = [await Phone.open(t), await Phone.open(t), await Phone.open(t)];
  const { aSendsTo, bSendsTo } = await call(relay, a, b);
  // Before A sent anything, B's media goes where A's SDP said.
  await b.send(rtp(1, 0xbbbb), bSendsTo);
  assert.equal((await a.next()).msg.readUInt16BE(2), 1);
  // A's packets come from its NAT mapping: the relay latches to that source ...
  await aNat.send(rtp(1, 0xaaaa), aSendsTo);
  assert.equal((await b.next()).msg.readUInt16BE(2), 1);
  // ... and B's media now goes there, not to the SDP address.
  await b.send(rtp(2, 0xbbbb), bSendsTo);
  assert.equal((await aNat.next()).msg.readUInt16BE(2), 2);
  assert.equal(a.queue.length, 0);
  const aToB = relay.stats('call-1')!.streams.find((s) => s.from === 'tag-a')!;
  assert.deepEqual(aToB.latched, { address: HOST, port: aNat.port });
  assert.deepEqual(aToB.sdpAddress, { address: HOST, port: a.port });
});

test('injection: packets from a third source are dropped and counted, the call goes on', async (t) => {
  const relay = await relayFor(t, 30200);
  // Mallory on another host (127.0.0.2, still loopback), and a stranger on the phones' own host.
  const [a, b, mallory, local] = [
    await Phone.open(t),
    await Phone.open(t),
    await Phone.open(t, '127.0.0.2'),
    await Phone.open(t),
  ];
  const { aSendsTo, bSendsTo } = await call(relay, a, b);
  await a.send(rtp(1, 0xaaaa), aSendsTo);
  await b.send(rtp(1, 0xbbbb), bSendsTo);
  await b.next();
  await a.next();
  // Mallory sprays both relay ports (RTP and RTCP) with well-formed RTP.
  for (let i = 0; i < 5; i++) await mallory.send(rtp(100 + i, 0x666), aSendsTo);
  for (let i = 0; i < 3; i++) await mallory.send(rtp(200 + i, 0x666), bSendsTo);
  // RTCP has not latched yet (A sent none), but only A's host may take it.
  await mallory.send(rtcpRr(0x666), aSendsTo + 1);
  await local.send(rtp(300, 0x777), aSendsTo);
  // The next packet each phone gets is the other phone's, not Mallory's.
  await a.send(rtp(2, 0xaaaa), aSendsTo);
  await b.send(rtp(2, 0xbbbb), bSendsTo);
  const atB = await b.next();
  const atA = await a.next();
  assert.equal(atB.msg.readUInt32BE(8), 0xaaaa);
  assert.equal(atA.msg.readUInt32BE(8), 0xbbbb);
  assert.equal(mallory.queue.length + local.queue.length, 0);
  const streams = relay.stats('call-1')!.streams;
  const aToB = streams.find((s) => s.from === 'tag-a')!;
  const bToA = streams.find((s) => s.from === 'tag-b')!;
  assert.equal(aToB.dropped, 7, '5 + 1 RTP and 1 RTCP on the face A sends to');
  assert.equal(aToB.latchedRtcp, undefined);
  assert.equal(bToA.dropped, 3);
  assert.equal(aToB.packets, 2);
  assert.equal(bToA.packets, 2);
});

test('RTCP is relayed on port + 1, and on the RTP port when both sides use rtcp-mux', async (t) => {
  const relay = await relayFor(t, 30300);
  const [a, aRtcp, b, bRtcp] = [
    await Phone.open(t),
    await Phone.open(t),
    await Phone.open(t),
    await Phone.open(t),
  ];
  const offer = relay.offer('call-1', 'tag-a', sdp('a', a.port, [`a=rtcp:${aRtcp.port}`]));
  const answer = relay.answer('call-1', 'tag-b', sdp('b', b.port, [`a=rtcp:${bRtcp.port}`]));
  const aSendsTo = target(answer);
  const bSendsTo = target(offer);
  assert.equal(aSendsTo.rtcpPort, aSendsTo.port + 1);
  const report = rtcpRr(0xaaaa);
  await aRtcp.send(report, aSendsTo.rtcpPort);
  const atB = await bRtcp.next();
  assert.deepEqual(atB.msg, report);
  assert.equal(atB.rinfo.port, bSendsTo.port + 1);
  await bRtcp.send(rtcpRr(0xbbbb), bSendsTo.rtcpPort);
  assert.equal((await aRtcp.next()).rinfo.port, aSendsTo.port + 1);
  assert.equal(b.queue.length + a.queue.length, 0, 'RTCP did not go to the RTP ports');
  const aToB = relay.stats('call-1')!.streams.find((s) => s.from === 'tag-a')!;
  assert.equal(aToB.rtcpPackets, 1);
  assert.equal(aToB.packets, 0);

  // rtcp-mux on both sides: RTCP and RTP share one port each way.
  const [c, d] = [await Phone.open(t), await Phone.open(t)];
  const offer2 = relay.offer('call-2', 'tag-c', sdp('c', c.port, ['a=rtcp-mux']));
  const answer2 = relay.answer('call-2', 'tag-d', sdp('d', d.port, ['a=rtcp-mux']));
  const cSendsTo = target(answer2).port;
  const dSendsTo = target(offer2).port;
  await c.send(rtp(1, 0xcccc), cSendsTo);
  await c.send(rtcpRr(0xcccc), cSendsTo);
  assert.equal((await d.next()).msg[1], 0);
  const rtcpAtD = await d.next();
  assert.equal(rtcpAtD.msg[1], 201);
  assert.equal(rtcpAtD.rinfo.port, dSendsTo);
  await d.send(rtcpRr(0xdddd), dSendsTo);
  assert.equal((await c.next()).msg[1], 201);
  const cToD = relay.stats('call-2')!.streams.find((s) => s.from === 'tag-c')!;
  assert.equal(cToD.rtcpPackets, 1);
  assert.equal(cToD.packets, 1);
});

test('a re-INVITE from either side keeps the ports; a moved phone is unlatched', async (t) => {
  const relay = await relayFor(t, 30400);
  const [a, b, a2] = [await Phone.open(t), await Phone.open(t), await Phone.open(t)];
  const { aSendsTo, offer, answer } = await call(relay, a, b);
  const inUse = relay.portPairsInUse;
  // Same SDP again (a session refresh): byte-identical rewrite.
  assert.equal(relay.offer('call-1', 'tag-a', sdp('a', a.port)), offer);
  // The callee re-INVITEs (hold/unhold, new o= version): its face keeps its port.
  const reAnswer = relay.offer('call-1', 'tag-b', sdp('b', b.port, [], 2));
  assert.equal(target(reAnswer).port, aSendsTo);
  assert.equal(
    target(relay.answer('call-1', 'tag-a', sdp('a', a.port, [], 2))).port,
    target(offer).port,
  );
  assert.equal(relay.portPairsInUse, inUse, 'no new port pair was taken');
  assert.equal(relay.sessionCount, 1);
  assert.equal(target(answer).port, aSendsTo);

  // A latches, then moves to another port in a new SDP: B's media follows the new SDP.
  await a.send(rtp(1, 0xaaaa), aSendsTo);
  await b.next();
  relay.offer('call-1', 'tag-a', sdp('a', a2.port, [], 3));
  await b.send(rtp(1, 0xbbbb), target(offer).port);
  assert.equal((await a2.next()).msg.readUInt32BE(8), 0xbbbb);
  assert.equal(a.queue.length, 0);
});

test('a session with no packets for timeoutSeconds ends, is reported and frees its ports', async (t) => {
  const ended: Array<{ callId: string; reason: RelayEndReason; stats: RelaySessionStats }> = [];
  const relay = await relayFor(t, 30500, {
    timeoutSeconds: 0.3,
    onEnd: (callId, reason, stats) => ended.push({ callId, reason, stats }),
  });
  const [a, b] = [await Phone.open(t), await Phone.open(t)];
  const spare = relay.portPairsInUse;
  const { aSendsTo } = await call(relay, a, b);
  assert.equal(relay.portPairsInUse, spare + 2);
  // Packets keep it alive past the timeout ...
  const started = Date.now();
  for (let seq = 1; Date.now() - started < 500; seq++) {
    await a.send(rtp(seq, 0xaaaa), aSendsTo);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(ended.length, 0);
  assert.equal(relay.sessionCount, 1);
  // ... silence ends it.
  const deadline = Date.now() + 3000;
  while (ended.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(ended.length, 1);
  assert.equal(ended[0]!.callId, 'call-1');
  assert.equal(ended[0]!.reason, 'timeout');
  assert.ok(ended[0]!.stats.streams.find((s) => s.from === 'tag-a')!.packets >= 5);
  assert.equal(relay.sessionCount, 0);
  assert.equal(relay.stats('call-1'), undefined);
  await relay.ready();
  assert.equal(relay.portPairsInUse, spare);
  for (const port of ended[0]!.stats.ports) {
    assert.ok(await udpPortFree(port), `port ${port} is closed`);
    assert.ok(await udpPortFree(port + 1), `port ${port + 1} is closed`);
  }
  // Packets to the old port no longer reach anyone.
  await a.send(rtp(99, 0xaaaa), aSendsTo);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!b.queue.some((r) => r.msg.readUInt16BE(2) === 99));
});

test('end() returns the final statistics and frees the ports; end of an unknown call is undefined', async (t) => {
  const ended: string[] = [];
  const relay = await relayFor(t, 30600, { onEnd: (id, reason) => ended.push(`${id}:${reason}`) });
  const [a, b] = [await Phone.open(t), await Phone.open(t)];
  const spare = relay.portPairsInUse;
  const { aSendsTo } = await call(relay, a, b);
  for (let seq = 1; seq <= 3; seq++) await a.send(rtp(seq, 0xaaaa), aSendsTo);
  for (let i = 0; i < 3; i++) await b.next();
  const stats = relay.end('call-1')!;
  assert.equal(stats.streams.find((s) => s.from === 'tag-a')!.packets, 3);
  assert.equal(stats.ports.length, 2);
  assert.deepEqual(ended, ['call-1:end']);
  assert.equal(relay.end('call-1'), undefined);
  assert.equal(relay.end('no-such-call'), undefined);
  await relay.ready();
  assert.equal(relay.portPairsInUse, spare);
  for (const port of stats.ports) assert.ok(await udpPortFree(port), `port ${port} is closed`);
});

test('ports exhausted: MediaRelayError, and the failed offer leaves nothing behind', async (t) => {
  // Two pairs: one call (two faces) takes both.
  const relay = new MediaRelay({
    address: HOST,
    ports: [30700, 30703],
    timeoutSeconds: 30,
    spare: 0,
  });
  t.after(() => relay.close());
  relay.offer('call-1', 'tag-a', sdp('a', 40000));
  assert.equal(relay.portPairsFree, 0);
  assert.throws(() => relay.offer('call-2', 'tag-c', sdp('c', 40002)), MediaRelayError);
  assert.throws(
    () => relay.offer('call-2', 'tag-c', sdp('c', 40002)),
    /no free relay ports in 30700-30703/,
  );
  assert.equal(relay.sessionCount, 1);
  assert.equal(relay.stats('call-2'), undefined);
  relay.end('call-1');
  assert.equal(relay.portPairsFree, 2);
  // Room again.
  assert.ok(relay.offer('call-2', 'tag-c', sdp('c', 40002)).includes('m=audio 307'));
  // Not SDP: a clear error, and no session.
  assert.throws(() => relay.offer('call-3', 'tag-e', 'hello'), SdpParseError);
  assert.equal(relay.stats('call-3'), undefined);
});

test('SRTP passes through byte-exact and the receiver can still authenticate and decrypt it', async (t) => {
  const relay = await relayFor(t, 30800);
  const [a, b] = [await Phone.open(t), await Phone.open(t)];
  const crypto = [
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:ZmFrZWtleWZha2VrZXlmYWtla2V5ZmFrZWtleQ',
  ];
  const offer = relay.offer(
    'call-1',
    'tag-a',
    sdp('a', a.port, crypto).replace(/RTP\/AVP/, 'RTP/SAVP'),
  );
  const answer = relay.answer(
    'call-1',
    'tag-b',
    sdp('b', b.port, crypto).replace(/RTP\/AVP/, 'RTP/SAVP'),
  );
  assert.match(offer, /^m=audio \d+ RTP\/SAVP 0 101\r$/m);
  assert.ok(offer.includes(crypto[0]!), 'the key line passes unchanged');
  const keys = {
    suite: 'AES_CM_128_HMAC_SHA1_80' as const,
    masterKey: randomBytes(16),
    masterSalt: randomBytes(14),
  };
  const sender = new SrtpContext(keys);
  const receiver = new SrtpContext(keys);
  const sent: Buffer[] = [];
  for (let seq = 1; seq <= 5; seq++) {
    const packet = sender.protect(rtp(seq, 0x5555, randomBytes(160)));
    sent.push(packet);
    await a.send(packet, target(answer).port);
  }
  for (const packet of sent) {
    const got = (await b.next()).msg;
    assert.deepEqual(got, packet);
    const plain = receiver.unprotect(got);
    assert.ok(!isSrtpDrop(plain), `receiver dropped the packet: ${String(plain)}`);
  }
  const aToB = relay.stats('call-1')!.streams.find((s) => s.from === 'tag-a')!;
  assert.equal(aToB.packets, 5);
  assert.equal(aToB.lost, 0);
});
