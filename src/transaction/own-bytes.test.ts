import test from 'node:test';
import assert from 'node:assert/strict';
import { keepInChunk } from './own-bytes.ts';

/** A response-sized message whose bytes tell it apart (its number, in text and in a fill). */
function response(n: number, size: number): Buffer {
  const head = Buffer.from(`SIP/2.0 200 OK\r\nCSeq: ${n} BYE\r\n\r\n`);
  const b = Buffer.alloc(Math.max(size, head.length), n % 251);
  head.copy(b);
  return b;
}

test('keepInChunk gives back each message exactly, however many share a chunk', () => {
  const sources: Buffer[] = [];
  const kept = [];
  // Sizes around a response's, enough to fill several 64 KB chunks, with chunk ends between.
  for (let n = 0; n < 1000; n++) {
    const b = response(n, 200 + ((n * 37) % 400));
    sources.push(Buffer.from(b));
    kept.push(keepInChunk(b));
    b.fill(0); // the sender's buffer is reused: what was kept must not change with it
  }
  for (let n = 0; n < kept.length; n++) {
    assert.equal(kept[n]!.length, sources[n]!.length);
    assert.deepEqual(kept[n]!.buffer, sources[n]!, `message ${n}`);
  }
  // Consecutive messages share their memory (one chunk, not one allocation each)...
  const chunks = new Set(kept.map((k) => k.buffer.buffer));
  assert.ok(chunks.size >= 5 && chunks.size <= 10, `${chunks.size} chunks for about 400 KB`);
  assert.equal(kept[1]!.buffer.buffer, kept[0]!.buffer.buffer);
});

test('keepInChunk gives a large message memory of its own', () => {
  const big = response(7, 20_000);
  const small = keepInChunk(response(8, 300));
  const kept = keepInChunk(big);
  assert.deepEqual(kept.buffer, big);
  assert.notEqual(kept.buffer.buffer, small.buffer.buffer);
  assert.equal(kept.buffer.byteLength, 20_000);
  // The shared chunk goes on after it.
  const next = keepInChunk(response(9, 300));
  assert.equal(next.buffer.buffer, small.buffer.buffer);
});
