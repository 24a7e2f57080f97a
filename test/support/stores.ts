// The embedded stores of an in-process call server in a test: SQLite in `path`, live state local.
import type { TestContext } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/start-server.ts';
import { openStores, type Stores } from '../../src/store/open-stores.ts';
import { freePort } from './ports.ts';

export function sqliteStores(path: string, node = 'local'): Promise<Stores> {
  return openStores({ records: `sqlite:${path}`, live: 'local' }, { node });
}

/**
 * An in-process cluster node for a test: UDP and TCP on one free port of `address`, records in
 * the SQLite file `records` (shared by the nodes of the test), live state in Redis at `live`,
 * heartbeats every second; stopped when `t` ends.
 */
export async function startClusterNode(
  t: TestContext,
  opts: {
    id: string;
    address: string;
    domain: string;
    users: Array<{ user: string; password: string }>;
    records: string;
    live: string;
    deadAfterSeconds?: number;
  },
): Promise<{ server: RunningServer; port: number }> {
  const { address } = opts;
  const port = await freePort({ address });
  const server = await startServer({
    domain: opts.domain,
    listen: [
      { transport: 'udp', address, port },
      { transport: 'tcp', address, port },
    ],
    http: { port: 0 },
    store: { records: `sqlite:${opts.records}`, live: opts.live },
    cluster: { node: opts.id, heartbeatSeconds: 1, deadAfterSeconds: opts.deadAfterSeconds ?? 3 },
    users: opts.users,
    log: { level: 'silent' },
  });
  t.after(() => server.stop());
  return { server, port };
}
