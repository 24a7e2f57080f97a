// What `trapezoid serve` does to V8's garbage collection, measured through the real command under
// SIPp load: with allocation-site pretenuring off (config `memory.pretenuring: false`, the
// default; src/server/memory-target.ts stopPretenuring) and the call log keeping the messages of
// its newest LADDERS_KEPT calls only, a proxied call's objects die young; with pretenuring on,
// the same calls promote two to three times as much to the old generation, which full collections
// (CPU, and memory while it waits) then have to clear. Promoted bytes are V8's own count, from
// `--trace-gc-nvp`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool, repoRoot } from './support/peers.ts';
import { calleeArgs, callerArgs, writeTrunkConfig } from './support/trunk-config.ts';
import { Peer, scratchDir, sippErrors, waitForOutput } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const scenario = join(repoRoot, 'bench', 'scenarios', 'uac-any-order.xml');
const RATE = 600;
const SECONDS = 8;

/** Bytes promoted by scavenges while SIPp ran RATE calls/s through `serve` for SECONDS. */
async function promotedUnderLoad(pretenuring: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-gc-'));
  const trunks = await writeTrunkConfig(dir, 'gc', [
    'capture: { enabled: false }',
    `memory: { targetMb: 256, pretenuring: ${pretenuring} }`,
    'log: { level: warn }',
  ]);
  const serve = new Peer(
    process.execPath,
    ['--trace-gc-nvp', bin, 'serve', '--config', trunks.cfg, '--json'],
    dir,
  );
  const uas = new Peer('sipp', calleeArgs(trunks), scratchDir());
  try {
    await waitForOutput(serve, /"event":"listening"/, 15_000);
    const before = serve.stdout.length;
    const sippDir = scratchDir();
    const calls = [
      '-sf',
      scenario,
      '-r',
      `${RATE}`,
      '-m',
      `${RATE * SECONDS}`,
      '-l',
      `${RATE * 4}`,
    ];
    const uac = new Peer('sipp', callerArgs(trunks, calls, SECONDS + 20), sippDir);
    const done = await uac.finish((SECONDS + 30) * 1000);
    // 0: every call completed; 1: some failed (a test running beside this one can starve the
    // server for a moment), which changes little of what is measured here.
    assert.ok(done.code === 0 || done.code === 1, `SIPp failed: ${sippErrors(sippDir)}`);
    let promoted = 0;
    let scavenges = 0;
    for (const m of serve.stdout.slice(before).matchAll(/gc=s .*? promoted=(\d+)/g)) {
      promoted += Number(m[1]);
      scavenges++;
    }
    assert.ok(scavenges >= 5, `only ${scavenges} scavenges were seen under load`);
    return promoted;
  } finally {
    serve.kill();
    uas.kill();
  }
}

test('under load, `serve` promotes well under what it does with V8 pretenuring on', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  // Taking turns, twice each, and the least of each: a test running beside this one can slow
  // the server for a while, its calls then live longer and promote more whatever the setting.
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < 2; round++) {
    off.push(await promotedUnderLoad(false));
    on.push(await promotedUnderLoad(true));
  }
  const perCall = (b: number): string => `${(b / (RATE * SECONDS) / 1024).toFixed(1)}`;
  t.diagnostic(
    `promoted KB/call: ${off.map(perCall).join(', ')} (default), ${on.map(perCall).join(', ')} (pretenuring on)`,
  );
  const [leastOff, leastOn] = [Math.min(...off), Math.min(...on)];
  assert.ok(leastOn > 4e6, `with pretenuring on, ${leastOn} bytes were promoted (the effect)`);
  assert.ok(
    leastOff < 0.7 * leastOn,
    `promoted ${leastOff} bytes by default against ${leastOn} with pretenuring`,
  );
});
