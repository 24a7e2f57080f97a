import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { needTool, sharedDir } from '../../test/support/peers.ts';
import {
  formatSdp,
  mediaAddress,
  mediaCodecs,
  mediaDirection,
  parseSdp,
  sdpSummary,
  SdpParseError,
} from './sdp.ts';

const OFFER = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com',
  's=-',
  'c=IN IP4 192.0.2.101',
  't=0 0',
  'a=tool:trapezoid',
  'm=audio 49172 RTP/AVP 0 8 97 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:97 iLBC/8000',
  'a=fmtp:97 mode=30',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=maxptime:150',
  'a=sendrecv',
  'm=video 0 RTP/AVP 31',
  'a=rtpmap:31 H261/90000',
  '',
].join('\r\n');

test('session and media fields of a typical offer', () => {
  const sdp = parseSdp(OFFER);
  assert.equal(sdp.raw, OFFER);
  assert.equal(sdp.version, 0);
  assert.deepEqual(sdp.origin, {
    username: 'alice',
    sessionId: '2890844526',
    sessionVersion: '2890844526',
    addressType: 'IP4',
    address: 'host.atlanta.example.com',
  });
  assert.deepEqual(sdp.connection, { addressType: 'IP4', address: '192.0.2.101' });
  assert.deepEqual(sdp.attributes, [{ name: 'tool', value: 'trapezoid' }]);
  assert.equal(sdp.media.length, 2);
  const audio = sdp.media[0]!;
  assert.equal(audio.type, 'audio');
  assert.equal(audio.port, 49172);
  assert.equal(audio.proto, 'RTP/AVP');
  assert.deepEqual(audio.formats, ['0', '8', '97', '101']);
  assert.equal(audio.ptime, 20);
  assert.equal(audio.maxptime, 150);
  assert.equal(audio.direction, 'sendrecv');
  assert.deepEqual(audio.fmtp, { 97: 'mode=30', 101: '0-16' });
  assert.deepEqual(
    mediaCodecs(audio).map((c) => `${c.payloadType} ${c.encoding}/${c.clockRate}`),
    ['0 PCMU/8000', '8 PCMA/8000', '97 iLBC/8000', '101 telephone-event/8000'],
  );
  assert.deepEqual(mediaAddress(sdp, audio), { addressType: 'IP4', address: '192.0.2.101' });
  assert.equal(sdp.media[1]!.port, 0);
  assert.equal(mediaDirection(sdp, sdp.media[1]!), 'sendrecv');
});

test('formatSdp writes parsed SDP back byte for byte in its canonical order', () => {
  assert.equal(formatSdp(parseSdp(OFFER)), OFFER);
  // LF-only input comes back with CRLF and the same content.
  const lf = OFFER.replace(/\r\n/g, '\n');
  assert.equal(formatSdp(parseSdp(lf)), OFFER);
  // Formatting is stable.
  const once = formatSdp(parseSdp(OFFER));
  assert.equal(formatSdp(parseSdp(once)), once);
});

test('IPv6, media-level c=, port count, session direction, crypto, rtcp, rtcp-mux', () => {
  const text = [
    'v=0',
    'o=- 123456789012345678901 2 IN IP6 2001:db8::1',
    's=call',
    'c=IN IP6 2001:db8::1',
    't=0 0',
    'a=sendonly',
    'm=audio 4000/2 RTP/SAVP 8 0',
    'c=IN IP4 10.0.0.1',
    'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32 KDR=1',
    'a=rtcp:4001 IN IP4 10.0.0.2',
    'a=rtcp-mux',
    'a=x-custom',
    'm=audio 5000 RTP/AVP 0',
    'a=inactive',
    '',
  ].join('\r\n');
  const sdp = parseSdp(text);
  assert.equal(sdp.origin.sessionId, '123456789012345678901');
  assert.equal(sdp.origin.addressType, 'IP6');
  assert.equal(sdp.direction, 'sendonly');
  const [first, second] = sdp.media;
  assert.equal(first!.portCount, 2);
  assert.deepEqual(mediaAddress(sdp, first!), { addressType: 'IP4', address: '10.0.0.1' });
  assert.deepEqual(mediaAddress(sdp, second!), { addressType: 'IP6', address: '2001:db8::1' });
  assert.equal(mediaDirection(sdp, first!), 'sendonly');
  assert.equal(mediaDirection(sdp, second!), 'inactive');
  assert.deepEqual(first!.crypto, [
    {
      tag: 1,
      suite: 'AES_CM_128_HMAC_SHA1_80',
      keyParams: 'inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32',
      sessionParams: 'KDR=1',
    },
  ]);
  assert.deepEqual(first!.rtcp, {
    port: 4001,
    connection: { addressType: 'IP4', address: '10.0.0.2' },
  });
  assert.equal(first!.rtcpMux, true);
  assert.deepEqual(first!.attributes, [{ name: 'x-custom' }]);
  assert.equal(formatSdp(sdp), text);
  assert.equal(
    sdpSummary(sdp),
    'PCMA,PCMU 10.0.0.1:4000 sendonly; PCMU [2001:db8::1]:5000 inactive',
  );
});

test('summaries', () => {
  assert.equal(
    sdpSummary(OFFER),
    'PCMU,PCMA,iLBC,telephone-event 192.0.2.101:49172; video rejected',
  );
  assert.equal(sdpSummary('hello'), '(not SDP)');
  assert.equal(sdpSummary('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n'), '(no media)');
});

test('text that is not SDP is refused with a reason', () => {
  assert.throws(() => parseSdp(''), SdpParseError);
  assert.throws(() => parseSdp('INVITE sip:a@b SIP/2.0'), /v= line/);
  assert.throws(() => parseSdp('v=0\r\ns=-\r\n'), /o= line/);
  assert.throws(
    () => parseSdp('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio x RTP/AVP 0\r\n'),
    /bad m= line/,
  );
  assert.throws(() => parseSdp('v=0\r\nhello\r\n'), /line 2/);
});

test('SDP bodies in the sample captures read as tshark reads them', (t) => {
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  let checked = 0;
  for (const file of ['sip-rtp-g711.pcap', 'SIP_DTMF2.cap', 'register-invite-reinvite-bye.pcap']) {
    const out: string = execFileSync(
      tshark,
      [
        '-r',
        join(sharedDir, 'captures', file),
        '-Y',
        'sdp && udp',
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-e',
        'udp.payload',
        '-e',
        'sdp.media.port',
        '-e',
        'sdp.connection_info.address',
        '-e',
        'sdp.media.media',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    for (const line of out.trim().split('\n').filter(Boolean)) {
      const [hex, ports, addresses, types] = line.split('|');
      const message = Buffer.from(hex!.replace(/:/g, ''), 'hex').toString('latin1');
      const body = message.slice(message.indexOf('\r\n\r\n') + 4);
      const sdp = parseSdp(body);
      assert.deepEqual(
        sdp.media.map((m) => m.port),
        ports!.split(',').map(Number),
      );
      assert.deepEqual(
        sdp.media.map((m) => m.type),
        types!.split(','),
      );
      const theirAddresses = addresses!.split(',');
      assert.ok(theirAddresses.includes(mediaAddress(sdp, sdp.media[0]!)!.address));
      assert.equal(formatSdp(parseSdp(formatSdp(sdp))), formatSdp(sdp));
      assert.notEqual(sdpSummary(body), '(not SDP)');
      checked++;
    }
  }
  assert.ok(checked >= 6, `only ${checked} SDP bodies`);
});

test('mangled SDP either parses or fails with SdpParseError', () => {
  const lines = parseSdp(
    'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n',
  ).raw.split('\r\n');
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constantFrom(...lines), fc.string({ maxLength: 20 })), {
        maxLength: 12,
      }),
      (picked) => {
        try {
          const sdp = parseSdp(picked.join('\r\n'));
          formatSdp(sdp);
          sdpSummary(sdp);
        } catch (e) {
          if (!(e instanceof SdpParseError)) throw e;
        }
      },
    ),
    { numRuns: 1000 },
  );
});
