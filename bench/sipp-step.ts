// SIPp for the proxy benches: the callee's arguments (uasArgs), and one uac step of the proxy and
// cluster benches: SIPp places `rate` calls/s for `seconds` (bench/scenarios/uac-any-order.xml,
// Request-URI user "service") at `target`; the caller measures at the end of the load window and
// again after the drain.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const scenario = join(dirname(fileURLToPath(import.meta.url)), 'scenarios', 'uac-any-order.xml');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIPp's arguments for the callee of the proxy benches (bench:proxy, bench:ab): its built-in uas
 * on 127.0.0.1:`port`, reading up to 10000 messages a loop so that it keeps up under load.
 */
export function uasArgs(port: number): string[] {
  return [
    '-sn',
    'uas',
    '-p',
    String(port),
    '-i',
    '127.0.0.1',
    '-nostdin',
    '-max_recv_loops',
    '10000',
  ];
}

export interface UacStep {
  /** `address:port` of what is measured (a proxy, the cluster's front). */
  target: string;
  /** SIPp's own address and port. */
  address: string;
  port: number;
  rate: number;
  seconds: number;
  drainMs: number;
  /** SIPp's working directory: its stat file (and error log) land there. */
  dir: string;
  /** Also write SIPp's error log (-trace_err). */
  traceErrors?: boolean;
  /** Called at the end of the load window (see below). */
  onWindowEnd?: () => void;
}

export interface UacStepResult {
  calls: number;
  /** Calls SIPp counted successful. */
  ok: number;
  /** Calls SIPp counted failed, plus any it never placed or never ended. */
  failed: number;
  /** The files SIPp left in `dir`. */
  files: string[];
}

/**
 * Runs the step. The load window: SIPp places calls for `seconds`; the calls have no pause, so
 * 1 s more lets the last ones end; SIPp exiting earlier (all calls done) ends it too. Then it
 * waits for SIPp to exit and `drainMs` more. SIPp's own -timeout should end a step; a watchdog
 * makes sure a stuck SIPp cannot hang the bench (the step then counts every call as failed).
 */
export async function runUacStep(s: UacStep): Promise<UacStepResult> {
  const calls = Math.round(s.rate * s.seconds);
  const child = spawn(
    'sipp',
    [
      s.target,
      ...['-sf', scenario, '-s', 'service'],
      ...['-r', String(s.rate), '-m', String(calls), '-p', String(s.port), '-i', s.address],
      ...['-nostdin', '-trace_stat', ...(s.traceErrors ? ['-trace_err'] : []), '-fd', '1'],
      ...['-timeout', `${s.seconds + 30}s`, '-max_recv_loops', '10000', '-l', String(s.rate * 4)],
    ],
    { cwd: s.dir, stdio: 'ignore' },
  );
  const watchdog = setTimeout(() => child.kill('SIGKILL'), (s.seconds + 60) * 1000);
  const exited = new Promise((r) => child.on('exit', r));
  let windowTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    exited,
    new Promise((r) => (windowTimer = setTimeout(r, s.seconds * 1000 + 1000))),
  ]);
  clearTimeout(windowTimer);
  s.onWindowEnd?.();
  await exited;
  clearTimeout(watchdog);
  await sleep(s.drainMs);
  const files = readdirSync(s.dir);
  const csv = files.find((f) => f.endsWith('_.csv'));
  if (!csv) return { calls, ok: 0, failed: calls, files };
  const rows = readFileSync(join(s.dir, csv), 'utf8').trim().split('\n');
  const last = rows[rows.length - 1]!.split(';');
  // SIPp's stat columns: 16th SuccessfulCall(C), 18th FailedCall(C) (1-based).
  const ok = Number(last[15]);
  const failed = Number(last[17]) + Math.max(0, calls - ok - Number(last[17]));
  return { calls, ok, failed, files };
}
