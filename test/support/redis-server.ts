// A real redis-server for one test file: on a loopback port from freePort, in the foreground,
// writing nothing to disk (no RDB snapshot, no AOF), stopped by its pid when the test is done.
// A machine without redis-server skips the test with the reason; under CI=true it fails (needTool).
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import type { TestContext } from 'node:test';
import { needTool } from './peers.ts';
import { freePort } from './ports.ts';

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:PORT */
  url: string;
  /** What the server printed (for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

/** Resolves once something accepts TCP on the port and answers PING with +PONG. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * Starts redis-server for the test `t` (on `opts.port` to stand in for one that was stopped) and
 * stops it when `t` ends. Returns undefined when the
 * test was skipped because redis-server is missing (never under CI=true).
 */
export async function startRedis(
  t: TestContext,
  opts: { port?: number } = {},
): Promise<RedisServer | undefined> {
  const bin = needTool(t, 'redis-server');
  if (!bin) return undefined;
  const port = opts.port ?? (await freePort());
  let out = '';
  const child: ChildProcess = spawn(
    bin,
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  child.once('exit', () => (running = false));

  const stop = async () => {
    if (running) child.kill('SIGTERM');
    const timer = setTimeout(() => running && child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  t.after(stop);

  // Up to 15 s on a loaded machine; it usually answers within 50 ms.
  const deadline = Date.now() + 15_000;
  while (!(await pingOnce(port))) {
    if (!running) throw new Error(`redis-server exited before answering PING:\n${out}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not answer PING within 15 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { port, url: `redis://127.0.0.1:${port}`, output: () => out, stop };
}
