import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinkType, type CaptureFrame } from './capture-frame.ts';
import { ipPacket, IPPROTO_UDP, udpSegment } from './packet-builder.ts';
import { PcapFileWriter } from './pcap-file-writer.ts';
import { readCaptureFile } from './read-capture-file.ts';

function datagram(i: number, size: number): Buffer {
  const payload = Buffer.alloc(size, i & 0xff);
  return ipPacket(
    '10.0.0.1',
    '10.0.0.2',
    IPPROTO_UDP,
    udpSegment('10.0.0.1', '10.0.0.2', 4000, 5000, payload),
  );
}

async function frames(path: string): Promise<CaptureFrame[]> {
  const out: CaptureFrame[] = [];
  const r = await readCaptureFile(path, (f) => out.push({ ...f, data: Buffer.from(f.data) }));
  assert.equal(r.error, undefined);
  return out;
}

test('frames written as they come read back with their bytes, times and link type', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'out.pcap');
  const w = new PcapFileWriter(path, { linkType: LinkType.RAW });
  const sent = [datagram(1, 10), datagram(2, 3000), datagram(3, 0)];
  // A frame written from the middle of a larger buffer, as the stream reader hands them.
  const big = Buffer.concat([Buffer.alloc(7), sent[1]!, Buffer.alloc(5)]);
  w.write(1767225600.25, sent[0]!);
  w.write(1767225600.999999, big, 7, 7 + sent[1]!.length);
  w.write(1767225601, sent[2]!);
  w.close();
  const got = await frames(path);
  assert.equal(got.length, 3);
  assert.deepEqual(
    got.map((f) => f.data),
    sent,
  );
  assert.deepEqual(
    got.map((f) => f.ts),
    [1767225600.25, 1767225600.999999, 1767225601],
  );
  assert.ok(got.every((f) => f.linkType === LinkType.RAW));
});

test('rotation by size: new files past the limit, only the newest kept with a ring', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-writer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'ring.pcap');
  const limit = 20_000;
  const w = new PcapFileWriter(path, { linkType: LinkType.RAW, limitBytes: limit, files: 3 });
  for (let i = 0; i < 100; i++) w.write(1767225600 + i, datagram(i, 972)); // 1000 + 16 bytes each
  w.close();
  assert.equal(w.frames, 100);
  assert.equal(w.fileCount, 6); // 19 frames per file
  assert.ok(!existsSync(path) && !existsSync(`${path}.1`) && !existsSync(`${path}.2`));
  let kept = 0;
  for (const n of [3, 4, 5]) {
    const name = `${path}.${n}`;
    assert.ok(statSync(name).size <= limit, `${name} within the limit`);
    const fs = await frames(name);
    kept += fs.length;
    if (n === 5) assert.equal(fs.at(-1)!.ts, 1767225699, 'the newest frame is in the newest file');
  }
  assert.equal(kept, 100 - 3 * 19);
});
