// bench:uas: SIPp's built-in `uac` against trapezoid's UAS (a minimal answering process built on
// src/ua, started here as a child), and in the same run against SIPp's own `-sn uas`, stepping
// the call rate asked of SIPp. A step holds when >= 99.9 % of the calls completed and SIPp
// really placed calls at >= 80% of the rate asked (its CallRate(C), calls per second over the
// whole run, tail included: one SIPp uac tops out near 3,000 calls/s on 2 cores, and asking for
// more would measure SIPp, not the UAS). Each target's score is the highest rate really placed
// in a step that held; a step that does not hold is run once more before the climb stops.
//
// Each step also gives the UAS's CPU seconds per 1000 completed calls (utime + stime from
// /proc/PID/stat of the UAS process and any child of it, bench/procstat.ts: trapezoid's one
// Node process, SIPp's one uas process), read before the uac starts and when it exits or 1 s
// after its last call was due, whichever is first; and the UAS's peak RSS (VmHWM) in that step.
// Both UASs are fresh processes in every step, so no step carries another's leftovers; each
// first answers --warmup seconds (default 1) of calls at min(rate, 500)/s, not measured, so a JIT
// compiling trapezoid's code is not billed to the step. RSS includes that warm-up.
// Last line: {"bench":"uas","trapezoid":N,"sipp_uas":N,"ratio":X,"cpu_ratio":X,"cpu_rate":N,
//   "cpu_ratio_by_rate":{...},"steps":{"trapezoid":[...],"sipp_uas":[...]}}
// cpu_ratio = SIPp uas CPU per call / trapezoid CPU per call at cpu_rate, the highest asked rate
// at which both held (above 1 trapezoid uses less CPU per call).
//
//   npm run bench:uas                       (node --import tsx bench/uas.ts)
//   node --import tsx bench/uas.ts --rates 200,500,1000 --seconds 5 [--warmup 1]
//
// Everything runs on 127.0.0.1, ports 16900-16999; every process started here is stopped here.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDist } from './build.ts';
import { treeCpuSeconds, treeHwmMb } from './procstat.ts';

/** SIPp's socket buffers (default 64 KB): at 1000+ calls/s bursts overflow them and SIPp loses its
 * own packets on loopback. 4 MB (this machine's rmem_max) for the uac and SIPp's uas alike. */
const SIPP_BUFFER = '4194304';

interface StepResult {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  /** Calls per second SIPp really placed over the run (its CallRate(C)): it cannot always keep up. */
  achieved: number;
  clean: boolean;
  /** UAS CPU seconds over the load window. */
  cpu: number;
  /** UAS peak RSS (VmHWM) at the end of the step, MB. */
  rssMb: number;
}

/** A step counts only if SIPp really placed calls at (nearly) the rate asked. */
const RATE_HELD = 0.8;
/** Calls/s of the unmeasured warm-up run before each step (at most the step's own rate). */
const WARMUP_RATE = 500;
/** ... and at least this share of its calls completed. */
const CLEAN_SHARE = 0.999;

/** Every child started here, so an interrupted bench (Ctrl-C, SIGTERM) leaves none behind. */
const children = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function stopChildrenOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of children) child.kill('SIGKILL');
      process.exit(130);
    });
  }
}

function run(cmd: string, args: string[], cwd: string, limitMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = track(spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] }));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Resolves after `ms`, or with `p` if it settles first. */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]).then(() =>
    clearTimeout(timer),
  );
}

/** SIPp uac at `rate` calls/s for `seconds` against 127.0.0.1:port; counts from -trace_stat. */
async function step(
  uasPid: number,
  sipp: string,
  port: number,
  localPort: number,
  rate: number,
  seconds: number,
): Promise<StepResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-uas-'));
  const calls = rate * seconds;
  const args = ['-sn', 'uac', `127.0.0.1:${port}`, '-i', '127.0.0.1', '-p', String(localPort)];
  args.push(
    '-r',
    String(rate),
    '-m',
    String(calls),
    '-d',
    '0',
    '-nostdin',
    '-trace_stat',
    '-fd',
    '1',
  );
  args.push(
    '-timeout',
    `${seconds + 20}s`,
    '-timeout_error',
    '-l',
    String(rate * 4),
    '-buff_size',
    SIPP_BUFFER,
  );
  const cpu0 = treeCpuSeconds(uasPid);
  const exit = run(sipp, args, dir, (seconds + 30) * 1000);
  // The load window: the calls were due within `seconds` and have no pause; 1 s more for the last.
  await within(exit, seconds * 1000 + 1000);
  const cpu = treeCpuSeconds(uasPid) - cpu0;
  const code = await exit;
  const rssMb = Math.round(treeHwmMb(uasPid));
  let successful = 0;
  let failed = calls;
  let achieved = 0;
  const csv = readdirSync(dir).find((f) => f.endsWith('.csv'));
  if (csv) {
    const rows = readFileSync(join(dir, csv), 'utf8').trim().split('\n');
    const last = rows[rows.length - 1].split(';');
    // PEERS.md: the 16th field is SuccessfulCall(C), the 18th FailedCall(C); the 8th is
    // CallRate(C), the calls created per second over the whole run.
    successful = Number(last[15]);
    failed = Number(last[17]);
    achieved = Number(last[7]);
  }
  rmSync(dir, { recursive: true, force: true });
  // >= 99.9 % of the calls completed (SIPp exits non-zero when any failed: not required);
  // asking SIPp for more than it can place is not a higher rate held, so the step must also have
  // run near the rate asked. A SIPp killed by the watchdog (code null) holds nothing.
  const clean = code !== null && successful >= calls * CLEAN_SHARE && achieved >= rate * RATE_HELD;
  return { rate, calls, successful, failed, achieved, clean, cpu, rssMb };
}

function startChild(cmd: string, args: string[], readyPattern?: RegExp): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(cmd, args, {
        stdio: ['ignore', readyPattern ? 'pipe' : 'ignore', readyPattern ? 'inherit' : 'ignore'],
      }),
    );
    if (!readyPattern) {
      setTimeout(() => resolve(child), 500);
      return;
    }
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start`)), 15000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (readyPattern.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', () => reject(new Error(`${cmd} exited early`)));
  });
}

/** SIGTERM, and SIGKILL if still there after 3 s; resolves once the process is gone. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

interface StepRow {
  rate: number;
  placed: number;
  calls: number;
  completed_pct: number;
  failed: number;
  cpu_s_per_1000: number | null;
  rss_mb: number;
  held: boolean;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  stopChildrenOnSignal();

  const rates = (
    flag('--rates') ?? '200,500,1000,1500,2000,2500,3000,3500,4000,4500,5000,5500,6000'
  )
    .split(',')
    .map(Number);
  const seconds = Number(flag('--seconds') ?? '5');
  // Seconds of unmeasured calls each fresh UAS answers before its measured step (JIT warm-up).
  const warmup = Number(flag('--warmup') ?? '1');
  const sipp = 'sipp';
  const ports = { trapezoid: 16901, sippUas: 16902, uacA: 16903, uacB: 16904 };

  // trapezoid's UAS: bench/uas-serve.mjs, plain node on the compiled dist/ (bench/build.ts).
  buildDist();
  const child = join(dirname(fileURLToPath(import.meta.url)), 'uas-serve.mjs');
  // Each step gets fresh processes on both sides, so no step inherits another's backlog.
  const startTarget = (target: 'trapezoid' | 'sipp_uas') =>
    target === 'trapezoid'
      ? startChild(process.execPath, [child, String(ports.trapezoid), SIPP_BUFFER], /ready/)
      : startChild(sipp, [
          '-sn',
          'uas',
          '-i',
          '127.0.0.1',
          '-p',
          String(ports.sippUas),
          '-nostdin',
          '-buff_size',
          SIPP_BUFFER,
        ]);

  const best = { trapezoid: 0, sipp_uas: 0 };
  const steps: Record<'trapezoid' | 'sipp_uas', StepRow[]> = { trapezoid: [], sipp_uas: [] };
  const alive = { trapezoid: true, sipp_uas: true };
  for (const rate of rates) {
    for (const target of ['trapezoid', 'sipp_uas'] as const) {
      if (!alive[target]) continue;
      // A step that fails is run once more (fresh processes): on a shared machine one burst of
      // someone else's load should not end a target's climb. Both sides get the same chance.
      for (let attempt = 1; attempt <= 2; attempt++) {
        const server = await startTarget(target);
        let r: StepResult;
        try {
          const port = target === 'trapezoid' ? ports.trapezoid : ports.sippUas;
          const local = target === 'trapezoid' ? ports.uacA : ports.uacB;
          if (warmup > 0) {
            await step(server.pid!, sipp, port, local, Math.min(rate, WARMUP_RATE), warmup);
            await pause(500);
          }
          r = await step(server.pid!, sipp, port, local, rate, seconds);
        } finally {
          await stop(server);
        }
        const cpuPer1000 = r.successful > 0 ? round((r.cpu / r.successful) * 1000, 3) : null;
        console.log(
          `${target.padEnd(9)} ${String(rate).padStart(5)} calls/s asked, ${String(Math.round(r.achieved)).padStart(5)} placed: ${r.successful}/${r.calls} ok (${((r.successful / r.calls) * 100).toFixed(2)} %), ${r.failed} failed, CPU ${cpuPer1000 ?? '-'} s/1000 calls, RSS ${r.rssMb} MB${r.clean ? '' : `  <- not held${attempt === 1 ? ', once more' : ''}`}`,
        );
        steps[target].push({
          rate,
          placed: Math.round(r.achieved),
          calls: r.calls,
          completed_pct: round((r.successful / r.calls) * 100, 2),
          failed: r.failed,
          cpu_s_per_1000: cpuPer1000,
          rss_mb: r.rssMb,
          held: r.clean,
        });
        await pause(1000); // let the sockets drain
        if (r.clean) {
          best[target] = Math.max(best[target], Math.round(r.achieved));
          break;
        }
        if (attempt === 2) alive[target] = false;
      }
    }
  }
  const ratio = best.sipp_uas > 0 ? Math.round((best.trapezoid / best.sipp_uas) * 100) / 100 : 0;
  // CPU per call compared at the same asked rate, over the steps that held on both sides.
  const cpuRatioByRate: Record<string, number> = {};
  for (const t of steps.trapezoid) {
    const s = steps.sipp_uas.find((row) => row.rate === t.rate && row.held);
    if (!t.held || !s || !t.cpu_s_per_1000 || !s.cpu_s_per_1000) continue;
    cpuRatioByRate[t.rate] = round(s.cpu_s_per_1000 / t.cpu_s_per_1000, 2);
  }
  const bothHeld = Object.keys(cpuRatioByRate).map(Number);
  const cpuRate = bothHeld.length > 0 ? Math.max(...bothHeld) : null;
  const cpuRatio = cpuRate !== null ? cpuRatioByRate[cpuRate]! : null;
  console.log(
    cpuRate !== null
      ? `CPU per call, sipp uas / trapezoid, at ${cpuRate}/s asked (highest rate both held): ${cpuRatio}`
      : 'CPU per call: no rate at which both held, no cpu_ratio',
  );
  console.log(
    JSON.stringify({
      bench: 'uas',
      trapezoid: best.trapezoid,
      sipp_uas: best.sipp_uas,
      ratio,
      cpu_ratio: cpuRatio,
      cpu_rate: cpuRate,
      cpu_ratio_by_rate: cpuRatioByRate,
      steps,
    }),
  );
}

await main();
