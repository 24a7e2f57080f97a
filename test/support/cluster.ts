// A trapezoid cluster for one test file (or a bench): one redis-server and one PostgreSQL
// (test/support/redis-server.ts, postgres-server.ts) and N `trapezoid serve` processes
// (bin/trapezoid.js) on 127.0.0.1, 127.0.0.2, 127.0.0.3, ... (all of 127/8 is loopback on Linux),
// each with its own cluster.node id, SIP port (UDP and TCP) and HTTP port, all with the same
// domain, users, store.records (postgres://) and store.live (redis://). A node is up once its
// `--json` start-up summary (`"event":"listening"`, stdout) is printed; its log (pino JSON lines,
// stderr) is kept for the test's messages and checks. A node can be killed with SIGKILL (no
// shutdown code runs) to test failover. Everything started here is stopped by stop(), which
// startCluster also registers with the test's `after`.
//
// `stores: 'sqlite'` starts one node with today's embedded default instead (a `database:` file,
// no store/cluster keys, no Redis or PostgreSQL): the bench's baseline.
//
// Also here: SIPp scenarios for a caller answering 407 and a caller that holds its call, and a
// baresip phone (registers through one node over UDP or TCP and answers by itself). The nonce and
// ban checks send raw requests with test/support/raw-phone.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { UDP_BUFFER_BYTES } from '../../src/server/call-server.ts';
import { baresipConfig } from './baresip.ts';
import { jsonLines, type Line } from './json-lines.ts';
import { needTool, repoRoot } from './peers.ts';
import { freePort, freePortBlock, freePortRange } from './ports.ts';
import { startPostgres, type PostgresServer } from './postgres-server.ts';
import { startRedis, type RedisServer } from './redis-server.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');

/** What startCluster needs of a test context: skip (a missing peer) and after (cleanup). A
 * bench passes its own (see bench/cluster.ts). */
/** Signals the process group a child leads (it was spawned detached), unless it has exited. */
function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    /* gone */
  }
}

export type Lifecycle = Pick<TestContext, 'skip' | 'after'>;

export interface ClusterOptions {
  /** Number of nodes (default 3), ids a, b, c, ... on 127.0.0.1, .2, .3, ... */
  nodes?: number;
  domain?: string;
  users?: Array<{ user: string; password: string }>;
  /** 'shared' (Redis + PostgreSQL, default) or 'sqlite' (the embedded default, one node). */
  stores?: 'shared' | 'sqlite';
  /** Merged over every node's config (trunks, dialplan, security, ...). */
  config?: Record<string, unknown>;
  heartbeatSeconds?: number;
  deadAfterSeconds?: number;
  /** --log-level of the nodes (default info: the tests read routing decisions). */
  logLevel?: string;
  /** SIP transports each node listens on (default udp and tcp, same port). */
  transports?: Array<'udp' | 'tcp'>;
  /** Where the nodes' files go (default a new temp dir, removed by stop()). */
  dir?: string;
  /** The script each node runs (default bin/trapezoid.js; a bench passes the compiled dist/). */
  entry?: string;
}

export interface ClusterNode {
  /** cluster.node: 'a', 'b', 'c', ... */
  readonly id: string;
  /** The loopback address its SIP listeners are bound to (127.0.0.N). */
  readonly address: string;
  readonly sip: number;
  readonly http: number;
  readonly dir: string;
  readonly configFile: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** False once the process exited (killed or crashed). */
  alive(): boolean;
  /** Its log so far (stderr) and the JSON lines of it. */
  stderr(): string;
  stdout(): string;
  logs(): Line[];
  /** GET on its HTTP API, parsed as JSON (throws on a non-2xx status). */
  get<T = unknown>(path: string): Promise<T>;
  /** SIGKILL: no shutdown code runs. Resolves once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export interface Cluster {
  readonly dir: string;
  readonly domain: string;
  readonly redis?: RedisServer;
  readonly postgres?: PostgresServer;
  /** store.records of every node (postgres://... or sqlite:...). */
  readonly recordsUrl: string;
  readonly nodes: ClusterNode[];
  node(id: string): ClusterNode;
  /** A query on the records database (PostgreSQL only). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Every CDR row of the records database (PostgreSQL only). */
  cdrs(): Promise<CdrRow[]>;
  /** Every node's log, labelled, for a failing assertion's message (the last `chars` of each). */
  logs(chars?: number): string;
  stop(): Promise<void>;
}

/** A row of the PostgreSQL `cdrs` table (src/store/README.md), times in ms since the epoch. */
export interface CdrRow {
  node: string;
  call_id: string;
  caller: string;
  callee: string;
  answer: number | null;
  end: number | null;
  final_status: number;
  cause: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ok()` resolves true, polling every `every` ms; fails after `ms` with `why()`. */
export async function waitUntil(
  what: string,
  ok: () => boolean | Promise<boolean>,
  ms: number,
  why: () => string = () => '',
  every = 100,
): Promise<void> {
  const start = Date.now();
  while (!(await ok())) {
    if (Date.now() - start > ms)
      throw new Error(`timeout (${ms} ms) waiting for ${what}\n${why()}`);
    await sleep(every);
  }
}

/** Node ids: a, b, c, ... */
const nodeId = (i: number) => String.fromCharCode('a'.charCodeAt(0) + i);

function startNode(
  id: string,
  address: string,
  ports: { sip: number; http: number },
  config: Record<string, unknown>,
  dir: string,
  logLevel: string,
  entry: string = bin,
): ClusterNode {
  const nodeDir = join(dir, `node-${id}`);
  mkdirSync(nodeDir, { recursive: true });
  const configFile = join(nodeDir, 'trapezoid.yaml');
  writeFileSync(configFile, stringify(config));
  // TRAPEZOID_NODE_ARGS: extra node flags for every node (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
  // to profile the nodes of a bench; NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.TRAPEZOID_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, entry, 'serve', '--config', configFile, '--json', '--log-level', logLevel],
    // Its own process group, so a kill reaches anything it started.
    { cwd: nodeDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => signalGroup(child, sig);
  return {
    id,
    address,
    sip: ports.sip,
    http: ports.http,
    dir: nodeDir,
    configFile,
    child,
    pid: child.pid!,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => err,
    stdout: () => out,
    logs: () => jsonLines(err),
    async get<T>(path: string): Promise<T> {
      const res = await fetch(`http://127.0.0.1:${ports.http}${path}`);
      const text = await res.text();
      if (!res.ok) throw new Error(`GET ${path} on node ${id}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    },
    async kill9() {
      signal('SIGKILL');
      await exited;
    },
    async stop() {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts Redis, PostgreSQL (a database `trapezoid`) and the nodes, and waits until every node
 * printed its start-up summary. Returns undefined when the test was skipped because a peer is
 * missing (never under CI=true: then it throws). stop() is registered with `t.after`.
 */
export async function startCluster(
  t: Lifecycle,
  opts: ClusterOptions = {},
): Promise<Cluster | undefined> {
  const count = opts.nodes ?? 3;
  const shared = (opts.stores ?? 'shared') === 'shared';
  if (!shared && count !== 1) throw new Error('stores: sqlite runs one node');
  const domain = opts.domain ?? 'cluster.test';
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'trapezoid-cluster-'));
  const transports = opts.transports ?? ['udp', 'tcp'];
  const nodes: ClusterNode[] = [];
  let redis: RedisServer | undefined;
  let postgres: PostgresServer | undefined;
  let pool: pg.Pool | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.stop()));
    await pool?.end().catch(() => undefined);
    await redis?.stop();
    await postgres?.close();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);

  let recordsUrl = `sqlite:${join(dir, 'records.db')}`;
  let live = 'local';
  if (shared) {
    // Both peers first: a missing one skips (or fails) before anything is started.
    if (!needTool(t as TestContext, 'redis-server')) return undefined;
    [redis, postgres] = await Promise.all([
      startRedis(t as TestContext),
      startPostgres(t as TestContext),
    ]);
    if (!redis || !postgres) return undefined;
    recordsUrl = await postgres.createDatabase('trapezoid');
    live = redis.url;
    pool = new pg.Pool({ connectionString: recordsUrl, max: 2 });
    // An idle connection dropped by the server (stopped at the end) is not an error of the run.
    pool.on('error', () => undefined);
  }

  const started: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const id = nodeId(i);
    const address = `127.0.0.${i + 1}`;
    const ports = { sip: await freePort({ address }), http: await freePort() };
    const config: Record<string, unknown> = {
      domain,
      listen: transports.map((transport) => ({ transport, address, port: ports.sip })),
      http: { address: '127.0.0.1', port: ports.http },
      users: opts.users ?? [],
      ...(shared
        ? {
            store: { records: recordsUrl, live, spool: join(dir, `node-${id}`, 'cdr-spool.jsonl') },
            cluster: {
              node: id,
              heartbeatSeconds: opts.heartbeatSeconds ?? 2,
              deadAfterSeconds: opts.deadAfterSeconds ?? 6,
            },
          }
        : { database: join(dir, 'node-a', 'trapezoid.db') }),
      ...opts.config,
    };
    const node = startNode(id, address, ports, config, dir, opts.logLevel ?? 'info', opts.entry);
    nodes.push(node);
    started.push(
      waitUntil(
        `node ${id} to print its start-up summary`,
        () => {
          if (!node.alive())
            throw new Error(`node ${id} exited during start:\n${node.stdout()}${node.stderr()}`);
          return node.stdout().includes('"event":"listening"');
        },
        60_000,
        () => node.stderr().slice(-3000),
        50,
      ),
    );
  }
  try {
    await Promise.all(started);
  } catch (err) {
    await stop();
    throw err;
  }

  const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    if (!pool) throw new Error('query: this cluster has no PostgreSQL');
    return (await pool.query(sql, params)).rows as T[];
  };
  return {
    dir,
    domain,
    redis,
    postgres,
    recordsUrl,
    nodes,
    node(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    },
    query,
    async cdrs() {
      const rows = await query<CdrRow & { answer: string | null; end: string | null }>(
        'SELECT node, call_id, caller, callee, answer, "end", final_status, cause FROM cdrs',
      );
      // bigint columns arrive as strings.
      return rows.map((r) => ({
        ...r,
        answer: r.answer === null ? null : Number(r.answer),
        end: r.end === null ? null : Number(r.end),
      }));
    },
    logs(chars = 3000) {
      return nodes
        .map((n) => `--- node ${n.id} (${n.alive() ? 'up' : 'down'}):\n${n.stderr().slice(-chars)}`)
        .join('\n');
    },
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// The front: Kamailio's dispatcher (bench/kamailio/dispatcher.cfg), hashing the Call-ID.

export interface Front {
  readonly address: string;
  readonly sip: number;
  /** Kamailio's main process (its workers are in its process group). */
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/** Whether some process has a UDP socket bound to address:port (/proc/net/udp). */
export function udpBound(address: string, port: number): boolean {
  const hex =
    address
      .split('.')
      .reverse()
      .map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'))
      .join('') +
    ':' +
    port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .some((l) => l.trim().split(/\s+/)[1] === hex);
}

/**
 * Starts Kamailio with bench/kamailio/dispatcher.cfg in front of `nodes` (UDP), on
 * address:port (port from freePort when not given). Undefined when kamailio is missing and the
 * test was skipped.
 */
export async function startFront(
  t: Lifecycle,
  nodes: Array<{ address: string; sip: number }>,
  opts: { address: string; port?: number; dir: string; pingSeconds?: number; children?: number },
): Promise<Front | undefined> {
  const kamailio = needTool(t as TestContext, 'kamailio');
  if (!kamailio) return undefined;
  const port = opts.port ?? (await freePort({ address: opts.address }));
  const d = mkdtempSync(join(opts.dir, 'front-'));
  const list = join(d, 'dispatcher.list');
  writeFileSync(list, nodes.map((n) => `1 sip:${n.address}:${n.sip}\n`).join(''));
  const cfg = join(d, 'dispatcher.cfg');
  writeFileSync(
    cfg,
    readFileSync(join(repoRoot, 'bench', 'kamailio', 'dispatcher.cfg'), 'utf8')
      .replaceAll('@ADDRESS@', opts.address)
      .replaceAll('@SIP_PORT@', String(port))
      .replaceAll('@LIST_FILE@', list)
      .replaceAll('@PING_SECONDS@', String(opts.pingSeconds ?? 2))
      .replaceAll('@CHILDREN@', String(opts.children ?? 1)),
  );
  const child = spawn(
    kamailio,
    // -m/-M: shared and private memory large enough for a load (the 64 MB default runs out).
    // -b: the UDP receive buffer the nodes ask for (call-server.ts UDP_BUFFER_BYTES); Kamailio
    // probes only up to 256 KB by default, and the front must not drop what the nodes would take.
    [
      '-f',
      cfg,
      '-E',
      '-DD',
      '-m',
      '1024',
      '-M',
      '16',
      '-b',
      String(UDP_BUFFER_BYTES),
      '-P',
      join(d, 'k.pid'),
      '-w',
      d,
    ],
    { cwd: d, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => signalGroup(child, sig);
  const stop = async () => {
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  t.after(stop);
  // Up once its UDP socket is bound (it logs nothing at debug=1).
  await waitUntil(
    'the Kamailio front to bind its port',
    () => {
      if (child.exitCode !== null) throw new Error(`kamailio exited:\n${out}`);
      return udpBound(opts.address, port);
    },
    20_000,
    () => out,
  );
  return { address: opts.address, sip: port, pid: child.pid!, output: () => out, stop };
}

// SIPp scenarios of the cluster tests: test/support/sipp-scenarios.ts (callerWithAuth,
// holdingCaller), re-exported here.
export { callerWithAuth, holdingCaller } from './sipp-scenarios.ts';

// ---------------------------------------------------------------------------------------------
// A baresip phone.

/** A WAV file of silence (8 kHz, 16-bit mono): baresip's audio source (it hangs up at its end). */
export function silenceWav(path: string, seconds: number): string {
  const samples = 8000 * seconds;
  const data = Buffer.alloc(samples * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([header, data]));
  return path;
}

export interface Phone {
  readonly child: ChildProcess;
  /** baresip's SIP port on 127.0.0.1 (UDP and TCP; TLS on the next one). */
  readonly port: number;
  output(): string;
  kill(): void;
}

/**
 * baresip registering USER@DOMAIN through `via` (its outbound proxy) over `transport`, answering
 * calls by itself. Resolves once its registration got 200 OK. Undefined when baresip is missing
 * and the test was skipped.
 */
export async function startPhone(
  t: Lifecycle,
  opts: {
    dir: string;
    user: string;
    password: string;
    domain: string;
    via: { address: string; sip: number };
    transport: 'udp' | 'tcp';
  },
): Promise<Phone | undefined> {
  const baresip = needTool(t as TestContext, 'baresip');
  if (!baresip) return undefined;
  const port = await freePortBlock(2, { align: 2 });
  const tp = opts.transport === 'tcp' ? ';transport=tcp' : '';
  const name = `phone-${opts.user}-${opts.transport}`;
  const d = baresipConfig({
    parent: opts.dir,
    name,
    sipPort: port,
    rtpPorts: await freePortRange(10),
    source: join(opts.dir, name, 'silence.wav'),
    account:
      `<sip:${opts.user}@${opts.domain}${tp}>;auth_pass=${opts.password};` +
      `outbound="sip:${opts.via.address}:${opts.via.sip}${tp}";answermode=auto;regint=600`,
  });
  silenceWav(join(d, 'silence.wav'), 60);
  const child = spawn(baresip, ['-f', d], {
    cwd: d,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const kill = () => signalGroup(child, 'SIGKILL');
  t.after(kill);
  await waitUntil(
    `baresip ${opts.user} (${opts.transport}) to register through ${opts.via.address}`,
    () => {
      if (child.exitCode !== null) throw new Error(`baresip exited:\n${out}`);
      return /200 OK/.test(out);
    },
    15_000,
    () => out,
  );
  return { child, port, output: () => out, kill };
}
