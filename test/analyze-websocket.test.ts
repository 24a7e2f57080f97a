// SIP over WebSocket (RFC 7118) in a capture: the connection opens with an HTTP upgrade, then
// each WebSocket message (masked from the client, split across TCP segments from the server) is
// one SIP message; the analyzer must find the call, with 'WS' as its transport. And SIP over plain
// TCP with two messages in one segment and one message across two segments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile, buildReport } from '../src/analyze/index.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import type { TcpSegmentSpec } from './analyze-capture-builder.ts';

const CLIENT = { ip: '198.51.100.7', port: 50123 };
const SERVER = { ip: '203.0.113.5', port: 8080 };

function sip(startLine: string, cseq: string, extra: string[] = []): string {
  return [
    startLine,
    'Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKws1',
    'From: <sip:alice@example.com>;tag=ws-a',
    `To: <sip:bob@example.com>${startLine.startsWith('SIP/2.0 2') ? ';tag=ws-b' : ''}`,
    'Call-ID: ws-call-1',
    `CSeq: ${cseq}`,
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** One WebSocket text frame (RFC 6455 §5.2); masked when a key is given (client to server). */
function wsFrame(text: string, mask?: Buffer): Buffer {
  const payload = Buffer.from(text);
  const header = payload.length < 126 ? Buffer.from([0x81, payload.length]) : Buffer.alloc(4);
  if (payload.length >= 126) {
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  header[1] |= 0x80;
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([header, mask, masked]);
}

class TcpFlow {
  private seq: Record<'c' | 's', number> = { c: 1000, s: 5000 };
  readonly segments: TcpSegmentSpec[] = [];
  private ts = 1700000000;
  constructor(
    private readonly client: { ip: string; port: number },
    private readonly server: { ip: string; port: number },
  ) {
    this.segments.push(this.segment('c', Buffer.alloc(0), 'syn'));
    this.seq.c++;
    this.segments.push(this.segment('s', Buffer.alloc(0), 'syn-ack'));
    this.seq.s++;
  }
  send(from: 'c' | 's', data: Buffer): void {
    this.segments.push(this.segment(from, data));
    this.seq[from] += data.length;
  }
  private segment(from: 'c' | 's', payload: Buffer, syn?: 'syn' | 'syn-ack'): TcpSegmentSpec {
    const [a, b] = from === 'c' ? [this.client, this.server] : [this.server, this.client];
    this.ts += 0.01;
    return {
      tcp: true,
      ts: this.ts,
      src: a.ip,
      sport: a.port,
      dst: b.ip,
      dport: b.port,
      seq: this.seq[from],
      payload,
      ...(syn ? { syn } : {}),
    };
  }
}

async function analyze(t: { after(fn: () => void): void }, segments: TcpSegmentSpec[]) {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-ws-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'flow.pcap');
  writeFileSync(file, buildUdpPcap(segments));
  const { analysis } = await analyzeCaptureFile(file);
  return buildReport(analysis);
}

test('SIP over WebSocket: upgrade, masked client frames, a server frame split over segments', async (t) => {
  const flow = new TcpFlow(CLIENT, SERVER);
  flow.send(
    'c',
    Buffer.from(
      'GET /sip HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ),
  );
  flow.send(
    's',
    Buffer.from(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n',
    ),
  );
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  flow.send('c', wsFrame(sip('INVITE sip:bob@example.com SIP/2.0', '1 INVITE'), mask));
  flow.send('s', wsFrame(sip('SIP/2.0 100 Trying', '1 INVITE')));
  const ok = wsFrame(sip('SIP/2.0 200 OK', '1 INVITE', ['Server: ws-server/1']));
  flow.send('s', ok.subarray(0, 40));
  flow.send('s', ok.subarray(40));
  flow.send('c', wsFrame(sip('ACK sip:bob@example.com SIP/2.0', '1 ACK'), mask));
  const report = await analyze(t, flow.segments);
  assert.equal(report.calls.length, 1, JSON.stringify(report.warnings));
  const call = report.calls[0];
  assert.equal(call.callId, 'ws-call-1');
  assert.deepEqual(
    call.messages.map((m) => [m.label, m.transport, m.from]),
    [
      ['INVITE', 'WS', '198.51.100.7:50123'],
      ['100 Trying', 'WS', '203.0.113.5:8080'],
      ['200 OK', 'WS', '203.0.113.5:8080'],
      ['ACK', 'WS', '198.51.100.7:50123'],
    ],
  );
  assert.equal(call.state, 'in-progress');
  assert.equal(call.hosts.find((h) => h.id === '203.0.113.5:8080')?.userAgent, 'ws-server/1');
});

test('SIP over TCP: two messages in one segment, one message across two segments', async (t) => {
  const flow = new TcpFlow({ ip: '198.51.100.7', port: 40000 }, { ip: '203.0.113.5', port: 5060 });
  const invite = Buffer.from(sip('INVITE sip:bob@example.com SIP/2.0', '1 INVITE'));
  flow.send('c', invite.subarray(0, 100));
  flow.send('c', invite.subarray(100));
  flow.send(
    's',
    Buffer.concat([
      Buffer.from(sip('SIP/2.0 100 Trying', '1 INVITE')),
      Buffer.from(sip('SIP/2.0 486 Busy Here', '1 INVITE')),
    ]),
  );
  const report = await analyze(t, flow.segments);
  assert.equal(report.calls.length, 1);
  const call = report.calls[0];
  assert.deepEqual(
    call.messages.map((m) => [m.label, m.transport]),
    [
      ['INVITE', 'TCP'],
      ['100 Trying', 'TCP'],
      ['486 Busy Here', 'TCP'],
    ],
  );
  assert.equal(call.state, 'rejected');
  assert.equal(call.finalStatus, 486);
});
