// startServer: the config is checked before anything starts, a failed start closes what it had
// opened, and stop() frees the ports. (examples/start-server.ts, run by test/examples.test.ts,
// registers phones and routes a call through a server started this way.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { freePort } from '../../test/support/ports.ts';
import { ConfigError } from './config.ts';
import { silentLogger } from './server-log.ts';
import { startServer } from './start-server.ts';

const quiet = { logger: silentLogger() };

function listenTcp(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const closeTcp = (server: Server) => new Promise<void>((r) => server.close(() => r()));

test('an invalid config is a ConfigError naming each problem, before anything starts', async () => {
  const err = await startServer(
    { domain: 'example.test', listen: [{ transport: 'udp', address: '127.0.0.1', port: 70000 }] },
    quiet,
  ).catch((e: unknown) => e);
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.problems.join('\n'), /^listen\[0\]\.port: /m);

  // An unknown key is refused like in a file (the object is checked as the YAML would be).
  const typo = await startServer({ domian: 'example.test' } as never, quiet).catch((e) => e);
  assert.ok(typo instanceof ConfigError);
  assert.match(typo.problems.join('\n'), /domian/);
});

test('an unreadable tls.key is a ConfigError naming tls.key', async () => {
  const err = await startServer(
    {
      database: ':memory:',
      listen: [{ transport: 'tls', address: '127.0.0.1', port: 0 }],
      tls: { key: '/nonexistent/key.pem', cert: '/nonexistent/cert.pem' },
      http: { port: 0 },
    },
    quiet,
  ).catch((e: unknown) => e);
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.problems[0]!, /^tls\.key: cannot read: .*ENOENT/);
});

test('a start that fails part way closes what it opened; stop() frees the ports', async () => {
  const sipPort = await freePort();
  const busy = await listenTcp(0);
  const busyPort = (busy.address() as { port: number }).port;
  try {
    // SIP binds, then the HTTP API cannot: the SIP listener must be closed again.
    const err = await startServer(
      {
        database: ':memory:',
        listen: [{ transport: 'tcp', address: '127.0.0.1', port: sipPort }],
        http: { port: busyPort },
      },
      quiet,
    ).catch((e: unknown) => e);
    assert.match(String(err), /EADDRINUSE/);
    await closeTcp(await listenTcp(sipPort));
  } finally {
    await closeTcp(busy);
  }

  const running = await startServer(
    {
      database: ':memory:',
      listen: [{ transport: 'tcp', address: '127.0.0.1', port: sipPort }],
      http: { port: 0 },
    },
    quiet,
  );
  assert.deepEqual(
    running.sip.map((e) => `${e.protocol} ${e.address}:${e.port}`),
    [`tcp 127.0.0.1:${sipPort}`],
  );
  const metrics = await fetch(`${running.http.url}/metrics`);
  assert.equal(metrics.status, 200);
  await metrics.text();
  const first = running.stop();
  assert.equal(running.stop(), first, 'one stop, however often it is asked');
  await first;
  await closeTcp(await listenTcp(sipPort));
  await closeTcp(await listenTcp(running.http.port));
});
