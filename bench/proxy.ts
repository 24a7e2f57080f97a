// bench/proxy: SIPp uac -> proxy -> SIPp uas, stepping the call rate, for trapezoid and for
// Kamailio on the same route, same machine, same run. For each proxy: the highest offered rate at
// which every call completed. Last line: one JSON object
//   {"bench":"proxy","trapezoid":N,"kamailio":N,"ratio":X,"rss_mb":N}
//
//   npm run bench:proxy [-- --rates 250,500,1000 --seconds 5]
//
// Kamailio gets a fair start: 2 workers and -m 2048 shared memory (its default 64 MB runs out
// under load and fails every call), and the caller (bench/scenarios/uac-any-order.xml) accepts a
// 180 forwarded after the 200, which Kamailio's parallel workers sometimes do. trapezoid runs
// `trapezoid serve` with a config that routes the dialled "service" to the uas over a trunk.
// Between steps both proxies drain for a while, so leftovers of one step (late
// retransmissions) cannot fail calls of the next.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const rates = arg('rates', '250,500,1000,1500,2000,2500,3000').split(',').map(Number);
const seconds = Number(arg('seconds', '5'));
const drainMs = Number(arg('drain', '3000'));
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

function peakRssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** Runs one SIPp uac step and returns successful and failed call counts from its stat file. */
async function step(
  target: number,
  uacPort: number,
  rate: number,
): Promise<{ ok: number; failed: number }> {
  const dir = mkdtempSync(join(work, `uac-${target}-${rate}-`));
  const calls = rate * seconds;
  const child = spawn(
    'sipp',
    [
      `127.0.0.1:${target}`,
      '-sf',
      join(root, 'bench', 'scenarios', 'uac-any-order.xml'),
      '-s',
      'service',
      '-r',
      String(rate),
      '-m',
      String(calls),
      '-p',
      String(uacPort),
      '-i',
      '127.0.0.1',
      '-nostdin',
      '-trace_stat',
      '-fd',
      '1',
      '-timeout',
      `${seconds + 30}s`,
      '-max_recv_loops',
      '10000',
      '-l',
      String(rate * 4),
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  // SIPp's own -timeout should end the step; a watchdog makes sure a stuck SIPp cannot hang the
  // bench (the step then counts every call as failed).
  const watchdog = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
  await new Promise((r) => child.on('exit', r));
  clearTimeout(watchdog);
  const csv = readdirSync(dir).find((f) => f.endsWith('_.csv'));
  if (!csv) return { ok: 0, failed: calls };
  const rows = readFileSync(join(dir, csv), 'utf8').trim().split('\n');
  const last = rows[rows.length - 1]!.split(';');
  // SIPp's stat columns: 16th SuccessfulCall(C), 18th FailedCall(C) (1-based).
  const ok = Number(last[15]);
  const failed = Number(last[17]) + Math.max(0, calls - ok - Number(last[17]));
  return { ok, failed };
}

async function main(): Promise<void> {
  // trapezoid, configured like the Kamailio route: "service" -> the uas, calls from the uac
  // accepted as from a trunk.
  const cfg = join(work, 'trapezoid.yaml');
  writeFileSync(
    cfg,
    [
      'domain: bench.trapezoid',
      `listen: [{ transport: udp, address: 127.0.0.1, port: ${PORTS.trapezoid} }]`,
      `database: ${join(work, 'bench.db')}`,
      `http: { address: 127.0.0.1, port: ${PORTS.http} }`,
      'trunks:',
      `  - { name: uas, peers: [{ host: 127.0.0.1, port: ${PORTS.uasT} }] }`,
      `  - { name: uac, peers: [{ host: 127.0.0.1, port: ${PORTS.uacT} }], transit: true }`,
      'dialplan:',
      '  - { match: { regex: "^service$" }, route: { action: trunk, trunk: uas } }',
    ].join('\n'),
  );
  const trapezoid = start(
    process.execPath,
    [join(root, 'bin', 'trapezoid.js'), 'serve', '--config', cfg, '--json'],
    'trapezoid',
  );
  const kcfg = readFileSync(join(root, 'bench', 'kamailio', 'proxy.cfg'), 'utf8')
    .replaceAll('@SIP_PORT@', String(PORTS.kamailio))
    .replaceAll('@NEXT_HOP@', `127.0.0.1:${PORTS.uasK}`);
  writeFileSync(join(work, 'kamailio.cfg'), kcfg);
  start(
    'kamailio',
    [
      '-f',
      join(work, 'kamailio.cfg'),
      '-E',
      '-DD',
      '-m',
      '2048',
      '-M',
      '32',
      '-P',
      join(work, 'k.pid'),
      '-w',
      work,
    ],
    'kamailio',
  );
  start(
    'sipp',
    [
      '-sn',
      'uas',
      '-p',
      String(PORTS.uasT),
      '-i',
      '127.0.0.1',
      '-nostdin',
      '-max_recv_loops',
      '10000',
    ],
    'uas-trapezoid',
  );
  start(
    'sipp',
    [
      '-sn',
      'uas',
      '-p',
      String(PORTS.uasK),
      '-i',
      '127.0.0.1',
      '-nostdin',
      '-max_recv_loops',
      '10000',
    ],
    'uas-kamailio',
  );
  await sleep(3000);

  const best = { trapezoid: 0, kamailio: 0 };
  const alive = { trapezoid: true, kamailio: true };
  process.stdout.write(
    `calls per step: ${seconds} s at each rate; drain ${drainMs} ms between steps\n`,
  );
  process.stdout.write('rate      trapezoid ok/failed    kamailio ok/failed\n');
  for (const rate of rates) {
    if (!alive.trapezoid && !alive.kamailio) break;
    const cells: string[] = [];
    for (const name of ['trapezoid', 'kamailio'] as const) {
      if (!alive[name]) {
        cells.push('        -        ');
        continue;
      }
      const r = await step(
        name === 'trapezoid' ? PORTS.trapezoid : PORTS.kamailio,
        name === 'trapezoid' ? PORTS.uacT : PORTS.uacK,
        rate,
      );
      cells.push(`${String(r.ok).padStart(8)}/${String(r.failed).padEnd(8)}`);
      if (r.failed === 0 && r.ok === rate * seconds) best[name] = rate;
      else alive[name] = false;
      await sleep(drainMs);
    }
    process.stdout.write(`${String(rate).padEnd(8)}  ${cells.join('      ')}\n`);
  }
  const rss = trapezoid.pid ? peakRssMb(trapezoid.pid) : 0;
  const ratio = best.kamailio > 0 ? Math.round((best.trapezoid / best.kamailio) * 100) / 100 : 0;
  process.stdout.write(
    `highest clean rate: trapezoid ${best.trapezoid}/s, kamailio ${best.kamailio}/s; trapezoid peak RSS ${rss} MB\n`,
  );
  process.stdout.write(
    `${JSON.stringify({ bench: 'proxy', trapezoid: best.trapezoid, kamailio: best.kamailio, ratio, rss_mb: rss })}\n`,
  );
  stopAll();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/proxy: ${err instanceof Error ? err.message : String(err)}\n`);
  stopAll();
  process.exit(1);
});
