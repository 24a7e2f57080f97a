// bench/cluster: the proxy bench's harness (SIPp uac -> front -> trapezoid node(s) -> SIPp uas)
// for three set-ups, in one run:
//   sqlite     1 node on the embedded default (a SQLite file, no store/cluster keys)
//   shared1    1 node on the shared stores (store.records PostgreSQL, store.live Redis)
//   shared2    2 nodes on the shared stores (127.0.0.1 and 127.0.0.2)
//   srv2       the 2 nodes of shared2 with no front: the callers split the calls between them,
//              as RFC 3263 clients do between two SRV targets of equal weight (two SIPp uac,
//              one per node, each at half the rate; one SIPp uas for both)
//   kamailio   the reference: Kamailio as bench:proxy runs it (bench/kamailio-proxy.ts, 2
//              workers), SIPp straight to it, no front (issue 17 item 4: nodes against Kamailio)
// Every set-up is called by two SIPp uac at half the rate each (CALLERS), so each pays the same
// for its load generator.
// The front is Kamailio's dispatcher (bench/kamailio/dispatcher.cfg: stateless, hash over the
// Call-ID, no Record-Route) in sqlite, shared1 and shared2, so the three differ only in the nodes
// behind it. srv2 measures what the front costs two nodes on the same two cores.
// Each set-up gets a fresh Redis and PostgreSQL (test/support/cluster.ts starts them as the tests
// do: loopback ports, nothing kept). For each set-up and each offered rate it prints the calls
// completed (%), the failed calls and each node's CPU seconds per 1000 completed calls; then the
// highest offered rate at which >= 99.9 % of the calls completed (a "clean" step). Last line:
//   {"bench":"cluster","sqlite":N,"shared1":N,"shared2":N,"kamailio":N,"ratio":X,"cpu_ratio":X,
//    "cpu_rate":N,"vs_kamailio":{...},"setups":{...}}
//   sqlite, shared1, shared2: highest clean offered rate (calls/s).
//   ratio = shared2 / sqlite (goal: above 1, two nodes on the shared stores complete more calls/s
//     than one node on SQLite).
//   cpu_ratio = shared1's node CPU per call / sqlite's node CPU per call at cpu_rate, the highest
//     rate at which both were clean (goal: at most 1.3). cpu_ratio_by_rate at every such rate.
//   vs_kamailio.NAME: ratio = NAME's clean rate / Kamailio's (issue 17 item 4: at least 1);
//     cpu_ratio = Kamailio's CPU per call / NAME's nodes' and front's, at `rate`, the highest rate
//     both were clean (the front is Kamailio's dispatcher, which the nodes need and Kamailio not;
//     srv2 has none). Redis and PostgreSQL are not in it: their CPU is in the steps.
//   setups.NAME: clean_rate, steps [{rate, calls, completed_pct, failed, cpu_s_per_1000 (summed
//     over the nodes), node_cpu_s_per_1000 {a, b}, front_cpu_s_per_1000, redis_cpu_s_per_1000,
//     postgres_cpu_s_per_1000, machine_busy_pct (share of both cores busy in the load window,
//     every process counted: when it nears 100 % the machine, not a node, is the limit)}].
//
//   npm run bench:cluster [-- --rates 250,500,750,1000 --seconds 5 --drain 3000 --warmup 3
//                            --setups sqlite,shared1,shared2,srv2,kamailio --repeat 1
//                            --log-level warn]
// (the default --setups leaves srv2 out; name it to run it)
//
// --repeat N runs each step N times in a row and scores their median (each number the runs'
// median, clean when most runs were clean; every run is printed and kept in the step's `runs`):
// on this shared machine one run's clean rate can move a whole step.
//
// CPU is read as in bench/proxy.ts (bench/procstat.ts: utime + stime of the process tree, over the
// load window: until SIPp exits or 1 s after its last call was due). A node is one Node process;
// the front is Kamailio's main process and its workers; PostgreSQL is the postmaster and its
// backends; Redis its one process. The nodes route "service" to the uas over a trunk and take
// the front as a transit trunk (as bench/proxy.ts takes its uac), at --log-level warn.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startCluster,
  startFront,
  type Cluster,
  type Front,
  type Lifecycle,
} from '../test/support/cluster.ts';
import { freePort } from '../test/support/ports.ts';
import { compiledCli } from './build.ts';
import { kamailioProxyArgs } from './kamailio-proxy.ts';
import { runUacStep, uasArgs } from './sipp-step.ts';
import { machineCpuSeconds, treeCpuSeconds, treeStats } from './procstat.ts';
import { median } from './stats.ts';
import { arg } from './args.ts';

const rates = arg('rates', '250,500,1000,1500,2000,2500,3000').split(',').map(Number);
const stepSeconds = Number(arg('seconds', '5'));
const drainMs = Number(arg('drain', '3000'));
const warmupSeconds = Number(arg('warmup', '3'));
const logLevel = arg('log-level', 'warn');
const repeat = Math.max(1, Math.floor(Number(arg('repeat', '1'))));
const SETUPS = ['sqlite', 'shared1', 'shared2', 'srv2', 'kamailio'] as const;
type SetupName = (typeof SETUPS)[number];
const chosen = arg('setups', 'sqlite,shared1,shared2,kamailio').split(',') as SetupName[];
for (const name of chosen)
  if (!SETUPS.includes(name)) throw new Error(`--setups: no set-up ${name} (${SETUPS.join(', ')})`);
const CLEAN_SHARE = 0.999;
const FRONT_ADDRESS = '127.0.0.10';
const UAC_ADDRESS = '127.0.0.1';
const work = mkdtempSync(join(tmpdir(), 'trapezoid-bench-cluster-'));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
const per1000 = (cpu: number, ok: number) => (ok > 0 ? round((cpu / ok) * 1000, 3) : null);

/** The cleanup list the test helpers register with (a test's `after`), run at the end of each
 * set-up; a missing peer stops the bench with the reason. */
function lifecycle(): { life: Lifecycle; cleanup: () => Promise<void> } {
  const fns: Array<() => unknown> = [];
  const life = {
    after: (fn: () => unknown) => void fns.push(fn),
    skip: (reason?: string) => {
      throw new Error(`bench:cluster cannot run: ${reason}`);
    },
  } as unknown as Lifecycle;
  return {
    life,
    cleanup: async () => {
      for (const fn of fns.reverse()) await fn();
    },
  };
}

/** The pid of the redis-server listening on `port` (its command line names the port). */
function redisPid(port: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('redis-server') && cmd.includes(`:${port}`)) return Number(name);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** The postmaster's pid (first line of postmaster.pid). */
function postgresPid(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
}

interface Measured {
  /** Process trees whose CPU is read: the nodes by id, then front, redis, postgres. */
  trees: Record<string, number>;
}

const cpuOf = (m: Measured) =>
  Object.fromEntries(Object.entries(m.trees).map(([k, pid]) => [k, treeCpuSeconds(pid)]));

/** The first few events of SIPp's error log that are failures: not the "Dead call ...
 * (successful)" notes about late retransmissions of calls that had completed. */
function failureEvents(log: string): string {
  // Each event starts with its date: on a new line, after the closing quote of the previous
  // event's message, or right after its Call-ID.
  const events = log.split(/\n?'?(?=\d{4}-\d\d-\d\d\t)/).filter((e) => /^\d{4}-/.test(e));
  const failures = events.filter((e) => !/Dead call \S+ \(successful\)/.test(e));
  if (failures.length === 0) return '';
  // Grouped by kind: the event without its time and Call-ID, and the status of the message.
  const kinds = new Map<string, number>();
  for (const e of failures) {
    const what = e
      .replace(/^[^\t]*\t[^\t]*\t[\d.]+: /, '')
      .replace(/ for Call-I[dD] '[^'\s]*'?/, '')
      .replace(/'SIP\/2\.0 (\d{3})[\s\S]*/, '$1')
      .replace(/received '([A-Z]+) [\s\S]*/, 'received $1')
      .slice(0, 160);
    kinds.set(what, (kinds.get(what) ?? 0) + 1);
  }
  return `${failures.length} failure events: ${[...kinds]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 4)
    .map(([k, n]) => `${n} x ${k}`)
    .join('; ')}`;
}

/** Where one SIPp uac sends its calls (the front, a node, Kamailio) and the port it sends from. */
interface Caller {
  target: Pick<Front, 'address' | 'sip'>;
  uacPort: number;
}

/**
 * SIPp uac per set-up, each at rate / CALLERS. srv2 needs one per node; every other set-up is
 * called by as many, so that the load generators take the same share of these two cores
 * whatever is measured (until the sixteenth round the others had one uac at the whole rate).
 */
const CALLERS = 2;

/** The ports of a set-up's CALLERS SIPp uac, on UAC_ADDRESS. */
async function callerPorts(): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < CALLERS; i++) ports.push(await freePort({ address: UAC_ADDRESS }));
  return ports;
}

/** One step at `rate`: each caller's SIPp uac at its share of it, all at once. */
async function step(callers: Caller[], rate: number, seconds: number, m: Measured) {
  const started = Date.now();
  const cpu0 = cpuOf(m);
  const machine0 = machineCpuSeconds();
  let cpu1 = cpu0;
  let machine1 = machine0;
  let ended = 0;
  const results = await Promise.all(
    callers.map(async (c) => {
      const dir = mkdtempSync(join(work, `uac-${rate}-`));
      const r = await runUacStep({
        target: `${c.target.address}:${c.target.sip}`,
        address: UAC_ADDRESS,
        port: c.uacPort,
        rate: rate / callers.length,
        seconds,
        drainMs,
        dir,
        traceErrors: true,
        // The window ends when the last caller's does.
        onWindowEnd: () => {
          if (++ended < callers.length) return;
          cpu1 = cpuOf(m);
          machine1 = machineCpuSeconds();
        },
      });
      // SIPp's own account of its failed calls (the first lines), for an unclean step.
      const log = r.files.find((f) => f.endsWith('_errors.log'));
      return { ...r, errors: log ? failureEvents(readFileSync(join(dir, log), 'utf8')) : '' };
    }),
  );
  const calls = results.reduce((n, r) => n + r.calls, 0);
  const ok = results.reduce((n, r) => n + r.ok, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const errors = results
    .map((r) => r.errors)
    .filter((e) => e !== '')
    .join(' | ');
  const window = { from: started, to: Date.now() };
  const cpu = Object.fromEntries(Object.keys(cpu0).map((k) => [k, cpu1[k]! - cpu0[k]!]));
  // Share of all cores busy over the load window (every process: SIPp, front, stores, nodes).
  const busyPct = round(
    (100 * (machine1.busy - machine0.busy)) / Math.max(1e-9, machine1.total - machine0.total),
    1,
  );
  return { calls, ok, failed, cpu, errors, window, busyPct };
}

/** Answered calls each node recorded in PostgreSQL between two times (shared stores only). */
async function carriedByNode(cluster: Cluster, window: { from: number; to: number }) {
  if (!cluster.postgres) return undefined;
  const rows = await cluster.query<{ node: string; n: number }>(
    'SELECT node, count(*)::int AS n FROM cdrs WHERE start >= $1 AND start < $2 AND answer IS NOT NULL GROUP BY node',
    [window.from, window.to],
  );
  return Object.fromEntries(rows.map((r) => [r.node, r.n]));
}

interface StepRow {
  rate: number;
  calls: number;
  completed_pct: number;
  failed: number;
  /** Summed over the set-up's nodes. */
  cpu_s_per_1000: number | null;
  node_cpu_s_per_1000: Record<string, number | null>;
  /** Shared stores: the calls each node carried (its answered CDRs) and its CPU per 1000 of them. */
  node_calls?: Record<string, number>;
  node_cpu_s_per_1000_carried?: Record<string, number | null>;
  front_cpu_s_per_1000: number | null;
  redis_cpu_s_per_1000?: number | null;
  postgres_cpu_s_per_1000?: number | null;
  /** Share of the machine's cores busy during the load window, every process counted. */
  machine_busy_pct: number;
  clean: boolean;
  /** With --repeat: each run of the step (the row itself is their median). */
  runs?: StepRow[];
}

/** What a set-up's ladder runs against: where the calls go, the processes measured (the nodes, or
 * Kamailio alone, first), the cluster when there is one. */
interface Running {
  callers: Caller[];
  /** The proxies: each one's name, read in `measured.trees`. */
  proxies: string[];
  measured: Measured;
  cluster?: Cluster;
}

/** A set-up of trapezoid nodes: behind the dispatcher front, or called directly (srv2). */
async function startNodes(name: Exclude<SetupName, 'kamailio'>, life: Lifecycle): Promise<Running> {
  const dir = mkdtempSync(join(work, `${name}-`));
  const uasPort = await freePort();
  const fronted = name !== 'srv2';
  const nodes = name === 'shared2' || name === 'srv2' ? 2 : 1;
  // Without a front each node has a caller of its own; its calls come in as from a transit trunk.
  const uacPorts = await callerPorts();
  const callersTrunk = fronted
    ? {
        name: 'front',
        peers: [{ host: FRONT_ADDRESS, port: 5060 }],
        inboundAddresses: [FRONT_ADDRESS],
        transit: true,
      }
    : {
        name: 'callers',
        peers: uacPorts.map((port) => ({ host: UAC_ADDRESS, port })),
        transit: true,
      };
  const cluster: Cluster | undefined = await startCluster(life, {
    nodes,
    stores: name === 'sqlite' ? 'sqlite' : 'shared',
    domain: 'bench.trapezoid',
    transports: ['udp'],
    logLevel,
    dir,
    entry: compiledCli(),
    config: {
      trunks: [{ name: 'uas', peers: [{ host: '127.0.0.1', port: uasPort }] }, callersTrunk],
      dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'uas' } }],
    },
  });
  if (!cluster) throw new Error('the cluster did not start');
  const front = fronted
    ? await startFront(life, cluster.nodes, { address: FRONT_ADDRESS, dir })
    : undefined;
  if (fronted && !front) throw new Error('the front did not start');
  startUas(life, uasPort, dir);
  const trees: Record<string, number> = {};
  for (const n of cluster.nodes) trees[n.id] = n.pid;
  if (front) trees.front = front.pid;
  const r = cluster.redis ? redisPid(cluster.redis.port) : undefined;
  if (r) trees.redis = r;
  const p = cluster.postgres ? postgresPid(cluster.postgres.dir) : undefined;
  if (p) trees.postgres = p;
  await sleep(1000);
  process.stdout.write(
    `\n${name}: ${cluster.nodes.length} node(s) (${cluster.nodes.map((n) => `${n.id} ${n.address}:${n.sip}`).join(', ')}), ` +
      `records ${cluster.recordsUrl.split(':')[0]}, ` +
      (front
        ? `front ${front.address}:${front.sip} (${treeStats(front.pid).length} processes)\n`
        : 'no front: one SIPp uac per node, each at half the rate\n'),
  );
  const callers: Caller[] = uacPorts.map((uacPort, i) => {
    const n = cluster.nodes[i % cluster.nodes.length]!;
    return { target: front ?? { address: n.address, sip: n.sip }, uacPort };
  });
  return {
    callers,
    proxies: cluster.nodes.map((n) => n.id),
    measured: { trees },
    cluster,
  };
}

/** The reference: Kamailio as bench:proxy runs it (2 workers, bench/kamailio/proxy.cfg), no front. */
async function startKamailio(life: Lifecycle): Promise<Running> {
  const dir = mkdtempSync(join(work, 'kamailio-'));
  const uasPort = await freePort();
  const uacPorts = await callerPorts();
  const sip = await freePort();
  const k = spawn('kamailio', kamailioProxyArgs(dir, sip, `127.0.0.1:${uasPort}`), {
    cwd: dir,
    stdio: 'ignore',
    detached: true,
  });
  k.on('error', () => {});
  life.after(() => killGroup(k.pid));
  startUas(life, uasPort, dir);
  await sleep(2000);
  if (k.pid === undefined || k.exitCode !== null || k.signalCode !== null)
    throw new Error('kamailio did not start (is it installed?)');
  process.stdout.write(
    `\nkamailio: 127.0.0.1:${sip} (${treeStats(k.pid).length} processes, 2 workers), no front\n`,
  );
  return {
    callers: uacPorts.map((uacPort) => ({ target: { address: '127.0.0.1', sip }, uacPort })),
    proxies: ['kamailio'],
    measured: { trees: { kamailio: k.pid } },
  };
}

function killGroup(pid: number | undefined): void {
  try {
    if (pid !== undefined) process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** SIPp's built-in uas on 127.0.0.1:`port` (as bench:proxy runs it), stopped with the set-up. */
function startUas(life: Lifecycle, port: number, dir: string): void {
  const uas = spawn('sipp', uasArgs(port), {
    cwd: dir,
    stdio: 'ignore',
    detached: true,
  });
  uas.unref();
  life.after(() => killGroup(uas.pid));
}

/** One line of the table: a step (or one run of it, or the median of its runs). */
function printRow(name: string, row: StepRow, note: string): void {
  const perNode = Object.entries(row.node_cpu_s_per_1000)
    .map(([k, v]) =>
      row.node_calls && Object.keys(row.node_cpu_s_per_1000).length > 1
        ? `${k} ${v ?? '-'}, ${row.node_calls[k] ?? 0} calls`
        : `${k} ${v ?? '-'}`,
    )
    .join('; ');
  process.stdout.write(
    `${name.padEnd(8)} ${String(row.rate).padStart(7)}  ${row.completed_pct.toFixed(2).padStart(8)} % ${String(row.failed).padStart(8)}   ${String(row.cpu_s_per_1000 ?? '-').padStart(7)} (${perNode})`.padEnd(
      82,
    ) +
      ` ${String(row.front_cpu_s_per_1000 ?? '-').padStart(6)} ${String(row.redis_cpu_s_per_1000 ?? '-').padStart(6)} ${String(row.postgres_cpu_s_per_1000 ?? '-').padStart(9)} ${String(row.machine_busy_pct).padStart(6)} %${row.clean ? '' : '   <- not clean'}${note}\n`,
  );
}

/**
 * The median of several runs of one step (--repeat): each number the runs' median (bench/stats.ts),
 * clean when most runs were; the runs are kept in `runs`.
 */
function medianRow(runs: StepRow[]): StepRow {
  const med = (xs: Array<number | null | undefined>): number | null => {
    const ns = xs.filter((x): x is number => typeof x === 'number');
    return ns.length > 0 ? round(median(ns), 3) : null;
  };
  const byKey = (pick: (r: StepRow) => Record<string, number | null> | undefined) => {
    const keys = new Set(runs.flatMap((r) => Object.keys(pick(r) ?? {})));
    return Object.fromEntries([...keys].map((k) => [k, med(runs.map((r) => pick(r)?.[k]))]));
  };
  const first = runs[0]!;
  return {
    rate: first.rate,
    calls: med(runs.map((r) => r.calls))!,
    completed_pct: round(median(runs.map((r) => r.completed_pct)), 2),
    failed: med(runs.map((r) => r.failed))!,
    cpu_s_per_1000: med(runs.map((r) => r.cpu_s_per_1000)),
    node_cpu_s_per_1000: byKey((r) => r.node_cpu_s_per_1000),
    ...(first.node_calls
      ? {
          node_calls: byKey((r) => r.node_calls) as Record<string, number>,
          node_cpu_s_per_1000_carried: byKey((r) => r.node_cpu_s_per_1000_carried),
        }
      : {}),
    front_cpu_s_per_1000: med(runs.map((r) => r.front_cpu_s_per_1000)),
    ...('redis_cpu_s_per_1000' in first
      ? { redis_cpu_s_per_1000: med(runs.map((r) => r.redis_cpu_s_per_1000)) }
      : {}),
    ...('postgres_cpu_s_per_1000' in first
      ? { postgres_cpu_s_per_1000: med(runs.map((r) => r.postgres_cpu_s_per_1000)) }
      : {}),
    machine_busy_pct: round(median(runs.map((r) => r.machine_busy_pct)), 1),
    clean: runs.filter((r) => r.clean).length * 2 > runs.length,
    runs,
  };
}

async function runSetup(name: SetupName): Promise<{ clean: number; steps: StepRow[] }> {
  const { life, cleanup } = lifecycle();
  const steps: StepRow[] = [];
  let best = 0;
  try {
    const running = name === 'kamailio' ? await startKamailio(life) : await startNodes(name, life);
    const { callers, measured, cluster } = running;
    const trees = measured.trees;
    if (warmupSeconds > 0) {
      const w = await step(callers, rates[0]!, warmupSeconds, measured);
      process.stdout.write(
        `${name} warm-up (not scored): ${rates[0]}/s for ${warmupSeconds} s, ${w.ok}/${w.calls} completed\n`,
      );
    }
    process.stdout.write(
      'setup      rate/s  completed   failed   node CPU s/1000 (per node)       front  redis  postgres  machine busy\n',
    );
    for (const rate of rates) {
      const runs: StepRow[] = [];
      let errors = '';
      for (let run = 1; run <= repeat; run++) {
        const s = await step(callers, rate, stepSeconds, measured);
        const nodeCpu: Record<string, number | null> = {};
        let nodesTotal = 0;
        for (const id of running.proxies) {
          nodeCpu[id] = per1000(s.cpu[id]!, s.ok);
          nodesTotal += s.cpu[id]!;
        }
        const carried = cluster ? await carriedByNode(cluster, s.window) : undefined;
        const row: StepRow = {
          rate,
          calls: s.calls,
          completed_pct: round((s.ok / s.calls) * 100, 2),
          failed: s.failed,
          cpu_s_per_1000: per1000(nodesTotal, s.ok),
          node_cpu_s_per_1000: nodeCpu,
          ...(carried
            ? {
                node_calls: carried,
                node_cpu_s_per_1000_carried: Object.fromEntries(
                  running.proxies.map((id) => [id, per1000(s.cpu[id]!, carried[id] ?? 0)]),
                ),
              }
            : {}),
          front_cpu_s_per_1000: trees.front ? per1000(s.cpu.front!, s.ok) : null,
          ...(trees.redis ? { redis_cpu_s_per_1000: per1000(s.cpu.redis!, s.ok) } : {}),
          ...(trees.postgres ? { postgres_cpu_s_per_1000: per1000(s.cpu.postgres!, s.ok) } : {}),
          machine_busy_pct: s.busyPct,
          clean: s.ok >= s.calls * CLEAN_SHARE,
        };
        runs.push(row);
        if (!row.clean && s.errors) errors = s.errors;
        if (repeat > 1) printRow(name, row, `   (run ${run} of ${repeat})`);
      }
      const row = repeat > 1 ? medianRow(runs) : runs[0]!;
      steps.push(row);
      printRow(name, row, repeat > 1 ? `   (median of ${repeat})` : '');
      if (!row.clean) {
        if (errors) process.stdout.write(`  SIPp's error log: ${errors}\n`);
        break;
      }
      best = rate;
    }
    const dead = cluster?.nodes.filter((n) => !n.alive()) ?? [];
    if (dead.length > 0)
      throw new Error(`node(s) ${dead.map((n) => n.id).join(', ')} died:\n${cluster!.logs()}`);
  } finally {
    await cleanup();
  }
  return { clean: best, steps };
}

async function main(): Promise<void> {
  process.stdout.write(
    `${stepSeconds} s at each offered rate; drain ${drainMs} ms after each step; clean = >= ${CLEAN_SHARE * 100} % of calls completed\n` +
      'CPU = CPU s per 1000 completed calls over the load window (nodes summed, then each node)\n',
  );
  const results: Partial<Record<SetupName, { clean: number; steps: StepRow[] }>> = {};
  for (const name of chosen) results[name] = await runSetup(name);

  const cpuRatioByRate: Record<string, number> = {};
  for (const s of results.shared1?.steps ?? []) {
    const q = results.sqlite?.steps.find((row) => row.rate === s.rate);
    if (!s.clean || !q?.clean || !s.cpu_s_per_1000 || !q.cpu_s_per_1000) continue;
    cpuRatioByRate[s.rate] = round(s.cpu_s_per_1000 / q.cpu_s_per_1000, 2);
  }
  const both = Object.keys(cpuRatioByRate).map(Number);
  const cpuRate = both.length > 0 ? Math.max(...both) : null;
  const cpuRatio = cpuRate !== null ? cpuRatioByRate[cpuRate]! : null;
  const sqlite = results.sqlite?.clean ?? null;
  const shared2 = results.shared2?.clean ?? null;
  const ratio = sqlite && shared2 !== null ? round(shared2 / sqlite, 2) : null;
  // Issue 17 item 4: each set-up's clean rate against Kamailio's on the same two cores, and
  // Kamailio's CPU per call / the set-up's (nodes summed; with the front for the node set-ups,
  // as it is part of what they need) at the highest rate both were clean.
  const kamailio = results.kamailio;
  const vsKamailio: Record<
    string,
    { ratio: number | null; cpu_ratio: number | null; rate: number | null }
  > = {};
  if (kamailio)
    for (const name of chosen) {
      if (name === 'kamailio') continue;
      const mine = results[name]!;
      let rate: number | null = null;
      let cpu: number | null = null;
      for (const st of mine.steps) {
        const k = kamailio.steps.find((row) => row.rate === st.rate);
        if (!st.clean || !k?.clean || !st.cpu_s_per_1000 || !k.cpu_s_per_1000) continue;
        rate = st.rate;
        cpu = round(k.cpu_s_per_1000 / (st.cpu_s_per_1000 + (st.front_cpu_s_per_1000 ?? 0)), 2);
      }
      vsKamailio[name] = {
        ratio: kamailio.clean > 0 ? round(mine.clean / kamailio.clean, 2) : null,
        cpu_ratio: cpu,
        rate,
      };
    }
  process.stdout.write('\n');
  for (const name of chosen)
    process.stdout.write(`${name}: highest clean rate ${results[name]!.clean}/s\n`);
  process.stdout.write(
    `ratio (2 nodes shared / 1 node sqlite): ${ratio ?? '-'}; node CPU per call shared / sqlite at ${cpuRate ?? '-'}/s: ${cpuRatio ?? '-'}\n`,
  );
  for (const [name, v] of Object.entries(vsKamailio))
    process.stdout.write(
      `${name} against kamailio: clean rate ratio ${v.ratio ?? '-'}; Kamailio CPU per call / ${name}'s (nodes + front) at ${v.rate ?? '-'}/s: ${v.cpu_ratio ?? '-'}\n`,
    );
  process.stdout.write(
    `${JSON.stringify({
      bench: 'cluster',
      sqlite,
      shared1: results.shared1?.clean ?? null,
      shared2,
      kamailio: kamailio?.clean ?? null,
      ratio,
      cpu_ratio: cpuRatio,
      cpu_rate: cpuRate,
      cpu_ratio_by_rate: cpuRatioByRate,
      vs_kamailio: vsKamailio,
      repeat,
      setups: Object.fromEntries(
        chosen.map((n) => [n, { clean_rate: results[n]!.clean, steps: results[n]!.steps }]),
      ),
    })}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
