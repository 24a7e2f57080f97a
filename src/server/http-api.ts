// The call server's HTTP API on 127.0.0.1 (JSON) and its Prometheus metrics.
//   GET /api/registrations   live bindings
//   GET /api/calls           active and recent calls, each with its messages (enough for a ladder)
//   GET /api/cdrs[?limit=N]  call detail records, newest first
//   GET /metrics             Prometheus text format
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallServer } from './call-server.ts';
import type { Store } from '../store/store.ts';

export class HttpApi {
  private server?: Server;

  constructor(
    private readonly callServer: CallServer,
    private readonly store: Store,
    private readonly extra: { bans?: () => unknown[] } = {},
  ) {}

  async listen(address: string, port: number): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const send = (status: number, type: string, body: string) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      const json = (value: unknown) =>
        send(200, 'application/json', JSON.stringify(value, null, 2));
      if (req.method !== 'GET') return send(405, 'text/plain', 'only GET\n');
      switch (url.pathname) {
        case '/api/registrations':
          return json(this.store.allBindings(Date.now()));
        case '/api/calls':
          return json(this.callServer.calls.list());
        case '/api/cdrs': {
          const limit = Math.min(
            10_000,
            Math.max(1, Number(url.searchParams.get('limit') ?? 100) || 100),
          );
          return json(this.store.listCdrs({ limit }));
        }
        case '/api/bans':
          return json(this.extra.bans?.() ?? []);
        case '/metrics':
          return send(
            200,
            'text/plain; version=0.0.4',
            this.callServer.metrics.render({
              activeCalls: this.callServer.activeCalls,
              bindings: this.store.allBindings(Date.now()).length,
              bans: this.extra.bans?.().length,
            }),
          );
        default:
          return send(
            404,
            'text/plain',
            'not found: try /api/registrations, /api/calls, /api/cdrs, /metrics\n',
          );
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections?.();
  }
}
