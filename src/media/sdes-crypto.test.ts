import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RtpPacket } from './rtp-packet.ts';
import { parseSdp } from './sdp.ts';
import { SrtpContext } from './srtp-context.ts';
import {
  SDES_KEY_SALT_LENGTH,
  SdesParseError,
  acceptSdesCrypto,
  answerSdesOffer,
  createSdesCrypto,
  createSdesOffer,
  formatSdesCrypto,
  fromSdpCrypto,
  parseSdesCrypto,
  sdesMkiBytes,
  srtpOptionsFromSdes,
  toSdpCrypto,
} from './sdes-crypto.ts';

// RFC 4568 section 4's example key.
const KEY = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';

test('parses the RFC 4568 example with lifetime and MKI', () => {
  const c = parseSdesCrypto(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4`);
  assert.equal(c.tag, 1);
  assert.equal(c.suite, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(c.keys.length, 1);
  assert.deepEqual(c.keys[0]!.keySalt, Buffer.from(KEY, 'base64'));
  assert.equal(c.keys[0]!.keySalt.length, SDES_KEY_SALT_LENGTH);
  assert.equal(c.keys[0]!.lifetime, 2 ** 20);
  assert.deepEqual(c.keys[0]!.mki, { value: 1, length: 4 });
  assert.deepEqual(c.sessionParams, []);
});

test('accepts the value with or without "a=crypto:", decimal lifetimes, tabs and session params', () => {
  const bare = parseSdesCrypto(`2 AES_CM_128_HMAC_SHA1_32\tinline:${KEY}|1048576 KDR=1 WSH=256`);
  assert.equal(bare.tag, 2);
  assert.equal(bare.suite, 'AES_CM_128_HMAC_SHA1_32');
  assert.equal(bare.keys[0]!.lifetime, 1048576);
  assert.equal(bare.keys[0]!.mki, undefined);
  assert.deepEqual(bare.sessionParams, ['KDR=1', 'WSH=256']);
  assert.equal(parseSdesCrypto(`crypto:3 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`).tag, 3);
  assert.equal(parseSdesCrypto(`  a=crypto:4 AES_CM_128_HMAC_SHA1_80 inline:${KEY}\r\n`).tag, 4);
});

test('reads suites it does not implement (an offer may list them) with keys of other sizes', () => {
  const key46 = Buffer.alloc(46, 7).toString('base64');
  const c = parseSdesCrypto(`1 AES_256_CM_HMAC_SHA1_80 inline:${key46}`);
  assert.equal(c.keys[0]!.keySalt.length, 46);
});

test('several keys, each with an MKI', () => {
  const c = parseSdesCrypto(
    `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4;inline:${KEY}|2^20|2:4`,
  );
  assert.deepEqual(
    c.keys.map((k) => k.mki?.value),
    [1, 2],
  );
});

test('malformed lines are rejected with an error naming the problem', () => {
  const cases: [string, RegExp][] = [
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80`, /needs a tag, a crypto suite and key parameters/],
    [`a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:${KEY}`, /tag "x"/],
    [`a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`, /tag "1234567890"/],
    [`a=crypto:1 AES-CM inline:${KEY}`, /crypto suite "AES-CM"/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${KEY}`, /is not "inline:<key\|\|salt>"/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:not*base64`, /is not base64/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY.slice(0, 32)}`, /needs 30 octets.*has 24/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:200`, /MKI length 200/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|300:1`, /does not fit in 1 octets/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|forever`, /neither a lifetime/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|1:4|2^20`, /neither a lifetime/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4|5`, /too many "\|" fields/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|0`, /not a positive packet count/],
    [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY};inline:${KEY}`, /need an MKI each/],
  ];
  for (const [line, reason] of cases) {
    assert.throws(
      () => parseSdesCrypto(line),
      (e: unknown) => e instanceof SdesParseError && reason.test(e.message) && e.line === line,
      line,
    );
  }
});

test('format is the inverse of parse', () => {
  for (const line of [
    `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4`,
    `a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:${KEY}`,
    `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|1000 WSH=128`,
  ]) {
    assert.equal(formatSdesCrypto(parseSdesCrypto(line)), line);
  }
  const fresh = createSdesCrypto(5, 'AES_CM_128_HMAC_SHA1_32');
  assert.deepEqual(parseSdesCrypto(formatSdesCrypto(fresh)), fresh);
});

test('fresh keys are 30 random octets, different every time', () => {
  const offer = createSdesOffer();
  assert.deepEqual(
    offer.map((c) => [c.tag, c.suite]),
    [
      [1, 'AES_CM_128_HMAC_SHA1_80'],
      [2, 'AES_CM_128_HMAC_SHA1_32'],
    ],
  );
  assert.equal(offer[0]!.keys[0]!.keySalt.length, 30);
  assert.notDeepEqual(offer[0]!.keys[0]!.keySalt, offer[1]!.keys[0]!.keySalt);
});

test('the answer takes the first line we support, same tag and suite, with a key of our own', () => {
  const offered = [
    `a=crypto:1 AEAD_AES_256_GCM inline:${Buffer.alloc(44).toString('base64')}`,
    `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${KEY} UNENCRYPTED_SRTP`,
    `a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:garbage!`,
    `a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:${KEY}|2^31`,
    `a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:${KEY}`,
  ];
  const chosen = answerSdesOffer(offered);
  assert.ok(chosen);
  assert.equal(chosen.offer.tag, 4);
  assert.equal(chosen.answer.tag, 4);
  assert.equal(chosen.answer.suite, 'AES_CM_128_HMAC_SHA1_32');
  assert.equal(chosen.answer.keys[0]!.keySalt.length, 30);
  assert.notDeepEqual(chosen.answer.keys[0]!.keySalt, chosen.offer.keys[0]!.keySalt);
  assert.equal(answerSdesOffer(offered.slice(0, 3)), undefined);
  assert.equal(answerSdesOffer([]), undefined);
});

test('works on the crypto lines of a parsed SDP and answers through the acceptCrypto hook', () => {
  const sdp = parseSdp(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=audio 4000 RTP/SAVP 0',
      `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4`,
      `a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${KEY}`,
      '',
    ].join('\r\n'),
  );
  const offered = sdp.media[0]!.crypto;
  assert.equal(offered.length, 2);
  assert.deepEqual(
    fromSdpCrypto(offered[0]!),
    parseSdesCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|1:4`),
  );
  const answer = acceptSdesCrypto(offered);
  assert.ok(answer);
  assert.equal(answer.tag, 1);
  assert.equal(answer.suite, 'AES_CM_128_HMAC_SHA1_80');
  assert.match(answer.keyParams, /^inline:[A-Za-z0-9+/]{40}\|1:4$/);
  assert.deepEqual(toSdpCrypto(fromSdpCrypto(answer)), answer);
});

test('offer and answer keys drive two SRTP contexts that talk to each other', () => {
  const offer = createSdesOffer(['AES_CM_128_HMAC_SHA1_32']);
  const chosen = answerSdesOffer(offer.map(formatSdesCrypto));
  assert.ok(chosen);
  // The offerer sends with its key; the answerer receives with the offered key, and back.
  const offererSend = new SrtpContext(srtpOptionsFromSdes(offer[0]!));
  const answererReceive = new SrtpContext(srtpOptionsFromSdes(chosen.offer));
  const answererSend = new SrtpContext(srtpOptionsFromSdes(chosen.answer));
  const offererReceive = new SrtpContext(srtpOptionsFromSdes(toSdpCrypto(chosen.answer)));
  const packet = new RtpPacket({
    payloadType: 0,
    sequenceNumber: 1,
    timestamp: 0,
    ssrc: 9,
    payload: Buffer.alloc(160, 0xd5),
  }).marshal();
  assert.deepEqual(answererReceive.unprotect(offererSend.protect(packet)), packet);
  assert.deepEqual(offererReceive.unprotect(answererSend.protect(packet)), packet);
  // Keys cross: the answerer's sending key does not open the offerer's packets.
  assert.equal(
    new SrtpContext(srtpOptionsFromSdes(chosen.answer)).unprotect(offererSend.protect(packet)),
    'auth',
  );
});

test('srtpOptionsFromSdes: key and salt split, MKI bytes, WSH as the replay window', () => {
  const c = parseSdesCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY}|2^20|258:4 WSH=256`);
  const options = srtpOptionsFromSdes(c);
  const raw = Buffer.from(KEY, 'base64');
  assert.deepEqual(Buffer.from(options.masterKey), raw.subarray(0, 16));
  assert.deepEqual(Buffer.from(options.masterSalt), raw.subarray(16));
  assert.deepEqual(options.mki, Buffer.from([0, 0, 1, 2]));
  assert.equal(options.replayWindow, 256);
  assert.deepEqual(sdesMkiBytes({ value: 1, length: 1 }), Buffer.from([1]));
  assert.throws(
    () => srtpOptionsFromSdes(parseSdesCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY} KDR=1`)),
    /not usable/,
  );
});
