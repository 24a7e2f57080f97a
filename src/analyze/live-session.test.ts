import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeHep3 } from '../capture/index.ts';
import { analyzeCaptureFile } from './capture-analysis.ts';
import type { FinishedCall } from './live-analysis.ts';
import { LiveSession } from './live-session.ts';

function message(first: string, callId: string, cseq: string, toTag: string, via: string): Buffer {
  return Buffer.from(
    `${first}\r\nVia: SIP/2.0/${via} 10.0.0.1;branch=z9hG4bK-${callId}-${cseq.replace(' ', '')}\r\n` +
      `From: <sip:alice@a.test>;tag=a\r\nTo: <sip:bob@b.test>${toTag}\r\nCall-ID: ${callId}\r\n` +
      `CSeq: ${cseq}\r\nContent-Length: 0\r\n\r\n`,
  );
}

test('HEP over UDP, SIP over UDP and TCP inside: reported calls equal the saved file read back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-live-session-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const saved = join(dir, 'hep.pcap');
  const ended: FinishedCall[] = [];
  const session = new LiveSession({
    source: { kind: 'hep', address: { transport: 'udp', address: '127.0.0.1', port: 0 } },
    write: { path: saved },
    lingerSeconds: 0,
    onCallEnd: (f) => ended.push(f),
  });
  const { port } = await session.start();
  assert.ok(port! > 0);
  const socket = createSocket('udp4');
  t.after(() => socket.close());
  let ts = 1767225600;
  for (const [callId, proto] of [
    ['over-udp', 'udp'],
    ['over-tcp', 'tcp'],
  ] as const) {
    const via = proto.toUpperCase();
    const flow: Array<[string, string, string, boolean]> = [
      ['INVITE sip:bob@b.test SIP/2.0', '1 INVITE', '', true],
      ['SIP/2.0 200 OK', '1 INVITE', ';tag=b', false],
      ['ACK sip:bob@b.test SIP/2.0', '1 ACK', ';tag=b', true],
      ['BYE sip:bob@b.test SIP/2.0', '2 BYE', ';tag=b', true],
      ['SIP/2.0 200 OK', '2 BYE', ';tag=b', false],
    ];
    for (const [first, cseq, tag, fromA] of flow) {
      const hep = encodeHep3({
        src: fromA ? '10.0.0.1' : '10.0.0.2',
        srcPort: fromA ? 40000 : 5060,
        dst: fromA ? '10.0.0.2' : '10.0.0.1',
        dstPort: fromA ? 5060 : 40000,
        proto,
        ts: (ts += 0.1),
        payload: message(first, callId, cseq, tag, via),
      });
      await new Promise<void>((r) => socket.send(hep, port!, '127.0.0.1', () => r()));
    }
  }
  socket.send(Buffer.from('not HEP'), port!, '127.0.0.1');
  const start = Date.now();
  while (session.live.frames < 10 && Date.now() - start < 5000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200)); // the last datagram, sent after the others
  const end = await session.stop();
  assert.equal(end.frames, 10, 'the datagram that is not HEP is not a frame');
  assert.equal(end.hepInvalid, 1);
  assert.equal(end.written!.frames, 10);
  assert.deepEqual(
    ended.map((f) => [f.call.callId, f.call.state, f.call.messages.length]),
    [
      ['over-udp', 'completed', 5],
      ['over-tcp', 'completed', 5],
    ],
  );

  const { analysis } = await analyzeCaptureFile(saved);
  for (const f of ended) {
    const again = analysis.calls.calls.get(f.call.callId)!;
    assert.ok(again, f.call.callId);
    assert.deepEqual(
      again.messages.map((m) => [m.method, m.status, m.from, m.to, m.transport, m.ts]),
      f.call.messages.map((m) => [
        m.method,
        m.status,
        m.from,
        m.to,
        m.transport === 'HEP' ? 'UDP' : m.transport,
        m.ts,
      ]),
    );
  }
});
