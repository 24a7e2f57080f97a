// Capture from a network interface through the system's capture tool, writing pcap to a pipe:
// `tcpdump -i IFACE -U -w -` (or Wireshark's `dumpcap -i IFACE -w - -P` where tcpdump is
// missing). Why a child process and not libpcap through a native addon: the privilege to
// capture stays with the tool (setcap cap_net_raw on tcpdump/dumpcap, or root), nothing needs
// compiling against libpcap for each Node version, the kernel buffer and BPF compilation are the
// tool's, and the pipe is the same pcap stream `analyze -` reads (one reader for both). The
// tool's own count of packets the kernel dropped is read from its exit report.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

export type CaptureTool = 'tcpdump' | 'dumpcap';

export interface LiveCaptureOptions {
  /** Interface name ('lo', 'eth0', 'any'). */
  iface: string;
  /** A BPF filter expression (pcap-filter(7)). */
  bpf?: string;
  /** The tool to run; default tcpdump, else dumpcap, whichever is installed. */
  tool?: CaptureTool;
  /** Kernel capture buffer in KiB (default 16384). */
  bufferKiB?: number;
}

const DEFAULT_BUFFER_KIB = 16384;
const STOP_GRACE_MS = 3000;

export class LiveCapture {
  readonly tool: CaptureTool;
  readonly child: ChildProcess;
  /** The tool's pcap output. */
  readonly stream: Readable;
  /** Resolves when the tool says it captures; rejects if it exits first (with its message). */
  readonly ready: Promise<void>;
  /** Resolves with the exit code once the tool has exited. */
  readonly exited: Promise<number | null>;
  /** Everything the tool wrote to stderr. */
  stderr = '';

  constructor(options: LiveCaptureOptions) {
    this.tool = options.tool ?? pickTool();
    const buffer = String(options.bufferKiB ?? DEFAULT_BUFFER_KIB);
    const args =
      this.tool === 'tcpdump'
        ? ['-i', options.iface, '-U', '-n', '-s', '0', '-B', buffer, '--immediate-mode', '-w', '-']
        : [
            '-i',
            options.iface,
            '-w',
            '-',
            '-P', // pcap, not pcapng
            '-B',
            String(Math.ceil(Number(buffer) / 1024)),
          ];
    if (options.bpf) args.push(...(this.tool === 'tcpdump' ? [options.bpf] : ['-f', options.bpf]));
    this.child = spawn(this.tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.stream = this.child.stdout!;
    this.exited = new Promise((resolve) => {
      this.child.once('error', () => resolve(null));
      this.child.once('close', (code) => resolve(code));
    });
    this.ready = new Promise((resolve, reject) => {
      // tcpdump: 'listening on lo, ...'; dumpcap: 'Capturing on ...', then 'File: -' once it has
      // opened its output, which is when it captures.
      const started = this.tool === 'tcpdump' ? /listening on/ : /\nFile: /;
      this.child.stderr!.setEncoding('utf8');
      this.child.stderr!.on('data', (text: string) => {
        this.stderr += text;
        if (started.test(this.stderr)) resolve();
      });
      this.child.once('error', (err) =>
        reject(new Error(`cannot run ${this.tool}: ${err.message}`)),
      );
      void this.exited.then((code) =>
        reject(new Error(`${this.tool} exited (${code}): ${this.stderr.trim() || 'no message'}`)),
      );
    });
    this.ready.catch(() => undefined);
  }

  /** Packets the kernel dropped, as the tool reported on exit (undefined if it did not say). */
  get dropped(): number | undefined {
    const m =
      /(\d+) packets? dropped by kernel/.exec(this.stderr) ??
      /Packets received\/dropped on interface '[^']*': \d+\/(\d+)/.exec(this.stderr);
    return m ? Number(m[1]) : undefined;
  }

  /** Asks the tool to stop (it flushes its pipe and reports drops), killing it if it hangs. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** tcpdump when installed, else dumpcap. */
export function pickTool(): CaptureTool {
  for (const tool of ['tcpdump', 'dumpcap'] as const) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return tool;
  }
  return 'tcpdump';
}
