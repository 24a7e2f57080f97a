// A real PostgreSQL for a test: its own cluster in a temp dir, on a loopback port from
// ports.ts, with fsync off (the test's data is thrown away) and stopped when the test ends.
//
// PostgreSQL refuses to run as root, so when the test runs as root (CI here) the cluster's
// directory is given to the `postgres` user and every server command runs through
// `runuser -u postgres --`. The binaries are Debian's (/usr/lib/postgresql/15/bin, package
// postgresql-15); TRAPEZOID_PG_BIN points elsewhere. Missing: the test is skipped with the reason
// on a developer's machine and fails under CI=true, as for every other real peer (peers.ts).
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { inCI } from './peers.ts';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface PostgresServer {
  /** postgres://trapezoid@127.0.0.1:PORT/postgres (the superuser, trust authentication). */
  readonly url: string;
  readonly port: number;
  /** The temp dir holding the cluster (pg/), its log (pg.log) and its socket. */
  readonly dir: string;
  /** A new empty database on this server; resolves with its URL. */
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m fast`: clients are disconnected at once (an outage). */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and data. */
  start(): Promise<void>;
  /** Stops the server (if running) and removes its directory. */
  close(): Promise<void>;
}

/** Where initdb and pg_ctl are: TRAPEZOID_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
function findBinDir(): string | undefined {
  const fromEnv = process.env.TRAPEZOID_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'pg_ctl')) ? fromEnv : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0]!, 'bin') : undefined;
}

const asRoot = process.getuid?.() === 0;

function postgresIds(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Why PostgreSQL cannot be started here, or undefined when it can. */
export function missingPostgres(): string | undefined {
  if (!findBinDir())
    return 'PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package postgresql-15 (apt-get install -y postgresql)';
  if (asRoot && !postgresIds())
    return 'running as root and there is no `postgres` user to run PostgreSQL as: install the Debian package postgresql';
  return undefined;
}

/** Skips the test with the reason (developer machine) or throws (CI=true). */
function skipOrFail(t: TestContext, reason: string): undefined {
  if (inCI) throw new Error(`CI=true and a required peer is missing: ${reason}`);
  t.skip(reason);
  return undefined;
}

/**
 * One server for all the tests of a file, started by the first test that asks for it; every
 * test is skipped (or fails under CI=true) with the reason when PostgreSQL is missing. Call
 * close() in `after`.
 */
export function sharedPostgres(): {
  get(t: TestContext): Promise<PostgresServer | undefined>;
  close(): Promise<void>;
} {
  let started: Promise<PostgresServer | undefined> | undefined;
  return {
    get(t) {
      const missing = missingPostgres();
      if (missing) return Promise.resolve(skipOrFail(t, missing));
      started ??= startPostgres(t);
      return started;
    },
    async close() {
      const server = await started?.catch(() => undefined);
      await server?.close();
    },
  };
}

/**
 * Starts a PostgreSQL cluster for the test, or skips the test (developer machine) / throws
 * (CI=true) when PostgreSQL is not installed. Stop it with close() (e.g. in `after`).
 */
export async function startPostgres(t: TestContext): Promise<PostgresServer | undefined> {
  const missing = missingPostgres();
  if (missing) return skipOrFail(t, missing);
  const bin = findBinDir()!;
  const ids = asRoot ? postgresIds() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-pg-'));
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, 'pg');
  const log = join(dir, 'pg.log');
  const port = await freePort();
  /** Runs a PostgreSQL program as the postgres user when we are root. */
  const pgRun = (program: string, args: string[]) => {
    const path = join(bin, program);
    return asRoot ? run('runuser', ['-u', 'postgres', '--', path, ...args]) : run(path, args);
  };
  const withLog = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (err) {
      const tail = existsSync(log)
        ? readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')
        : '';
      throw new Error(`PostgreSQL ${what} failed: ${(err as Error).message}\n${tail}`);
    }
  };

  await withLog('initdb', () =>
    pgRun('initdb', [
      '-D',
      data,
      '-A',
      'trust',
      '-U',
      'trapezoid',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]),
  );
  let running = false;
  const start = async () => {
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await withLog('start', () =>
      pgRun('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', options, 'start']),
    );
    running = true;
  };
  const stop = async () => {
    if (!running) return;
    await withLog('stop', () => pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']));
    running = false;
  };
  // A test that crashes must not leave a postmaster behind.
  const onExit = () => {
    if (!running) return;
    try {
      const path = join(bin, 'pg_ctl');
      const args = ['-D', data, '-m', 'immediate', 'stop'];
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', path, ...args]);
      else execFileSync(path, args);
    } catch {
      /* already gone */
    }
  };
  process.once('exit', onExit);
  await start();

  const url = `postgres://trapezoid@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dir,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name ${name}: use [a-z0-9_]`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://trapezoid@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    async close() {
      await stop();
      process.removeListener('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
