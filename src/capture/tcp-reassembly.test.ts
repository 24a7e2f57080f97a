import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../../test/support/peers.ts';
import { LinkType, type CaptureFrame } from './capture-frame.ts';
import { writePcap } from './capture-writer.ts';
import { ethernetFrame, IPPROTO_TCP, ipPacket, tcpSegment, TcpFlag } from './packet-builder.ts';
import { PacketDecoder, type DecoderLimits } from './packet-decoder.ts';

const C = { ip: '10.0.0.1', port: 40000 };
const S = { ip: '10.0.0.2', port: 5060 };

function seg(
  from: typeof C,
  to: typeof C,
  seq: number,
  flags: number,
  data: Buffer = Buffer.alloc(0),
): Buffer {
  const tcp = tcpSegment(
    from.ip,
    to.ip,
    { srcPort: from.port, dstPort: to.port, seq, ack: 0, flags },
    data,
  );
  return ethernetFrame(ipPacket(from.ip, to.ip, IPPROTO_TCP, tcp));
}

function sipMessages(n: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const body = `v=0\r\no=- ${i} 1 IN IP4 10.0.0.1\r\n`;
    parts.push(
      `INVITE sip:${i}@b SIP/2.0\r\nCall-ID: c${i}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  }
  return Buffer.from(parts.join(''));
}

/** Client->server segments of `data` cut at the given sizes, plus handshake and FINs. */
function conversation(
  isn: number,
  data: Buffer,
  sizes: number[],
): { frames: Buffer[]; dataFrames: number[] } {
  const frames: Buffer[] = [
    seg(C, S, isn, TcpFlag.SYN),
    seg(S, C, 9000, TcpFlag.SYN | TcpFlag.ACK),
    seg(C, S, isn + 1, TcpFlag.ACK),
  ];
  const dataFrames: number[] = [];
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = Math.min(sizes[i++ % sizes.length], data.length - off);
    dataFrames.push(frames.length);
    frames.push(
      seg(C, S, (isn + 1 + off) >>> 0, TcpFlag.ACK | TcpFlag.PSH, data.subarray(off, off + n)),
    );
    off += n;
  }
  frames.push(
    seg(S, C, 9001, TcpFlag.ACK | TcpFlag.PSH, Buffer.from('SIP/2.0 100 Trying\r\n\r\n')),
  );
  frames.push(seg(C, S, (isn + 1 + data.length) >>> 0, TcpFlag.FIN | TcpFlag.ACK));
  frames.push(seg(S, C, 9001 + 22, TcpFlag.FIN | TcpFlag.ACK));
  return { frames, dataFrames };
}

interface Result {
  bytes: Map<number, Buffer[]>;
  keys: Map<number, string>;
  ended: number[];
  warnings: string[];
  endedBeforeFinish: number;
}

function run(frames: Buffer[], limits?: DecoderLimits): Result {
  const r: Result = {
    bytes: new Map(),
    keys: new Map(),
    ended: [],
    warnings: [],
    endedBeforeFinish: 0,
  };
  const decoder = new PacketDecoder(
    {
      onUdp: () => assert.fail('no UDP here'),
      onTcpData(d) {
        assert.equal(d.proto, 'tcp');
        r.keys.set(d.streamId, `${d.src}:${d.srcPort}>${d.dst}:${d.dstPort}`);
        const list = r.bytes.get(d.streamId) ?? [];
        list.push(Buffer.from(d.payload));
        r.bytes.set(d.streamId, list);
      },
      onTcpEnd: (id) => r.ended.push(id),
      onWarning: (m) => r.warnings.push(m),
    },
    limits,
  );
  frames.forEach((data, i) => {
    const f: CaptureFrame = {
      index: i + 1,
      ts: 1 + i / 1000,
      linkType: LinkType.ETHERNET,
      data,
      origLen: data.length,
      interfaceId: 0,
    };
    decoder.decode(f);
  });
  r.endedBeforeFinish = r.ended.length;
  decoder.finish();
  return r;
}

function streamBytes(r: Result, key: string): Buffer {
  const id = [...r.keys].find(([, k]) => k === key)?.[0];
  return id === undefined ? Buffer.alloc(0) : Buffer.concat(r.bytes.get(id) ?? []);
}

const data = sipMessages(20);
const fwd = `${C.ip}:${C.port}>${S.ip}:${S.port}`;
const rev = `${S.ip}:${S.port}>${C.ip}:${C.port}`;

test('in order: several messages per segment and one message over several segments', () => {
  const { frames } = conversation(1000, data, [300, 17, 1200, 64]);
  const r = run(frames);
  assert.deepEqual(streamBytes(r, fwd), data);
  assert.equal(streamBytes(r, rev).toString(), 'SIP/2.0 100 Trying\r\n\r\n');
  assert.equal(r.keys.size, 2, 'one stream id per direction');
  assert.equal(r.endedBeforeFinish, 2, 'both FINs end their direction');
  assert.deepEqual(r.warnings, []);
});

/** A fixed pseudo-random generator, so failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 0x100000000;
}

function disorder(frames: Buffer[], dataFrames: number[], seed: number): Buffer[] {
  const rnd = lcg(seed);
  const out = frames.slice(0, dataFrames[0]);
  const middle = dataFrames.map((i) => frames[i]);
  // Swap neighbours within a window of 4, and retransmit about one in five.
  for (let i = 0; i < middle.length; i++) {
    const j = Math.min(middle.length - 1, i + Math.floor(rnd() * 4));
    [middle[i], middle[j]] = [middle[j], middle[i]];
  }
  for (const f of middle) {
    out.push(f);
    if (rnd() < 0.2) out.push(f);
  }
  out.push(...frames.slice(dataFrames[dataFrames.length - 1] + 1));
  return out;
}

test('out of order and retransmitted segments, sequence numbers wrapping past 2^32', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const { frames, dataFrames } = conversation(0xffffffff - 700, data, [100, 333, 50]);
    const r = run(disorder(frames, dataFrames, seed));
    assert.deepEqual(streamBytes(r, fwd), data, `seed ${seed}`);
    assert.deepEqual(r.warnings, [], `seed ${seed}`);
    assert.equal(r.endedBeforeFinish, 2);
  }
});

test('overlapping segments: a retransmission that covers old and new bytes', () => {
  const isn = 5000;
  const frames = [
    seg(C, S, isn, TcpFlag.SYN),
    seg(C, S, isn + 1, TcpFlag.ACK, data.subarray(0, 100)),
    seg(C, S, isn + 1 + 50, TcpFlag.ACK, data.subarray(50, 250)), // overlaps 50..100
    seg(C, S, isn + 1 + 400, TcpFlag.ACK, data.subarray(400, 500)), // ahead
    seg(C, S, isn + 1 + 200, TcpFlag.ACK, data.subarray(200, 450)), // fills the hole, overlaps both
    seg(C, S, isn + 1 + 500, TcpFlag.FIN | TcpFlag.ACK, data.subarray(500, 600)),
  ];
  const r = run(frames);
  assert.deepEqual(streamBytes(r, fwd), data.subarray(0, 600));
  assert.equal(r.endedBeforeFinish, 1);
});

test('tshark follows the same bytes from the shuffled conversation', (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const { frames, dataFrames } = conversation(77777, data, [200, 90, 410]);
  const shuffled = disorder(frames, dataFrames, 3);
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-tcp-'));
  try {
    const path = join(dir, 'tcp.pcap');
    writeFileSync(
      path,
      writePcap(
        shuffled.map((d, i) => ({ ts: 1 + i / 1000, data: d })),
        { linkType: 1 },
      ),
    );
    const out = execFileSync(bin, ['-r', path, '-q', '-z', 'follow,tcp,raw,0'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const hex = out
      .split('\n')
      .filter((l) => /^[0-9a-f]+$/.test(l))
      .join('');
    const r = run(shuffled);
    assert.equal(streamBytes(r, fwd).toString('hex'), hex);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a segment never captured: finish() delivers the rest after the gap and warns', () => {
  const { frames, dataFrames } = conversation(1, data, [500]);
  const lost = dataFrames[1];
  const r = run(frames.filter((_, i) => i !== lost));
  const got = streamBytes(r, fwd);
  assert.deepEqual(got, Buffer.concat([data.subarray(0, 500), data.subarray(1000)]));
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], /500 bytes never captured/);
  assert.ok(r.ended.length >= 2);
});

test('out-of-order buffering is capped per stream: the gap is given up early', () => {
  const { frames, dataFrames } = conversation(1, data, [100]);
  const lost = dataFrames[0];
  const r = run(
    frames.filter((_, i) => i !== lost),
    { tcp: { maxBufferedPerStream: 1000 } },
  );
  assert.deepEqual(streamBytes(r, fwd), data.subarray(100));
  assert.equal(r.warnings.length, 1);
  assert.equal(r.endedBeforeFinish, 2, 'the FIN was reached without waiting for finish()');
});

test('a new SYN on the same ports is a new stream; RST ends both directions', () => {
  const first = conversation(100, Buffer.from('first'), [5]).frames;
  const second = [
    seg(C, S, 999999, TcpFlag.SYN),
    seg(C, S, 1000000, TcpFlag.ACK, Buffer.from('second')),
    seg(S, C, 5, TcpFlag.ACK, Buffer.from('reply')),
    seg(C, S, 1000006, TcpFlag.RST),
  ];
  const r = run([...first, ...second]);
  const fwdIds = [...r.keys].filter(([, k]) => k === fwd).map(([id]) => id);
  assert.equal(fwdIds.length, 2);
  assert.deepEqual(
    fwdIds.map((id) => Buffer.concat(r.bytes.get(id) ?? []).toString()),
    ['first', 'second'],
  );
  assert.equal(r.endedBeforeFinish, 4 + 0, 'two FINs, then RST ends both directions');
  assert.equal(new Set(r.ended).size, r.ended.length, 'each stream ends once');
});

test('a capture that starts mid-connection (no SYN) still yields the bytes', () => {
  const frames = [
    seg(C, S, 123456, TcpFlag.ACK, data.subarray(0, 700)),
    seg(C, S, 123456 + 700, TcpFlag.ACK, data.subarray(700, 1500)),
  ];
  const r = run(frames);
  assert.deepEqual(streamBytes(r, fwd), data.subarray(0, 1500));
  assert.equal(r.ended.length, 1, 'finish() ends it');
});

test('the number of tracked streams is capped: the oldest is ended with a warning', () => {
  const frames: Buffer[] = [];
  for (let i = 0; i < 5; i++) {
    const client = { ip: '10.0.0.1', port: 41000 + i };
    frames.push(
      seg(client, S, 1, TcpFlag.SYN),
      seg(client, S, 2, TcpFlag.ACK, Buffer.from(`conn ${i}`)),
    );
  }
  const r = run(frames, { tcp: { maxStreams: 2 } });
  assert.equal(r.keys.size, 5, 'every connection delivered its bytes');
  assert.equal(r.endedBeforeFinish, 3, 'three were evicted while reading');
  assert.equal(r.warnings.filter((w) => /too many tcp streams/.test(w)).length, 3);
});
