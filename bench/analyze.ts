// Capture analysis speed and memory: trapezoid against tshark on the same large capture.
//
//   npm run bench:analyze                       # 2000 calls x 10 s (~2M packets, ~470 MB), 3 runs
//   npm run bench:analyze -- --calls 300 --runs 3 --seconds 10   # a quicker run
//   npm run bench:analyze -- --file big.pcap    # a capture made earlier by generate-capture.ts
//
// 1. bench/generate-capture.ts writes a realistic SIP + RTP capture into a temp dir.
// 2. trapezoid: a child process runs what `trapezoid analyze FILE --json` runs (read, decode,
//    calls, SIP stats, RTP stream counters, the JSON document built and serialised; no SIP bytes
//    or RTP payloads kept, as the CLI does for --json) and reports its own analysis time; the
//    child's wall time (process start to exit, tsx start-up included) is measured too.
// 3. tshark: `tshark -q -z sip,stat -z rtp,streams -r FILE`, wall time of the process.
// Each is run --runs times (>= 3); the median is used. Peak memory is the child's peak RSS:
// /usr/bin/time -v when present, else the kernel's VmHWM polled from /proc/<pid>/status.
// The last line is one JSON object:
// {"bench":"analyze","packets":N,"trapezoid_pps":N,"tshark_pps":N,"ratio":X,"trapezoid_peak_mb":N}
// trapezoid_pps uses the child's wall time (start-up included), the same measure as tshark's.
// On a busy machine wall time mostly measures the neighbours; *_cpu_pps (user + system CPU time
// of each process, from GNU time) are printed as well and are steadier.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// ------------------------------------------------------------------ child mode

if (process.argv[2] === '--child') {
  const file = process.argv[3]!;
  const { analyzeCaptureFile, buildReport, analysisJson } = await import('../src/analyze/index.ts');
  const t0 = performance.now();
  const { analysis, frames } = await analyzeCaptureFile(file, { keepRaw: false });
  const report = buildReport(analysis, { source: file });
  const text = JSON.stringify(analysisJson(analysis, report));
  const ms = performance.now() - t0;
  process.stdout.write(
    JSON.stringify({
      frames,
      ms,
      calls: report.calls.length,
      streams: report.rtpStreams.length,
      jsonBytes: text.length,
      maxRssKb: process.resourceUsage().maxRSS,
    }) + '\n',
  );
  process.exit(0);
}

// ------------------------------------------------------------------ parent

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    /** Use this capture (made by generate-capture.ts earlier) instead of generating one. */
    file: { type: 'string' },
  },
});
const runs = Math.max(3, Number(args.runs));
const generator = join(here, 'generate-capture.ts');
if (!existsSync(generator)) {
  console.error(
    'bench/analyze: bench/generate-capture.ts is missing (it belongs to the capture layer); cannot build the capture',
  );
  process.exit(1);
}
const tshark = spawnSync('sh', ['-c', 'command -v tshark'], { encoding: 'utf8' }).stdout.trim();
if (!tshark) {
  console.error('bench/analyze: tshark not found (apt-get install -y tshark)');
  process.exit(1);
}
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

let file: string;
/** Packets in the capture: from the generator, or (with --file) counted by the first run. */
let packets = 0;
if (args.file) {
  file = args.file;
  if (!existsSync(file)) {
    console.error(`bench/analyze: ${file} does not exist`);
    process.exit(2);
  }
} else {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-bench-'));
  file = join(dir, 'bench.pcap');
  process.on('exit', () => {
    if (!args.keep) rmSync(dir, { recursive: true, force: true });
  });
  console.log(`generating ${args.calls} calls x ${args.seconds} s into ${file} ...`);
  const gen = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      generator,
      '--calls',
      args.calls!,
      '--seconds',
      args.seconds!,
      '--out',
      file,
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (gen.status !== 0) {
    console.error(`bench/analyze: generate-capture failed:\n${gen.stderr}`);
    process.exit(1);
  }
  packets = (JSON.parse(gen.stdout.trim().split('\n').pop()!) as { packets: number }).packets;
}
const bytes = statSync(file).size;
console.log(`capture: ${packets > 0 ? `${packets} packets, ` : ''}${(bytes / 1e6).toFixed(1)} MB`);

interface Run {
  wallMs: number;
  peakKb: number;
  /** User + system CPU time of the process (GNU time only; 0 otherwise). */
  cpuMs: number;
  stdout: string;
}

/** Runs a command, measuring wall time and peak RSS (GNU time -v, else VmHWM polling). */
function measure(cmd: string, cmdArgs: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const argv = gnuTime ? [gnuTime, '-v', cmd, ...cmdArgs] : [cmd, ...cmdArgs];
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let polledKb = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = gnuTime
      ? undefined
      : setInterval(() => {
          try {
            const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
            const m = /VmHWM:\s+(\d+) kB/.exec(status);
            if (m) polledKb = Math.max(polledKb, Number(m[1]));
          } catch {
            /* exited */
          }
        }, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      if (poll) clearInterval(poll);
      if (code !== 0) {
        reject(new Error(`${cmd} exited ${code}: ${stderr.slice(-500)}`));
        return;
      }
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
      const system = /System time \(seconds\): ([\d.]+)/.exec(stderr);
      const cpuMs = user && system ? (Number(user[1]) + Number(system[1])) * 1000 : 0;
      resolve({ wallMs, peakKb: m ? Number(m[1]) : polledKb, cpuMs, stdout });
    });
  });
}

const ours: Array<Run & { analysisMs: number; frames: number }> = [];
const theirs: Run[] = [];
for (let i = 0; i < runs; i++) {
  const run = await measure(process.execPath, [
    '--import',
    'tsx',
    join(here, 'analyze.ts'),
    '--child',
    file,
  ]);
  const info = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
    frames: number;
    ms: number;
    calls: number;
    streams: number;
  };
  ours.push({ ...run, analysisMs: info.ms, frames: info.frames });
  if (packets === 0) packets = info.frames;
  console.log(
    `trapezoid run ${i + 1}: ${(run.wallMs / 1000).toFixed(2)} s wall (analysis ${(info.ms / 1000).toFixed(2)} s), ` +
      `${info.calls} calls, ${info.streams} RTP streams, peak ${(run.peakKb / 1024).toFixed(0)} MB`,
  );
  const t = await measure(tshark, ['-q', '-z', 'sip,stat', '-z', 'rtp,streams', '-r', file]);
  theirs.push(t);
  console.log(
    `tshark    run ${i + 1}: ${(t.wallMs / 1000).toFixed(2)} s wall, peak ${(t.peakKb / 1024).toFixed(0)} MB`,
  );
}

const oursWall = median(ours.map((r) => r.wallMs));
const oursAnalysis = median(ours.map((r) => r.analysisMs));
const theirsWall = median(theirs.map((r) => r.wallMs));
const trapezoidPps = Math.round(packets / (oursWall / 1000));
const trapezoidAnalysisPps = Math.round(packets / (oursAnalysis / 1000));
const tsharkPps = Math.round(packets / (theirsWall / 1000));
const oursCpu = median(ours.map((r) => r.cpuMs));
const theirsCpu = median(theirs.map((r) => r.cpuMs));
const cpuPps = (ms: number): number | null => (ms > 0 ? Math.round(packets / (ms / 1000)) : null);
const peakMb = Math.round(Math.max(...ours.map((r) => r.peakKb)) / 1024);
const tsharkPeakMb = Math.round(Math.max(...theirs.map((r) => r.peakKb)) / 1024);
console.log(
  `median: trapezoid ${trapezoidPps} packets/s wall (${trapezoidAnalysisPps}/s in-process), ` +
    `tshark ${tsharkPps} packets/s; peak RSS trapezoid ${peakMb} MB, tshark ${tsharkPeakMb} MB`,
);
console.log(
  JSON.stringify({
    bench: 'analyze',
    packets,
    trapezoid_pps: trapezoidPps,
    tshark_pps: tsharkPps,
    ratio: Math.round((trapezoidPps / tsharkPps) * 100) / 100,
    trapezoid_peak_mb: peakMb,
    trapezoid_analysis_pps: trapezoidAnalysisPps,
    tshark_peak_mb: tsharkPeakMb,
    trapezoid_cpu_pps: cpuPps(oursCpu),
    tshark_cpu_pps: cpuPps(theirsCpu),
    capture_mb: Math.round(bytes / 1e6),
  }),
);
