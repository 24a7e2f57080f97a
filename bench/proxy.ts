// bench/proxy: SIPp uac -> proxy -> SIPp uas, stepping the offered call rate, for trapezoid and
// for Kamailio on the same route, same machine, same run. For each proxy and each step it prints
// the offered rate, the calls completed (%), the failed calls, the proxy's CPU seconds per 1000
// completed calls and its RSS; then, per proxy, the highest offered rate at which >= 99.9 % of the
// calls completed (a "clean" step). The last line is one JSON object:
//   {"bench":"proxy","trapezoid":N,"kamailio":N,"ratio":X,"cpu_ratio":X,"cpu_rate":N,
//    "rss_mb":N,"proxies":{"trapezoid":{...},"kamailio":{...}}}
//   trapezoid, kamailio: highest clean offered rate (calls/s); ratio = trapezoid / kamailio
//     (null when Kamailio was clean at no rate).
//   cpu_ratio: Kamailio's CPU per call / trapezoid's CPU per call at cpu_rate, the highest offered
//     rate at which both were clean (above 1 trapezoid uses less CPU); cpu_ratio_by_rate gives
//     the same at every rate both were clean, cpu_ratio_all_by_rate at every rate both ran,
//     clean or not. Measured over the load window (see below).
//   rss_mb: trapezoid's peak RSS (VmHWM: exact for its one process).
//   proxies.NAME: clean_rate, peak_rss_mb (summed over the processes, sampled every 500 ms),
//     peak_pss_mb (the same in PSS: shared pages counted once), hwm_mb (sum of each process's
//     VmHWM), processes, and steps [{rate, calls, completed_pct, failed, cpu_s_per_1000,
//     cpu_s_per_1000_drain, rss_mb}].
//
//   npm run bench:proxy [-- --rates 250,500,1000 --seconds 5 --drain 3000 --warmup 3 --log-level warn]
//   npm run bench:proxy -- --proxies trapezoid --node-args=--cpu-prof,--cpu-prof-dir=/tmp/prof
//
// --repeat N runs each step N times, the proxies taking turns (t, k, t, k, ...), and scores the
// median: its completed share, failures and CPU are the runs' medians (of an even count, the
// mean of the middle two: bench/stats.ts), it is clean when most of its runs were, its RSS the
// highest; every run is printed and kept in the JSON (`runs`). On a shared machine one run's CPU
// can be 30-50 % off: compare medians. Default 1.
//
// --overload off turns trapezoid's overload control off (src/server/overload.ts); with it on
// (default), each trapezoid step reports the new requests it refused (`refused`).
//
// --proxies trapezoid (or kamailio) runs one side only (no ratios then): for before/after runs of
// one side. --node-args passes comma-separated flags to trapezoid's Node process (a profile, a
// heap limit); the JSON's `node_args` says which were used.
//
// Before the ladder each proxy carries --warmup seconds of calls at the first rate, not scored
// (printed): a proxy in service is warm, and trapezoid's JIT would bill compilation to step 1.
//
// CPU: utime + stime from /proc/PID/stat (bench/procstat.ts) of every process of the proxy: for
// Kamailio its main process and every forked worker (its process group and descendants), for
// trapezoid its one Node process (all its threads are in it). Read before SIPp starts and at the
// end of the load window: when SIPp has placed its calls and they had 1 s to end (or when SIPp
// exits, if earlier). cpu_s_per_1000_drain also counts the drain after the window (until the next
// step starts): late retransmissions and transaction timers. Timers of a step that fire after
// its drain (trapezoid keeps transactions 32 s) land in later steps of the same proxy.
//
// Kamailio gets a fair start: 2 workers, -m 2048 shared memory (its default 64 MB runs out
// under load and fails every call), -b with the UDP receive buffer trapezoid's listeners ask for
// (it probes only up to 256 KB by default and drops bursts trapezoid absorbs), and the caller
// (bench/scenarios/uac-any-order.xml) ignores a 180 forwarded after the 200, even after its BYE
// has gone, which Kamailio's parallel workers sometimes do. trapezoid runs
// `trapezoid serve` with a config that routes the dialled "service" to the uas over a trunk, at
// --log-level warn (default; `--log-level info` adds its per-call log lines), as Kamailio logs
// nothing per call at debug=1. Its CDRs go to its SQLite database, as they must (Kamailio keeps
// no call records here).
// Between steps both proxies drain for a while, so leftovers of one step (late
// retransmissions) cannot fail calls of the next. A proxy stops climbing at its first step that
// is not clean.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledCli } from './build.ts';
import { kamailioProxyArgs } from './kamailio-proxy.ts';
import { proxyBenchConfig } from './trapezoid-config.ts';
import { runUacStep, uasArgs } from './sipp-step.ts';
import { median } from './stats.ts';
import { MemorySampler, treeCpuSeconds, treeHwmMb, treeStats } from './procstat.ts';
import { arg } from './args.ts';

const args = process.argv.slice(2);
const rates = arg('rates', '250,500,1000,1500,2000,2500,3000').split(',').map(Number);
const stepSeconds = Number(arg('seconds', '5'));
const drainMs = Number(arg('drain', '3000'));
/** trapezoid's log level. Kamailio runs with debug=1 and logs nothing per call; at `info`
 * trapezoid writes two JSON lines per call (routing decision, end), so the default is `warn`. */
const logLevel = arg('log-level', 'warn');
/** Seconds of unmeasured calls at the first rate before the ladder (JIT warm-up), 0 for none. */
const warmupSeconds = Number(arg('warmup', '3'));
/** Runs of each step (see the top of the file). */
const repeat = Math.max(1, Math.floor(Number(arg('repeat', '1'))));
/** trapezoid's `memory.targetMb` (src/server/memory-target.ts); unset: the server's default. */
const memoryTarget = arg('memory-target-mb', '');
/**
 * trapezoid's overload control (src/server/overload.ts): `--overload off` sets `shedAbove: 0`;
 * default: the server's own settings. The JSON's `overload` says which.
 */
const overload = arg('overload', 'on');
/** The proxies to run: both by default, or one of them alone. */
const only = arg('proxies', 'trapezoid,kamailio').split(',');
/** Extra flags for trapezoid's Node process (comma-separated; `--node-args=--cpu-prof,...`). */
const nodeArgs = (
  args.find((a) => a.startsWith('--node-args='))?.slice('--node-args='.length) ?? ''
)
  .split(',')
  .filter((a) => a !== '');
/** A step is clean when at least this share of the offered calls completed. */
const CLEAN_SHARE = 0.999;
const work = mkdtempSync(join(tmpdir(), 'trapezoid-bench-proxy-'));

const PORTS = {
  trapezoid: 18060,
  kamailio: 18070,
  uasT: 18080,
  uasK: 18090,
  uacT: 18100,
  uacK: 18110,
  http: 18120,
};

const children: ChildProcess[] = [];
function start(cmd: string, argv: string[], name: string): ChildProcess {
  // Each child leads its own process group, so stopping it also stops what it forked (Kamailio's
  // workers would otherwise outlive a SIGKILL of their parent and hold the ports).
  const child = spawn(cmd, argv, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.on('exit', (code, sig) => {
    if (!stopping) process.stderr.write(`${name} exited (${code ?? sig}):\n${err}\n`);
  });
  children.push(child);
  return child;
}
let stopping = false;
function stopAll(): void {
  stopping = true;
  for (const c of children) {
    if (c.pid === undefined) continue;
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StepResult {
  calls: number;
  ok: number;
  failed: number;
  /** CPU seconds of the proxy's processes over the load window, and until the drain ended. */
  cpuLoad: number;
  cpuDrain: number;
  /** Highest summed RSS of the proxy sampled during the step, in MB. */
  rssMb: number;
}

/** Runs one SIPp uac step against the proxy whose process tree is rooted at `proxyPid`: successful
 * and failed call counts from SIPp's stat file, the proxy's CPU time, then the drain. */
async function step(
  target: number,
  uacPort: number,
  rate: number,
  proxyPid: number,
  memory: MemorySampler,
  seconds: number,
): Promise<StepResult> {
  memory.takeStepPeak();
  const cpu0 = treeCpuSeconds(proxyPid);
  let cpu1 = cpu0;
  const { calls, ok, failed } = await runUacStep({
    target: `127.0.0.1:${target}`,
    address: '127.0.0.1',
    port: uacPort,
    rate,
    seconds,
    drainMs,
    dir: mkdtempSync(join(work, `uac-${target}-${rate}-`)),
    // What a failed call failed on, kept in the step's folder (only errors are written).
    traceErrors: true,
    onWindowEnd: () => (cpu1 = treeCpuSeconds(proxyPid)),
  });
  const cpu2 = treeCpuSeconds(proxyPid);
  const { rssMb } = memory.takeStepPeak();
  return { calls, ok, failed, cpuLoad: cpu1 - cpu0, cpuDrain: cpu2 - cpu0, rssMb };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
/** CPU seconds per 1000 completed calls (null when none completed). */
const per1000 = (cpu: number, ok: number) => (ok > 0 ? round((cpu / ok) * 1000, 3) : null);

interface StepRow {
  rate: number;
  calls: number;
  completed_pct: number;
  failed: number;
  cpu_s_per_1000: number | null;
  cpu_s_per_1000_drain: number | null;
  rss_mb: number;
  clean: boolean;
  /**
   * trapezoid: new requests its overload control refused in the step (src/server/overload.ts),
   * dropped (SIPp retransmits them) or answered 503.
   */
  refused?: { dropped: number; answered_503: number };
  /** With --repeat: each run of the step (the row itself is their median). */
  runs?: StepRow[];
}

/** trapezoid's overload counters from its /metrics (undefined when they cannot be read). */
async function refusedSoFar(): Promise<{ dropped: number; answered_503: number } | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${PORTS.http}/metrics`)).text();
    const count = (how: string) =>
      Number(
        new RegExp(`trapezoid_overload_refused_total\\{how="${how}"\\} (\\d+)`).exec(text)?.[1],
      );
    const dropped = count('dropped');
    const answered = count('503');
    return Number.isFinite(dropped) && Number.isFinite(answered)
      ? { dropped, answered_503: answered }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The median of several runs of one step (see --repeat at the top of the file). */
function medianRow(runs: StepRow[]): StepRow {
  const of = (pick: (r: StepRow) => number | null): number | null => {
    const xs = runs.map(pick).filter((x): x is number => x !== null);
    return xs.length > 0 ? round(median(xs), 3) : null;
  };
  return {
    rate: runs[0]!.rate,
    calls: runs[0]!.calls,
    completed_pct: of((r) => r.completed_pct)!,
    failed: Math.round(of((r) => r.failed)!),
    cpu_s_per_1000: of((r) => r.cpu_s_per_1000),
    cpu_s_per_1000_drain: of((r) => r.cpu_s_per_1000_drain),
    rss_mb: Math.max(...runs.map((r) => r.rss_mb)),
    clean: runs.filter((r) => r.clean).length * 2 > runs.length,
    runs,
  };
}

async function main(): Promise<void> {
  const cfg = join(work, 'trapezoid.yaml');
  writeFileSync(
    cfg,
    proxyBenchConfig(
      { sip: PORTS.trapezoid, http: PORTS.http, uas: PORTS.uasT, uac: PORTS.uacT },
      join(work, 'bench.db'),
      {
        ...(memoryTarget === '' ? {} : { memoryTargetMb: Number(memoryTarget) }),
        overloadOff: overload === 'off',
      },
    ),
  );
  const started: Partial<Record<'trapezoid' | 'kamailio', ChildProcess>> = {};
  if (only.includes('trapezoid')) {
    started.trapezoid = start(
      process.execPath,
      [...nodeArgs, compiledCli(), 'serve', '--config', cfg, '--json', '--log-level', logLevel],
      'trapezoid',
    );
    start('sipp', uasArgs(PORTS.uasT), 'uas-trapezoid');
  }
  if (only.includes('kamailio')) {
    started.kamailio = start(
      'kamailio',
      kamailioProxyArgs(work, PORTS.kamailio, `127.0.0.1:${PORTS.uasK}`),
      'kamailio',
    );
    start('sipp', uasArgs(PORTS.uasK), 'uas-kamailio');
  }
  await sleep(3000);
  // A proxy that could not start (a port taken by another run) would make every step of it fail
  // for SIPp's whole timeout: stop here instead.
  for (const [name, c] of Object.entries(started)) {
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) {
      throw new Error(`${name} did not start (is another bench using ports 18060-18120?)`);
    }
  }

  const names = (['trapezoid', 'kamailio'] as const).filter((n) => started[n] !== undefined);
  type Name = 'trapezoid' | 'kamailio';
  const pids = {} as Record<Name, number>;
  const memory = {} as Record<Name, MemorySampler>;
  const processes: Record<Name, number> = { trapezoid: 0, kamailio: 0 };
  for (const name of names) {
    pids[name] = started[name]!.pid!;
    memory[name] = new MemorySampler(pids[name]);
    processes[name] = treeStats(pids[name]).length;
  }
  const best: Record<Name, number> = { trapezoid: 0, kamailio: 0 };
  const alive: Record<Name, boolean> = { trapezoid: true, kamailio: true };
  const steps: Record<Name, StepRow[]> = { trapezoid: [], kamailio: [] };
  process.stdout.write(
    `${stepSeconds} s at each offered rate; drain ${drainMs} ms after each step; clean = >= ${CLEAN_SHARE * 100} % of calls completed\n` +
      `processes measured: trapezoid ${processes.trapezoid}, kamailio ${processes.kamailio} (main + workers)\n` +
      'CPU = CPU s per 1000 completed calls over the load window (in brackets: with the drain)\n',
  );
  // Both proxies first carry a few seconds of calls that are not scored: a long-running proxy is
  // warm, and trapezoid's JIT would otherwise bill its compilation to the first step.
  if (warmupSeconds > 0) {
    for (const name of names) {
      const r = await step(
        name === 'trapezoid' ? PORTS.trapezoid : PORTS.kamailio,
        name === 'trapezoid' ? PORTS.uacT : PORTS.uacK,
        rates[0]!,
        pids[name],
        memory[name],
        warmupSeconds,
      );
      process.stdout.write(
        `${name} warm-up (not scored): ${rates[0]}/s for ${warmupSeconds} s, ${r.ok}/${r.calls} completed, CPU ${per1000(r.cpuLoad, r.ok) ?? '-'} s/1000\n`,
      );
    }
  }
  process.stdout.write('proxy       rate/s  completed   failed   CPU s/1000 (drain)   RSS MB\n');
  const print = (name: string, row: StepRow, tag: string) =>
    process.stdout.write(
      `${name.padEnd(10)} ${String(row.rate).padStart(7)}  ${row.completed_pct.toFixed(2).padStart(8)} % ${String(row.failed).padStart(8)}   ${String(row.cpu_s_per_1000 ?? '-').padStart(8)} (${String(row.cpu_s_per_1000_drain ?? '-').padStart(7)})  ${String(row.rss_mb).padStart(8)}${row.clean ? '' : '   <- not clean'}${row.refused && row.refused.dropped + row.refused.answered_503 > 0 ? `   (overload: ${row.refused.dropped} dropped, ${row.refused.answered_503} answered 503)` : ''}${tag}\n`,
    );
  for (const rate of rates) {
    if (!names.some((n) => alive[n])) break;
    const runs: Record<Name, StepRow[]> = { trapezoid: [], kamailio: [] };
    for (let run = 1; run <= repeat; run++) {
      for (const name of names) {
        if (!alive[name]) continue;
        const refusedBefore = name === 'trapezoid' ? await refusedSoFar() : undefined;
        const r = await step(
          name === 'trapezoid' ? PORTS.trapezoid : PORTS.kamailio,
          name === 'trapezoid' ? PORTS.uacT : PORTS.uacK,
          rate,
          pids[name],
          memory[name],
          stepSeconds,
        );
        const row: StepRow = {
          rate,
          calls: r.calls,
          completed_pct: round((r.ok / r.calls) * 100, 2),
          failed: r.failed,
          cpu_s_per_1000: per1000(r.cpuLoad, r.ok),
          cpu_s_per_1000_drain: per1000(r.cpuDrain, r.ok),
          rss_mb: Math.round(r.rssMb),
          clean: r.ok >= r.calls * CLEAN_SHARE,
        };
        const refusedAfter = refusedBefore ? await refusedSoFar() : undefined;
        if (refusedBefore && refusedAfter)
          row.refused = {
            dropped: refusedAfter.dropped - refusedBefore.dropped,
            answered_503: refusedAfter.answered_503 - refusedBefore.answered_503,
          };
        runs[name].push(row);
        if (repeat > 1) print(name, row, `   (run ${run} of ${repeat})`);
      }
    }
    for (const name of names) {
      if (!alive[name] || runs[name].length === 0) continue;
      const row = repeat > 1 ? medianRow(runs[name]) : runs[name][0]!;
      steps[name].push(row);
      if (row.clean) best[name] = rate;
      else alive[name] = false;
      print(name, row, repeat > 1 ? `   (median of ${repeat})` : '');
    }
  }
  for (const name of names) memory[name].stop();

  // CPU per call compared at the same offered rate: every rate both were clean, and as the
  // headline the highest of them; also every rate both ran, clean or not (a noisy day can leave
  // one side just under 99.9 % at every rate, and the CPU per call is still worth comparing).
  const cpuRatioByRate: Record<string, number> = {};
  const cpuRatioAllByRate: Record<string, number> = {};
  for (const t of steps.trapezoid) {
    const k = steps.kamailio.find((row) => row.rate === t.rate);
    if (!t.cpu_s_per_1000 || !k?.cpu_s_per_1000) continue;
    const r = round(k.cpu_s_per_1000 / t.cpu_s_per_1000, 2);
    cpuRatioAllByRate[t.rate] = r;
    if (t.clean && k.clean) cpuRatioByRate[t.rate] = r;
  }
  const bothClean = Object.keys(cpuRatioByRate).map(Number);
  const cpuRate = bothClean.length > 0 ? Math.max(...bothClean) : null;
  const cpuRatio = cpuRate !== null ? cpuRatioByRate[cpuRate]! : null;
  const hwm: Record<Name, number> = { trapezoid: 0, kamailio: 0 };
  for (const name of names) hwm[name] = treeHwmMb(pids[name]);
  // Undefined (null) when Kamailio was clean at no rate: trapezoid's clean rate says it all then.
  const ratio = best.kamailio > 0 ? round(best.trapezoid / best.kamailio, 2) : null;
  const summary = (name: Name) => (names.includes(name) ? summaryOf(name) : null);
  const summaryOf = (name: Name) => ({
    clean_rate: best[name],
    processes: processes[name],
    peak_rss_mb: Math.round(memory[name].peakRssMb),
    peak_pss_mb: Math.round(memory[name].peakPssMb),
    hwm_mb: Math.round(hwm[name]),
    steps: steps[name],
  });
  for (const name of names) {
    const s = summaryOf(name);
    process.stdout.write(
      `${name}: highest clean rate ${s.clean_rate}/s; peak RSS ${s.peak_rss_mb} MB summed over ${s.processes} process(es) (PSS ${s.peak_pss_mb} MB, sum of VmHWM ${s.hwm_mb} MB)\n`,
    );
  }
  process.stdout.write(
    cpuRate !== null
      ? `CPU per call, kamailio / trapezoid, at ${cpuRate}/s (highest rate both clean): ${cpuRatio}\n`
      : 'CPU per call: no rate at which both were clean, no cpu_ratio\n',
  );
  if (Object.keys(cpuRatioAllByRate).length > 0)
    process.stdout.write(
      `CPU per call, kamailio / trapezoid, at every rate both ran (clean or not): ${Object.entries(
        cpuRatioAllByRate,
      )
        .map(([rate, r]) => `${rate}/s ${r}`)
        .join(', ')}\n`,
    );
  process.stdout.write(
    `${JSON.stringify({
      bench: 'proxy',
      trapezoid: best.trapezoid,
      kamailio: best.kamailio,
      ratio,
      cpu_ratio: cpuRatio,
      cpu_rate: cpuRate,
      cpu_ratio_by_rate: cpuRatioByRate,
      cpu_ratio_all_by_rate: cpuRatioAllByRate,
      rss_mb: Math.round(hwm.trapezoid),
      node_args: nodeArgs,
      overload,
      repeat,
      proxies: { trapezoid: summary('trapezoid'), kamailio: summary('kamailio') },
    })}\n`,
  );
  // With --node-args (a --cpu-prof, say) trapezoid must end on its own to write its files.
  const t = started.trapezoid;
  if (nodeArgs.length > 0 && t?.pid !== undefined && t.exitCode === null) {
    stopping = true;
    const ended = new Promise((r) => t.once('exit', r));
    t.kill('SIGTERM');
    await Promise.race([ended, sleep(20000)]);
  }
  stopAll();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/proxy: ${err instanceof Error ? err.message : String(err)}\n`);
  stopAll();
  process.exit(1);
});
