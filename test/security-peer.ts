// Helpers for the security tests (test/security-*.test.ts): `trapezoid serve` run as a child with
// a YAML config on ports from test/support/ports.ts, a raw SIP client over UDP bound to a chosen loopback address
// (127.0.0.2 for a phone, 127.0.0.3 for an attacker: all of 127/8 is loopback on Linux), and
// the server's HTTP API.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseMessage, SipResponse } from '../src/sip/index.ts';
import { repoRoot } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { Peer } from './ua-sipp-peer.ts';

/**
 * A port free for UDP and TCP on 127.0.0.1, from the one allocator (test/support/ports.ts).
 * The range is no longer used: ports come from the OS, not from guesses in a slice per file.
 * Kept with its old signature for the files that still call it; new code calls freePort.
 */
export function portIn(_low?: number, _high?: number): Promise<number> {
  return freePort();
}

export const scratch = (prefix: string): string =>
  mkdtempSync(join(tmpdir(), `trapezoid-sec-${prefix}-`));

export interface Served {
  peer: Peer;
  sip: number;
  http: number;
  dir: string;
  /** GET on the HTTP API: the body as text. */
  get(path: string): Promise<string>;
  /** SIGTERM, then the exit (killed after 10 s); the scratch directory is removed. */
  stop(): Promise<void>;
}

/**
 * Starts `trapezoid serve --config` with `config` (merged over a UDP listener on 127.0.0.1:sip,
 * a database in a scratch directory and the HTTP API on 127.0.0.1:http) and waits for it.
 */
export async function serve(
  config: Record<string, unknown>,
  ports: { sip: number; http: number },
  name = 'serve',
): Promise<Served> {
  const dir = scratch(name);
  const full = {
    listen: [{ transport: 'udp', address: '127.0.0.1', port: ports.sip }],
    database: join(dir, 'server.db'),
    http: { address: '127.0.0.1', port: ports.http },
    ...config,
  };
  const file = join(dir, 'trapezoid.yaml');
  writeFileSync(file, stringify(full));
  const peer = new Peer(
    process.execPath,
    [join(repoRoot, 'bin', 'trapezoid.js'), 'serve', '--config', file, '--json'],
    dir,
  );
  const started = Date.now();
  while (!peer.stdout.includes('"event":"listening"')) {
    if (peer.child.exitCode !== null) throw new Error(`serve exited: ${peer.stdout}${peer.stderr}`);
    if (Date.now() - started > 20_000) {
      peer.kill();
      throw new Error(`serve did not start: ${peer.stdout}${peer.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    peer,
    sip: ports.sip,
    http: ports.http,
    dir,
    get: async (path) => {
      const res = await fetch(`http://127.0.0.1:${ports.http}${path}`);
      return res.text();
    },
    stop: async () => {
      peer.child.kill('SIGTERM');
      try {
        await peer.finish(10_000);
      } catch {
        peer.kill();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The value of a Prometheus sample line (`name{labels} value`), or undefined. */
export function metric(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** A UDP SIP client bound to one address: sends a request and waits for its final response. */
export class RawClient {
  private readonly socket: Socket;
  private waiting = new Map<string, (res: SipResponse) => void>();
  port = 0;

  private constructor(readonly address: string) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (buf) => {
      let msg;
      try {
        msg = parseMessage(buf);
      } catch {
        return;
      }
      if (!(msg instanceof SipResponse) || msg.status < 200) return;
      const branch = msg.via[0]?.branch ?? '';
      const done = this.waiting.get(branch);
      if (done) {
        this.waiting.delete(branch);
        done(msg);
      }
    });
  }

  static async open(address: string): Promise<RawClient> {
    const c = new RawClient(address);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('error', reject);
      c.socket.bind(0, address, () => resolve());
    });
    c.port = c.socket.address().port;
    return c;
  }

  /**
   * Sends `text` (lines joined with CRLF; its top Via branch identifies the answer) to
   * 127.0.0.1:port; resolves with the final response and the time it took (ms), or undefined
   * after `ms` without one.
   */
  request(
    text: string,
    port: number,
    ms = 2000,
  ): Promise<{ res: SipResponse; elapsed: number } | undefined> {
    const branch = /;branch=([^;\s]+)/.exec(text)?.[1] ?? '';
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const timer = setTimeout(() => {
        this.waiting.delete(branch);
        resolve(undefined);
      }, ms);
      this.waiting.set(branch, (res) => {
        clearTimeout(timer);
        resolve({ res, elapsed: Number(process.hrtime.bigint() - started) / 1e6 });
      });
      this.socket.send(text.replace(/\r?\n/g, '\r\n'), port, '127.0.0.1');
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

let counter = 0;

/** A request from `client` (Via, Contact on its address and port) with fresh branch and Call-ID. */
export function sipRequest(
  client: RawClient,
  opts: {
    method: string;
    uri: string;
    from: string;
    to: string;
    cseq?: number;
    callId?: string;
    extra?: string[];
    userAgent?: string;
  },
): string {
  const n = ++counter;
  const host = `${client.address}:${client.port}`;
  return [
    `${opts.method} ${opts.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${host};branch=z9hG4bK-sec-${process.pid}-${n}-${Date.now()}`,
    'Max-Forwards: 70',
    `From: <${opts.from}>;tag=t${n}`,
    `To: <${opts.to}>`,
    `Call-ID: ${opts.callId ?? `sec-${process.pid}-${n}@${client.address}`}`,
    `CSeq: ${opts.cseq ?? 1} ${opts.method}`,
    `Contact: <sip:probe@${host}>`,
    `User-Agent: ${opts.userAgent ?? 'trapezoid-security-test'}`,
    ...(opts.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}
