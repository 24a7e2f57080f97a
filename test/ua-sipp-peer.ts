// Running SIPp and `trapezoid phone` as child processes for the interop tests: free ports (from
// test/support/ports.ts), a bounded wait for exit, and a kill of exactly the processes started here.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './support/peers.ts';

// Ports come from the one allocator (free on UDP and TCP on the address, from the OS).
export { freePort } from './support/ports.ts';

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Peer {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<Finished>;

  constructor(command: string, args: string[], cwd: string) {
    // Its own process group: kill() and signal() reach what it forked too (Kamailio's workers
    // outlive their parent otherwise, keep our pipes open and hang the test file).
    this.child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Waits for exit, killing the process (and failing) after `ms`. */
  async finish(ms: number): Promise<Finished> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Finished>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(
          new Error(
            `process did not finish within ${ms} ms; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
          ),
        );
      }, ms);
    });
    try {
      return await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.signal('SIGKILL');
  }

  /** Sends a signal to the process and everything it forked. */
  signal(sig: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      /* the group is gone */
    }
  }
}

/** A scratch directory for SIPp's logs and scenario files. */
export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'trapezoid-sipp-'));
}

/** SIPp's error log(s) in a directory, for failure messages. */
export function sippErrors(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('_errors.log'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')
    .slice(0, 4000);
}

/** `trapezoid phone ...` through the real command entry point. */
export function phone(args: string[]): Peer {
  return new Peer(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'phone', ...args],
    repoRoot,
  );
}

/** The phone's JSON events. */
export function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves once `peer` printed a line matching `re` (or rejects after `ms`). */
export function waitForOutput(peer: Peer, re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (re.test(peer.stdout)) return resolve();
      if (peer.child.exitCode !== null)
        return reject(new Error(`exited early: ${peer.stdout}${peer.stderr}`));
      if (Date.now() - started > ms)
        return reject(new Error(`no ${re} within ${ms} ms: ${peer.stdout}${peer.stderr}`));
      setTimeout(check, 25);
    };
    check();
  });
}
