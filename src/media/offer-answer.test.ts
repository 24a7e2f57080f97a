import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerDirection, createAnswer, createOffer, negotiateAudio } from './offer-answer.ts';
import { formatSdp, parseSdp, type Direction } from './sdp.ts';

test('a default offer: PCMU, PCMA, telephone-event, ptime 20, sendrecv, byte-stable text', () => {
  const offer = createOffer({
    address: '10.0.0.1',
    port: 4000,
    sessionId: '42',
    sessionVersion: 1,
  });
  assert.equal(
    formatSdp(offer),
    [
      'v=0',
      'o=- 42 1 IN IP4 10.0.0.1',
      's=-',
      'c=IN IP4 10.0.0.1',
      't=0 0',
      'm=audio 4000 RTP/AVP 0 8 101',
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-16',
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n'),
  );
  // What we write, we read back the same.
  const text = formatSdp(offer);
  assert.equal(formatSdp(parseSdp(text)), text);
});

test('dynamic payload types are numbered from 96 when not given', () => {
  const offer = createOffer({
    address: '10.0.0.1',
    port: 4000,
    codecs: [
      { encoding: 'opus', clockRate: 48000, channels: 2 },
      { encoding: 'PCMA', clockRate: 8000 },
      { encoding: 'telephone-event', clockRate: 8000 },
    ],
  });
  assert.deepEqual(offer.media[0]!.formats, ['96', '8', '97']);
  assert.deepEqual(offer.media[0]!.rtpmap[0], {
    payloadType: 96,
    encoding: 'opus',
    clockRate: 48000,
    channels: 2,
  });
});

const REMOTE_OFFER = [
  'v=0',
  'o=bob 1 1 IN IP4 192.0.2.7',
  's=-',
  't=0 0',
  'm=audio 30000 RTP/AVP 8 18 0 96',
  'c=IN IP4 192.0.2.7',
  'a=rtpmap:18 G729/8000',
  'a=rtpmap:96 telephone-event/8000',
  'a=fmtp:96 0-15',
  'a=ptime:30',
  'm=video 30002 RTP/AVP 31',
  '',
].join('\r\n');

test('the answer keeps the offerer order and numbers, and rejects what it cannot do', () => {
  const answer = createAnswer(REMOTE_OFFER, { address: '10.0.0.1', port: 5000, sessionId: '7' });
  assert.equal(answer.media.length, 2);
  const audio = answer.media[0]!;
  // Offer order is PCMA, G729, PCMU, events: we do not do G729.
  assert.deepEqual(audio.formats, ['8', '0', '96']);
  assert.deepEqual(
    audio.rtpmap.map((r) => `${r.payloadType} ${r.encoding}`),
    ['8 PCMA', '0 PCMU', '96 telephone-event'],
  );
  assert.equal(audio.direction, 'sendrecv');
  assert.equal(audio.port, 5000);
  // Video is refused with port 0, same media type.
  assert.equal(answer.media[1]!.port, 0);
  assert.equal(answer.media[1]!.type, 'video');
  const text = formatSdp(answer);
  assert.match(text, /^m=video 0 RTP\/AVP 31\r$/m);
  assert.match(text, /^c=IN IP4 10\.0\.0\.1\r$/m);
});

test('a stream with only telephone-event in common, or SRTP without keys, is rejected', () => {
  const onlyEvents = REMOTE_OFFER.replace('RTP/AVP 8 18 0 96', 'RTP/AVP 18 96');
  assert.equal(createAnswer(onlyEvents, { address: '10.0.0.1', port: 5000 }).media[0]!.port, 0);
  const srtp = REMOTE_OFFER.replace('m=audio 30000 RTP/AVP', 'm=audio 30000 RTP/SAVP').replace(
    'a=ptime:30',
    'a=ptime:30\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR',
  );
  assert.equal(createAnswer(srtp, { address: '10.0.0.1', port: 5000 }).media[0]!.port, 0);
  const withKeys = createAnswer(srtp, {
    address: '10.0.0.1',
    port: 5000,
    acceptCrypto: (offered) => ({
      ...offered[0]!,
      keyParams: 'inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz',
    }),
  });
  assert.equal(withKeys.media[0]!.port, 5000);
  assert.equal(withKeys.media[0]!.proto, 'RTP/SAVP');
  assert.equal(withKeys.media[0]!.crypto[0]!.suite, 'AES_CM_128_HMAC_SHA1_80');
  // A stream offered with port 0 stays rejected.
  const off = REMOTE_OFFER.replace('m=audio 30000', 'm=audio 0');
  assert.equal(createAnswer(off, { address: '10.0.0.1', port: 5000 }).media[0]!.port, 0);
});

test('direction negotiation table (RFC 3264 6.1)', () => {
  const table: [Direction, Direction, Direction][] = [
    ['sendrecv', 'sendrecv', 'sendrecv'],
    ['sendrecv', 'sendonly', 'sendonly'],
    ['sendrecv', 'recvonly', 'recvonly'],
    ['sendrecv', 'inactive', 'inactive'],
    ['sendonly', 'sendrecv', 'recvonly'],
    ['sendonly', 'sendonly', 'inactive'],
    ['recvonly', 'sendrecv', 'sendonly'],
    ['recvonly', 'recvonly', 'inactive'],
    ['inactive', 'sendrecv', 'inactive'],
  ];
  for (const [offered, wanted, expected] of table) {
    assert.equal(answerDirection(offered, wanted), expected, `${offered} + ${wanted}`);
  }
});

test('hold: a sendonly re-offer is answered recvonly; each side knows who sends', () => {
  const alice = { address: '10.0.0.1', port: 4000, sessionId: '1' };
  const bob = { address: '10.0.0.2', port: 6000, sessionId: '2' };
  const offer = createOffer({
    ...alice,
    codecs: [
      { encoding: 'PCMA', clockRate: 8000 },
      { encoding: 'PCMU', clockRate: 8000 },
      { encoding: 'telephone-event', clockRate: 8000, payloadType: 100 },
    ],
  });
  const answer = createAnswer(formatSdp(offer), {
    ...bob,
    codecs: [
      { encoding: 'PCMU', clockRate: 8000 },
      { encoding: 'PCMA', clockRate: 8000 },
      { encoding: 'telephone-event', clockRate: 8000, payloadType: 101 },
    ],
  });
  const a = negotiateAudio(offer, answer)!;
  const b = negotiateAudio(answer, offer)!;
  // Bob answered in Alice's order: both send PCMA; events keep Alice's number 100.
  assert.equal(a.codec.encoding, 'PCMA');
  assert.equal(b.codec.encoding, 'PCMA');
  assert.equal(a.telephoneEvent!.payloadType, 100);
  assert.equal(b.telephoneEvent!.payloadType, 100);
  assert.equal(a.remoteAddress, '10.0.0.2');
  assert.equal(a.remotePort, 6000);
  assert.equal(a.remoteRtcpPort, 6001);
  assert.equal(b.remotePort, 4000);
  assert.deepEqual([a.send, a.receive, b.send, b.receive], [true, true, true, true]);

  const hold = createOffer({ ...alice, direction: 'sendonly', sessionVersion: 2 });
  const holdAnswer = createAnswer(hold, bob);
  assert.equal(holdAnswer.media[0]!.direction, 'recvonly');
  const ah = negotiateAudio(hold, holdAnswer)!;
  const bh = negotiateAudio(holdAnswer, hold)!;
  assert.deepEqual([ah.send, ah.receive, bh.send, bh.receive], [true, false, false, true]);

  const inactive = createAnswer(createOffer({ ...alice, direction: 'inactive' }), bob);
  assert.equal(inactive.media[0]!.direction, 'inactive');
});

test('IPv6 and media-level connection lines', () => {
  const offer = createOffer({
    address: '2001:db8::10',
    port: 4000,
    connectionAtMediaLevel: true,
    sessionId: '5',
  });
  const text = formatSdp(offer);
  assert.match(text, /^o=- 5 5 IN IP6 2001:db8::10\r$/m);
  assert.doesNotMatch(text, /^c=.*\r\nt=/m);
  assert.match(text, /^m=audio 4000 RTP\/AVP 0 8 101\r\nc=IN IP6 2001:db8::10\r$/m);
  const answer = createAnswer(text, { address: '2001:db8::20', port: 7000 });
  const n = negotiateAudio(answer, parseSdp(text))!;
  assert.equal(n.remoteAddress, '2001:db8::10');
  assert.equal(n.remoteAddressType, 'IP6');
  assert.equal(n.codec.encoding, 'PCMU');
  assert.match(formatSdp(answer), /^c=IN IP6 2001:db8::20\r$/m);
});

test('regression: the answerer receives with the offer line whose tag it accepted, not the first', () => {
  // Two offered lines; the answerer can only use the second (suite _32), so it answers tag 2.
  const offer = createOffer({
    address: '10.0.0.2',
    port: 30000,
    crypto: [
      {
        tag: 1,
        suite: 'F8_128_HMAC_SHA1_80',
        keyParams: 'inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      },
      {
        tag: 2,
        suite: 'AES_CM_128_HMAC_SHA1_32',
        keyParams: 'inline:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
      },
    ],
  });
  const answer = createAnswer(offer, {
    address: '10.0.0.1',
    port: 5000,
    acceptCrypto: (offered) => {
      const usable = offered.find((c) => c.suite.startsWith('AES_CM'));
      return usable && { ...usable, keyParams: 'inline:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC' };
    },
  });
  assert.equal(answer.media[0]!.crypto[0]!.tag, 2);
  const answerer = negotiateAudio(answer, offer);
  assert.equal(answerer?.remoteCrypto?.tag, 2);
  assert.equal(answerer?.remoteCrypto?.suite, 'AES_CM_128_HMAC_SHA1_32');
  assert.match(answerer?.remoteCrypto?.keyParams ?? '', /^inline:B/);
  // The offerer receives with the answer's single line.
  const offerer = negotiateAudio(offer, answer);
  assert.equal(offerer?.remoteCrypto?.tag, 2);
  assert.match(offerer?.remoteCrypto?.keyParams ?? '', /^inline:C/);
  // An answer naming a tag that was never offered gives no key to receive with.
  const bogus = {
    ...answer,
    media: [{ ...answer.media[0]!, crypto: [{ ...answer.media[0]!.crypto[0]!, tag: 7 }] }],
  };
  assert.equal(negotiateAudio(offer, bogus)?.remoteCrypto, undefined);
});

test('RTCP goes to the RTP port only when both sides asked for rtcp-mux (RFC 5761)', () => {
  const offer = createOffer({ address: '10.0.0.2', port: 30000 });
  offer.media[0]!.rtcpMux = true;
  const answer = createAnswer(offer, { address: '10.0.0.1', port: 5000 });
  assert.equal(answer.media[0]!.rtcpMux, false);
  assert.equal(negotiateAudio(answer, offer)?.remoteRtcpPort, 30001);
  answer.media[0]!.rtcpMux = true;
  assert.equal(negotiateAudio(answer, offer)?.remoteRtcpPort, 30000);
});
