// bench/ab: two builds of trapezoid side by side (two checkouts, e.g. main and a git worktree of
// a change), on bench:proxy's route (SIPp uac -> trapezoid -> SIPp uas, trunk to trunk), to tell
// whether a change made a call cheaper. On this shared machine one bench:proxy run's CPU per call
// moves 10-20 % from hour to hour, and runs taken minutes apart differ by 5-10 %: a 3 % change is
// lost in it. Here both servers run at once, each with its own SIPp pair, and take the load in
// turn, `--windows` windows each of `--seconds` at `--rate` (order A B, B A, A B, ...), so a slow
// spell of the machine falls on both alike. Each server's CPU (utime + stime of its process,
// bench/procstat.ts) is counted over the whole run, from after a warm-up until 33 s after the
// last window (its transactions' end timers fire 32 s after the calls: each side pays its own),
// and divided by the calls it carried. The same build on both sides measured 0.999 (A/A).
//
//   npm run bench:ab -- --a /path/to/checkout-a --b /path/to/checkout-b [--rate 1000]
//                       [--windows 8] [--seconds 10] [--a-node-args=F,F] [--b-node-args=F,F]
//
// --a-node-args / --b-node-args put comma-separated flags before the script on that side's Node
// (the same checkout on both sides then compares runtime flags, e.g. a GC setting).
//
// `--b kamailio` makes that side Kamailio as bench:proxy runs it (2 workers, bench/kamailio-proxy.ts,
// all its processes counted): trapezoid against Kamailio with the same pairing, the ratio then
// being Kamailio's CPU per call over trapezoid's (issue 17 item 2's cpu_ratio, measured over whole
// runs with each side's timers, instead of bench:proxy's load windows).
//
// Each checkout is compiled (`npm run build:lib` in it) and run as `node dist/cli/main.js serve`;
// a checkout without node_modules can have a symlink to this one's. Prints each window's CPU s per
// 1000 calls and, as the last line:
//   {"bench":"ab","a":X,"b":X,"ratio":X,"window_ratio_median":X,"failed":{"a":N,"b":N},...}
//   a, b: CPU s per 1000 calls over the run; ratio = b / a (below 1: B is cheaper).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildDist } from './build.ts';
import { kamailioProxyArgs } from './kamailio-proxy.ts';
import { treeCpuSeconds } from './procstat.ts';
import { runUacStep, uasArgs } from './sipp-step.ts';
import { median } from './stats.ts';
import { proxyBenchConfig, type ProxyBenchPorts } from './trapezoid-config.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt?: string): string => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? args[i + 1] : dflt;
  if (v === undefined) throw new Error(`bench:ab needs --${name}`);
  return v;
};
const rate = Number(arg('rate', '1000'));
const windows = Number(arg('windows', '8'));
const seconds = Number(arg('seconds', '10'));
/** Transactions end 64*T1 = 32 s after their calls: their timers are counted too. */
const TAIL_MS = 33_000;
/** `--b kamailio` (or `--a`): that side is Kamailio (bench/kamailio-proxy.ts), not a build. */
const KAMAILIO = 'kamailio';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Side {
  name: 'a' | 'b';
  dir: string;
  ports: ProxyBenchPorts;
  work: string;
  pid: number;
  calls: number;
  failed: number;
  perWindow: number[];
}

const children: ChildProcess[] = [];
function start(cmd: string, argv: string[], cwd: string): ChildProcess {
  const child = spawn(cmd, argv, { cwd, stdio: 'ignore', detached: true });
  children.push(child);
  return child;
}
process.on('exit', () => {
  for (const c of children) {
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** `--a-node-args=F,F`: flags for that side's Node process. */
function nodeArgs(name: 'a' | 'b'): string[] {
  const given = args.find((a) => a.startsWith(`--${name}-node-args=`));
  return given ? given.slice(`--${name}-node-args=`.length).split(',').filter(Boolean) : [];
}

function side(name: 'a' | 'b', base: number): Side {
  const given = arg(name);
  const work = mkdtempSync(join(tmpdir(), `trapezoid-bench-ab-${name}-`));
  const ports = { sip: base, http: base + 1, uas: base + 2, uac: base + 3 };
  if (given === KAMAILIO) {
    // The reference instead of a build: Kamailio as bench:proxy runs it, in its own process
    // group (its main process and workers are counted).
    const k = start('kamailio', kamailioProxyArgs(work, ports.sip, `127.0.0.1:${ports.uas}`), work);
    startUas(ports.uas, work);
    return { name, dir: KAMAILIO, ports, work, pid: k.pid!, calls: 0, failed: 0, perWindow: [] };
  }
  const dir = resolve(given);
  buildDist(dir);
  const cfg = join(work, 'trapezoid.yaml');
  writeFileSync(cfg, proxyBenchConfig(ports, join(work, 'bench.db')));
  const cli = join(dir, 'dist', 'cli', 'main.js');
  const flags = nodeArgs(name);
  const server = start(
    process.execPath,
    [...flags, cli, 'serve', '--config', cfg, '--json', '--log-level', 'warn'],
    work,
  );
  startUas(ports.uas, work);
  return { name, dir, ports, work, pid: server.pid!, calls: 0, failed: 0, perWindow: [] };
}

/** SIPp's built-in uas on 127.0.0.1:`port`, the side's callee. */
function startUas(port: number, work: string): void {
  start('sipp', uasArgs(port), work).unref();
}

let step = 0;
/** One window of calls at `s`; returns the CPU s per 1000 calls it used meanwhile. */
async function load(s: Side, secs: number): Promise<number> {
  const dir = join(s.work, `window-${step++}`);
  mkdirSync(dir);
  const before = treeCpuSeconds(s.pid);
  const r = await runUacStep({
    target: `127.0.0.1:${s.ports.sip}`,
    address: '127.0.0.1',
    port: s.ports.uac,
    rate,
    seconds: secs,
    drainMs: 300,
    dir,
  });
  s.calls += r.calls;
  s.failed += r.failed;
  return ((treeCpuSeconds(s.pid) - before) * 1000) / r.calls;
}

async function main(): Promise<void> {
  const sides = [side('a', 18160), side('b', 18170)];
  await sleep(3000);
  for (const s of sides) await load(s, 3); // warm-up, not counted
  for (const s of sides) s.calls = s.failed = 0;
  const from = sides.map((s) => treeCpuSeconds(s.pid));
  console.log(`${windows} windows of ${seconds} s at ${rate} calls/s each, A and B in turn`);
  for (let w = 0; w < windows; w++) {
    for (const s of w % 2 === 0 ? sides : [...sides].reverse())
      s.perWindow.push(await load(s, seconds));
    console.log(
      `window ${w + 1}: A ${sides[0]!.perWindow[w]!.toFixed(3)}, B ${sides[1]!.perWindow[w]!.toFixed(3)} CPU s/1000`,
    );
  }
  await sleep(TAIL_MS);
  const total = sides.map((s, i) => ((treeCpuSeconds(s.pid) - from[i]!) * 1000) / s.calls);
  const [a, b] = [sides[0]!, sides[1]!];
  const windowRatio = median(a.perWindow.map((x, i) => b.perWindow[i]! / x));
  const round = (x: number) => Math.round(x * 1000) / 1000;
  for (const [i, s] of sides.entries())
    console.log(
      `${s.name.toUpperCase()} ${s.dir}: ${total[i]!.toFixed(3)} CPU s per 1000 calls, ${s.failed} of ${s.calls} calls failed`,
    );
  console.log(
    `B / A: ${(total[1]! / total[0]!).toFixed(3)} (median of the windows' ratios ${windowRatio.toFixed(3)})`,
  );
  console.log(
    JSON.stringify({
      bench: 'ab',
      a: round(total[0]!),
      b: round(total[1]!),
      ratio: round(total[1]! / total[0]!),
      window_ratio_median: round(windowRatio),
      failed: { a: a.failed, b: b.failed },
      calls: { a: a.calls, b: b.calls },
      rate,
      windows,
      seconds,
      dirs: { a: a.dir, b: b.dir },
      node_args: { a: nodeArgs('a'), b: nodeArgs('b') },
    }),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
