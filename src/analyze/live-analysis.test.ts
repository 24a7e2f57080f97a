import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinkType, PacketFrames } from '../capture/index.ts';
import { callPcap } from './call-export.ts';
import { analyzeCaptureFile } from './capture-analysis.ts';
import { LiveAnalysis } from './live-analysis.ts';
import type { FinishedCall } from './live-analysis.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const A = { host: '10.0.0.1', port: 5060 };
const B = { host: '10.0.0.2', port: 5060 };

function message(first: string, callId: string, cseq: string, toTag: string): Buffer {
  return Buffer.from(
    `${first}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-${callId}-${cseq.replace(' ', '')}\r\n` +
      `From: <sip:alice@a.test>;tag=a\r\nTo: <sip:bob@b.test>${toTag}\r\nCall-ID: ${callId}\r\n` +
      `CSeq: ${cseq}\r\nContent-Length: 0\r\n\r\n`,
  );
}

/** An answered and hung-up call: INVITE, 200, ACK, BYE, 200. */
function call(callId: string): Array<{ from: typeof A; to: typeof A; bytes: Buffer }> {
  return [
    { from: A, to: B, bytes: message('INVITE sip:bob@b.test SIP/2.0', callId, '1 INVITE', '') },
    { from: B, to: A, bytes: message('SIP/2.0 200 OK', callId, '1 INVITE', ';tag=b') },
    { from: A, to: B, bytes: message('ACK sip:bob@b.test SIP/2.0', callId, '1 ACK', ';tag=b') },
    { from: A, to: B, bytes: message('BYE sip:bob@b.test SIP/2.0', callId, '2 BYE', ';tag=b') },
    { from: B, to: A, bytes: message('SIP/2.0 200 OK', callId, '2 BYE', ';tag=b') },
  ];
}

class Feeder {
  private readonly frames = new PacketFrames();
  private index = 0;
  constructor(private readonly live: LiveAnalysis) {}
  send(m: { from: typeof A; to: typeof A; bytes: Buffer }, ts: number): void {
    const f = this.frames.frame({
      proto: 'udp',
      src: m.from.host,
      srcPort: m.from.port,
      dst: m.to.host,
      dstPort: m.to.port,
      payload: m.bytes,
    });
    this.live.record(f, 0, f.length, ++this.index, ts, LinkType.RAW);
  }
}

test('a call is reported once its outcome is final and it has been quiet for the linger time', () => {
  const ended: FinishedCall[] = [];
  const live = new LiveAnalysis({ lingerSeconds: 2, onCallEnd: (f) => ended.push(f) });
  const feed = new Feeder(live);
  const msgs = call('c1');
  for (const m of msgs.slice(0, 3)) feed.send(m, 1767225600);
  live.tick(Date.now() + 60_000);
  assert.equal(ended.length, 0, 'answered, not hung up: still in progress');
  for (const m of msgs.slice(3)) feed.send(m, 1767225601);
  live.tick(Date.now());
  assert.equal(ended.length, 0, 'over, but not quiet yet');
  live.tick(Date.now() + 2_100);
  assert.equal(ended.length, 1);
  assert.equal(ended[0]!.call.state, 'completed');
  assert.equal(ended[0]!.call.messages.length, 5);
  live.tick(Date.now() + 10_000);
  live.end();
  assert.equal(ended.length, 1, 'reported once');
});

test('a reported call that gets more messages is reported again, whole', () => {
  const ended: FinishedCall[] = [];
  const live = new LiveAnalysis({ lingerSeconds: 0, onCallEnd: (f) => ended.push(f) });
  const feed = new Feeder(live);
  const register = (cseq: number): Array<{ from: typeof A; to: typeof A; bytes: Buffer }> => [
    { from: A, to: B, bytes: message('REGISTER sip:b.test SIP/2.0', 'r1', `${cseq} REGISTER`, '') },
    { from: B, to: A, bytes: message('SIP/2.0 200 OK', 'r1', `${cseq} REGISTER`, ';tag=r') },
  ];
  for (const m of register(1)) feed.send(m, 1767225600);
  live.tick(Date.now() + 1);
  for (const m of register(2)) feed.send(m, 1767225660);
  live.tick(Date.now() + 1);
  assert.deepEqual(
    ended.map((f) => f.call.messages.length),
    [2, 4],
  );
});

test('memory stays bounded: past the call limit the oldest calls go, each reported first', () => {
  const ended = new Map<string, number>();
  const limit = 40;
  const live = new LiveAnalysis({
    maxCalls: limit,
    lingerSeconds: 0,
    onCallEnd: (f) => ended.set(f.call.callId, (ended.get(f.call.callId) ?? 0) + 1),
  });
  const feed = new Feeder(live);
  const total = 500;
  for (let i = 0; i < total; i++) {
    // Half the calls never end (no BYE): dropped all the same once they are the oldest.
    const msgs = call(`call-${i}`);
    for (const m of i % 2 ? msgs : msgs.slice(0, 3)) feed.send(m, 1767225600 + i);
    if (i % 10 === 0) live.tick(Date.now() + 1);
    assert.ok([...live.calls()].length <= limit, `at call ${i}: ${[...live.calls()].length} kept`);
  }
  live.end();
  assert.equal(ended.size, total, 'every call reported');
  assert.ok(
    [...ended.values()].every((n) => n === 1),
    'each once',
  );
  assert.equal(live.evicted + [...live.calls()].length, total);
  assert.ok(live.evicted >= total - limit);
});

test('a call saved as pcap reads back as the same call', async (t) => {
  const live = new LiveAnalysis({ keepRaw: true });
  const feed = new Feeder(live);
  for (const m of call('saved-1')) feed.send(m, 1767225600.5);
  const record = live.analysis.calls.calls.get('saved-1')!;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-call-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'call.pcap');
  writeFileSync(file, callPcap(record));
  const { analysis } = await analyzeCaptureFile(file);
  const again = analysis.calls.calls.get('saved-1')!;
  assert.equal(again.messages.length, 5);
  assert.deepEqual(
    again.messages.map((m) => [m.method, m.status, m.from, m.to]),
    record.messages.map((m) => [m.method, m.status, m.from, m.to]),
  );
});

test('with RTP: dropped calls take their streams and DTMF with them', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { readCaptureRecords } = await import('../capture/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-live-rtp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'calls.pcap');
  const root = join(import.meta.dirname, '..', '..');
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/generate-capture.ts',
      '--calls',
      '60',
      '--seconds',
      '2',
      '--out',
      file,
      '--quiet',
    ],
    { cwd: root },
  );
  const limit = 8;
  let reported = 0;
  let mostStreams = 0;
  const live = new LiveAnalysis({ maxCalls: limit, onCallEnd: () => reported++ });
  await readCaptureRecords(file, (buf, start, end, index, ts, linkType) => {
    live.record(buf, start, end, index, ts, linkType);
    mostStreams = Math.max(mostStreams, live.analysis.rtp.streams.length);
  });
  live.end();
  const kept = [...live.calls()].length;
  assert.ok(kept <= limit);
  assert.ok(live.evicted > 50, `${live.evicted} dropped`);
  assert.equal(reported, live.evicted + kept);
  // Two streams per answered call kept, plus a few heuristic ones: never the whole capture's.
  assert.ok(mostStreams <= 2 * limit + 8, `at most ${mostStreams} streams held`);
  const ids = new Set([...live.calls()].map((c) => c.callId));
  assert.ok(live.analysis.rtp.streams.every((s) => s.callId === null || ids.has(s.callId)));
});
