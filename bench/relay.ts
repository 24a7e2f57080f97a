// bench:relay: the call server's media relay (src/server/media-relay.ts) under G.711 load.
//
// Three processes on 127.0.0.1:
//   relay  the MediaRelay alone, pinned to CPU 0 (`taskset -c 0` when there is taskset); sessions
//          are set up through its API (offer/answer), as the proxy does for each call
//   load   the two phones of every call (one UDP socket each), pinned to CPU 1 when there are two
//          CPUs; sends a 20 ms G.711 packet (172 bytes: RTP header + 160 bytes) each way per call,
//          spread evenly over each 20 ms so the relay sees a steady stream, not bursts. It is
//          bench/relay-load.c, compiled here with cc (a Node process costs ~10 us per datagram and
//          cannot feed 50k packets/s both ways from one core); without cc, or with --load node,
//          a Node child does it (and becomes the limit well before the relay)
//   this   the orchestrator: steps the number of calls N and prints the table
// Sessions are set up through the API and not through `trapezoid serve` with SIP: the bench
// measures the relay's packet path; SIP for 1000 calls would only add set-up time (the proxy's
// speed has its own bench, bench:proxy) and SIPp cannot send 50k RTP packets/s from SDP it got.
//
// Each packet carries its send time (CLOCK_MONOTONIC in the C load, performance.now in the Node
// one) after the RTP header; the receiving phone (same load process, same clock) takes now -
// send time: the delay through the relay, including the kernel's loopback and the load's own
// loop (so this over-states what the relay adds; the `direct` row, phone to phone without the
// relay, shows that floor). Loss = packets sent in the measured window that never arrived.
// Beside them: the relay's CPU per packet (process.cpuUsage / packets relayed), the share of time
// the relay was runnable but waiting for its CPU (/proc/self/schedstat run delay: when it is
// high, other processes had the CPU and the delays measure them, not the relay), how far the
// load fell behind its schedule, and the 1-minute load average.
//
// For each N: 1 s warm-up, then `--seconds` (default 4) measured. calls = the highest N with loss
// under 1%; its p99 is reported. Last line:
//   {"bench":"relay","calls":N,"pps":N,"p99_ms":X,"loss_pct":X}
//
//   npm run bench:relay                                   (node --import tsx bench/relay.ts)
//   node --import tsx bench/relay.ts --steps 100,500,1000 --seconds 2
//   node --import tsx bench/relay.ts --quick              (steps 100,250, 1 s: a smoke run)
//   node --import tsx bench/relay.ts --nice -15           (relay and load at niceness -15)
//   node --import tsx bench/relay.ts --no-pin             (no taskset: the scheduler places them)
//
// On a machine shared with other work (load average above the CPU count) the pinned relay gets
// only its share of CPU 0 and delays measure the other work; --nice with a negative value (root)
// gives the relay and the load the CPU when they want it, without real-time scheduling.
//
// Relay ports 32000-39999 (4000 pairs: up to about 1990 calls). Every process started here is
// stopped here.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import dgram, { type Socket } from 'node:dgram';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MediaRelay } from '../src/server/media-relay.ts';
import { which } from '../test/support/peers.ts';

const HOST = '127.0.0.1';
const RELAY_PORTS: [number, number] = [32000, 39999];
const PACKET_MS = 20;
const PAYLOAD = 160;
const RTP_HEADER = 12;
/** Delay histogram: 10 µs buckets up to 1 s. */
const BUCKET_MS = 0.01;
const BUCKETS = 100_000;

type Msg =
  | { type: 'open'; calls: number }
  | { type: 'opened'; ports: Array<[number, number]> }
  | { type: 'setup'; ports: Array<[number, number]> }
  | { type: 'ready'; targets: Array<[number, number]> }
  | { type: 'run'; targets: Array<[number, number]>; warmMs: number; measureMs: number }
  | { type: 'result'; result: LoadResult }
  | { type: 'cpu' }
  | {
      type: 'cpu-result';
      userMs: number;
      systemMs: number;
      wallMs: number;
      /** Time the relay was runnable but waiting for a CPU (Linux schedstat), ms. */
      waitMs: number;
      packets: number;
      dropped: number;
    }
  | { type: 'teardown' }
  | { type: 'done' };

interface LoadResult {
  sent: number;
  received: number;
  late: number;
  histogram: number[];
  sendSlipMs: number;
}

function send(msg: Msg): void {
  process.send!(msg);
}

function sdp(port: number): string {
  return (
    `v=0\r\no=- 1 1 IN IP4 ${HOST}\r\ns=-\r\nc=IN IP4 ${HOST}\r\nt=0 0\r\n` +
    `m=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`
  );
}

/** Linux: ms this process spent runnable but not running (second field of schedstat); 0 elsewhere. */
function runDelayMs(): number {
  try {
    const fields = readFileSync('/proc/self/schedstat', 'utf8').split(' ');
    return Number(fields[1]) / 1e6;
  } catch {
    return 0;
  }
}

// ---- relay child ------------------------------------------------------------------------------

async function relayChild(): Promise<void> {
  const relay = new MediaRelay({
    address: HOST,
    ports: RELAY_PORTS,
    timeoutSeconds: 60,
    spare: 64,
  });
  await relay.ready();
  let ids: string[] = [];
  let cpuMark = process.cpuUsage();
  let wallMark = performance.now();
  let waitMark = runDelayMs();
  let packetMark = 0;
  let droppedMark = 0;
  process.on('message', (msg: Msg) => {
    if (msg.type === 'setup') {
      const targets: Array<[number, number]> = [];
      ids = [];
      msg.ports.forEach(([a, b], i) => {
        const id = `bench-${i}-${Date.now()}`;
        ids.push(id);
        const offer = relay.offer(id, 'a', sdp(a));
        const answer = relay.answer(id, 'b', sdp(b));
        const port = (text: string) => Number(/^m=audio (\d+)/m.exec(text)![1]);
        // A sends where the answer points, B where the offer points.
        targets.push([port(answer), port(offer)]);
      });
      void relay.ready().then(() => send({ type: 'ready', targets }));
    } else if (msg.type === 'cpu') {
      const now = process.cpuUsage(cpuMark);
      const totals = relay.totals();
      send({
        type: 'cpu-result',
        userMs: now.user / 1000,
        systemMs: now.system / 1000,
        wallMs: performance.now() - wallMark,
        waitMs: runDelayMs() - waitMark,
        packets: totals.packets - packetMark,
        dropped: totals.dropped - droppedMark,
      });
      cpuMark = process.cpuUsage();
      wallMark = performance.now();
      waitMark = runDelayMs();
      packetMark = totals.packets;
      droppedMark = totals.dropped;
    } else if (msg.type === 'teardown') {
      for (const id of ids) relay.end(id);
      ids = [];
      void relay.ready().then(() => send({ type: 'done' }));
    }
  });
  send({ type: 'done' });
  await new Promise<void>((resolve) => process.once('disconnect', resolve));
  await relay.close();
}

// ---- load child -------------------------------------------------------------------------------

async function loadChild(): Promise<void> {
  let sockets: Socket[] = [];
  process.on('message', (msg: Msg) => {
    if (msg.type === 'open') {
      void openPhones(msg.calls).then((s) => {
        sockets = s;
        const ports: Array<[number, number]> = [];
        for (let i = 0; i < s.length; i += 2)
          ports.push([s[i]!.address().port, s[i + 1]!.address().port]);
        send({ type: 'opened', ports });
      });
    } else if (msg.type === 'run') {
      void runLoad(sockets, msg.targets, msg.warmMs, msg.measureMs).then((result) =>
        send({ type: 'result', result }),
      );
    } else if (msg.type === 'teardown') {
      for (const s of sockets) s.close();
      sockets = [];
      send({ type: 'done' });
    }
  });
  send({ type: 'done' });
  await new Promise<void>((resolve) => process.once('disconnect', resolve));
  for (const s of sockets) s.close();
}

async function openPhones(calls: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < calls * 2; i++) {
    const s = dgram.createSocket({
      type: 'udp4',
      recvBufferSize: 1 << 18,
      lookup: (h, _o, cb) => cb(null, h, 4),
    });
    await new Promise<void>((resolve) => s.bind(0, HOST, resolve));
    sockets.push(s);
  }
  return sockets;
}

function runLoad(
  sockets: Socket[],
  targets: Array<[number, number]>,
  warmMs: number,
  measureMs: number,
): Promise<LoadResult> {
  const calls = targets.length;
  const histogram = new Array<number>(BUCKETS).fill(0);
  let measuring = false;
  let sent = 0;
  let received = 0;
  let late = 0;
  let slip = 0;
  const origin = performance.timeOrigin;
  // Receivers: packets sent while measuring carry a flag byte.
  for (const s of sockets) {
    s.removeAllListeners('message');
    s.on('message', (msg: Buffer) => {
      if (msg.length < RTP_HEADER + 9 || msg[RTP_HEADER + 8] !== 1) return;
      const delay = origin + performance.now() - msg.readDoubleLE(RTP_HEADER);
      received++;
      const bucket = Math.floor(delay / BUCKET_MS);
      if (bucket >= BUCKETS) late++;
      else histogram[Math.max(0, bucket)]!++;
    });
  }
  // Per phone: a packet template (sequence numbers and timestamps advance per send).
  const packets = sockets.map((_, i) => {
    const b = Buffer.alloc(RTP_HEADER + PAYLOAD, 0xff);
    b[0] = 0x80;
    b[1] = 0; // PCMU
    b.writeUInt32BE(0x10000 + i, 8);
    return b;
  });
  const seq = new Uint32Array(sockets.length);
  // Call i sends (both ways) at offset i/calls of each 20 ms period.
  return new Promise((resolve) => {
    const start = performance.now();
    const end = start + warmMs + measureMs;
    let slot = 0; // next (period, call) to send, as a running count
    const tick = () => {
      const now = performance.now();
      const measureNow = now - start >= warmMs;
      if (measureNow !== measuring) measuring = measureNow;
      if (now >= end) {
        // Let the packets in flight arrive, then report.
        setTimeout(() => {
          for (const s of sockets) s.removeAllListeners('message');
          resolve({ sent, received, late, histogram, sendSlipMs: slip });
        }, 300);
        return;
      }
      const due = Math.floor(((now - start) / PACKET_MS) * calls);
      if (due - slot > calls) slip = Math.max(slip, ((due - slot) / calls) * PACKET_MS);
      for (; slot < due; slot++) {
        const call = slot % calls;
        for (const side of [0, 1] as const) {
          const index = call * 2 + side;
          const b = packets[index]!;
          const n = seq[index]!++;
          b.writeUInt16BE(n & 0xffff, 2);
          b.writeUInt32BE((n * PAYLOAD) >>> 0, 4);
          b.writeDoubleLE(origin + performance.now(), RTP_HEADER);
          b[RTP_HEADER + 8] = measuring ? 1 : 0;
          if (measuring) sent++;
          sockets[index]!.send(b, targets[call]![side], HOST);
        }
      }
      setImmediate(tick);
    };
    tick();
  });
}

// ---- orchestrator -----------------------------------------------------------------------------

function percentile(histogram: number[], total: number, p: number): number {
  const want = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= want) return (i + 1) * BUCKET_MS;
  }
  return Infinity;
}

class Child {
  readonly proc: ChildProcess;
  private readonly queue: Msg[] = [];
  private waiting: ((m: Msg) => void) | undefined;
  constructor(role: string, cpu: number | undefined) {
    const self = fileURLToPath(import.meta.url);
    const node = [process.execPath, '--import', 'tsx', self, `--child=${role}`];
    const taskset = which('taskset');
    let [cmd, ...args] =
      cpu !== undefined && taskset ? [taskset, '-c', String(cpu), ...node] : node;
    if (niceness !== undefined) [cmd, args] = ['nice', ['-n', String(niceness), cmd!, ...args]];
    this.proc = spawn(cmd!, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: Msg) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(m);
      } else this.queue.push(m);
    });
  }
  next(): Promise<Msg> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve) => (this.waiting = resolve));
  }
  async ask(msg: Msg): Promise<Msg> {
    this.proc.send(msg);
    return this.next();
  }
  stop(): void {
    if (this.proc.connected) this.proc.disconnect();
    setTimeout(() => {
      if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
    }, 2000).unref();
  }
}

interface Row {
  calls: number;
  /** Packets per second the phones send (calls x 2 directions x 50). */
  offeredPps: number;
  pps: number;
  lossPct: number;
  p50: number;
  p99: number;
  relayCpuPct: number;
  /** Relay CPU time (user + system) per packet relayed, microseconds. */
  usPerPacket: number;
  /** Share of the time the relay was runnable but waiting for its CPU (others ran), %. */
  relayWaitPct: number;
  slipMs: number;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const a = args.find((x) => x.startsWith(`--${name}=`));
    if (a) return a.slice(name.length + 3);
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const quick = args.includes('--quick');
  if (flag('nice') !== undefined) niceness = Number(flag('nice'));
  const steps = (flag('steps') ?? (quick ? '100,250' : '100,250,500,750,1000,1250,1500'))
    .split(',')
    .map(Number);
  const measureMs = Number(flag('seconds') ?? (quick ? 1 : 4)) * 1000;
  const warmMs = quick ? 500 : 1000;
  const cpus = availableParallelism();
  const pinned = !args.includes('--no-pin') && which('taskset') !== undefined;
  const loadCpu = pinned && cpus > 1 ? 1 : undefined;
  const compiled = flag('load') === 'node' ? undefined : compileLoad();
  const relay = new Child('relay', pinned ? 0 : undefined);
  const load = compiled ? undefined : new Child('load', loadCpu);
  const run = (r: Child | undefined, n: number) =>
    compiled
      ? stepC(compiled.path, loadCpu, r, n, warmMs, measureMs)
      : step(load!, r, n, warmMs, measureMs);
  const rows: Row[] = [];
  const fmt = (label: string, row: Row) =>
    [
      label.padStart(6),
      row.pps ? Math.round(row.pps).toLocaleString('en').padStart(10) : '-'.padStart(10),
      row.lossPct.toFixed(2).padStart(7),
      row.p50.toFixed(2).padStart(7),
      row.p99.toFixed(2).padStart(7),
      (row.relayCpuPct ? row.relayCpuPct.toFixed(0) : '-').padStart(8),
      (row.usPerPacket ? row.usPerPacket.toFixed(1) : '-').padStart(8),
      (row.usPerPacket ? row.relayWaitPct.toFixed(0) : '-').padStart(9),
      row.slipMs.toFixed(1).padStart(8),
      loadavg()[0]!.toFixed(1).padStart(8),
    ].join('  ') + '\n';
  try {
    await relay.next();
    if (load) await load.next();
    process.stdout.write(
      `media relay, G.711 20 ms both ways per call; relay ${pinned ? 'pinned to CPU 0' : 'not pinned (no taskset)'}; ` +
        `load: ${compiled ? 'bench/relay-load.c' : 'Node process'}${loadCpu !== undefined ? ' on CPU 1' : ''}; ` +
        `${niceness !== undefined ? `niceness ${niceness}; ` : ''}${warmMs / 1000} s warm-up + ${measureMs / 1000} s measured per step\n`,
    );
    process.stdout.write(
      ' calls   relayed/s   loss %   p50 ms   p99 ms  relay CPU%    us/pkt  CPU wait%   slip ms   loadavg\n',
    );
    // Floor: the load sending phone to phone, no relay.
    process.stdout.write(fmt('direct', await run(undefined, 100)));
    for (const n of steps) {
      const row = await run(relay, n);
      rows.push(row);
      process.stdout.write(fmt(String(n), row));
      if (row.lossPct > 5) break;
    }
  } finally {
    relay.stop();
    load?.stop();
    compiled?.cleanup();
  }
  process.stdout.write(
    'relayed/s: RTP packets the relay forwarded per second (offered: calls x 100); us/pkt: relay\n' +
      'CPU per packet; CPU wait%: time the relay was ready to run while its CPU ran something else\n' +
      '(Linux schedstat); slip: how far the load fell behind its send schedule (> 20 ms: the load\n' +
      'was starved too); loadavg: the machine was shared when it is above the CPU count.\n',
  );
  const best = [...rows].reverse().find((r) => r.lossPct < 1);
  const finite = (x: number | undefined, digits: number) =>
    x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(digits));
  process.stdout.write(
    `${JSON.stringify({
      bench: 'relay',
      calls: best?.calls ?? 0,
      pps: best?.offeredPps ?? 0,
      p99_ms: finite(best?.p99, 2),
      loss_pct: finite(best?.lossPct, 3),
    })}\n`,
  );
}

/** Compiles bench/relay-load.c; undefined when there is no C compiler. */
function compileLoad(): { path: string; cleanup: () => void } | undefined {
  const cc = which('cc') ?? which('gcc');
  if (!cc) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-relay-load-'));
  const out = join(dir, 'relay-load');
  const source = fileURLToPath(new URL('./relay-load.c', import.meta.url));
  const r = spawnSync(cc, ['-O2', '-o', out, source], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`cc failed, using the Node load process:\n${r.stderr}\n`);
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return { path: out, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One step with the C load program (bench/relay-load.c) as the phones. */
async function stepC(
  program: string,
  cpu: number | undefined,
  relay: Child | undefined,
  calls: number,
  warmMs: number,
  measureMs: number,
): Promise<Row> {
  const taskset = which('taskset');
  const argv = [program, String(calls), String(warmMs), String(measureMs)];
  let [cmd, ...args] = cpu !== undefined && taskset ? [taskset, '-c', String(cpu), ...argv] : argv;
  if (niceness !== undefined) [cmd, args] = ['nice', ['-n', String(niceness), cmd!, ...args]];
  const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const read = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('relay-load exited early');
    return r.value;
  };
  try {
    const ports: Array<[number, number]> = [];
    for (let line = await read(); line !== 'ready'; line = await read()) {
      const [a, b] = line.split(' ').map(Number) as [number, number];
      ports.push([a, b]);
    }
    let targets: Array<[number, number]>;
    if (relay) {
      const ready = (await relay.ask({ type: 'setup', ports })) as Extract<Msg, { type: 'ready' }>;
      targets = ready.targets;
      await relay.ask({ type: 'cpu' }); // mark
    } else {
      targets = ports.map(([a, b]) => [b, a]);
    }
    child.stdin!.end(targets.map(([a, b]) => `${a} ${b}\n`).join(''));
    let line = await read();
    while (!line.startsWith('result ')) line = await read();
    const [sent, received, p50, p99, , slip] = line.split(' ').slice(1).map(Number) as number[];
    const cpu = relay
      ? ((await relay.ask({ type: 'cpu' })) as Extract<Msg, { type: 'cpu-result' }>)
      : undefined;
    await relay?.ask({ type: 'teardown' });
    const busyMs = cpu ? Math.max(1, cpu.wallMs - 300) : measureMs;
    return {
      calls,
      offeredPps: (calls * 2 * 1000) / PACKET_MS,
      pps: cpu ? (cpu.packets * 1000) / busyMs : (sent! * 1000) / measureMs,
      lossPct: sent! > 0 ? ((sent! - received!) * 100) / sent! : 100,
      p50: p50! < 0 ? Infinity : p50! / 1000,
      p99: p99! < 0 ? Infinity : p99! / 1000,
      relayCpuPct: cpu ? ((cpu.userMs + cpu.systemMs) * 100) / busyMs : 0,
      usPerPacket: cpu && cpu.packets > 0 ? ((cpu.userMs + cpu.systemMs) * 1000) / cpu.packets : 0,
      relayWaitPct: cpu ? (cpu.waitMs * 100) / busyMs : 0,
      slipMs: slip! / 1000,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function step(
  load: Child,
  relay: Child | undefined,
  calls: number,
  warmMs: number,
  measureMs: number,
): Promise<Row> {
  const opened = (await load.ask({ type: 'open', calls })) as Extract<Msg, { type: 'opened' }>;
  let targets: Array<[number, number]>;
  if (relay) {
    const ready = (await relay.ask({ type: 'setup', ports: opened.ports })) as Extract<
      Msg,
      { type: 'ready' }
    >;
    targets = ready.targets;
  } else {
    // Phone to phone: A sends to B's socket, B to A's.
    targets = opened.ports.map(([a, b]) => [b, a]);
  }
  await relay?.ask({ type: 'cpu' }); // mark
  const result = (
    (await load.ask({ type: 'run', targets, warmMs, measureMs })) as Extract<
      Msg,
      { type: 'result' }
    >
  ).result;
  const cpu = relay
    ? ((await relay.ask({ type: 'cpu' })) as Extract<Msg, { type: 'cpu-result' }>)
    : undefined;
  await relay?.ask({ type: 'teardown' });
  await load.ask({ type: 'teardown' });
  // The relay's wall time between the marks, less the 300 ms the load waits for stragglers.
  const busyMs = cpu ? Math.max(1, cpu.wallMs - 300) : measureMs;
  return {
    calls,
    offeredPps: (calls * 2 * 1000) / PACKET_MS,
    pps: cpu ? (cpu.packets * 1000) / busyMs : (result.sent * 1000) / measureMs,
    lossPct: result.sent > 0 ? ((result.sent - result.received) * 100) / result.sent : 100,
    p50: percentile(result.histogram, result.received, 0.5),
    p99: percentile(result.histogram, result.received, 0.99),
    relayCpuPct: cpu ? ((cpu.userMs + cpu.systemMs) * 100) / busyMs : 0,
    usPerPacket: cpu && cpu.packets > 0 ? ((cpu.userMs + cpu.systemMs) * 1000) / cpu.packets : 0,
    relayWaitPct: cpu ? (cpu.waitMs * 100) / busyMs : 0,
    slipMs: result.sendSlipMs,
  };
}

/** --nice N: run the relay and the load at this niceness (negative needs root; see the top). */
let niceness: number | undefined;

const role = process.argv.find((a) => a.startsWith('--child='))?.slice(8);
if (role === 'relay') await relayChild();
else if (role === 'load') await loadChild();
else await main();
