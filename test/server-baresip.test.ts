// Two baresip softphones (Debian package baresip, headless, aufile as the audio source) register
// with digest auth at `trapezoid serve` and call each other through it. baresip's own log and the
// server's HTTP API (registrations, CDRs) tell what happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort, freePortBlock, freePortRange } from './support/ports.ts';
import { Peer, scratchDir } from './ua-sipp-peer.ts';
import { baresipConfig } from './support/baresip.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const DOMAIN = 'baresip.test';

async function waitFor(check: () => Promise<boolean> | boolean, ms: number, what: string) {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('two baresip phones register with digest auth and call each other through trapezoid', async (t) => {
  if (!needTool(t, 'baresip', 'baresip')) return;
  if (!needTool(t, 'sox', 'sox')) return;
  const dir = scratchDir();
  const sip = await freePort();
  const http = await freePort();
  // baresip binds its SIP port and the next one (TLS): two free ports for each.
  const aPort = await freePortBlock(2, { align: 2 });
  const bPort = await freePortBlock(2, { align: 2 });
  const config = join(dir, 'server.yaml');
  writeFileSync(
    config,
    [
      `domain: ${DOMAIN}`,
      'listen:',
      `  - { transport: udp, address: 127.0.0.1, port: ${sip} }`,
      `database: ${join(dir, 'server.db')}`,
      `http: { address: 127.0.0.1, port: ${http} }`,
      'users:',
      '  - { user: "2001", password: alpha-pass-2001 }',
      '  - { user: "2002", password: bravo-pass-2002 }',
      '',
    ].join('\n'),
  );
  // baresip hangs up when its aufile source ends: the callee's tone (2 s) ends well before the
  // caller's (8 s), so the callee hangs up, by a BYE that has to cross the server.
  const tone = (name: string, seconds: number): string => {
    const file = join(dir, name);
    const sox = spawnSync('sox', [
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-b',
      '16',
      file,
      'synth',
      String(seconds),
      'sine',
      '440',
    ]);
    assert.equal(sox.status, 0, String(sox.stderr));
    return file;
  };
  const calleeTone = tone('callee.wav', 2);
  const callerTone = tone('caller.wav', 8);
  const serve = new Peer(process.execPath, [bin, 'serve', '--config', config, '--json'], dir);
  const phones: Peer[] = [];
  t.after(async () => {
    for (const p of phones) p.kill();
    serve.child.kill('SIGTERM');
    await serve.finish(10_000);
  });
  await waitFor(() => /"event":"listening"/.test(serve.stdout), 20_000, 'serve');

  const api = async <T>(path: string): Promise<T> =>
    (await (await fetch(`http://127.0.0.1:${http}${path}`)).json()) as T;
  const outbound = `outbound="sip:127.0.0.1:${sip}"`;
  const callee = baresipConfig({
    parent: dir,
    name: 'callee',
    sipPort: bPort,
    rtpPorts: await freePortRange(20),
    source: calleeTone,
    account: `<sip:2002@${DOMAIN}>;auth_pass=bravo-pass-2002;${outbound};answermode=auto;regint=120`,
  });
  const caller = baresipConfig({
    parent: dir,
    name: 'caller',
    sipPort: aPort,
    rtpPorts: await freePortRange(20),
    source: callerTone,
    account: `<sip:2001@${DOMAIN}>;auth_pass=alpha-pass-2001;${outbound};regint=120`,
  });
  phones.push(new Peer('baresip', ['-f', callee, '-t', '20'], dir));
  await waitFor(
    async () => (await api<Array<{ aor: string }>>('/api/registrations')).length === 1,
    10_000,
    `callee registration\n${phones[0]!.stdout}`,
  );
  phones.push(
    new Peer('baresip', ['-f', caller, '-t', '20', '-e', `/dial sip:2002@${DOMAIN}`], dir),
  );
  interface Cdr {
    caller: string;
    callee: string;
    finalStatus: number;
    answer?: number;
    end?: number;
    duration: number;
    hungUpBy?: string;
    cause: string;
  }
  let cdrs: Cdr[] = [];
  await waitFor(
    // The row is written at the answer; wait for its end (the BYE).
    async () => (cdrs = await api<Cdr[]>('/api/cdrs')).some((c) => c.end !== undefined),
    15_000,
    `the call's CDR\ncaller:\n${phones[1]?.stdout}\ncallee:\n${phones[0]?.stdout}`,
  );
  const regs = await api<Array<{ aor: string; contact: string }>>('/api/registrations');
  assert.deepEqual(regs.map((r) => r.aor).sort(), [`sip:2001@${DOMAIN}`, `sip:2002@${DOMAIN}`]);
  const [cdr] = cdrs;
  assert.equal(cdr!.finalStatus, 200, JSON.stringify(cdr));
  assert.equal(cdr!.caller, `2001@${DOMAIN}`);
  assert.equal(cdr!.callee, `2002@${DOMAIN}`);
  assert.equal(cdr!.cause, 'answered');
  // The callee's 2 s tone ended first and it hung up: the BYE crossed the server.
  assert.equal(cdr!.hungUpBy, 'callee');
  assert.ok(cdr!.duration > 1 && cdr!.duration < 10, `duration ${cdr!.duration}`);
  assert.match(phones[1]!.stdout, /Call established/);
  assert.match(phones[0]!.stdout, /Call established/);
  const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
  assert.match(metrics, /^trapezoid_registrations 2$/m);
});
