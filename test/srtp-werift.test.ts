// werift-rtp as an independent SRTP implementation: what we protect it must unprotect, and
// what it protects we must unprotect, over a few thousand packets that cross a sequence-number
// wrap. werift implements AES_CM_128_HMAC_SHA1_80 only; for _32 its own key derivation, ROC
// tracking, HMAC and AES-CTR are driven directly and its 80-bit tag is compared with (or
// truncated to) our 32-bit one, which RFC 3711 section 4.2 defines as the leftmost 32 bits of
// the same HMAC-SHA1 output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  ProtectionProfileAes128CmHmacSha1_80,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtpPacket as WeriftPacket,
  SrtcpSession,
  SrtpSession,
} from 'werift-rtp';
import { RtpPacket } from '../src/media/rtp-packet.ts';
import { SrtpContext, SRTP_SUITES, type SrtpSuite } from '../src/media/srtp-context.ts';

const PACKETS = 3000;
const FIRST_SEQ = 65536 - 1500; // the wrap falls in the middle of the run
const SSRC = 0x5eed1234;

function masterKeys() {
  return { masterKey: randomBytes(16), masterSalt: randomBytes(14) };
}

function weriftSessions(k: { masterKey: Buffer; masterSalt: Buffer }) {
  const config = {
    keys: {
      localMasterKey: k.masterKey,
      localMasterSalt: k.masterSalt,
      remoteMasterKey: k.masterKey,
      remoteMasterSalt: k.masterSalt,
    },
    profile: ProtectionProfileAes128CmHmacSha1_80,
  };
  return { srtp: new SrtpSession(config), srtcp: new SrtcpSession(config) };
}

/** Packet n of the run: G.711-sized payload; every 97th has CSRCs and a header extension. */
function rtp(n: number): Buffer {
  const seq = (FIRST_SEQ + n) & 0xffff;
  const odd = n % 97 === 0;
  return new RtpPacket({
    payloadType: 8,
    sequenceNumber: seq,
    timestamp: (n * 160) >>> 0,
    ssrc: SSRC,
    marker: n === 0,
    payload: randomBytes(160),
    ...(odd
      ? {
          csrc: [0x11111111, 0x22222222],
          extensionProfile: 0xbede,
          extensionData: Buffer.from([0x10, 0x7f, 0x00, 0x00]),
        }
      : {}),
  }).marshal();
}

test('werift unprotects what we protect (AES_CM_128_HMAC_SHA1_80), across a wrap', () => {
  const k = masterKeys();
  const ours = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', ...k });
  const werift = weriftSessions(k).srtp;
  for (let n = 0; n < PACKETS; n++) {
    const plain = rtp(n);
    assert.deepEqual(werift.decrypt(ours.protect(plain)), plain, `packet ${n}`);
  }
  assert.equal(ours.sentRolloverCounter(SSRC), 1);
});

test('werift unprotects what we protect (AES_CM_128_HMAC_SHA1_32): same keys, HMAC prefix, cipher', () => {
  const k = masterKeys();
  const ours = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_32', ...k });
  const context = weriftSessions(k).srtp.remoteContext;
  for (let n = 0; n < PACKETS; n++) {
    const plain = rtp(n);
    const srtp = ours.protect(plain);
    const body = srtp.subarray(0, srtp.length - 4);
    // werift's receiver-side ROC tracking for this sequence number.
    const state = context.getSrtpSsrcState(SSRC);
    context.updateRolloverCount(plain.readUInt16BE(2), state);
    const roc = state.rolloverCounter;
    const tag80 = context.generateSrtpAuthTag(body, roc);
    assert.deepEqual(srtp.subarray(srtp.length - 4), tag80.subarray(0, 4), `tag of packet ${n}`);
    const [decrypted] = context.cipher.decryptRtp(Buffer.concat([body, tag80]), roc);
    assert.deepEqual(decrypted, plain, `packet ${n}`);
  }
  assert.equal(context.getSrtpSsrcState(SSRC).rolloverCounter, 1);
});

test('we unprotect what werift protects, for both suites, across a wrap', () => {
  for (const suite of SRTP_SUITES) {
    const k = masterKeys();
    const ours = new SrtpContext({ suite, ...k });
    const werift = weriftSessions(k).srtp;
    const tagLength = suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 4;
    for (let n = 0; n < PACKETS; n++) {
      const packet = WeriftPacket.deSerialize(rtp(n));
      const srtp80 = werift.encrypt(packet.payload, packet.header);
      // The _32 tag is the first 4 octets of the 80-bit one.
      const srtp = srtp80.subarray(0, srtp80.length - 10 + tagLength);
      const result = ours.unprotect(srtp);
      assert.ok(Buffer.isBuffer(result), `${suite} packet ${n}: dropped as ${String(result)}`);
      assert.deepEqual(result, packet.serialize(), `${suite} packet ${n}`);
    }
    assert.equal(ours.receivedRolloverCounter(SSRC), 1, suite);
    assert.equal(ours.stats.unprotected, PACKETS);
  }
});

test('SRTCP both ways with werift (80-bit tag for both suites)', () => {
  for (const suite of SRTP_SUITES) {
    const k = masterKeys();
    const ours = new SrtpContext({ suite, ...k });
    const werift = weriftSessions(k).srtcp;
    for (let n = 0; n < 300; n++) {
      const rr = new RtcpRrPacket({
        ssrc: SSRC,
        reports: [
          new RtcpReceiverInfo({
            ssrc: 0xabcdef01,
            fractionLost: n & 0xff,
            packetsLost: n,
            highestSequence: 70000 + n,
            jitter: n * 3,
            lsr: n,
            dlsr: 0,
          }),
        ],
      }).serialize();
      assert.deepEqual(werift.decrypt(ours.protectRtcp(rr)), rr, `${suite} ours->werift ${n}`);
      assert.deepEqual(ours.unprotectRtcp(werift.encrypt(rr)), rr, `${suite} werift->ours ${n}`);
    }
  }
});

test('a replayed packet: werift accepts it again, we drop it', () => {
  for (const suite of SRTP_SUITES satisfies readonly SrtpSuite[]) {
    const k = masterKeys();
    const sender = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', ...k });
    const ours = new SrtpContext({ suite, ...k });
    const werift = weriftSessions(k).srtp;
    const plain = [0, 1, 2, 3].map(rtp);
    const captured = plain.map((p) => sender.protect(p));
    // Our _32 receiver gets the same packets with the tag cut to its first 32 bits.
    const tagLength = suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 4;
    const forOurs = (p: Buffer): Buffer => p.subarray(0, p.length - 10 + tagLength);
    for (const [n, p] of captured.entries()) {
      assert.deepEqual(werift.decrypt(p), plain[n]);
      assert.deepEqual(ours.unprotect(forOurs(p)), plain[n]);
    }
    // An attacker sends packet 1 again: werift hands it up a second time, we drop it.
    assert.deepEqual(werift.decrypt(captured[1]!), plain[1]);
    assert.equal(ours.unprotect(forOurs(captured[1]!)), 'replay', suite);
    assert.equal(ours.stats.replayed, 1);
    assert.equal(ours.stats.unprotected, 4);
  }
});
