// Kamailio as the plain stateful proxy the benches compare trapezoid with (bench/kamailio/proxy.cfg:
// 2 workers, record-routes and relays to one next hop): its config file and command line, shared
// by bench:proxy and bench:cluster so both start it alike.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UDP_BUFFER_BYTES } from '../src/server/call-server.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Writes the proxy's config into `work` (listening on 127.0.0.1:`sipPort`, relaying to
 * `nextHop` host:port) and returns Kamailio's arguments to run it in the foreground.
 */
export function kamailioProxyArgs(work: string, sipPort: number, nextHop: string): string[] {
  const cfg = join(work, 'kamailio.cfg');
  writeFileSync(
    cfg,
    readFileSync(join(root, 'bench', 'kamailio', 'proxy.cfg'), 'utf8')
      .replaceAll('@SIP_PORT@', String(sipPort))
      .replaceAll('@NEXT_HOP@', nextHop),
  );
  return [
    '-f',
    cfg,
    '-E',
    '-DD',
    // Shared and private memory large enough for a load (its 64 MB default runs out and fails
    // every call).
    '-m',
    '2048',
    '-M',
    '32',
    // The UDP receive buffer trapezoid's listeners ask for (call-server.ts UDP_BUFFER_BYTES):
    // Kamailio probes only up to 256 KB by default, and a burst it cannot read at once is
    // dropped, where trapezoid's would have been absorbed.
    '-b',
    String(UDP_BUFFER_BYTES),
    '-P',
    join(work, 'k.pid'),
    '-w',
    work,
  ];
}
