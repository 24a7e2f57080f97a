import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RtpPacket } from './rtp-packet.ts';
import {
  SRTCP_TAG_LENGTH,
  SRTP_SUITES,
  SrtpContext,
  estimatePacketIndex,
  isSrtpDrop,
  type SrtpContextOptions,
  type SrtpSuite,
} from './srtp-context.ts';
import { deriveSrtpSessionKeys } from './srtp-key-derivation.ts';

const SSRC = 0x1234abcd;

function keys(suite: SrtpSuite = 'AES_CM_128_HMAC_SHA1_80'): SrtpContextOptions {
  return { suite, masterKey: randomBytes(16), masterSalt: randomBytes(14) };
}

function rtp(
  seq: number,
  fields: Partial<ConstructorParameters<typeof RtpPacket>[0]> = {},
): Buffer {
  return new RtpPacket({
    payloadType: 0,
    sequenceNumber: seq & 0xffff,
    timestamp: (seq * 160) >>> 0,
    ssrc: SSRC,
    payload: Buffer.alloc(160, seq & 0xff),
    ...fields,
  }).marshal();
}

/** A sender and a receiver sharing one master key, and a function to protect sequence numbers. */
function pair(options: Partial<SrtpContextOptions> = {}) {
  const k = { ...keys(), ...options };
  const sender = new SrtpContext(k);
  const receiver = new SrtpContext(k);
  return { sender, receiver, send: (seq: number) => sender.protect(rtp(seq)) };
}

function unprotected(result: Buffer | string): Buffer {
  assert.ok(Buffer.isBuffer(result), `expected a packet, got drop "${String(result)}"`);
  return result;
}

test('protect then unprotect gives the packet back, for both suites', () => {
  for (const suite of SRTP_SUITES) {
    const { sender, receiver } = pair({ suite });
    const plain = rtp(1);
    const srtp = sender.protect(plain);
    assert.equal(srtp.length, plain.length + (suite.endsWith('_80') ? 10 : 4), suite);
    assert.deepEqual(unprotected(receiver.unprotect(srtp)), plain);
    assert.equal(sender.stats.protected, 1);
    assert.equal(receiver.stats.unprotected, 1);
  }
});

test('random packets (CSRCs, extensions, padding, any length) round-trip for both suites', () => {
  const suiteKeys = SRTP_SUITES.map((suite) => keys(suite));
  fc.assert(
    fc.property(
      fc.record({
        sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
        ssrc: fc.integer({ min: 0, max: 0xffffffff }),
        csrc: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
        extensionWords: fc.option(fc.integer({ min: 0, max: 8 })),
        payload: fc.uint8Array({ maxLength: 1200 }),
        paddingLength: fc.integer({ min: 0, max: 255 }),
      }),
      fc.integer({ min: 0, max: 1 }),
      (f, which) => {
        // Fresh contexts each run: fast-check may repeat a sequence number, which is a replay.
        const sender = new SrtpContext(suiteKeys[which]!);
        const receiver = new SrtpContext(suiteKeys[which]!);
        const plain = new RtpPacket({
          payloadType: 96,
          sequenceNumber: f.sequenceNumber,
          timestamp: 0,
          ssrc: f.ssrc,
          csrc: f.csrc,
          payload: f.payload,
          paddingLength: f.paddingLength,
          ...(f.extensionWords === null
            ? {}
            : { extensionProfile: 0x1000, extensionData: randomBytes(4 * f.extensionWords) }),
        }).marshal();
        const srtp = sender.protect(plain);
        assert.equal(srtp.length, plain.length + sender.tagLength);
        assert.deepEqual(receiver.unprotect(srtp), plain);
      },
    ),
    { numRuns: 300 },
  );
});

test('the header, CSRCs and extension stay in the clear; the payload does not', () => {
  const { sender, receiver } = pair();
  const plain = rtp(7, {
    csrc: [1, 2, 3],
    extensionProfile: 0xbede,
    extensionData: Buffer.from([0x10, 0xaa, 0, 0]),
    marker: true,
  });
  const headerLength = 12 + 3 * 4 + 4 + 4;
  const srtp = sender.protect(plain);
  assert.deepEqual(srtp.subarray(0, headerLength), plain.subarray(0, headerLength));
  assert.notDeepEqual(srtp.subarray(headerLength, plain.length), plain.subarray(headerLength));
  assert.deepEqual(unprotected(receiver.unprotect(srtp)), plain);
});

test('RTP padding is encrypted with the payload and comes back', () => {
  const { sender, receiver } = pair();
  const plain = rtp(9, { paddingLength: 4 });
  assert.deepEqual(unprotected(receiver.unprotect(sender.protect(plain))), plain);
});

test('the tag is HMAC-SHA1 over header, payload and ROC with the derived SRTP auth key', () => {
  const k = keys('AES_CM_128_HMAC_SHA1_32');
  const sender = new SrtpContext(k);
  const authKey = deriveSrtpSessionKeys(k.masterKey, k.masterSalt).rtpAuthenticationKey;
  for (let seq = 65530; seq < 65540; seq++) sender.protect(rtp(seq)); // ROC becomes 1
  const srtp = sender.protect(rtp(65541));
  const body = srtp.subarray(0, srtp.length - 4);
  const roc = Buffer.from([0, 0, 0, 1]);
  const expected = createHmac('sha1', authKey).update(body).update(roc).digest().subarray(0, 4);
  assert.deepEqual(srtp.subarray(srtp.length - 4), expected);
  assert.equal(sender.sentRolloverCounter(SSRC), 1);
});

test('a changed bit anywhere, a short packet or a wrong key fails', () => {
  const { send, receiver } = pair();
  const srtp = send(100);
  for (const at of [1, 3, 8, 12, 100, srtp.length - 1]) {
    const bad = Buffer.from(srtp);
    bad[at]! ^= 0x01;
    assert.equal(receiver.unprotect(bad), 'auth', `bit flipped at ${at}`);
  }
  assert.equal(receiver.unprotect(srtp.subarray(0, 15)), 'malformed');
  assert.equal(receiver.unprotect(Buffer.from([0x40, 0, 0, 0])), 'malformed');
  const stranger = new SrtpContext(keys());
  assert.equal(stranger.unprotect(srtp), 'auth');
  assert.deepEqual(receiver.stats, {
    protected: 0,
    unprotected: 0,
    authFailures: 6,
    replayed: 0,
    tooOld: 0,
    malformed: 2,
  });
  // The genuine packet still goes through after all that.
  assert.ok(Buffer.isBuffer(receiver.unprotect(srtp)));
});

test('replay: the same packet again is dropped, and so is an older one already seen', () => {
  const { send, receiver } = pair();
  const packets = [10, 11, 12, 13].map(send);
  for (const p of packets) unprotected(receiver.unprotect(p));
  assert.equal(receiver.unprotect(packets[3]!), 'replay');
  assert.equal(receiver.unprotect(packets[0]!), 'replay');
  assert.equal(receiver.stats.replayed, 2);
  assert.equal(receiver.stats.unprotected, 4);
});

test('reordering inside the window is accepted, each packet once', () => {
  const { send, receiver } = pair();
  const order = [20, 22, 21, 25, 23, 24, 30, 26, 29, 27, 28];
  const packets = new Map(order.map((s) => [s, send(s)]));
  for (const s of order) {
    assert.deepEqual(unprotected(receiver.unprotect(packets.get(s)!)), rtp(s), `seq ${s}`);
  }
  for (const s of order) assert.equal(receiver.unprotect(packets.get(s)!), 'replay');
});

test('window edges: highest - 127 is accepted, highest - 128 is too old (default 128)', () => {
  const { send, receiver } = pair();
  const justInside = send(1000);
  const justOutside = send(999);
  unprotected(receiver.unprotect(send(1127)));
  unprotected(receiver.unprotect(justInside));
  assert.equal(receiver.unprotect(justOutside), 'too-old');
  assert.equal(receiver.stats.tooOld, 1);
});

test('a configured window of 64 moves the edge', () => {
  const { send, receiver } = pair({ replayWindow: 64 });
  const inside = send(437);
  const outside = send(436);
  unprotected(receiver.unprotect(send(500)));
  unprotected(receiver.unprotect(inside));
  assert.equal(receiver.unprotect(outside), 'too-old');
  assert.throws(() => new SrtpContext({ ...keys(), replayWindow: 32 }), /at least 64/);
});

test('forged packets neither pass nor move the window', () => {
  const { send, receiver } = pair();
  const old = send(50);
  unprotected(receiver.unprotect(send(60)));
  // An attacker takes a genuine packet, sets a far-ahead sequence number and sends it.
  const forged = Buffer.from(send(61));
  forged.writeUInt16BE(5000, 2);
  assert.equal(receiver.unprotect(forged), 'auth');
  // Had the window moved to 5000, packet 50 would be too old; it is still accepted.
  unprotected(receiver.unprotect(old));
  // A forged copy of an already-seen packet counts as an auth failure, not a replay.
  const tampered = Buffer.from(old);
  tampered[20]! ^= 0xff;
  assert.equal(receiver.unprotect(tampered), 'auth');
  assert.equal(receiver.stats.replayed, 0);
  assert.equal(receiver.stats.authFailures, 2);
});

test('sequence wrap: ROC increments, the window spans the wrap, late packets from before it pass', () => {
  const { send, receiver } = pair();
  const before = [65500, 65520, 65535].map(send); // ROC 0
  const after = [0, 1, 2, 40].map(send); // ROC 1
  unprotected(receiver.unprotect(before[0]!));
  unprotected(receiver.unprotect(before[1]!));
  for (const p of after) unprotected(receiver.unprotect(p));
  assert.equal(receiver.receivedRolloverCounter(SSRC), 1);
  // 65535 (ROC 0) arrives late: index 65535 is 41 behind 65536 + 40, inside the window.
  assert.deepEqual(unprotected(receiver.unprotect(before[2]!)), rtp(65535));
  assert.equal(receiver.receivedRolloverCounter(SSRC), 1, 'a late packet does not move ROC back');
  // Replays on both sides of the wrap are caught.
  assert.equal(receiver.unprotect(before[1]!), 'replay');
  assert.equal(receiver.unprotect(after[0]!), 'replay');
  // 65500 (ROC 0, seen) is a replay while inside the window, too old once the stream is at
  // ROC 1 seq 200 (236 behind).
  assert.equal(receiver.unprotect(before[0]!), 'replay');
  unprotected(receiver.unprotect(send(200)));
  assert.equal(receiver.unprotect(before[0]!), 'too-old');
});

test('three wraps in order: ROC reaches 3 and every packet decrypts', () => {
  const { send, receiver } = pair();
  for (let i = 0; i < 3 * 65536 + 100; i += 97) {
    const seq = i & 0xffff;
    assert.deepEqual(unprotected(receiver.unprotect(send(seq))), rtp(seq), `packet ${i}`);
  }
  assert.equal(receiver.receivedRolloverCounter(SSRC), 3);
});

test('a burst of 1000 replayed packets is all dropped and counted', () => {
  const { send, receiver } = pair();
  const packets = Array.from({ length: 100 }, (_, i) => send(3000 + i));
  for (const p of packets) unprotected(receiver.unprotect(p));
  let dropped = 0;
  for (let i = 0; i < 1000; i++) {
    const result = receiver.unprotect(packets[i % 100]!);
    if (isSrtpDrop(result)) dropped++;
    // Only the last 128 are still tracked; older ones are too old rather than replays.
  }
  assert.equal(dropped, 1000);
  assert.equal(receiver.stats.replayed + receiver.stats.tooOld, 1000);
  assert.equal(receiver.stats.replayed, 1000, 'all 100 are inside the 128-packet window');
  assert.equal(receiver.stats.unprotected, 100);
});

test('per-SSRC state: two streams with their own sequence numbers do not interfere', () => {
  const k = keys();
  const sender = new SrtpContext(k);
  const receiver = new SrtpContext(k);
  const a = sender.protect(rtp(5, { ssrc: 1 }));
  const b = sender.protect(rtp(5, { ssrc: 2 }));
  unprotected(receiver.unprotect(a));
  unprotected(receiver.unprotect(b));
  assert.equal(receiver.unprotect(a), 'replay');
  assert.equal(receiver.unprotect(b), 'replay');
});

test('index estimation (RFC 3711 3.3.1) around the wrap', () => {
  assert.equal(estimatePacketIndex(100, undefined), 100);
  assert.equal(estimatePacketIndex(5, 65530), 65536 + 5); // ahead across the wrap: ROC + 1
  assert.equal(estimatePacketIndex(65530, 65536 + 5), 65530); // behind across the wrap: ROC - 1
  assert.equal(estimatePacketIndex(40000, 65536 + 100), 40000); // behind by less than 2^15
  // s_l >= 2^15: far behind s_l means ahead across the next wrap (ROC + 1).
  assert.equal(estimatePacketIndex(10000, 65536 + 40000), 65536 + 10000);
  assert.equal(estimatePacketIndex(200, 65536 + 40000), 2 * 65536 + 200);
  assert.equal(estimatePacketIndex(60000, 10), 60000); // ROC - 1 below zero: ROC 0
});

test('SRTCP: encrypted after the first 8 octets, E flag and index, 80-bit tag for both suites', () => {
  for (const suite of SRTP_SUITES) {
    const k = keys(suite);
    const sender = new SrtpContext(k);
    const receiver = new SrtpContext(k);
    const rr = Buffer.alloc(32);
    rr.writeUInt32BE(0x81c90007, 0);
    rr.writeUInt32BE(SSRC, 4);
    rr.fill(0x5a, 8);
    for (let index = 0; index < 3; index++) {
      const srtcp = sender.protectRtcp(rr);
      assert.equal(srtcp.length, rr.length + 4 + SRTCP_TAG_LENGTH, suite);
      assert.deepEqual(srtcp.subarray(0, 8), rr.subarray(0, 8));
      assert.notDeepEqual(srtcp.subarray(8, 32), rr.subarray(8));
      assert.equal(srtcp.readUInt32BE(32), (0x8000_0000 | index) >>> 0, 'E=1 and the index');
      assert.deepEqual(unprotected(receiver.unprotectRtcp(srtcp)), rr);
      assert.equal(receiver.unprotectRtcp(srtcp), 'replay');
    }
    assert.deepEqual(receiver.rtcpStats, {
      protected: 0,
      unprotected: 3,
      authFailures: 0,
      replayed: 3,
      tooOld: 0,
      malformed: 0,
    });
  }
});

test('SRTCP: unencrypted (E=0) packets are authenticated and passed through', () => {
  const k = keys();
  const receiver = new SrtpContext(k);
  const authKey = deriveSrtpSessionKeys(k.masterKey, k.masterSalt).rtcpAuthenticationKey;
  const rr = Buffer.from('81c900070000abcd' + '11'.repeat(24), 'hex');
  const indexWord = Buffer.from([0, 0, 0, 7]);
  const tag = createHmac('sha1', authKey).update(rr).update(indexWord).digest().subarray(0, 10);
  const srtcp = Buffer.concat([rr, indexWord, tag]);
  assert.deepEqual(unprotected(receiver.unprotectRtcp(srtcp)), rr);
  const bad = Buffer.from(srtcp);
  bad[10]! ^= 1;
  assert.equal(receiver.unprotectRtcp(bad), 'auth');
  assert.equal(receiver.unprotectRtcp(Buffer.alloc(10)), 'malformed');
});

test('MKI: carried between payload and tag, and a packet with another MKI is refused', () => {
  const k = { ...keys(), mki: Buffer.from([0, 0, 0, 1]) };
  const sender = new SrtpContext(k);
  const receiver = new SrtpContext(k);
  const plain = rtp(1);
  const srtp = sender.protect(plain);
  assert.equal(srtp.length, plain.length + 4 + 10);
  assert.deepEqual(srtp.subarray(plain.length, plain.length + 4), k.mki);
  assert.deepEqual(unprotected(receiver.unprotect(srtp)), plain);
  const otherMki = Buffer.from(sender.protect(rtp(2)));
  otherMki[plain.length + 3] = 2;
  assert.equal(receiver.unprotect(otherMki), 'auth');
  const srtcp = sender.protectRtcp(Buffer.from('80c90001' + '0000abcd', 'hex'));
  assert.deepEqual(srtcp.subarray(12, 16), k.mki);
  assert.ok(Buffer.isBuffer(receiver.unprotectRtcp(srtcp)));
});

test('bad options and non-RTP input are refused with a reason', () => {
  assert.throws(
    () => new SrtpContext({ ...keys(), suite: 'AES_256_CM_HMAC_SHA1_80' as SrtpSuite }),
    /unsupported SRTP crypto suite/,
  );
  assert.throws(() => new SrtpContext({ ...keys(), masterKey: Buffer.alloc(32) }), /16-octet/);
  assert.throws(() => new SrtpContext({ ...keys(), masterSalt: Buffer.alloc(12) }), /14-octet/);
  const ctx = new SrtpContext(keys());
  assert.throws(() => ctx.protect(Buffer.alloc(8)), /not an RTP packet/);
  assert.throws(() => ctx.protectRtcp(Buffer.alloc(4)), /not an RTCP packet/);
});
