// Overload control against SIPp (src/server/overload.ts): while the server's event loop has no
// idle time, a new INVITE over UDP is dropped and SIPp's retransmission gets through once the
// loop has caught up; over TCP it is taken; once an episode has lasted rejectAfterMs, it is
// answered 503 with Retry-After over either. The loop is kept busy for real: this file runs the server in its
// own process and spins that process's loop.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { CallServer } from '../src/server/call-server.ts';
import { validateConfig } from '../src/server/config.ts';
import { sqliteStores } from './support/stores.ts';
import type { Stores } from '../src/store/open-stores.ts';
import { needTool } from './support/peers.ts';
import { Peer, freePort, scratchDir, sippErrors } from './ua-sipp-peer.ts';
import { ackOfFailure, invite } from './support/sipp-scenarios.ts';

const DOMAIN = 'overload.trapezoid';
const REJECT_AFTER_MS = 1500;
let server: CallServer;
let store: Stores;
let sipPort: number;
let uasPort: number;
let uacPort: number;
/** The server's log lines (JSON). */
const logged: Array<Record<string, unknown>> = [];

before(async () => {
  sipPort = await freePort();
  uasPort = await freePort();
  uacPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-overload-'));
  const config = validateConfig({
    domain: DOMAIN,
    listen: [
      { transport: 'udp', address: '127.0.0.1', port: sipPort },
      { transport: 'tcp', address: '127.0.0.1', port: sipPort },
    ],
    database: join(dir, 'server.db'),
    trunks: [
      { name: 'uas', peers: [{ host: '127.0.0.1', port: uasPort }] },
      // The caller that completes its call: a trunk that may go on to a trunk.
      { name: 'uac', peers: [{ host: '127.0.0.1', port: uacPort }], transit: true },
    ],
    dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'uas' } }],
    overload: { rejectAfterMs: REJECT_AFTER_MS },
  });
  store = await sqliteStores(config.database);
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => logged.push(JSON.parse(line)) },
  );
  server = new CallServer({ config, stores: store, logger });
  await server.start();
});

after(async () => {
  await server.stop();
  await store.close();
});

/**
 * Keeps this process's event loop busy: 120 ms of work, one turn of the loop (in which the
 * server reads what arrived), again, until stopped.
 */
function spin(): { stop(): Promise<void> } {
  let on = true;
  const done = (async () => {
    while (on) {
      const end = performance.now() + 120;
      while (performance.now() < end) {
        /* busy */
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await done;
    },
  };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** SIPp's count of retransmissions it sent, from the last line of its -trace_stat file. */
function retransmissions(dir: string): { sent: number; text: string } {
  const csv = readdirSync(dir).find((f) => f.endsWith('_.csv'));
  if (!csv) return { sent: 0, text: `no statistics file in ${dir}` };
  const text = readFileSync(join(dir, csv), 'utf8');
  const rows = text.trim().split('\n');
  const column = rows[0]!.split(';').indexOf('Retransmissions(C)');
  return { sent: Number(rows[rows.length - 1]!.split(';')[column]), text };
}

function sipp(args: string[], dir: string): Peer {
  return new Peer('sipp', [...args, '-nostdin', '-trace_err', '-timeout', '30s'], dir);
}

/**
 * A caller whose INVITE is answered `status` (a 503 with a Retry-After of 5), which it ACKs.
 * Over TCP the call goes out from a port of the system's choosing, so the server takes the caller
 * for one of its own users: a request it routes is challenged (407).
 */
function callerExpecting(status: 503 | 407): string {
  const uri = 'sip:service@[remote_ip]:[remote_port]';
  const from = `sipp <sip:sipp@${DOMAIN}>;tag=[pid]SIPpTag00[call_number]`;
  const contact = '<sip:sipp@[local_ip]:[local_port];transport=[transport]>';
  const check =
    status === 503
      ? `<action>
      <ereg regexp="^ *5$" search_in="hdr" header="Retry-After:" check_it="true" assign_to="ra"/>
    </action>`
      : '';
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answered ${status}">
${invite(uri, from, `service <${uri}>`, contact, 1)}
  <recv response="100" optional="true"/>
  <recv response="${status}">
    ${check}
  </recv>
${ackOfFailure(uri, from)}
  ${status === 503 ? '<Reference variables="ra"/>' : ''}
</scenario>
`;
}

/** SIPp with one call of callerExpecting(status), over TCP or UDP; fails the test unless it got it. */
async function expectAnswer(status: 503 | 407, transport: 't1' | 'u1'): Promise<void> {
  const dir = scratchDir();
  const scenario = join(dir, `answered-${status}.xml`);
  writeFileSync(scenario, callerExpecting(status));
  const uac = sipp(
    [
      `127.0.0.1:${sipPort}`,
      '-sf',
      scenario,
      '-t',
      transport,
      '-m',
      '1',
      '-p',
      String(await freePort()),
      '-i',
      '127.0.0.1',
    ],
    dir,
  );
  const done = await uac.finish(20_000);
  assert.equal(done.code, 0, `SIPp (${transport}) did not get ${status}:\n${sippErrors(dir)}`);
}

test('overloaded, a new INVITE over UDP is dropped; its retransmission completes the call', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const uasDir = scratchDir();
  const uas = sipp(['-sn', 'uas', '-p', String(uasPort), '-i', '127.0.0.1'], uasDir);
  const dir = scratchDir();
  let load: { stop(): Promise<void> } | undefined;
  try {
    await new Promise((r) => setTimeout(r, 300));
    const before = { ...server.overload.stats };
    load = spin();
    await until('an overload episode', () => server.overload.stats.shedding, 2000);
    const uac = sipp(
      [
        `127.0.0.1:${sipPort}`,
        '-sn',
        'uac',
        '-s',
        'service',
        '-m',
        '1',
        '-p',
        String(uacPort),
        '-i',
        '127.0.0.1',
        '-trace_stat',
        '-fd',
        '1',
      ],
      dir,
    );
    await until('the INVITE dropped', () => server.overload.stats.dropped > before.dropped, 5000);
    await load.stop();
    load = undefined;
    const done = await uac.finish(40_000);
    assert.equal(done.code, 0, `SIPp uac failed:\n${sippErrors(dir)}\n${sippErrors(uasDir)}`);
    assert.equal(server.overload.stats.rejected, before.rejected, 'nothing answered 503');
    assert.equal(server.overload.stats.shedding, false, 'the episode is over');
    // SIPp had to send the INVITE again, and the call it made was answered and recorded.
    const stat = retransmissions(dir);
    assert.ok(stat.sent >= 1, `SIPp retransmitted nothing:\n${stat.text}`);
    const cdrs = await store.cdrs.listCdrs({ limit: 10 });
    assert.equal(cdrs[0]?.finalStatus, 200);
    assert.equal(cdrs[0]?.hungUpBy, 'caller');
    // The episode's start and end are logged, the end with what was refused in it.
    const start = logged.find((l) => l.event === 'overload.start');
    const end = logged.find((l) => l.event === 'overload.end');
    assert.equal(start?.level, 40);
    assert.ok(Number(start?.utilization) >= 0.97, JSON.stringify(start));
    assert.ok(Number(end?.dropped) >= 1 && end?.rejected === 0, JSON.stringify(end));
    assert.ok(Number(end?.durationMs) > 0);
  } finally {
    await load?.stop();
    uas.kill();
  }
});

test('a short episode takes a new INVITE over TCP (nothing would retransmit it)', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const before = { ...server.overload.stats };
  const load = spin();
  try {
    await until('an overload episode', () => server.overload.stats.shedding, 2000);
    await expectAnswer(407, 't1');
    assert.equal(server.overload.stats.episodes, before.episodes + 1, 'within one episode');
    assert.deepEqual(
      [server.overload.stats.dropped, server.overload.stats.rejected],
      [before.dropped, before.rejected],
    );
  } finally {
    await load.stop();
  }
});

test('an episode longer than rejectAfterMs answers 503 with Retry-After over TCP and UDP', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  await new Promise((r) => setTimeout(r, 300)); // the last test's episode ends
  const before = { ...server.overload.stats };
  const load = spin();
  try {
    await until('an overload episode', () => server.overload.stats.shedding, 2000);
    const episodes = server.overload.stats.episodes;
    await new Promise((r) => setTimeout(r, REJECT_AFTER_MS + 200));
    await expectAnswer(503, 't1');
    await expectAnswer(503, 'u1');
    assert.equal(server.overload.stats.episodes, episodes, 'one episode all along');
    assert.equal(server.overload.stats.rejected, before.rejected + 2);
    assert.equal(server.overload.stats.dropped, before.dropped);
  } finally {
    await load.stop();
  }
  const text = server.metrics.render({
    activeCalls: 0,
    bindings: 0,
    overload: server.overload.stats,
  });
  // The two 503s and at least the first test's drop.
  const { dropped, rejected, episodes } = server.overload.stats;
  assert.ok(dropped >= 1 && rejected === 2 && episodes >= 2);
  assert.match(text, new RegExp(`trapezoid_overload_refused_total\\{how="503"\\} ${rejected}\n`));
  assert.match(
    text,
    new RegExp(`trapezoid_overload_refused_total\\{how="dropped"\\} ${dropped}\n`),
  );
  assert.match(text, new RegExp(`trapezoid_overload_episodes_total ${episodes}\n`));
});
