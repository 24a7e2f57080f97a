import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { needTool, sharedDir } from '../../test/support/peers.ts';
import {
  isRtpVersion2At,
  looksLikeRtcp,
  looksLikeRtp,
  parseRtpHeader,
  rtpHeaderLengthAt,
  rtpMarkerAt,
  rtpPayload,
  rtpPayloadTypeAt,
  rtpSequenceAt,
  rtpSsrcAt,
  rtpTimestampAt,
} from './rtp-header.ts';

test('fixed header fields at the offsets of RFC 3550 5.1', () => {
  const packet = Buffer.from('80e3 1234 deadbeef cafebabe 0102030405'.replace(/ /g, ''), 'hex');
  const h = parseRtpHeader(packet)!;
  assert.equal(h.version, 2);
  assert.equal(h.padding, false);
  assert.equal(h.extension, false);
  assert.equal(h.csrcCount, 0);
  assert.equal(h.marker, true);
  assert.equal(h.payloadType, 0x63);
  assert.equal(h.sequenceNumber, 0x1234);
  assert.equal(h.timestamp, 0xdeadbeef);
  assert.equal(h.ssrc, 0xcafebabe);
  assert.equal(h.payloadOffset, 12);
  assert.equal(h.payloadLength, 5);
  assert.equal(h.extensionProfile, undefined);
});

test('CSRCs, header extension and padding are skipped to find the payload', () => {
  const packet = Buffer.concat([
    Buffer.from([0xb2, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]), // V=2 P=1 X=1 CC=2
    Buffer.from([0, 0, 0, 0x11, 0, 0, 0, 0x22]), // two CSRCs
    Buffer.from([0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]), // one-byte extension profile, 1 word
    Buffer.from([1, 2, 3]), // payload
    Buffer.from([0, 0, 3]), // 3 octets of padding
  ]);
  const h = parseRtpHeader(packet)!;
  assert.deepEqual(h.csrc, [0x11, 0x22]);
  assert.equal(h.extensionProfile, 0xbede);
  assert.deepEqual(h.extensionData, Buffer.from([0x10, 0xaa, 0, 0]));
  assert.equal(h.payloadOffset, 28);
  assert.equal(h.paddingLength, 3);
  assert.equal(h.payloadLength, 3);
  assert.deepEqual(
    packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength),
    Buffer.from([1, 2, 3]),
  );
});

test('malformed packets are rejected', () => {
  assert.equal(parseRtpHeader(Buffer.alloc(11)), undefined);
  assert.equal(parseRtpHeader(Buffer.from('40000001000000010000000100', 'hex')), undefined); // version 1
  assert.equal(parseRtpHeader(Buffer.from('8f0000010000000100000001', 'hex')), undefined); // 15 CSRCs missing
  assert.equal(parseRtpHeader(Buffer.from('90000001000000010000000100010001', 'hex')), undefined); // ext too long
  assert.equal(parseRtpHeader(Buffer.from('a00000010000000100000001000010', 'hex')), undefined); // padding 16 > 3
  assert.equal(parseRtpHeader(Buffer.from('a00000010000000100000001000000', 'hex')), undefined); // padding 0
});

test('RTP and RTCP heuristics tell them apart', () => {
  const rtp = Buffer.from('8000000100000a0011223344' + 'ff'.repeat(160), 'hex');
  assert.ok(looksLikeRtp(rtp));
  assert.ok(!looksLikeRtcp(rtp));
  // An RR with no report blocks, then SDES: compound RTCP. Octet 1 = 201 = marker + PT 73.
  const rr = Buffer.from('80c9000111223344', 'hex');
  const sdes = Buffer.from('81ca00031122334401036162630000', 'hex');
  const compound = Buffer.concat([rr, Buffer.concat([sdes, Buffer.alloc(1)])]);
  assert.ok(looksLikeRtcp(rr));
  assert.ok(looksLikeRtcp(compound));
  assert.ok(!looksLikeRtp(rr));
  assert.ok(!looksLikeRtp(compound));
  // A length field that does not walk to the end is not RTCP.
  assert.ok(!looksLikeRtcp(Buffer.concat([rr, Buffer.alloc(4)])));
  // SIP text is neither.
  const sip = Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\n\r\n');
  assert.ok(!looksLikeRtp(sip));
  assert.ok(!looksLikeRtcp(sip));
});

test('every RTP packet of the sample captures parses as tshark reads it', (t) => {
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  let checked = 0;
  for (const file of [
    'sip-rtp-g711.pcap',
    'SIP_DTMF2.cap',
    'sip-over-tcp.pcap',
    'register-invite-reinvite-bye.pcap',
  ]) {
    const out: string = execFileSync(
      tshark,
      [
        '-r',
        join(sharedDir, 'captures', file),
        '-o',
        'rtp.heuristic_rtp:TRUE',
        '-Y',
        'rtp.ssrc && !icmp',
        '-T',
        'fields',
        ...[
          'udp.payload',
          'rtp.p_type',
          'rtp.seq',
          'rtp.timestamp',
          'rtp.ssrc',
          'rtp.marker',
          'rtp.cc',
          'rtp.padding',
        ].flatMap((f) => ['-e', f]),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
    );
    for (const line of out.trim().split('\n')) {
      const [hex, pt, seq, ts, ssrc, marker, cc, padding] = line.split('\t');
      const packet = Buffer.from(hex!.replace(/:/g, ''), 'hex');
      const h = parseRtpHeader(packet);
      assert.ok(h, `${file}: ${hex}`);
      assert.ok(looksLikeRtp(packet));
      assert.ok(!looksLikeRtcp(packet));
      assert.equal(h.payloadType, Number(pt));
      assert.equal(h.sequenceNumber, Number(seq));
      assert.equal(h.timestamp, Number(ts));
      assert.equal(h.ssrc, Number(ssrc));
      assert.equal(h.marker, marker === '1' || marker === 'True');
      assert.equal(h.csrcCount, Number(cc));
      assert.equal(h.padding, padding === '1' || padding === 'True');
      checked++;
    }
    const rtcp = execFileSync(
      tshark,
      [
        '-r',
        join(sharedDir, 'captures', file),
        '-Y',
        'rtcp && !icmp',
        '-T',
        'fields',
        '-e',
        'udp.payload',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    for (const hex of rtcp.trim().split('\n').filter(Boolean)) {
      const packet = Buffer.from(hex.replace(/:/g, ''), 'hex');
      assert.ok(looksLikeRtcp(packet), `${file}: RTCP ${hex}`);
      assert.ok(!looksLikeRtp(packet), `${file}: RTCP taken for RTP ${hex}`);
    }
  }
  assert.ok(checked > 2000, `only ${checked} packets`);
});

test('random bytes never make the parser throw, and a parse fits inside the buffer', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      if (bytes.length > 0) bytes[0] = (bytes[0]! & 0x3f) | 0x80; // mostly version 2
      const h = parseRtpHeader(bytes);
      if (h) assert.ok(h.payloadOffset + h.payloadLength + h.paddingLength === bytes.length);
      looksLikeRtp(bytes);
      looksLikeRtcp(bytes);
    }),
    { numRuns: 3000 },
  );
});

// The in-place readers are what the analyzer, the relay and SRTP use: they must read exactly what
// parseRtpHeader reads, at any offset in a larger buffer (a datagram inside a captured frame).
test('the in-place readers agree with parseRtpHeader at any offset', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 20 }),
      (bytes, before) => {
        if (bytes.length > 0) bytes[0] = (bytes[0]! & 0x3f) | 0x80;
        const at = before.length;
        const framed = Buffer.concat([
          Buffer.from(before),
          Buffer.from(bytes),
          Buffer.from([9, 9]),
        ]);
        const end = at + bytes.length;
        const h = parseRtpHeader(bytes);
        const length = rtpHeaderLengthAt(framed, at, end);
        if (!h) {
          // Refused by the parser: a header that does not fit, or padding that does not.
          if (length >= 0)
            assert.ok(bytes[0]! & 0x20, "only bad padding is the reader's to ignore");
          return;
        }
        assert.equal(length, h.headerLength);
        assert.ok(isRtpVersion2At(framed, at));
        assert.equal(rtpPayloadTypeAt(framed, at), h.payloadType);
        assert.equal(rtpMarkerAt(framed, at), h.marker);
        assert.equal(rtpSequenceAt(framed, at), h.sequenceNumber);
        assert.equal(rtpTimestampAt(framed, at), h.timestamp);
        assert.equal(rtpSsrcAt(framed, at), h.ssrc);
        assert.deepEqual(
          rtpPayload(Buffer.from(bytes)),
          Buffer.from(bytes).subarray(h.payloadOffset, h.payloadOffset + h.payloadLength),
        );
      },
    ),
    { numRuns: 3000 },
  );
});

test('a header that runs past the datagram has no length; version 1 is not RTP', () => {
  const packet = Buffer.from('82e3 1234 deadbeef cafebabe 00000001'.replace(/ /g, ''), 'hex');
  assert.equal(rtpHeaderLengthAt(packet), -1, 'two CSRCs announced, one present');
  assert.equal(rtpHeaderLengthAt(packet, 0, 11), -1, 'shorter than the fixed header');
  const v1 = Buffer.from('40e3 1234 deadbeef cafebabe'.replace(/ /g, ''), 'hex');
  assert.equal(isRtpVersion2At(v1), false);
  assert.equal(rtpHeaderLengthAt(v1), -1);
});
