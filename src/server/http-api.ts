// The call server's HTTP API on 127.0.0.1 (JSON) and its Prometheus metrics.
//   GET /api/registrations   live bindings
//   GET /api/calls           active and recent calls, each with its messages (enough for a ladder)
//   GET /api/cdrs[?limit=N]  call detail records, newest first
//   GET /api/bans            sources banned now: address, reason, attacked user, until, drops
//   GET /api/media           media relay sessions in progress, per stream and direction
//   GET /metrics             Prometheus text format
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallServer } from './call-server.ts';
import type { Store } from '../store/store.ts';
import type { SecurityCounters } from './metrics.ts';

export class HttpApi {
  private server?: Server;

  constructor(
    private readonly callServer: CallServer,
    private readonly store: Store,
    private readonly extra: { bans?: () => unknown[]; security?: () => SecurityCounters } = {},
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
        case '/api/media':
          return json(this.callServer.media?.relay.allStats() ?? []);
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
              security: this.extra.security?.(),
              relay: this.relayCounters(),
            }),
          );
        default:
          return send(
            404,
            'text/plain',
            'not found: try /api/registrations, /api/calls, /api/cdrs, /api/media, /api/bans, /metrics\n',
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

  private relayCounters() {
    const relay = this.callServer.media?.relay;
    if (!relay) return undefined;
    const t = relay.totals();
    return {
      sessions: relay.sessionCount,
      packets: t.packets,
      rtcpPackets: t.rtcpPackets,
      dropped: t.dropped,
      invalid: t.invalid,
      portPairsFree: relay.portPairsFree,
      bindFailures: relay.bindFailures,
    };
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections?.();
  }
}
