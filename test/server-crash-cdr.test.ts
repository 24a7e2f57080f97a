// No call record is lost to a crash (issue 11, item 2): SIPp uac -> `trapezoid serve` -> SIPp
// uas at 50 calls/s, the server killed with SIGKILL and restarted three times during the run.
// Every call SIPp logged as answered must have exactly one CDR; the rows of calls that were
// answered when the server died say `server-restart`, and the BYEs SIPp sends after a restart
// are still routed (the dialog's route lives in the database, not only in memory); the database
// passes PRAGMA integrity_check. Before the fix answered calls lived in memory until their BYE,
// and a kill -9 lost every one of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { Peer, scratchDir, sippErrors } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const RATE = 50;
const CALLS = 600;
const CALL_MS = 1500;

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('crash: kill -9 three times under 50 calls/s; every answered call has exactly one CDR', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester')) return;
  const dir = scratchDir();
  const [sip, http, uasPort, uacPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const database = join(dir, 'crash.db');
  const configFile = join(dir, 'trapezoid.yaml');
  writeFileSync(
    configFile,
    stringify({
      domain: 'crash.trapezoid',
      listen: [{ transport: 'udp', address: '127.0.0.1', port: sip }],
      database,
      http: { address: '127.0.0.1', port: http },
      trunks: [
        { name: 'uas', peers: [{ host: '127.0.0.1', port: uasPort }] },
        { name: 'uac', peers: [{ host: '127.0.0.1', port: uacPort }], transit: true },
      ],
      dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'uas' } }],
    }),
  );
  const startServer = async () => {
    const p = new Peer(process.execPath, [bin, 'serve', '--config', configFile, '--json'], dir);
    await until('serve to listen', 30_000, () => {
      if (p.child.exitCode !== null) throw new Error(`serve exited: ${p.stderr}`);
      return p.stdout.includes('"event":"listening"');
    });
    return p;
  };
  const fixtures = join(repoRoot, 'test', 'fixtures', 'sipp');
  const uas = new Peer(
    'sipp',
    ['-sf', join(fixtures, 'uas-record-route.xml'), '-i', '127.0.0.1', '-p', String(uasPort)],
    dir,
  );
  uas.child.stdout?.resume();
  let server = await startServer();
  const uac = new Peer(
    'sipp',
    [
      ...['-sf', join(fixtures, 'uac-log-answered.xml'), '-s', 'service', `127.0.0.1:${sip}`],
      ...['-i', '127.0.0.1', '-p', String(uacPort), '-r', String(RATE), '-m', String(CALLS)],
      ...[
        '-d',
        String(CALL_MS),
        '-trace_logs',
        '-timeout',
        '90',
        '-recv_timeout',
        '8000',
        '-nostdin',
      ],
    ],
    dir,
  );
  const kills: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 2500));
      server.kill(); // SIGKILL: no shutdown code runs
      await server.done;
      kills.push(Date.now());
      server = await startServer();
    }
    await uac.finish(150_000).catch(() => uac.kill());
    await new Promise((r) => setTimeout(r, 1500)); // the last BYEs' 200s
    server.signal('SIGTERM');
    await server.finish(10_000).catch(() => server.kill());
  } finally {
    uac.kill();
    uas.kill();
    server.kill();
  }

  const logs = readdirSync(dir).filter((f) => f.endsWith('_logs.log'));
  assert.equal(logs.length, 1, `SIPp's log: ${readdirSync(dir).join(' ')}\n${sippErrors(dir)}`);
  const lines = readFileSync(join(dir, logs[0]!), 'utf8').split('\n');
  const answered = new Set(
    lines.filter((l) => l.startsWith('answered ')).map((l) => l.slice(9).trim()),
  );
  const ended = new Set(lines.filter((l) => l.startsWith('ended ')).map((l) => l.slice(6).trim()));
  assert.ok(answered.size >= CALLS / 2, `SIPp saw ${answered.size} answered calls`);

  const db = new Database(database, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const rows = db.prepare('SELECT call_id, answer, end, cause FROM cdrs').all() as Array<{
      call_id: string;
      answer: number | null;
      end: number | null;
      cause: string;
    }>;
    const byCall = new Map<string, typeof rows>();
    for (const r of rows) byCall.set(r.call_id, [...(byCall.get(r.call_id) ?? []), r]);
    const missing = [...answered].filter((id) => !byCall.has(id));
    const doubled = [...answered].filter((id) => (byCall.get(id)?.length ?? 0) > 1);
    assert.deepEqual(missing, [], `answered calls with no CDR (${missing.length})`);
    assert.deepEqual(doubled, [], 'answered calls with more than one CDR');
    for (const id of answered) assert.notEqual(byCall.get(id)![0]!.answer, null, id);
    // The kills happened during calls: their rows say so, and BYEs after a restart got through.
    const restarted = rows.filter((r) => r.cause === 'server-restart');
    assert.ok(restarted.length > 0, 'some calls were answered when the server died');
    const endedAfter = restarted.filter((r) => r.end !== null && ended.has(r.call_id));
    assert.ok(
      endedAfter.length > 0,
      `BYEs of calls from before a restart were routed (${restarted.length} interrupted)`,
    );
    t.diagnostic(
      `${answered.size} answered, ${ended.size} ended at SIPp; ${rows.length} CDRs; ` +
        `${restarted.length} interrupted by ${kills.length} kills, ${endedAfter.length} of them ended after the restart`,
    );
  } finally {
    db.close();
  }
});
