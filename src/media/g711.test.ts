import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import alawmulaw from 'alawmulaw';
import { needTool } from '../../test/support/peers.ts';

const { alaw, mulaw } = alawmulaw;
import {
  alawDecode,
  alawDecodeBuffer,
  alawEncode,
  alawEncodeBuffer,
  ulawDecode,
  ulawDecodeBuffer,
  ulawEncode,
  ulawEncodeBuffer,
} from './g711.ts';

test('every mu-law and A-law code decodes like alawmulaw', () => {
  for (let code = 0; code < 256; code++) {
    // alawmulaw gives -0 for the mu-law "negative zero" 0x7f: compare numerically.
    assert.ok(ulawDecode(code) === mulaw.decodeSample(code), `mu-law code ${code}`);
    assert.equal(alawDecode(code), alaw.decodeSample(code), `A-law code ${code}`);
  }
});

test('every 16-bit sample encodes like alawmulaw', () => {
  let ulawMismatch = 0;
  let alawMismatch = 0;
  for (let sample = -32768; sample < 32768; sample++) {
    // alawmulaw returns the one's complement of the mu-law code unmasked: keep the low byte.
    if (ulawEncode(sample) !== (mulaw.encodeSample(sample) & 0xff)) ulawMismatch++;
    if (alawEncode(sample) !== alaw.encodeSample(sample)) alawMismatch++;
  }
  assert.equal(ulawMismatch, 0);
  assert.equal(alawMismatch, 0);
});

test('buffer versions round-trip through the same codes', () => {
  const samples = new Int16Array(65536);
  for (let i = 0; i < samples.length; i++) samples[i] = i - 32768;
  assert.deepEqual(ulawEncodeBuffer(samples), Buffer.from(mulaw.encode(samples)));
  assert.deepEqual(alawEncodeBuffer(samples), Buffer.from(alaw.encode(samples)));
  const codes = new Uint8Array(256).map((_, i) => i);
  assert.deepEqual(ulawDecodeBuffer(codes), mulaw.decode(codes));
  assert.deepEqual(alawDecodeBuffer(codes), alaw.decode(codes));
  // Decoding then encoding any code gives the code back (except mu-law's negative zero 0x7f).
  for (let code = 0; code < 256; code++) {
    assert.equal(alawEncode(alawDecode(code)), code);
    if (code !== 0x7f) assert.equal(ulawEncode(ulawDecode(code)), code);
  }
});

test('every code decodes as sox decodes it', (t) => {
  const sox = needTool(t, 'sox');
  if (!sox) return;
  const codes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const [type, decode] of [
    ['ul', ulawDecode],
    ['al', alawDecode],
  ] as const) {
    const out: Buffer = execFileSync(
      sox,
      ['-t', type, '-r', '8000', '-c', '1', '-', '-t', 's16', '-L', '-'],
      {
        input: codes,
      },
    );
    const expected: number[] = Array.from({ length: 256 }, (_, i): number =>
      out.readInt16LE(i * 2),
    );
    assert.deepEqual(
      Array.from({ length: 256 }, (_, i) => decode(i)),
      expected,
      type,
    );
  }
});
