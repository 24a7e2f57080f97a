// bench/wakeup: what one wakeup per datagram costs a Node process against a C one. Two UDP echo
// servers on loopback, each answering every datagram to its sender and doing nothing else: Node
// (`socket.on('message')` -> `socket.send` with a completion callback, as src/transport sends)
// and C (bench/udp-echo.c: blocking recvfrom, sendto; compiled here with cc). This process feeds
// each, in turn, 600-byte datagrams at each rate for --seconds (sent every millisecond, those
// due), and reads the server's CPU (utime + stime, bench/procstat.ts) over the step: CPU µs per
// datagram echoed. At a low rate every datagram wakes the server; as the rate rises several share
// a wakeup. The proxy handles 12 datagrams a call (6 in, 6 out), so this is the floor under its
// CPU per call that a Node process pays and Kamailio's C workers do not (bench/README.md).
//
//   npm run bench:wakeup [-- --rates 2000,6500,20000 --seconds 5]
//
// Last line: {"bench":"wakeup","node_us":{RATE:X},"c_us":{RATE:X},"ratio_by_rate":{RATE:X}}
//   node_us, c_us: server CPU µs per datagram echoed at each rate; ratio = c / node (below 1:
//   Node pays more per datagram).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/ports.ts';
import { CLK_TCK, treeCpuSeconds } from './procstat.ts';
import { arg } from './args.ts';

const rates = arg('rates', '2000,6500,20000').split(',').map(Number);
const seconds = Number(arg('seconds', '5'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** The Node echo server: the same send path as src/transport/udp-transport.ts (a callback). */
const NODE_ECHO = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address, () => {}));
s.bind(Number(process.argv[1]), '127.0.0.1');
`;

function compileC(dir: string): string {
  const out = join(dir, 'udp-echo');
  const source = fileURLToPath(new URL('./udp-echo.c', import.meta.url));
  const r = spawnSync('cc', ['-O2', '-o', out, source], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`bench:wakeup needs a C compiler (cc): ${r.stderr ?? r.error}`);
  return out;
}

/** Feeds the echo server on `port` at `rate` for `seconds`; returns datagrams sent and echoed. */
async function feed(port: number, rate: number): Promise<{ sent: number; echoed: number }> {
  const sock = createSocket('udp4');
  let echoed = 0;
  sock.on('message', () => echoed++);
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const payload = Buffer.alloc(600, 0x41);
  const t0 = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - t0;
      const due = Math.min(Math.floor((elapsed * rate) / 1000), rate * seconds);
      while (sent < due) {
        sock.send(payload, port, '127.0.0.1');
        sent++;
      }
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        done();
      }
    }, 1);
  });
  await sleep(300);
  sock.close();
  return { sent, echoed };
}

async function measure(server: ChildProcess, port: number, rate: number): Promise<number> {
  const cpu0 = treeCpuSeconds(server.pid!);
  const { sent, echoed } = await feed(port, rate);
  const cpu = treeCpuSeconds(server.pid!) - cpu0;
  if (echoed < sent * 0.99) process.stdout.write(`  (only ${echoed} of ${sent} echoed)\n`);
  return (cpu * 1e6) / Math.max(1, echoed);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-bench-wakeup-'));
  const children: ChildProcess[] = [];
  try {
    const cPath = compileC(dir);
    const nodePort = await freePort();
    const cPort = await freePort();
    const node = spawn(process.execPath, ['-e', NODE_ECHO, String(nodePort)], { stdio: 'ignore' });
    const c = spawn(cPath, [String(cPort)], { stdio: 'ignore' });
    children.push(node, c);
    await sleep(1000);
    const nodeUs: Record<string, number> = {};
    const cUs: Record<string, number> = {};
    const ratio: Record<string, number> = {};
    process.stdout.write(
      `${seconds} s per rate; server CPU µs per 600-byte datagram echoed (CPU clock: ${1e6 / CLK_TCK} µs a tick)\n` +
        'rate/s      node       c   c / node\n',
    );
    // A short warm-up for the Node server's JIT, not scored.
    await feed(nodePort, 2000);
    for (const rate of rates) {
      const n = await measure(node, nodePort, rate);
      const k = await measure(c, cPort, rate);
      nodeUs[rate] = round(n, 2);
      cUs[rate] = round(k, 2);
      ratio[rate] = n > 0 ? round(k / n, 2) : 0;
      process.stdout.write(
        `${String(rate).padStart(6)} ${n.toFixed(2).padStart(9)} ${k.toFixed(2).padStart(7)} ${ratio[rate]!.toFixed(2).padStart(10)}\n`,
      );
    }
    process.stdout.write(
      `${JSON.stringify({ bench: 'wakeup', node_us: nodeUs, c_us: cUs, ratio_by_rate: ratio })}\n`,
    );
  } finally {
    for (const ch of children) ch.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/wakeup: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
