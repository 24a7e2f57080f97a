import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../../test/support/peers.ts';
import type { CaptureFrame } from './capture-frame.ts';
import { CaptureReader } from './capture-reader.ts';
import { writePcapng, type PcapngSection } from './capture-writer.ts';

function payload(i: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let j = 0; j < len; j++) b[j] = (i * 13 + j) & 0xff;
  return b;
}

/** Two sections (little- then big-endian), three interfaces, all packet block kinds. */
function sample(): PcapngSection[] {
  return [
    {
      interfaces: [{ linkType: 1 }, { linkType: 101, tsresol: 9 }],
      unknownBlocks: 2,
      packets: [
        { interfaceId: 0, ts: 1700000000.5, data: payload(1, 60) },
        { interfaceId: 1, ts: 1700000001.123456, data: payload(2, 41) },
        { interfaceId: 0, ts: 1700000002.000001, data: payload(3, 99), origLen: 1500 },
        { interfaceId: 0, ts: 0, data: payload(4, 30), block: 'spb' },
        { interfaceId: 1, ts: 1700000003.25, data: payload(5, 7) },
      ],
    },
    {
      bigEndian: true,
      interfaces: [{ linkType: 276, tsresol: 0x80 | 20, tsoffset: 1000 }],
      unknownBlocks: 1,
      packets: [
        { interfaceId: 0, ts: 1700000004.5, data: payload(6, 64) },
        { interfaceId: 0, ts: 1700000005.75, data: payload(7, 33), block: 'pb' },
      ],
    },
  ];
}

const EXPECTED = [
  { ts: 1700000000.5, linkType: 1, interfaceId: 0, len: 60, origLen: 60 },
  { ts: 1700000001.123456, linkType: 101, interfaceId: 1, len: 41, origLen: 41 },
  { ts: 1700000002.000001, linkType: 1, interfaceId: 0, len: 99, origLen: 1500 },
  { ts: 1700000002.000001, linkType: 1, interfaceId: 0, len: 30, origLen: 30 }, // SPB: previous time
  { ts: 1700000003.25, linkType: 101, interfaceId: 1, len: 7, origLen: 7 },
  { ts: 1700000004.5, linkType: 276, interfaceId: 2, len: 64, origLen: 64 },
  { ts: 1700000005.75, linkType: 276, interfaceId: 2, len: 33, origLen: 33 },
];

function readAll(
  file: Buffer,
  chunk = file.length,
): { frames: CaptureFrame[]; result: ReturnType<CaptureReader['end']> } {
  const frames: CaptureFrame[] = [];
  const reader = new CaptureReader((f) => frames.push({ ...f, data: Buffer.from(f.data) }));
  for (let p = 0; p < file.length; p += chunk) reader.push(file.subarray(p, p + chunk));
  return { frames, result: reader.end() };
}

test('pcapng: two sections (both byte orders), three interfaces, EPB/SPB/PB, if_tsresol and if_tsoffset', () => {
  const file = writePcapng(sample());
  for (const chunk of [file.length, 50, 1]) {
    const { frames, result } = readAll(file, chunk);
    assert.equal(result.error, undefined);
    assert.equal(frames.length, EXPECTED.length);
    frames.forEach((f, i) => {
      const e = EXPECTED[i];
      assert.equal(f.index, i + 1);
      assert.ok(Math.abs(f.ts - e.ts) < 2e-6, `frame ${i + 1} ts ${f.ts} vs ${e.ts}`);
      assert.equal(f.linkType, e.linkType, `frame ${i + 1} link type`);
      assert.equal(f.interfaceId, e.interfaceId, `frame ${i + 1} interface`);
      assert.equal(f.data.length, e.len);
      assert.equal(f.origLen, e.origLen);
      assert.deepEqual(f.data, payload(i + 1, e.len));
    });
  }
});

test('tshark reads the same number of frames, lengths and EPB times from that file', (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-pcapng-'));
  try {
    const path = join(dir, 'two-sections.pcapng');
    writeFileSync(path, writePcapng(sample()));
    const out = execFileSync(
      bin,
      ['-r', path, '-T', 'fields', '-e', 'frame.cap_len', '-e', 'frame.time_epoch'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const rows = out
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    assert.equal(rows.length, EXPECTED.length);
    rows.forEach(([len, ts], i) => {
      assert.equal(Number(len), EXPECTED[i].len);
      if (i !== 3)
        assert.ok(
          Math.abs(Number(ts) - EXPECTED[i].ts) < 2e-6,
          `frame ${i + 1}: tshark says ${ts}`,
        );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Block start offsets and which blocks carry a frame, by walking the file. */
function blocks(file: Buffer): { start: number; end: number; frame: boolean }[] {
  const out: { start: number; end: number; frame: boolean }[] = [];
  let le = true;
  for (let p = 0; p < file.length;) {
    if (file.readUInt32LE(p) === 0x0a0d0d0a) le = file.readUInt32LE(p + 8) === 0x1a2b3c4d;
    const type = le ? file.readUInt32LE(p) : file.readUInt32BE(p);
    const len = le ? file.readUInt32LE(p + 4) : file.readUInt32BE(p + 4);
    out.push({ start: p, end: p + len, frame: type === 2 || type === 3 || type === 6 });
    p += len;
  }
  return out;
}

test('pcapng cut at any offset: no throw, whole frames before the cut, the broken block named', () => {
  const file = writePcapng(sample());
  const all = blocks(file);
  for (let cut = 0; cut <= file.length; cut++) {
    const { frames, result } = readAll(file.subarray(0, cut), 16);
    const whole = all.filter((b) => b.frame && b.end <= cut).length;
    assert.equal(frames.length, whole, `cut at ${cut}`);
    const broken = all.find((b) => b.start < cut && b.end > cut);
    if (!broken && cut > 0) {
      assert.equal(result.error, undefined, `cut at ${cut} is at a block boundary`);
      continue;
    }
    assert.ok(result.error, `cut at ${cut}`);
    assert.equal(result.error.frame, whole);
    assert.equal(result.error.offset, broken?.start ?? 0, `cut at ${cut}: ${result.error.reason}`);
  }
});

test('pcapng corruption: bad trailing length, unknown interface, bad byte-order magic', () => {
  const good = writePcapng(sample());
  const all = blocks(good);
  const firstPacket = all.find((b) => b.frame);
  assert.ok(firstPacket);

  const trailing = Buffer.from(good);
  trailing.writeUInt32LE(12345, firstPacket.end - 4);
  let r = readAll(trailing);
  assert.equal(r.frames.length, 0);
  assert.equal(r.result.error?.offset, firstPacket.start);
  assert.match(r.result.error?.reason ?? '', /trailing length/);

  const badIf = Buffer.from(good);
  badIf.writeUInt32LE(7, firstPacket.start + 8);
  r = readAll(badIf);
  assert.match(r.result.error?.reason ?? '', /interface 7/);

  const secondShb = all.filter((b) => good.readUInt32LE(b.start) === 0x0a0d0d0a)[1];
  const badBom = Buffer.from(good);
  badBom.writeUInt32LE(0xdeadbeef, secondShb.start + 8);
  r = readAll(badBom);
  assert.equal(r.frames.length, 5);
  assert.equal(r.result.error?.offset, secondShb.start);
  assert.equal(r.result.error?.frame, 5);
});
