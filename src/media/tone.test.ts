import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chirpSamples, toneSamples } from './tone.ts';

test('a tone continues across frames exactly as one long tone', () => {
  const whole = toneSamples(440.5, 24000);
  const parts = new Int16Array(24000);
  for (let at = 0; at < 24000; at += 160) {
    parts.set(toneSamples(440.5, 160, { startSample: at }), at);
  }
  let maxDiff = 0;
  for (let i = 0; i < whole.length; i++)
    maxDiff = Math.max(maxDiff, Math.abs(whole[i]! - parts[i]!));
  assert.ok(maxDiff <= 1, `max difference ${maxDiff}`);
  // Peak close to 0.3 of full scale; about 440.5 zero crossings up per second.
  const peak = Math.max(...whole);
  assert.ok(peak > 9700 && peak <= 9831, `peak ${peak}`);
  let ups = 0;
  for (let i = 1; i < 8000; i++) if (whole[i - 1]! < 0 && whole[i]! >= 0) ups++;
  assert.ok(Math.abs(ups - 440) <= 1, `${ups} upward crossings`);
});

test('a chirp correlates with itself at lag 0 far better than at any other lag', () => {
  const c = chirpSamples(300, 3000, 4000);
  const corr = (lag: number) => {
    let s = 0;
    for (let i = 0; i + lag < c.length; i++) s += c[i]! * c[i + lag]!;
    return s;
  };
  const zero = corr(0);
  for (const lag of [1, 3, 10, 80, 400]) assert.ok(Math.abs(corr(lag)) < 0.6 * zero, `lag ${lag}`);
});
