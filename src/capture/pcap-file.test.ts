import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../../test/support/peers.ts';
import type { CaptureFrame } from './capture-frame.ts';
import { CaptureReader } from './capture-reader.ts';
import { writePcap, type FrameToWrite } from './capture-writer.ts';
import { readCaptureFile } from './read-capture-file.ts';

function sampleFrames(n: number): FrameToWrite[] {
  const out: FrameToWrite[] = [];
  for (let i = 0; i < n; i++) {
    const data = Buffer.alloc(20 + ((i * 37) % 300));
    for (let j = 0; j < data.length; j++) data[j] = (i * 7 + j) & 0xff;
    out.push({
      ts: 1700000000 + i * 0.020001 + (i % 3) * 0.000001,
      data,
      origLen: data.length + (i % 2) * 10,
    });
  }
  return out;
}

function readAll(
  file: Buffer,
  chunk = file.length,
): { frames: CaptureFrame[]; result: ReturnType<CaptureReader['end']> } {
  const frames: CaptureFrame[] = [];
  const reader = new CaptureReader((f) => frames.push({ ...f, data: Buffer.from(f.data) }));
  for (let p = 0; p < file.length; p += chunk) reader.push(file.subarray(p, p + chunk));
  return { frames, result: reader.end() };
}

function assertSame(frames: CaptureFrame[], want: FrameToWrite[], linkType: number): void {
  assert.equal(frames.length, want.length);
  frames.forEach((f, i) => {
    assert.equal(f.index, i + 1);
    assert.equal(f.linkType, linkType);
    assert.equal(f.interfaceId, 0);
    assert.ok(Math.abs(f.ts - want[i].ts) < 5e-7, `ts of frame ${i + 1}: ${f.ts} vs ${want[i].ts}`);
    assert.deepEqual(f.data, want[i].data);
    assert.equal(f.origLen, want[i].origLen);
  });
}

for (const variant of [
  { nano: false, bigEndian: false },
  { nano: true, bigEndian: false },
  { nano: false, bigEndian: true },
  { nano: true, bigEndian: true },
  { nano: false, bigEndian: false, modified: true },
]) {
  const name = `${variant.nano ? 'ns' : 'µs'} ${variant.bigEndian ? 'big' : 'little'}-endian ${'modified' in variant ? 'modified ' : ''}pcap`;
  test(`${name}: every frame with its time, bytes and lengths, whatever the chunking`, () => {
    const want = sampleFrames(50);
    const file = writePcap(want, { linkType: 101, ...variant });
    for (const chunk of [file.length, 4096, 97, 1]) {
      const { frames, result } = readAll(file, chunk);
      assert.equal(result.error, undefined);
      assert.equal(result.frames, 50);
      assertSame(frames, want, 101);
    }
  });
}

test('nanosecond timestamps are rounded to the microsecond', () => {
  const file = writePcap([{ ts: 1700000000.1234567, data: Buffer.alloc(4) }], {
    linkType: 1,
    nano: true,
  });
  const { frames } = readAll(file);
  assert.equal(frames[0].ts, 1700000000.123457);
});

test('tshark reads the same frames and times from the ns big-endian and the modified files', (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const want = sampleFrames(20);
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-pcap-'));
  try {
    for (const [name, opts] of [
      ['be-ns.pcap', { nano: true, bigEndian: true }],
      ['modified.pcap', { modified: true }],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, writePcap(want, { linkType: 101, ...opts }));
      const out: string = execFileSync(
        bin,
        ['-r', path, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len'],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      const rows = out
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      const { frames } = readAll(readFileSync(path));
      assert.equal(rows.length, frames.length, name);
      assert.equal(frames.length, want.length, name);
      rows.forEach(([ts, len], i) => {
        assert.ok(
          Math.abs(Number(ts) - frames[i].ts) < 1e-6,
          `${name} frame ${i + 1}: tshark ${ts}, ours ${frames[i].ts}`,
        );
        assert.equal(Number(len), frames[i].data.length);
        assert.deepEqual(frames[i].data, want[i].data);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file cut at any offset: no throw, whole frames before the cut, the broken offset named', () => {
  const want = sampleFrames(12);
  const file = writePcap(want, { linkType: 1 });
  // Record boundaries: where each frame starts.
  const starts: number[] = [];
  let p = 24;
  for (const f of want) {
    starts.push(p);
    p += 16 + f.data.length;
  }
  starts.push(p);
  for (let cut = 0; cut <= file.length; cut++) {
    const { frames, result } = readAll(file.subarray(0, cut), 64);
    const whole = starts.slice(1).filter((end) => end <= cut).length;
    assert.equal(frames.length, whole, `cut at ${cut}`);
    assert.equal(result.frames, whole);
    const atBoundary = cut === 24 || starts.includes(cut);
    if (atBoundary) {
      assert.equal(result.error, undefined, `cut at ${cut} is a whole file`);
      continue;
    }
    assert.ok(result.error, `cut at ${cut} must report an error`);
    assert.equal(result.error.frame, whole);
    const expectedOffset = cut < 24 ? 0 : (starts[whole] ?? 0);
    assert.equal(result.error.offset, expectedOffset, `cut at ${cut}: ${result.error.reason}`);
  }
});

test('readCaptureFile reports a truncated file the same way, with small and large buffers', async () => {
  const want = sampleFrames(300);
  const file = writePcap(want, { linkType: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-pcap-'));
  try {
    const path = join(dir, 'cut.pcap');
    const cut = file.length - 5;
    writeFileSync(path, file.subarray(0, cut));
    for (const chunkBytes of [64, 1000, 1 << 20]) {
      let n = 0;
      let progress = 0;
      const r = await readCaptureFile(path, () => n++, {
        chunkBytes,
        onProgress: (b) => (progress = b),
      });
      assert.equal(r.frames, 299);
      assert.equal(n, 299);
      assert.equal(r.bytes, cut);
      assert.ok(progress > 0);
      assert.ok(r.error);
      assert.equal(r.error.frame, 299);
      assert.equal(r.error.offset, file.length - 16 - want[299].data.length);
      assert.match(r.error.reason, /packet data/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt record length stops the reader with the offset of that record', () => {
  const want = sampleFrames(5);
  const file = writePcap(want, { linkType: 1 });
  const third = 24 + 16 + want[0].data.length + 16 + want[1].data.length;
  file.writeUInt32LE(0x7fffffff, third + 8);
  const { frames, result } = readAll(file);
  assert.equal(frames.length, 2);
  assert.equal(result.error?.offset, third);
  assert.equal(result.error?.frame, 2);
});

test('not a capture at all, or empty', () => {
  const r1 = readAll(Buffer.from('hello world, this is text'));
  assert.equal(r1.frames.length, 0);
  assert.match(r1.result.error?.reason ?? '', /not a pcap/);
  const r2 = readAll(Buffer.alloc(0));
  assert.match(r2.result.error?.reason ?? '', /empty/);
});

test('readCaptureFile: records longer than a chunk and than the carry-over room, any chunk size', async () => {
  const sizes = [100, 600000, 50, 300000, 10, 262144, 7];
  const want = sizes.map((n, i) => {
    const data = Buffer.alloc(n);
    for (let j = 0; j < n; j += 997) data[j] = (i + j) & 0xff;
    return { ts: 1700000000 + i, data };
  });
  const file = writePcap(want, { linkType: 1, snaplen: 1 << 20 });
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-pcap-'));
  try {
    const path = join(dir, 'big-records.pcap');
    writeFileSync(path, file);
    for (const chunkBytes of [1000, 65536, 300000, 1 << 22]) {
      const got: Buffer[] = [];
      const r = await readCaptureFile(path, (f) => got.push(Buffer.from(f.data)), { chunkBytes });
      assert.equal(r.error, undefined, `chunk ${chunkBytes}`);
      assert.equal(got.length, want.length);
      got.forEach((g, i) =>
        assert.ok(g.equals(want[i].data), `chunk ${chunkBytes}, frame ${i + 1}`),
      );
      // Cut inside the 600000-byte record: one whole frame, the error at its start.
      writeFileSync(path, file.subarray(0, 24 + 16 + 100 + 16 + 400000));
      const cut = await readCaptureFile(path, () => undefined, { chunkBytes });
      assert.equal(cut.frames, 1);
      assert.equal(cut.error?.offset, 24 + 16 + 100);
      writeFileSync(path, file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
