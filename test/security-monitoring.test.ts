// Monitoring tools are not scanners (issue 11, item 6), against `trapezoid serve` run as a child
// with the default security settings:
//   - sipsak's OPTIONS ping, what Nagios/Icinga SIP checks run, gets its 200;
//   - a scanner's requests are still dropped, and the server says so in its log: the first drop
//     from an address, not one line per request.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { needTool } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { Peer } from './ua-sipp-peer.ts';
import { RawClient, metric, serve, sipRequest, type Served } from './security-peer.ts';

// The server's domain is one sipsak can resolve: sipsak 0.9.8.1 resolves the Request-URI's host
// even with an outbound proxy, and truncates a 5-digit port in the URI (sip:127.0.0.1:47060 goes
// out as sip:127.0.0.1:4706), so the ping names the domain and is sent to the port with -p.
const DOMAIN = 'localhost';
let server: Served;

before(async () => {
  // No `security` section: the defaults are what is tested.
  server = await serve(
    { domain: DOMAIN, users: [{ user: '1000', password: 'pw-1000-monitor' }] },
    { sip: await freePort(), http: await freePort() },
    'monitoring',
  );
});

after(async () => {
  await server?.stop();
});

test('sipsak OPTIONS ping (a Nagios SIP check) gets 200 from the default configuration', async (t) => {
  if (!needTool(t, 'sipsak')) return;
  // -s the URI pinged, -p where to send it, -H our address in Via and Contact, --nagios-code:
  // exit 0 on a 2xx (what check_sip-style Nagios checks report as OK).
  const ping = new Peer(
    'sipsak',
    [
      '-s',
      `sip:${DOMAIN}`,
      '-p',
      `127.0.0.1:${server.sip}`,
      '-H',
      '127.0.0.1',
      '--nagios-code',
      '-vvv', // prints the request too
    ],
    server.dir,
  );
  const done = await ping.finish(60_000);
  const out = done.stdout + done.stderr;
  assert.equal(done.code, 0, out);
  assert.match(out, /SIP\/2\.0 200/, out);
  assert.match(out, /User-Agent: sipsak/, 'the ping said what it is');
  const metrics = await server.get('/metrics');
  assert.equal(metric(metrics, 'trapezoid_security_dropped_total{reason="scanner"}'), 0);
});

test('a scan is logged once per source address, not once per request', async () => {
  const scanner = await RawClient.open('127.0.0.3');
  try {
    const before = server.peer.stderr;
    for (let i = 0; i < 60; i++) {
      const res = await scanner.request(
        sipRequest(scanner, {
          method: 'OPTIONS',
          uri: `sip:${100 + i}@${DOMAIN}`,
          from: `sip:${100 + i}@${DOMAIN}`,
          to: `sip:${100 + i}@${DOMAIN}`,
          userAgent: 'friendly-scanner',
        }),
        server.sip,
        50,
      );
      assert.equal(res, undefined, 'a scanner gets no answer');
    }
    const metrics = await server.get('/metrics');
    assert.equal(metric(metrics, 'trapezoid_security_dropped_total{reason="scanner"}'), 60);
    // The log is stderr; the drop was counted above, so its line has been written.
    const deadline = Date.now() + 10_000;
    while (!server.peer.stderr.slice(before.length).includes('scanner') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    // The log is JSON lines (stderr is not a TTY): the scanner events' messages.
    const lines = server.peer.stderr
      .slice(before.length)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event?: string; msg: string })
      .filter((l) => l.event === 'scanner')
      .map((l) => l.msg);
    assert.deepEqual(lines, [
      `security: dropped OPTIONS from scanner udp:127.0.0.3:${scanner.port} (User-Agent "friendly-scanner"); more from 127.0.0.3 are counted, reported at most once a minute`,
    ]);
  } finally {
    await scanner.close();
  }
});
