// The embedded stores of an in-process call server in a test: SQLite in `path`, live state local.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/start-server.ts';
import { openStores, type Stores } from '../../src/store/open-stores.ts';
import { freePort } from './ports.ts';
import { startRedis } from './redis-server.ts';

export function sqliteStores(path: string, node = 'local'): Promise<Stores> {
  return openStores({ records: `sqlite:${path}`, live: 'local' }, { node });
}

/**
 * Two in-process cluster nodes for a test, a on 127.0.0.1 and b on 127.0.0.2: UDP and TCP on a
 * free port each, records in one SQLite file of a temp dir, live state in one real redis-server,
 * heartbeats every second; all stopped when `t` ends. Undefined when redis-server is missing
 * (the test is skipped, or fails under CI=true: see startRedis).
 */
export async function startTwoNodes(
  t: TestContext,
  opts: {
    domain: string;
    users: Array<{ user: string; password: string }>;
    deadAfterSeconds?: number;
  },
): Promise<{ a: ClusterNodeInTest; b: ClusterNodeInTest } | undefined> {
  const redis = await startRedis(t);
  if (!redis) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-nodes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const node = async (id: string, address: string): Promise<ClusterNodeInTest> => {
    const port = await freePort({ address });
    const server = await startServer({
      domain: opts.domain,
      listen: [
        { transport: 'udp', address, port },
        { transport: 'tcp', address, port },
      ],
      http: { port: 0 },
      store: { records: `sqlite:${join(dir, 'records.db')}`, live: redis.url },
      cluster: { node: id, heartbeatSeconds: 1, deadAfterSeconds: opts.deadAfterSeconds ?? 3 },
      users: opts.users,
      log: { level: 'silent' },
    });
    t.after(() => server.stop());
    return { server, port };
  };
  return { a: await node('a', '127.0.0.1'), b: await node('b', '127.0.0.2') };
}

export interface ClusterNodeInTest {
  server: RunningServer;
  port: number;
}
