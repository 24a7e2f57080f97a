import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  RtcpPacketConverter,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
} from 'werift-rtp';
import { needTool, sharedDir } from '../../test/support/peers.ts';
import {
  marshalRtcp,
  ntpFromUnixMs,
  ntpMiddle32,
  parseRtcp,
  RtcpParseError,
  SDES_CNAME,
  unixMsFromNtp,
  type ReceptionReport,
  type RtcpPacket,
} from './rtcp.ts';
import { looksLikeRtcp, looksLikeRtp } from './rtp-header.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const arbitraryReport = fc.record({
  ssrc: u32,
  fractionLost: fc.integer({ min: 0, max: 255 }),
  cumulativeLost: fc.integer({ min: 0, max: 0x7fffff }),
  extendedHighestSequence: u32,
  jitter: u32,
  lastSr: u32,
  delaySinceLastSr: u32,
});

function weriftReport(r: ReceptionReport): RtcpReceiverInfo {
  return new RtcpReceiverInfo({
    ssrc: r.ssrc,
    fractionLost: r.fractionLost,
    packetsLost: r.cumulativeLost,
    highestSequence: r.extendedHighestSequence,
    jitter: r.jitter,
    lsr: r.lastSr,
    dlsr: r.delaySinceLastSr,
  });
}

test('SR and RR bytes equal werift-rtp on random reports, both ways', () => {
  fc.assert(
    fc.property(
      u32,
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      u32,
      u32,
      u32,
      fc.array(arbitraryReport, { maxLength: 5 }),
      (ssrc, ntp, rtpTimestamp, packetCount, octetCount, generated) => {
        const reports = generated.map((r) => ({ ...r }));
        const sr: RtcpPacket = {
          type: 'sr',
          ssrc,
          senderInfo: { ntpTimestamp: ntp, rtpTimestamp, packetCount, octetCount },
          reports,
        };
        const theirs = new RtcpSrPacket({
          ssrc,
          senderInfo: new RtcpSenderInfo({
            ntpTimestamp: ntp,
            rtpTimestamp,
            packetCount,
            octetCount,
          }),
          reports: reports.map(weriftReport),
        }).serialize();
        assert.deepEqual(marshalRtcp([sr]), theirs);
        assert.deepEqual(parseRtcp(theirs), [sr]);

        const rr: RtcpPacket = { type: 'rr', ssrc, reports };
        const theirRr = new RtcpRrPacket({ ssrc, reports: reports.map(weriftReport) }).serialize();
        assert.deepEqual(marshalRtcp([rr]), theirRr);
        assert.deepEqual(parseRtcp(theirRr), [rr]);
      },
    ),
    { numRuns: 200 },
  );
});

test('SDES written here is read by werift-rtp; compound SR+SDES+BYE round-trips', () => {
  fc.assert(
    fc.property(u32, fc.string({ minLength: 1, maxLength: 40 }), (ssrc, cname) => {
      const packets: RtcpPacket[] = [
        { type: 'rr', ssrc, reports: [] },
        { type: 'sdes', chunks: [{ ssrc, items: [{ type: SDES_CNAME, text: cname }] }] },
        { type: 'bye', sources: [ssrc], reason: 'bye now' },
      ];
      const wire = marshalRtcp(packets);
      assert.equal(wire.length % 4, 0);
      assert.ok(looksLikeRtcp(wire));
      assert.ok(!looksLikeRtp(wire));
      assert.deepEqual(parseRtcp(wire), packets);
      const theirs = RtcpPacketConverter.deSerialize(wire);
      const sdes = theirs.find((p) => p.type === 202) as RtcpSourceDescriptionPacket;
      assert.equal(sdes.chunks[0]!.source, ssrc);
      assert.equal(sdes.chunks[0]!.items[0]!.text, cname);
    }),
    { numRuns: 200 },
  );
  // werift's SDES with an unaligned item is read here.
  const theirs = new RtcpSourceDescriptionPacket({
    chunks: [
      new SourceDescriptionChunk({
        source: 7,
        items: [new SourceDescriptionItem({ type: 1, text: 'abc@host' })],
      }),
    ],
  }).serialize();
  assert.deepEqual(parseRtcp(theirs), [
    { type: 'sdes', chunks: [{ ssrc: 7, items: [{ type: 1, text: 'abc@host' }] }] },
  ]);
});

test('BYE without reason, negative cumulative lost, padding, unknown types, errors', () => {
  const packets: RtcpPacket[] = [
    {
      type: 'rr',
      ssrc: 1,
      reports: [
        {
          ssrc: 2,
          fractionLost: 0,
          cumulativeLost: -3,
          extendedHighestSequence: 70000,
          jitter: 12,
          lastSr: 0,
          delaySinceLastSr: 0,
        },
      ],
    },
    {
      type: 'other',
      packetType: 204,
      count: 1,
      body: Buffer.from('00000001414243440102030405060708', 'hex'),
    },
    { type: 'bye', sources: [1, 2] },
  ];
  const wire = marshalRtcp(packets);
  assert.deepEqual(parseRtcp(wire), packets);
  // A padded last packet: BYE with P bit and 4 octets of padding.
  const padded = Buffer.from('a1cb0002000000010000000' + '4', 'hex');
  assert.deepEqual(parseRtcp(padded), [{ type: 'bye', sources: [1] }]);
  assert.throws(() => parseRtcp(Buffer.from('81c90007000000010000', 'hex')), RtcpParseError);
  assert.throws(() => parseRtcp(Buffer.from('41c9000100000001', 'hex')), /version 1/);
  assert.throws(
    () => marshalRtcp([{ type: 'bye', sources: Array.from({ length: 32 }, (_, i) => i) }]),
    RangeError,
  );
});

test('NTP timestamps', () => {
  const ms = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const ntp = ntpFromUnixMs(ms);
  assert.equal(Number(ntp >> 32n), ms / 1000 - 0.678 + 2208988800);
  assert.ok(Math.abs(unixMsFromNtp(ntp) - ms) < 0.001);
  assert.equal(ntpMiddle32(0x0123456789abcdefn), 0x456789ab);
});

test('RTCP in sip-over-tcp.pcap reads as tshark decodes it', (t) => {
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  const out = execFileSync(
    tshark,
    [
      '-r',
      join(sharedDir, 'captures', 'sip-over-tcp.pcap'),
      '-Y',
      'rtcp',
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'udp.payload',
      '-e',
      'rtcp.pt',
      '-e',
      'rtcp.senderssrc',
      '-e',
      'rtcp.sdes.text',
      '-e',
      'rtcp.ssrc.high_seq',
      '-e',
      'rtcp.ssrc.jitter',
      '-e',
      'rtcp.ssrc.cum_nr',
      '-e',
      'rtcp.sender.packetcount',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const lines = out.trim().split('\n').filter(Boolean);
  assert.ok(lines.length > 0);
  for (const line of lines) {
    const [hex, types, senders, texts, highSeq, jitter, cumulative, packetCount] = line.split('|');
    const packets = parseRtcp(Buffer.from(hex!.replace(/:/g, ''), 'hex'));
    const typeNumbers = packets.map((p) =>
      p.type === 'other' ? p.packetType : { sr: 200, rr: 201, sdes: 202, bye: 203 }[p.type],
    );
    assert.deepEqual(typeNumbers, types!.split(',').map(Number));
    const report = packets[0]!;
    assert.ok(report.type === 'sr' || report.type === 'rr');
    assert.equal(report.ssrc, Number(senders!.split(',')[0]));
    if (report.type === 'sr') assert.equal(report.senderInfo.packetCount, Number(packetCount));
    if (highSeq) {
      assert.equal(report.reports[0]!.extendedHighestSequence, Number(highSeq.split(',')[0]));
      assert.equal(report.reports[0]!.jitter, Number(jitter!.split(',')[0]));
      assert.equal(report.reports[0]!.cumulativeLost, Number(cumulative!.split(',')[0]));
    }
    const sdes = packets.find((p) => p.type === 'sdes');
    if (texts)
      assert.equal(sdes?.type === 'sdes' && sdes.chunks[0]!.items[0]!.text, texts.split(',')[0]);
  }
});

test('random bytes either parse or fail with RtcpParseError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      try {
        const packets = parseRtcp(bytes);
        // Whatever parses, writes back to something that parses the same.
        assert.deepEqual(parseRtcp(marshalRtcp(packets)), packets);
      } catch (e) {
        if (!(e instanceof RtcpParseError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
});
