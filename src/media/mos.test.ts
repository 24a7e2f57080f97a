import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delayImpairment, estimateMos, rToMos } from './mos.ts';

test('R to MOS follows G.107 annex B at known points', () => {
  assert.equal(rToMos(-5), 1);
  assert.equal(rToMos(120), 4.5);
  assert.ok(Math.abs(rToMos(93.2) - 4.409) < 0.001);
  assert.ok(Math.abs(rToMos(50) - 2.575) < 0.001);
  assert.equal(rToMos(0), 1);
  assert.equal(rToMos(100), 4.5);
});

test('delay impairment Idd: none up to 100 ms, about 24 at 400 ms (G.107 7.3)', () => {
  assert.equal(delayImpairment(100), 0);
  assert.ok(Math.abs(delayImpairment(200) - 3.04) < 0.05);
  assert.ok(Math.abs(delayImpairment(400) - 24.07) < 0.05);
});

test('a clean G.711 call scores R 93.2, MOS 4.41', () => {
  const e = estimateMos({ codec: 'PCMU', lossPct: 0, jitterMs: 0 });
  assert.ok(Math.abs(e.r - 93.2) < 1e-9);
  assert.ok(Math.abs(e.mos - 4.41) < 0.01);
  assert.equal(e.effectiveLossPct, 0);
  assert.equal(e.delayMs, 40); // 20 ms packets + 20 ms minimum buffer
});

test('loss uses Bpl 25.1 with concealment and 4.3 without (G.113 appendix I)', () => {
  const plc = estimateMos({ codec: 'PCMA', lossPct: 2, jitterMs: 0 });
  assert.ok(Math.abs(plc.ieEff - (95 * 2) / 27.1) < 1e-9);
  const noPlc = estimateMos({ codec: 'PCMA', lossPct: 2, jitterMs: 0, plc: false });
  assert.ok(Math.abs(noPlc.ieEff - (95 * 2) / 6.3) < 1e-9);
  assert.ok(noPlc.mos < plc.mos);
});

test('more loss, jitter or delay never raises the score', () => {
  let previous = Infinity;
  for (const lossPct of [0, 0.5, 1, 2, 5, 10, 20, 50]) {
    const { mos } = estimateMos({ codec: 'PCMU', lossPct, jitterMs: 5 });
    assert.ok(mos < previous, `loss ${lossPct}`);
    previous = mos;
  }
  previous = Infinity;
  for (const jitterMs of [0, 10, 20, 40, 80, 160]) {
    const e = estimateMos({ codec: 'PCMU', lossPct: 0, jitterMs });
    assert.ok(e.mos <= previous, `jitter ${jitterMs}`);
    previous = e.mos;
  }
  // A fixed buffer smaller than the jitter discards packets.
  const tight = estimateMos({ codec: 'PCMU', lossPct: 0, jitterMs: 30, jitterBufferMs: 20 });
  assert.ok(tight.effectiveLossPct > 10);
  const slow = estimateMos({ codec: 'PCMU', lossPct: 0, jitterMs: 0, delayMs: 300 });
  assert.ok(slow.mos < 4.1 && slow.id > 10);
});
