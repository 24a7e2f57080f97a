import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtpHeader as WeriftHeader, RtpPacket as WeriftPacket } from 'werift-rtp';
import { RtpPacket, RtpParseError } from './rtp-packet.ts';
import {
  sequenceAdd,
  sequenceDiff,
  SerialUnwrapper,
  timestampAdd,
  timestampDiff,
} from './sequence.ts';

const arbitraryPacket = fc.record({
  marker: fc.boolean(),
  payloadType: fc.integer({ min: 0, max: 127 }),
  sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
  timestamp: fc.integer({ min: 0, max: 0xffffffff }),
  ssrc: fc.integer({ min: 0, max: 0xffffffff }),
  csrc: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
  extensions: fc.option(
    fc.array(
      fc.record({
        id: fc.integer({ min: 1, max: 14 }),
        payload: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  ),
  payload: fc.uint8Array({ maxLength: 300 }),
  padding: fc.integer({ min: 0, max: 255 }),
});

test('unmarshal and marshal agree with werift-rtp on random packets', () => {
  fc.assert(
    fc.property(arbitraryPacket, (p) => {
      const header = new WeriftHeader({
        marker: p.marker,
        payloadType: p.payloadType,
        sequenceNumber: p.sequenceNumber,
        timestamp: p.timestamp,
        ssrc: p.ssrc,
        csrc: p.csrc,
        csrcLength: p.csrc.length,
        padding: p.padding > 0,
        paddingSize: p.padding,
        extensionProfile: 0xbede,
        extensions: (p.extensions ?? []).map((e) => ({
          id: e.id,
          payload: Buffer.from(e.payload),
        })),
      });
      const wire = new WeriftPacket(header, Buffer.from(p.payload)).serialize();

      const ours = RtpPacket.unmarshal(wire);
      assert.equal(ours.marker, p.marker);
      assert.equal(ours.payloadType, p.payloadType);
      assert.equal(ours.sequenceNumber, p.sequenceNumber);
      assert.equal(ours.timestamp, p.timestamp);
      assert.equal(ours.ssrc, p.ssrc);
      assert.deepEqual(ours.csrc, p.csrc);
      assert.equal(ours.paddingLength, p.padding);
      assert.deepEqual(Buffer.from(ours.payload), Buffer.from(p.payload));
      assert.equal(ours.extensionProfile, p.extensions ? 0xbede : undefined);
      // Writing it back gives werift's bytes.
      assert.deepEqual(ours.marshal(), wire);
      // And werift reads what we write.
      const back = WeriftPacket.deSerialize(ours.marshal());
      assert.equal(back.header.sequenceNumber, p.sequenceNumber);
      assert.equal(back.header.timestamp, p.timestamp);
      assert.deepEqual(back.header.csrc, p.csrc);
      assert.deepEqual(
        back.header.extensions.map((e) => [e.id, Buffer.from(e.payload).toString('hex')]),
        (p.extensions ?? []).map((e) => [e.id, Buffer.from(e.payload).toString('hex')]),
      );
      assert.deepEqual(Buffer.from(back.payload), Buffer.from(p.payload));
    }),
    { numRuns: 500 },
  );
});

test('marshalTo writes into the caller buffer at an offset and reports the size', () => {
  const packet = new RtpPacket({
    payloadType: 0,
    sequenceNumber: 65535,
    timestamp: 0xffffffff,
    ssrc: 0x12345678,
    marker: true,
    payload: new Uint8Array(160).fill(0xff),
  });
  const buf = Buffer.alloc(200, 0xaa);
  const written = packet.marshalTo(buf, 10);
  assert.equal(written, 172);
  assert.equal(packet.marshalSize(), 172);
  assert.equal(buf[9], 0xaa);
  assert.equal(buf[182], 0xaa);
  assert.deepEqual(buf.subarray(10, 22), Buffer.from('8080ffffffffffff12345678', 'hex'));
  assert.throws(() => packet.marshalTo(Buffer.alloc(171)), RangeError);
  assert.throws(
    () =>
      new RtpPacket({
        payloadType: 0,
        sequenceNumber: 0,
        timestamp: 0,
        ssrc: 0,
        extensionProfile: 1,
        extensionData: new Uint8Array(3),
      }).marshal(),
    /multiple of 4/,
  );
  assert.throws(() => RtpPacket.unmarshal(Buffer.alloc(5)), RtpParseError);
  assert.throws(
    () => RtpPacket.unmarshal(Buffer.from('400000000000000000000000', 'hex')),
    /version 1/,
  );
});

test('sequence and timestamp arithmetic wraps', () => {
  assert.equal(sequenceAdd(65535, 1), 0);
  assert.equal(sequenceAdd(0, -1), 65535);
  assert.equal(sequenceDiff(65535, 2), 3);
  assert.equal(sequenceDiff(2, 65535), -3);
  assert.equal(timestampAdd(0xffffff00, 0x200), 0x100);
  assert.equal(timestampDiff(0xffffff00, 0x100), 0x200);
  assert.equal(timestampDiff(0x100, 0xffffff00), -0x200);
  const seq = new SerialUnwrapper(16);
  assert.deepEqual(
    [65534, 65535, 0, 65533, 1, 2].map((s) => seq.unwrap(s)),
    [65534, 65535, 65536, 65533, 65537, 65538],
  );
  const ts = new SerialUnwrapper(32);
  assert.deepEqual(
    [0xfffffe00, 0x100, 0xffffff00].map((t) => ts.unwrap(t)),
    [0xfffffe00, 0x100000100, 0xffffff00],
  );
});
