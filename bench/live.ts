// Live analysis speed: how many packets/s `trapezoid analyze` keeps up with when a capture
// streams in, and how many it loses.
//
//   npm run bench:live                                  # 200 calls x 10 s (~200k packets)
//   npm run bench:live -- --calls 400 --rate 60000      # HEP sent at 60,000 packets/s
//   npm run bench:live -- --file big.pcap               # a capture made by generate-capture.ts
//
// 1. bench/generate-capture.ts writes a SIP + RTP capture (UDP only: HEP carries datagrams).
// 2. pipe: the capture is written as fast as the pipe takes it into `trapezoid analyze -`
//    (a child process, JSON lines mode); packets/s = frames / (first byte to the end line).
//    A pipe pushes back, so nothing is lost: this is the analyzer's ceiling on one core.
// 3. hep: every packet is wrapped in HEPv3 (its capture addresses and time) beforehand, then sent
//    over UDP on loopback to `trapezoid analyze --hep` at --rate packets/s, paced each
//    millisecond. Loss = packets sent - frames the analyzer counted (the socket buffer
//    overflowing when the analyzer falls behind). CPU: the child's user + system time from
//    /proc/PID/stat, so packets per CPU-second shows what one core does whatever the neighbours.
// The last line is one JSON object:
// {"bench":"live","packets":N,"pipe_pps":N,"pipe_cpu_pps":N,"hep_rate":N,"hep_sent":N,
//  "hep_received":N,"hep_loss_pct":X,"hep_cpu_pps":N}
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeHep3, PacketDecoder, readCaptureFile } from '../src/capture/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const bin = join(root, 'bin', 'trapezoid.js');

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50000' },
    file: { type: 'string' },
    port: { type: 'string', default: '0' },
  },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** user + system CPU seconds of a process so far (from /proc/PID/stat). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

interface Analyzer {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  ended: Promise<Record<string, unknown>>;
}

function startAnalyzer(extra: string[]): Analyzer {
  const child = spawn(process.execPath, [bin, 'analyze', ...extra, '--limit', '100000'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  const ended = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.event === 'end') resolve(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`analyze exited ${code} without an end line`)));
  });
  return { child, lines, ended };
}

async function listening(a: Analyzer): Promise<Record<string, unknown>> {
  for (;;) {
    const l = a.lines.find((x) => x.event === 'listening');
    if (l) return l;
    if (a.child.exitCode !== null) throw new Error('analyze exited before listening');
    await sleep(20);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'trapezoid-bench-live-'));
try {
  let file = args.file;
  if (!file) {
    file = join(dir, 'live.pcap');
    const gen = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(here, 'generate-capture.ts'),
        '--calls',
        args.calls,
        '--seconds',
        args.seconds,
        '--tcp',
        '0',
        '--out',
        file,
        '--quiet',
      ],
      { stdio: 'inherit', cwd: root },
    );
    if (gen.status !== 0) throw new Error('generate-capture failed');
  }
  if (!existsSync(file)) throw new Error(`${file}: no such file`);

  // ---------------------------------------------------------------- pipe
  const pipe = startAnalyzer(['-']);
  await listening(pipe);
  const t0 = process.hrtime.bigint();
  createReadStream(file).pipe(pipe.child.stdin!);
  const pipeEnd = await pipe.ended;
  const pipeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const pipeCpu = cpuSeconds(pipe.child.pid!);
  await new Promise((r) => pipe.child.once('close', r));
  const packets = Number(pipeEnd.frames);
  console.log(
    `pipe: ${packets} packets in ${pipeSeconds.toFixed(2)} s = ${Math.round(packets / pipeSeconds)} packets/s (analyzer CPU ${pipeCpu.toFixed(2)} s)`,
  );

  // ---------------------------------------------------------------- hep
  const hep: Buffer[] = [];
  const decoder = new PacketDecoder({
    onUdp: (p) =>
      hep.push(encodeHep3({ ...p, proto: 'udp', payloadType: p.payload[0]! >= 0x80 ? 34 : 1 })),
    onTcpData: () => undefined,
  });
  await readCaptureFile(file, (f) => decoder.decode(f));
  const rate = Number(args.rate);
  const analyzer = startAnalyzer(['--hep', `udp:127.0.0.1:${args.port}`]);
  const { port } = (await listening(analyzer)) as { port: number };
  const socket = createSocket({ type: 'udp4', sendBufferSize: 8 << 20 });
  const cpu0 = cpuSeconds(analyzer.child.pid!);
  const start = process.hrtime.bigint();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pace = (): void => {
      const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      const due = Math.min(hep.length, Math.floor(elapsed * rate));
      while (sent < due) socket.send(hep[sent++]!, port, '127.0.0.1');
      if (sent >= hep.length) resolve();
      else setImmediate(pace);
    };
    pace();
  });
  const sendSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  await sleep(1500);
  const cpu = cpuSeconds(analyzer.child.pid!) - cpu0;
  analyzer.child.kill('SIGINT');
  const hepEnd = await analyzer.ended;
  socket.close();
  const received = Number(hepEnd.frames);
  const lossPct = (100 * (sent - received)) / sent;
  console.log(
    `hep: sent ${sent} at ${Math.round(sent / sendSeconds)} packets/s, analysed ${received} (loss ${lossPct.toFixed(3)}%), analyzer CPU ${cpu.toFixed(2)} s = ${Math.round(received / cpu)} packets per CPU-second`,
  );
  console.log(
    JSON.stringify({
      bench: 'live',
      packets,
      pipe_pps: Math.round(packets / pipeSeconds),
      pipe_cpu_pps: Math.round(packets / pipeCpu),
      hep_rate: Math.round(sent / sendSeconds),
      hep_sent: sent,
      hep_received: received,
      hep_loss_pct: Number(lossPct.toFixed(3)),
      hep_cpu_pps: Math.round(received / cpu),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
