// Interop with SIPp: SIPp's UAC sends OPTIONS and INVITE/ACK/BYE calls to a tiny UAS built right
// on TransactionLayer, over UDP (with -lost 10, so both sides retransmit) and TCP. The calls
// must all succeed: SIPp's exit code and its -trace_stat CSV say so.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createResponse, newTag, SipRequest } from '../src/sip/index.ts';
import type { SipResponse } from '../src/sip/index.ts';
import { TransportLayer } from '../src/transport/index.ts';
import type { Endpoint } from '../src/transport/index.ts';
import { TransactionLayer } from '../src/transaction/index.ts';
import type { ServerTransaction } from '../src/transaction/index.ts';
import { needTool } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { uacByeByTransaction } from './support/sipp-scenarios.ts';

const CALLS = 60;
const RATE = 60;

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
const workDir = mkdtempSync(join(tmpdir(), 'trapezoid-sipp-'));
after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  for (const c of cleanups.reverse()) await c();
  rmSync(workDir, { recursive: true, force: true });
});

const OPTIONS_SCENARIO = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]opt[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
`;

/**
 * The UAS: 200 to OPTIONS and BYE, 180 then 200 to INVITE. Over UDP it retransmits its 2xx to
 * an INVITE until the ACK comes (the UA core's job, RFC 3261 §13.3.1.4); the transaction layer
 * does the rest (absorbing retransmitted requests, resending responses).
 */
async function startUas(protocol: 'udp' | 'tcp'): Promise<{
  layer: TransactionLayer;
  end: Endpoint;
  calls: { invites: number; acks: number; byes: number; options: number };
}> {
  const transport = new TransportLayer();
  const layer = new TransactionLayer(transport, { T1: 100 });
  cleanups.push(async () => {
    layer.close();
    await transport.close();
  });
  const end = await transport.listen({ protocol, address: '127.0.0.1', port: 0 });
  const calls = { invites: 0, acks: 0, byes: 0, options: 0 };
  const unacked = new Map<string, NodeJS.Timeout>();
  cleanups.push(() => unacked.forEach((t) => clearTimeout(t)));

  const retransmit2xx = (tx: ServerTransaction, ok: SipResponse, interval: number): void => {
    const timer = setTimeout(() => {
      if (!unacked.has(ok.callId) || interval > 3200) {
        unacked.delete(ok.callId);
        return;
      }
      tx.respond(ok);
      retransmit2xx(tx, ok, Math.min(interval * 2, 4000));
    }, interval);
    unacked.set(ok.callId, timer);
  };

  layer.onRequest((req: SipRequest, tx) => {
    if (req.method === 'ACK') {
      calls.acks++;
      const timer = unacked.get(req.callId);
      if (timer) clearTimeout(timer);
      unacked.delete(req.callId);
      return;
    }
    if (!tx) return;
    const tag = newTag();
    if (req.method === 'INVITE') {
      calls.invites++;
      tx.respond(createResponse(req, 180, undefined, { toTag: tag }));
      const ok = createResponse(req, 200, undefined, { toTag: tag });
      ok.set('Contact', `<sip:uas@127.0.0.1:${end.port};transport=${protocol}>`);
      tx.respond(ok);
      if (protocol === 'udp') retransmit2xx(tx, ok, 100);
      return;
    }
    if (req.method === 'BYE') calls.byes++;
    if (req.method === 'OPTIONS') calls.options++;
    tx.respond(createResponse(req, 200, undefined, { toTag: tag }));
  });
  return { layer, end, calls };
}

interface SippRun {
  code: number | null;
  successful: number;
  failed: number;
  output: string;
}

function runSipp(sipp: string, args: string[], name: string): Promise<SippRun> {
  const statFile = join(workDir, `${name}.csv`);
  return new Promise((resolve) => {
    const child = spawn(
      sipp,
      [
        ...args,
        '-nostdin',
        '-trace_stat',
        '-stf',
        statFile,
        '-fd',
        '1',
        '-timeout',
        '60s',
        '-timeout_error',
        '-recv_timeout',
        '15000',
        '-trace_err',
        '-error_file',
        join(workDir, `${name}-errors.log`),
      ],
      { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.on('exit', (code) => {
      const stats = readStats(statFile);
      resolve({ code, ...stats, output });
    });
  });
}

/** SuccessfulCall(C) and FailedCall(C) from the last row of SIPp's statistics CSV. */
function readStats(file: string): { successful: number; failed: number } {
  let text = '';
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return { successful: -1, failed: -1 };
  }
  const rows = text.trim().split('\n');
  const header = (rows[0] ?? '').split(';');
  const last = (rows[rows.length - 1] ?? '').split(';');
  const column = (name: string): number => Number(last[header.indexOf(name)] ?? -1);
  return { successful: column('SuccessfulCall(C)'), failed: column('FailedCall(C)') };
}

function sippArgs(target: Endpoint, localPort: number, transport: 'un' | 't1'): string[] {
  return [
    `127.0.0.1:${target.port}`,
    '-i',
    '127.0.0.1',
    '-p',
    String(localPort),
    '-t',
    transport,
    '-m',
    String(CALLS),
    '-r',
    String(RATE),
    '-l',
    '30',
    '-d',
    '10',
    '-s',
    'uas',
    '-max_socket',
    '100',
  ];
}

for (const protocol of ['udp', 'tcp'] as const) {
  const lossy = protocol === 'udp';
  const transport = protocol === 'udp' ? 'un' : 't1';

  test(`SIPp OPTIONS over ${protocol.toUpperCase()}${lossy ? ' with -lost 10' : ''}`, async (t) => {
    const sipp = needTool(t, 'sipp', 'sip-tester');
    if (!sipp) return;
    const uas = await startUas(protocol);
    const scenario = join(workDir, 'options.xml');
    writeFileSync(scenario, OPTIONS_SCENARIO);
    const args = [...sippArgs(uas.end, await freePort(), transport), '-sf', scenario];
    if (lossy) args.push('-lost', '10');
    const run = await runSipp(sipp, args, `options-${protocol}`);
    assert.equal(run.code, 0, `sipp exit ${run.code}: ${run.output}`);
    assert.equal(run.successful, CALLS);
    assert.equal(run.failed, 0);
    assert.ok(uas.calls.options >= CALLS * 0.8, `OPTIONS seen by the TU: ${uas.calls.options}`);
    if (lossy) {
      const s = uas.layer.stats;
      assert.ok(s.absorbed + s.retransmissions > 0, 'loss made somebody retransmit');
    }
  });

  test(`SIPp INVITE/ACK/BYE calls over ${protocol.toUpperCase()}${lossy ? ' with -lost 10' : ''}`, async (t) => {
    const sipp = needTool(t, 'sipp', 'sip-tester');
    if (!sipp) return;
    const uas = await startUas(protocol);
    // The built-in uac with its BYE's 200 matched by transaction (sipp-scenarios.ts: as built
    // in, a lost ACK and BYE let a resent INVITE 200 pass for the BYE's and count as success).
    const args = [
      ...sippArgs(uas.end, await freePort(), transport),
      ...uacByeByTransaction(sipp, workDir),
    ];
    if (lossy) args.push('-lost', '10');
    const run = await runSipp(sipp, args, `uac-${protocol}`);
    assert.equal(run.code, 0, `sipp exit ${run.code}: ${run.output}`);
    assert.equal(run.successful, CALLS);
    assert.equal(run.failed, 0);
    assert.ok(uas.calls.byes >= CALLS * 0.8, `BYEs seen by the TU: ${uas.calls.byes}`);
    assert.ok(uas.calls.acks >= CALLS * 0.8, `ACKs seen by the TU: ${uas.calls.acks}`);
  });
}

test('the SIPp work dir holds no core dumps', () => {
  assert.ok(!readdirSync(workDir).some((f) => f.startsWith('core')));
});
