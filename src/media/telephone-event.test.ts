import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { needTool, sharedDir } from '../../test/support/peers.ts';
import { parseRtpHeader } from './rtp-header.ts';
import {
  buildTelephoneEvent,
  digitToEvent,
  DtmfEventDetector,
  eventToDigit,
  looksLikeDtmfEvent,
  parseTelephoneEvent,
  type DetectedEvent,
} from './telephone-event.ts';

test('RFC 4733 payload: parse and build are inverse, bit positions as in the diagram', () => {
  // Event 11 (#), E set, volume 10, duration 1600 = 0x0640.
  const wire = Buffer.from([0x0b, 0x8a, 0x06, 0x40]);
  assert.deepEqual(parseTelephoneEvent(wire), { event: 11, end: true, volume: 10, duration: 1600 });
  assert.deepEqual(buildTelephoneEvent({ event: 11, end: true, volume: 10, duration: 1600 }), wire);
  // The reserved bit is ignored on input.
  assert.equal(parseTelephoneEvent(Buffer.from([0x05, 0x4a, 0, 0]))!.volume, 10);
  assert.equal(parseTelephoneEvent(Buffer.from([1, 2, 3])), undefined);
  for (let event = 0; event < 256; event += 7) {
    for (const end of [false, true]) {
      const e = { event, end, volume: event % 64, duration: (event * 257) & 0xffff };
      assert.deepEqual(parseTelephoneEvent(buildTelephoneEvent(e)), e);
    }
  }
  assert.throws(
    () => buildTelephoneEvent({ event: 1, end: false, volume: 64, duration: 0 }),
    RangeError,
  );
});

test('event codes and DTMF characters map both ways', () => {
  assert.equal([...Array(16).keys()].map((e) => eventToDigit(e)).join(''), '0123456789*#ABCD');
  assert.equal(eventToDigit(16), undefined);
  for (const c of '0123456789*#ABCD') assert.equal(eventToDigit(digitToEvent(c)!), c);
  assert.equal(digitToEvent('a'), 12);
  assert.equal(digitToEvent('x'), undefined);
});

/** The packets a sender emits for one key press: updates every 160 ticks, 3 end packets. */
function press(
  event: number,
  timestamp: number,
  updates: number,
): { ts: number; payload: Buffer; marker: boolean }[] {
  const packets = [];
  for (let i = 0; i <= updates; i++) {
    packets.push({
      ts: timestamp,
      payload: buildTelephoneEvent({ event, end: false, volume: 10, duration: i * 160 }),
      marker: i === 0,
    });
  }
  for (let i = 0; i < 3; i++) {
    packets.push({
      ts: timestamp,
      payload: buildTelephoneEvent({ event, end: true, volume: 10, duration: (updates + 1) * 160 }),
      marker: false,
    });
  }
  return packets;
}

function detectAll(
  detector: DtmfEventDetector,
  packets: { ts: number; payload: Buffer; marker: boolean }[],
): DetectedEvent[] {
  const out: DetectedEvent[] = [];
  for (const p of packets) out.push(...detector.push(p.ts, p.payload, p.marker));
  out.push(...detector.flush());
  return out;
}

test('each key press is reported once despite redundant end packets and retransmissions', () => {
  const packets = [...press(1, 1000, 5), ...press(1, 5000, 5), ...press(11, 9000, 3)];
  // Retransmit a late end packet of the first event after the second has started.
  packets.splice(12, 0, packets[8]!);
  const events = detectAll(new DtmfEventDetector(), packets);
  assert.deepEqual(events.map((e) => e.digit).join(''), '11#');
  assert.deepEqual(
    events.map((e) => e.duration),
    [960, 960, 640],
  );
  assert.ok(events.every((e) => e.ended));
});

test('an event whose end packets were all lost is reported when the next begins, or on flush', () => {
  const first = press(5, 100, 4).filter((p) => !parseTelephoneEvent(p.payload)!.end);
  const second = press(6, 4000, 4).slice(0, 3);
  const detector = new DtmfEventDetector();
  const seen: DetectedEvent[] = [];
  for (const p of [...first, ...second]) seen.push(...detector.push(p.ts, p.payload, p.marker));
  assert.deepEqual(
    seen.map((e) => [e.digit, e.ended, e.duration]),
    [['5', false, 640]],
  );
  const rest = detector.flush();
  assert.deepEqual(
    rest.map((e) => [e.digit, e.ended]),
    [['6', false]],
  );
  assert.deepEqual(detector.flush(), []);
});

test('a long event split into segments (RFC 4733 2.5.1.3) is one event', () => {
  const detector = new DtmfEventDetector();
  const out: DetectedEvent[] = [];
  out.push(
    ...detector.push(
      0,
      buildTelephoneEvent({ event: 2, end: false, volume: 5, duration: 0 }),
      true,
    ),
  );
  out.push(
    ...detector.push(
      0,
      buildTelephoneEvent({ event: 2, end: false, volume: 5, duration: 0xffff }),
      false,
    ),
  );
  out.push(
    ...detector.push(
      0xffff,
      buildTelephoneEvent({ event: 2, end: false, volume: 5, duration: 800 }),
      false,
    ),
  );
  out.push(
    ...detector.push(
      0xffff,
      buildTelephoneEvent({ event: 2, end: true, volume: 5, duration: 1600 }),
      false,
    ),
  );
  out.push(
    ...detector.push(
      0xffff,
      buildTelephoneEvent({ event: 2, end: true, volume: 5, duration: 1600 }),
      false,
    ),
  );
  assert.equal(out.length, 1);
  assert.equal(out[0]!.duration, 0xffff + 1600);
  assert.equal(out[0]!.timestamp, 0);
});

test('digits in SIP_DTMF2.cap match what tshark decodes', (t) => {
  const tshark = needTool(t, 'tshark');
  if (!tshark) return;
  const file = join(sharedDir, 'captures', 'SIP_DTMF2.cap');
  const run = (fields: string[]): string[][] =>
    execFileSync(
      tshark,
      [
        '-r',
        file,
        '-o',
        'rtp.heuristic_rtp:TRUE',
        '-Y',
        'rtpevent',
        '-T',
        'fields',
        ...fields.flatMap((f) => ['-e', f]),
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
  // tshark's own decoding: the distinct (timestamp, event) pairs.
  const theirs = [...new Set(run(['rtp.timestamp', 'rtpevent.event_id']).map((r) => r.join(' ')))];
  // Ours: raw UDP payloads through our RTP parser and the detector.
  const detector = new DtmfEventDetector();
  const ours: DetectedEvent[] = [];
  for (const [hex] of run(['udp.payload'])) {
    const packet = Buffer.from(hex!.replace(/:/g, ''), 'hex');
    const header = parseRtpHeader(packet);
    assert.ok(header);
    const payload = packet.subarray(
      header.payloadOffset,
      header.payloadOffset + header.payloadLength,
    );
    ours.push(...detector.push(header.timestamp, payload, header.marker));
  }
  ours.push(...detector.flush());
  assert.ok(theirs.length >= 3);
  assert.deepEqual(
    ours.map((e) => `${e.timestamp} ${e.event}`),
    theirs,
  );
  assert.equal(ours.map((e) => e.digit).join(''), '6789123');
});

test('the shape of a DTMF or flash event: 4 octets, event 0-16, R clear', () => {
  assert.ok(
    looksLikeDtmfEvent(buildTelephoneEvent({ event: 11, end: true, volume: 10, duration: 800 })),
  );
  assert.ok(
    looksLikeDtmfEvent(buildTelephoneEvent({ event: 16, end: false, volume: 0, duration: 0 })),
  );
  assert.ok(
    !looksLikeDtmfEvent(buildTelephoneEvent({ event: 17, end: false, volume: 0, duration: 0 })),
  );
  const reserved = buildTelephoneEvent({ event: 1, end: false, volume: 10, duration: 160 });
  reserved[1]! |= 0x40;
  assert.ok(!looksLikeDtmfEvent(reserved), 'R set');
  assert.ok(
    !looksLikeDtmfEvent(Buffer.from([1, 10, 0, 160, 0])),
    'five octets: voice, not an event',
  );
});
