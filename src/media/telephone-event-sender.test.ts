import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TelephoneEventSender } from './telephone-event-sender.ts';
import { DtmfEventDetector, parseTelephoneEvent } from './telephone-event.ts';

test('digits become marker, updates, three end packets, then a gap; a detector reads them back', () => {
  const sender = new TelephoneEventSender({ samplesPerPacket: 160, durationMs: 100, gapMs: 100 });
  sender.send('1#');
  const detector = new DtmfEventDetector();
  const detected: string[] = [];
  const kinds: string[] = [];
  let ts = 1000;
  for (let i = 0; i < 40; i++, ts += 160) {
    const p = sender.tick(ts);
    if (!p) {
      kinds.push('audio');
      continue;
    }
    const ev = parseTelephoneEvent(p.payload)!;
    kinds.push(p.marker ? 'start' : ev.end ? 'end' : 'update');
    for (const d of detector.push(p.timestamp, p.payload, p.marker)) {
      detected.push(`${d.digit}:${d.duration}:${d.ended}`);
    }
  }
  // 100 ms at 20 ms: start (160), updates 320..640, end 800 three times, 5 audio packets.
  assert.deepEqual(kinds.slice(0, 13), [
    'start',
    'update',
    'update',
    'update',
    'end',
    'end',
    'end',
    'audio',
    'audio',
    'audio',
    'audio',
    'audio',
    'start',
  ]);
  assert.deepEqual(detected, ['1:800:true', '#:800:true']);
  assert.equal(sender.busy, false);
  assert.equal(sender.tick(ts), undefined);
});

test('every packet of one event carries the start timestamp', () => {
  const sender = new TelephoneEventSender({ samplesPerPacket: 160 });
  sender.send('5');
  const stamps = new Set<number>();
  for (let ts = 0xfffffe00; ; ts = (ts + 160) >>> 0) {
    const p = sender.tick(ts);
    if (!p) break;
    stamps.add(p.timestamp);
  }
  assert.deepEqual([...stamps], [0xfffffe00]);
});

test('a character that is not a digit is refused before anything is queued', () => {
  const sender = new TelephoneEventSender({ samplesPerPacket: 160 });
  assert.throws(() => sender.send('12x'), /"x" is not a DTMF digit/);
  assert.equal(sender.busy, false);
});
