import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../../test/support/peers.ts';
import { readWav, writeWav, WavFormatError } from './wav.ts';
import { resample } from './resample.ts';

function tone(hz: number, rate: number, seconds: number, amplitude = 0.5): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / rate);
  return out;
}

/** Root mean square of the middle of a signal (edges hold the filter's start-up). */
function rms(samples: ArrayLike<number>): number {
  const from = Math.floor(samples.length * 0.1);
  const to = Math.floor(samples.length * 0.9);
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / (to - from));
}

test('writeWav then readWav gives the samples back, mono and stereo', () => {
  const left = Int16Array.from({ length: 1000 }, (_, i) => ((i * 97) % 65536) - 32768);
  const right = Int16Array.from({ length: 1000 }, (_, i) => 1000 - i);
  const stereo = writeWav({ sampleRate: 8000, channels: [left, right] });
  assert.equal(stereo.length, 44 + 4000);
  assert.equal(stereo.toString('latin1', 0, 4), 'RIFF');
  assert.equal(stereo.readUInt32LE(4), stereo.length - 8);
  // Interleaved: L0 R0 L1 R1 ...
  assert.equal(stereo.readInt16LE(44), left[0]);
  assert.equal(stereo.readInt16LE(46), right[0]);
  const back = readWav(stereo);
  assert.equal(back.sampleRate, 8000);
  assert.deepEqual(back.channels, [left, right]);
  const mono = readWav(stereo, { mono: true });
  assert.equal(mono.channels.length, 1);
  assert.equal(mono.channels[0]![10], Math.round((left[10]! + right[10]!) / 2));
  assert.throws(() => readWav(Buffer.from('RIFF....WAVX')), WavFormatError);
});

test('resampling keeps a 1 kHz tone and removes what would alias', () => {
  for (const rate of [16000, 44100, 48000]) {
    const pass = resample(tone(1000, rate, 0.5), rate, 8000);
    assert.equal(pass.length, 4000);
    const gain = rms(pass) / rms(tone(1000, rate, 0.5));
    assert.ok(Math.abs(gain - 1) < 0.01, `1 kHz at ${rate}: gain ${gain}`);
    // 5 kHz is above the 4 kHz Nyquist of 8 kHz: without a low-pass it would fold to 3 kHz.
    const stop = resample(tone(5000, rate, 0.5), rate, 8000);
    const db = 20 * Math.log10(rms(stop) / rms(tone(5000, rate, 0.5)));
    assert.ok(db < -60, `5 kHz at ${rate}: ${db.toFixed(1)} dB`);
  }
  // Upsampling 8 kHz to 16 kHz keeps the tone at the same frequency: compare with a 16 kHz one.
  const up = resample(tone(1000, 8000, 0.5), 8000, 16000);
  const reference = tone(1000, 16000, 0.5);
  let err = 0;
  for (let i = 1600; i < 6400; i++) err = Math.max(err, Math.abs(up[i]! - reference[i]!));
  assert.ok(err < 0.005, `upsampled error ${err}`);
});

test('readWav reads what sox writes (PCM 8/16/24/32, float, A-law, mu-law, stereo, 16k/44.1k/48k)', (t) => {
  const sox = needTool(t, 'sox');
  if (!sox) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-wav-'));
  try {
    const cases = [
      { rate: 8000, args: ['-b', '8', '-e', 'unsigned-integer'], channels: 1 },
      { rate: 8000, args: ['-b', '16', '-e', 'signed-integer'], channels: 1 },
      { rate: 16000, args: ['-b', '24', '-e', 'signed-integer'], channels: 2 },
      { rate: 44100, args: ['-b', '32', '-e', 'signed-integer'], channels: 2 },
      { rate: 48000, args: ['-b', '32', '-e', 'floating-point'], channels: 1 },
      { rate: 8000, args: ['-b', '8', '-e', 'a-law'], channels: 1 },
      { rate: 8000, args: ['-b', '8', '-e', 'u-law'], channels: 1 },
      { rate: 48000, args: ['-b', '16', '-e', 'signed-integer'], channels: 6 },
    ];
    for (const c of cases) {
      const file = join(dir, `in-${c.rate}-${c.args.join('')}-${c.channels}.wav`);
      execFileSync(sox, [
        '-n',
        '-r',
        String(c.rate),
        '-c',
        String(c.channels),
        ...c.args,
        file,
        'synth',
        '0.5',
        'sine',
        '1000',
        'vol',
        '0.5',
      ]);
      const audio = readWav(readFileSync(file), { mono: true, sampleRate: 8000 });
      assert.equal(audio.source.sampleRate, c.rate);
      assert.equal(audio.source.channels, c.channels);
      assert.equal(audio.sampleRate, 8000);
      assert.equal(audio.channels.length, 1);
      assert.equal(audio.channels[0]!.length, 4000, file);
      // sox's own conversion to 8 kHz mono 16-bit is the reference.
      const ref = join(dir, 'ref.raw');
      execFileSync(sox, [
        file,
        '-r',
        '8000',
        '-c',
        '1',
        '-b',
        '16',
        '-e',
        'signed-integer',
        '-t',
        'raw',
        ref,
      ]);
      const expected = new Int16Array(new Uint8Array(readFileSync(ref)).buffer);
      let noise = 0;
      let signal = 0;
      for (let i = 400; i < 3600; i++) {
        noise += (audio.channels[0]![i]! - expected[i]!) ** 2;
        signal += expected[i]! ** 2;
      }
      const snr = 10 * Math.log10(signal / noise);
      assert.ok(snr > 35, `${file}: SNR against sox ${snr.toFixed(1)} dB`);
    }
    // And sox reads what we write.
    const ours = join(dir, 'ours.wav');
    const samples = Int16Array.from(tone(440, 8000, 0.25), (v) => Math.round(v * 32767));
    writeFileSync(ours, writeWav({ sampleRate: 8000, channels: [samples, samples] }));
    const info = execFileSync(sox, ['--i', ours], { encoding: 'utf8' });
    assert.match(info, /Channels\s*:\s*2/);
    assert.match(info, /Sample Rate\s*:\s*8000/);
    assert.match(info, /Precision\s*:\s*16-bit/);
    assert.match(info, /Duration\s*:\s*00:00:00\.25 = 2000 samples/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('truncated or corrupted WAVE files fail with WavFormatError, never anything else', () => {
  const good = writeWav({ sampleRate: 8000, channels: [new Int16Array(64).fill(1000)] });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: good.length }),
      fc.array(
        fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 })),
        {
          maxLength: 4,
        },
      ),
      (cut, edits) => {
        const bytes = Buffer.from(good.subarray(0, cut));
        for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
        try {
          readWav(bytes, { mono: true, sampleRate: 16000 });
        } catch (e) {
          if (!(e instanceof WavFormatError)) throw e;
        }
      },
    ),
    { numRuns: 1000 },
  );
});
