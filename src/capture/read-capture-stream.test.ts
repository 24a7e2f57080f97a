import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { writePcap, writePcapng } from './capture-writer.ts';
import { LinkType } from './capture-frame.ts';
import { readCaptureStream } from './read-capture-stream.ts';

const frames = Array.from({ length: 20 }, (_, i) => ({
  ts: 1767225600 + i / 10,
  data: Buffer.alloc(20 + i * 37, i),
}));

/** The stream in pieces of `size` bytes. */
function pieces(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

for (const [name, file] of [
  ['pcap', writePcap(frames, { linkType: LinkType.RAW })],
  [
    'pcapng',
    writePcapng([
      {
        interfaces: [{ linkType: LinkType.RAW }],
        packets: frames.map((f) => ({ ...f, interfaceId: 0 })),
      },
    ]),
  ],
] as const) {
  for (const size of [1, 7, 4096]) {
    test(`a ${name} stream in ${size}-byte pieces gives every frame whole, in order`, async () => {
      const got: Array<{ ts: number; data: Buffer; index: number }> = [];
      const r = await readCaptureStream(
        pieces(file, size),
        (buf, start, end, index, ts, linkType) => {
          assert.equal(linkType, LinkType.RAW);
          got.push({ ts, index, data: Buffer.from(buf.subarray(start, end)) });
        },
      );
      assert.equal(r.error, undefined);
      assert.equal(r.frames, frames.length);
      assert.equal(r.bytes, file.length);
      assert.deepEqual(
        got.map((f) => f.data),
        frames.map((f) => f.data),
      );
      assert.deepEqual(
        got.map((f) => f.index),
        frames.map((_, i) => i + 1),
      );
    });
  }
}

test('a stream that is not a capture stops at once with the reason', async () => {
  const r = await readCaptureStream(Readable.from([Buffer.from('GET / HTTP/1.1\r\n\r\n')]), () =>
    assert.fail('no frame'),
  );
  assert.equal(r.frames, 0);
  assert.match(r.error!.reason, /not a pcap or pcapng/);
});

test('a stream cut inside a record: the frames before it, and where it broke', async () => {
  const file = writePcap(frames.slice(0, 3), { linkType: LinkType.RAW });
  let n = 0;
  const r = await readCaptureStream(pieces(file.subarray(0, file.length - 5), 100), () => n++);
  assert.equal(n, 2);
  assert.ok(r.error);
});
