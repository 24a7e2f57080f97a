// HEPv3 from Kamailio's siptrace module into `trapezoid analyze --hep`: Kamailio (registrar and
// stateful proxy) mirrors every SIP message it receives and sends as HEPv3 to the analyzer while
// two trapezoid phones register with it and make an answered call with a hang-up. The analyzer
// prints one JSON line per finished call and saves what it collected (--write, frames rebuilt
// from the HEP addresses); `trapezoid analyze SAVED --json` must say the same of each call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, needTool } from './support/peers.ts';
import { freePort, freePortRange } from './support/ports.ts';
import { Peer, scratchDir } from './ua-sipp-peer.ts';
import { InProcessPhone } from './support/in-process-phone.ts';
import { jsonLines, sleep, until, type Line } from './support/json-lines.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Registrar + stateful proxy (no auth), every SIP message mirrored as HEPv3 by siptrace. */
function kamailioConfig(sip: number, hep: number): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:${sip}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "siptrace.so"
modparam("usrloc", "db_mode", 0)
modparam("siptrace", "duplicate_uri", "sip:127.0.0.1:${hep}")
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", 3)
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_mode", 1)
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK") && t_check_trans()) { t_relay(); exit; }
    sl_send_reply("404", "Not here");
    exit;
  }
  t_check_trans();
  if (is_method("REGISTER")) { if (!save("location")) sl_reply_error(); exit; }
  if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
  if (is_method("INVITE")) record_route();
  if (!t_relay()) sl_reply_error();
  exit;
}
`;
}

test('HEP from Kamailio siptrace: one JSON line per call, the same numbers as the saved file', async (t) => {
  if (!needTool(t, 'kamailio')) return;
  const dir = scratchDir();
  const [sip, hep] = [await freePort(), await freePort()];
  const rtp = await freePortRange(10);
  const saved = join(dir, 'hep.pcap');
  const analyzer = new Peer(
    process.execPath,
    [bin, 'analyze', '--hep', `udp:127.0.0.1:${hep}`, '--write', saved],
    dir,
  );
  t.after(() => analyzer.kill());
  await until(
    'the HEP collector',
    () => analyzer.stdout.includes('"event":"listening"'),
    20_000,
    () => analyzer.stdout + analyzer.stderr,
  );
  assert.equal(jsonLines(analyzer.stdout)[0]!.port, hep);

  writeFileSync(join(dir, 'kamailio.cfg'), kamailioConfig(sip, hep));
  const kamailio = new Peer(
    'kamailio',
    ['-f', join(dir, 'kamailio.cfg'), '-E', '-DD', '-P', join(dir, 'k.pid'), '-w', dir, '-m', '64'],
    dir,
  );
  t.after(async () => {
    kamailio.signal('SIGTERM');
    await kamailio.finish(5_000).catch(() => undefined);
    kamailio.kill();
  });
  const start = Date.now();
  while (await udpPortFree(sip)) {
    if (kamailio.child.exitCode !== null || Date.now() - start > 10_000)
      throw new Error(`kamailio did not start:\n${kamailio.stderr}`);
    await sleep(100);
  }

  const server = `127.0.0.1:${sip}`;
  const callee = new InProcessPhone({
    server,
    user: '4002',
    domain: 'hep.test',
    password: 'unused',
    answer: true,
    listen: 'udp:127.0.0.1:0',
    rtpPorts: rtp,
    calls: 1,
  });
  t.after(() => callee.stop());
  await callee.waitFor('registered');
  const caller = new InProcessPhone({
    server,
    user: '4001',
    domain: 'hep.test',
    password: 'unused',
    call: 'sip:4002@hep.test',
    play: 'tone:440',
    hangupAfter: 1,
    rtpPorts: rtp,
  });
  assert.equal(await caller.code, 0, caller.lines.join('\n') + kamailio.stderr);
  await callee.waitFor('ended');

  const invite = (l: Line): boolean => l.event === 'call' && l.call.firstMethod === 'INVITE';
  await until(
    'the call line',
    () => jsonLines(analyzer.stdout).some(invite),
    15_000,
    () => analyzer.stdout,
  );
  analyzer.child.kill('SIGINT');
  await analyzer.finish(10_000);

  const out = jsonLines(analyzer.stdout);
  const end = out.find((l) => l.event === 'end')!;
  assert.ok(end, analyzer.stdout);
  assert.equal(end.hepInvalid, 0);
  assert.equal(end.written.frames, end.frames, 'every HEP message saved');
  const byId = new Map(out.filter((l) => l.event === 'call').map((l) => [l.call.callId, l]));
  const call = [...byId.values()].find(invite)!;
  // Kamailio mirrors both legs: phone -> proxy and proxy -> phone, so each message twice.
  assert.equal(call.call.state, 'completed');
  assert.equal(call.call.finalStatus, 200);
  assert.equal(call.call.hungUpBy, 'caller');
  assert.ok(call.call.hosts.includes(`127.0.0.1:${sip}`), JSON.stringify(call.call.hosts));
  assert.ok(
    call.call.messages >= 12,
    `INVITE, 100, 180, 200, ACK, BYE, 200 on two legs: ${call.call.messages}`,
  );

  const file = JSON.parse(
    execFileSync(process.execPath, [bin, 'analyze', saved, '--json'], { encoding: 'utf8' }),
  ) as Line;
  assert.equal(file.frames, end.frames);
  assert.equal(file.calls.length, byId.size);
  for (const l of byId.values()) {
    assert.deepEqual(
      l.call,
      file.calls.find((c: Line) => c.callId === l.call.callId),
      `call ${l.call.callId}`,
    );
  }
});
