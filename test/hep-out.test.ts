// HEP out (issue 14, item 3): `trapezoid serve` with `hep: { collector, id }` sends every SIP
// message it receives or sends as HEPv3 to a real collector, sngrep (Debian) listening headless
// and writing what it collects to a pcap. Two trapezoid phones register and make a call; then:
//   - sngrep's pcap (read by tshark) holds both REGISTERs and every message of the call,
//   - the server's own capture of the call (/api/calls/{id}/pcap, read by tshark) is the same
//     messages, in the same order, between the same addresses and ports, at the same times,
//     as sngrep got for that call; what only HEP has is what the call log does not keep (the
//     server's 100 Trying and the digest challenge with the INVITE and ACK around it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from './support/peers.ts';
import { freePort, freePortRange } from './support/ports.ts';
import { InProcessPhone } from './support/in-process-phone.ts';
import { serve } from './security-peer.ts';

const DOMAIN = 'hep.test';
const CAPTURE_ID = 2001;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WireMessage {
  time: number;
  src: string;
  dst: string;
  callId: string;
  cseq: string;
  line: string;
}

/** The SIP messages of a capture file as tshark reads them. */
function sipMessages(tshark: string, file: string): WireMessage[] {
  const out = execFileSync(
    tshark,
    [
      '-r',
      file,
      '-Y',
      'sip',
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'frame.time_epoch',
      '-e',
      'ip.src',
      '-e',
      'udp.srcport',
      '-e',
      'ip.dst',
      '-e',
      'udp.dstport',
      '-e',
      'sip.Call-ID',
      '-e',
      'sip.CSeq',
      '-e',
      'sip.Request-Line',
      '-e',
      'sip.Status-Line',
    ],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return out
    .trim()
    .split('\n')
    .filter((l) => l)
    .map((l) => {
      const [time, sa, sp, da, dp, callId, cseq, req, status] = l.split('|');
      return {
        time: Number(time),
        src: `${sa}:${sp}`,
        dst: `${da}:${dp}`,
        callId: callId!,
        cseq: cseq!,
        line: req || status!,
      };
    });
}

test(
  'HEP out to sngrep: every message of the registrations and the call, the same as the server’s own capture of the call',
  { timeout: 90_000 },
  async (t) => {
    const sngrep = needTool(t, 'sngrep', 'sngrep');
    if (!sngrep) return;
    const tshark = needTool(t, 'tshark', 'tshark');
    if (!tshark) return;
    const dir = mkdtempSync(join(tmpdir(), 'trapezoid-hep-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));

    const hepPort = await freePort();
    const collected = join(dir, 'sngrep.pcap');
    const collector = spawn(
      sngrep,
      ['-N', '-q', '-L', `udp:127.0.0.1:${hepPort}`, '-O', collected],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let collectorOutput = '';
    collector.stdout.on('data', (d: Buffer) => (collectorOutput += d.toString()));
    collector.stderr.on('data', (d: Buffer) => (collectorOutput += d.toString()));
    const collectorExit = new Promise<void>((resolve) => collector.once('exit', () => resolve()));
    t.after(async () => {
      if (collector.exitCode === null) collector.kill('SIGKILL');
    });
    await sleep(500); // sngrep binds its HEP socket

    const [sip, http] = [await freePort(), await freePort()];
    const server = await serve(
      {
        domain: DOMAIN,
        hep: { collector: `udp:127.0.0.1:${hepPort}`, id: CAPTURE_ID },
        users: [
          { user: '3001', password: 'caller-pw-3001' },
          { user: '3002', password: 'callee-pw-3002' },
        ],
      },
      { sip, http },
      'hep',
    );
    t.after(() => server.stop());

    const rtp = await freePortRange(20);
    const callee = new InProcessPhone({
      server: `127.0.0.1:${sip}`,
      user: '3002',
      domain: DOMAIN,
      password: 'callee-pw-3002',
      answer: true,
      listen: 'udp:127.0.0.1:0',
      rtpPorts: rtp,
      calls: 1,
    });
    t.after(() => callee.stop());
    await callee.waitFor('registered', 15_000);
    const caller = new InProcessPhone({
      server: `127.0.0.1:${sip}`,
      user: '3001',
      domain: DOMAIN,
      password: 'caller-pw-3001',
      call: `sip:3002@${DOMAIN}`,
      hangupAfter: 1,
      rtpPorts: rtp,
    });
    t.after(() => caller.stop());
    const ended = await caller.waitFor('ended', 20_000);
    const callId = String(ended.callId);
    // The phones unregister while the server answers (their REGISTERs go out as HEP too).
    assert.equal(await caller.stop(), 0);
    assert.equal(await callee.stop(), 0);
    await sleep(300); // the last HEP datagrams reach sngrep

    const res = await fetch(
      `http://127.0.0.1:${http}/api/calls/${encodeURIComponent(callId)}/pcap`,
    );
    assert.equal(res.status, 200);
    const own = join(dir, 'own.pcapng');
    writeFileSync(own, Buffer.from(await res.arrayBuffer()));

    collector.kill('SIGTERM'); // sngrep writes its pcap as it exits
    await Promise.race([collectorExit, sleep(10_000)]);
    assert.ok(existsSync(collected), `sngrep wrote no pcap: ${collectorOutput}`);

    const hep = sipMessages(tshark, collected);
    const mine = sipMessages(tshark, own);
    // Every message: the REGISTERs of both phones (challenge and all) came out too.
    const registers = hep.filter((m) => m.cseq.endsWith('REGISTER'));
    assert.ok(
      registers.filter((m) => m.line.startsWith('REGISTER ')).length >= 2 &&
        registers.filter((m) => m.line.startsWith('SIP/2.0 200')).length >= 2,
      `both phones' REGISTERs and their 200s: ${registers.map((m) => m.line).join(', ')}`,
    );

    const ofCall = hep.filter((m) => m.callId === callId);
    assert.ok(
      mine.length >= 8,
      `the server's capture of the call: ${mine.map((m) => m.line).join(', ')}`,
    );
    assert.ok(mine.every((m) => m.callId === callId));
    // The server's capture is the HEP stream of the call less what the call log does not keep.
    let at = 0;
    for (const m of mine) {
      while (
        at < ofCall.length &&
        !(
          ofCall[at]!.line === m.line &&
          ofCall[at]!.src === m.src &&
          ofCall[at]!.dst === m.dst &&
          ofCall[at]!.cseq === m.cseq
        )
      )
        at++;
      assert.ok(at < ofCall.length, `${m.line} ${m.src} -> ${m.dst} (${m.cseq}) not sent as HEP`);
      assert.ok(
        Math.abs(ofCall[at]!.time - m.time) < 0.05,
        `${m.line}: HEP at ${ofCall[at]!.time}, own capture at ${m.time}`,
      );
      at++;
    }
    const key = (m: WireMessage) => `${m.line}|${m.src}|${m.dst}|${m.cseq}`;
    const kept = new Set(mine.map(key));
    const onlyHep = ofCall.filter((m) => !kept.has(key(m)));
    t.diagnostic(
      `HEP: ${hep.length} messages, ${ofCall.length} of the call; own capture: ${mine.length}; only in HEP: ${onlyHep.map((m) => m.line.split(' ').slice(0, 2).join(' ')).join(', ')}`,
    );
    for (const m of onlyHep) {
      assert.match(
        `${m.line} (${m.cseq})`,
        /^(SIP\/2\.0 100 |SIP\/2\.0 40[17] |INVITE .*\(1 INVITE\)|ACK .*\(1 ACK\))/,
        'only the provisional and the challenge round are missing from the call log',
      );
    }
  },
);
