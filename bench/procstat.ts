// CPU time and resident memory of a process tree, read from /proc (Linux only), for the proxy and
// uas benches. A "tree" is a root pid plus every live process descending from it (by parent pid)
// or sharing its process group: Kamailio's main process and each of its forked workers, a Node
// process and anything it started. Threads (/proc/PID/task) are not walked: a process's
// utime/stime in /proc/PID/stat already covers all its threads.
//
// CPU of a tree = sum over its live processes of utime + stime + cutime + cstime. cutime/cstime
// hold the CPU of children that have exited and been reaped, so a worker that ends during a window
// is still counted, once (a live child's time is never in its parent's cutime).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of utime/stime (`getconf CLK_TCK`, 100 on Linux/x86). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  /** Command name (field 2 of /proc/PID/stat). */
  comm: string;
  ppid: number;
  pgrp: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  /** Resident set, in pages. */
  rssPages: number;
}

/** Page size in kB (`getconf PAGESIZE`), the unit of the rss field of /proc/PID/stat. */
const PAGE_KB: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n / 1024 : 4;
  } catch {
    return 4;
  }
})();

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // gone meanwhile
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): field n is f[n - 3].
  return {
    pid,
    comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    rssPages: Number(f[21]),
  };
}

/** Every live process of the tree rooted at `root` (see the top of this file). */
export function treeStats(root: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const s = readStat(pid);
    if (s) all.push(s);
  }
  const inTree = new Set<number>();
  for (const s of all) if (s.pid === root || s.pgrp === root) inTree.add(s.pid);
  // Descendants by parent pid, for children that left the group (setsid/setpgid).
  for (let grew = true; grew;) {
    grew = false;
    for (const s of all) {
      if (!inTree.has(s.pid) && inTree.has(s.ppid)) {
        inTree.add(s.pid);
        grew = true;
      }
    }
  }
  return all.filter((s) => inTree.has(s.pid));
}

/** CPU seconds used so far by the tree (user + system, reaped children included). */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const s of treeStats(root)) ticks += s.ticks;
  return ticks / CLK_TCK;
}

/** Resident memory of the tree now, in MB: the sum of each process's RSS. Shared pages
 * (Kamailio's shared memory, mapped by every worker) are counted once per process that touched
 * them, so see also treePssMb. */
export function treeRssMb(root: number): number {
  let pages = 0;
  for (const s of treeStats(root)) pages += s.rssPages;
  return (pages * PAGE_KB) / 1024;
}

/** Proportional set size of the tree now, in MB (/proc/PID/smaps_rollup): a shared page counts
 * 1/N in each of the N processes mapping it, so the sum is the memory the tree really holds. */
export function treePssMb(root: number): number {
  let kb = 0;
  for (const s of treeStats(root)) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${s.pid}/smaps_rollup`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* gone meanwhile */
    }
  }
  return kb / 1024;
}

/** Peak of each process's own RSS (VmHWM), summed over the tree's live processes, in MB. For one
 * process this is its exact peak; for several it is an upper bound of the peak of their sum. */
export function treeHwmMb(root: number): number {
  let kb = 0;
  for (const s of treeStats(root)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* gone meanwhile */
    }
  }
  return kb / 1024;
}

/** Samples a tree's summed RSS and PSS every `everyMs` and keeps the peaks: over the whole run
 * (peakRssMb, peakPssMb) and since the last takeStepPeak() call. */
export class MemorySampler {
  peakRssMb = 0;
  peakPssMb = 0;
  private stepRssMb = 0;
  private stepPssMb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly root: number,
    everyMs = 500,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = treeRssMb(this.root);
    const pss = treePssMb(this.root);
    this.stepRssMb = Math.max(this.stepRssMb, rss);
    this.stepPssMb = Math.max(this.stepPssMb, pss);
    this.peakRssMb = Math.max(this.peakRssMb, rss);
    this.peakPssMb = Math.max(this.peakPssMb, pss);
  }

  /** Peaks since the previous call (or since the start), then starts a new step. */
  takeStepPeak(): { rssMb: number; pssMb: number } {
    this.sample();
    const peak = { rssMb: this.stepRssMb, pssMb: this.stepPssMb };
    this.stepRssMb = 0;
    this.stepPssMb = 0;
    return peak;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

/** The whole machine's CPU time so far (first line of /proc/stat), in seconds: busy and total. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const t = fields.slice(1, 9).map(Number);
  const idle = t[3]! + t[4]!;
  const total = t.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}
