// `trapezoid analyze --live lo` and `tcpdump -w - | trapezoid analyze -` while `trapezoid serve`
// and two trapezoid phones make real calls on loopback: an answered call with a tone and DTMF
// 12, and a call to an unknown user. Both live analyses print one JSON line per finished call;
// --live also saves what it captured (--write). The lines must equal, call for call and stream
// for stream, what `trapezoid analyze SAVED --json` says of the saved file. Needs tcpdump and
// root (CI runs as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, needTool, inCI } from './support/peers.ts';
import { freePort, freePortRange } from './support/ports.ts';
import { Peer, scratchDir } from './ua-sipp-peer.ts';
import { InProcessPhone } from './support/in-process-phone.ts';
import { jsonLines, sleep, until, type Line } from './support/json-lines.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');

test('live capture on lo and a pcap pipe on stdin report each call as the saved file does', async (t) => {
  if (!needTool(t, 'tcpdump')) return;
  if (process.getuid?.() !== 0) {
    if (inCI) assert.fail('capturing on lo needs root (CI runs as root)');
    t.skip('capturing on lo needs root');
    return;
  }
  const dir = scratchDir();
  const [sip, http] = [await freePort(), await freePort()];
  const rtp = await freePortRange(20);
  const config = join(dir, 'live.yaml');
  writeFileSync(
    config,
    [
      'domain: live.test',
      'listen:',
      `  - { transport: udp, address: 127.0.0.1, port: ${sip} }`,
      `database: ${join(dir, 'live.db')}`,
      `http: { address: 127.0.0.1, port: ${http} }`,
      'users:',
      '  - { user: "3001", password: caller-pw-3001 }',
      '  - { user: "3002", password: callee-pw-3002 }',
      '',
    ].join('\n'),
  );
  const bpf = `udp and (port ${sip} or portrange ${rtp})`;
  const saved = join(dir, 'saved.pcap');

  // 1. The two live analyses, started before any SIP is sent.
  const live = new Peer(
    process.execPath,
    [bin, 'analyze', '--live', 'lo', '--bpf', bpf, '--write', saved],
    dir,
  );
  t.after(() => live.kill());
  const tcpdump = spawn('tcpdump', ['-i', 'lo', '-U', '-n', '-w', '-', bpf], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tcpdumpErr = '';
  tcpdump.stderr.on('data', (d: Buffer) => (tcpdumpErr += d.toString()));
  // The pipe's copy is rotated every 40 kB (--write-size), the newest 100 files kept.
  const rotated = join(dir, 'rotated.pcap');
  const pipedArgs = [
    'analyze',
    '-',
    '--write',
    rotated,
    '--write-size',
    '0.04',
    '--write-files',
    '100',
  ];
  const piped = spawn(process.execPath, [bin, ...pipedArgs], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  tcpdump.stdout.pipe(piped.stdin);
  let pipedOut = '';
  let pipedErr = '';
  piped.stdout.on('data', (d: Buffer) => (pipedOut += d.toString()));
  piped.stderr.on('data', (d: Buffer) => (pipedErr += d.toString()));
  const pipedExit = new Promise<number | null>((r) => piped.on('close', r));
  t.after(() => {
    tcpdump.kill('SIGKILL');
    piped.kill('SIGKILL');
  });
  await until(
    'the live capture',
    () => live.stdout.includes('"event":"listening"'),
    20_000,
    () => live.stdout + live.stderr,
  );
  await until(
    'tcpdump',
    () => tcpdumpErr.includes('listening on'),
    10_000,
    () => tcpdumpErr,
  );
  assert.match(live.stdout, /"tool":"(tcpdump|dumpcap)"/);

  // 2. The call server and the phones: an answered call with DTMF, then one to nobody.
  const serve = new Peer(process.execPath, [bin, 'serve', '--config', config, '--json'], dir);
  t.after(async () => {
    serve.child.kill('SIGTERM');
    await serve.finish(10_000);
  });
  await until(
    'serve',
    () => serve.stdout.includes('"event":"listening"'),
    20_000,
    () => serve.stderr,
  );
  const server = `127.0.0.1:${sip}`;
  const callee = new InProcessPhone({
    server,
    user: '3002',
    domain: 'live.test',
    password: 'callee-pw-3002',
    answer: true,
    listen: 'udp:127.0.0.1:0',
    rtpPorts: rtp,
    calls: 1,
  });
  t.after(() => callee.stop());
  await callee.waitFor('registered');
  const caller = new InProcessPhone({
    server,
    user: '3001',
    domain: 'live.test',
    password: 'caller-pw-3001',
    call: 'sip:3002@live.test',
    play: 'tone:440',
    dtmf: '12',
    dtmfDelayMs: 300,
    hangupAfter: 1.5,
    rtpPorts: rtp,
  });
  assert.equal(await caller.code, 0, caller.lines.join('\n'));
  await callee.waitFor('ended');
  const nobody = new InProcessPhone({
    server,
    user: '3001',
    domain: 'live.test',
    password: 'caller-pw-3001',
    call: 'sip:3999@live.test',
    rtpPorts: rtp,
    timeout: 10,
  });
  await nobody.code;

  // 3. Each analysis reports the answered call once it is over (2 s after its last message).
  const answered = (l: Line): boolean => l.event === 'call' && l.call.dtmf === '12';
  await until(
    'the call on --live',
    () => jsonLines(live.stdout).some(answered),
    15_000,
    () => live.stdout,
  );
  await until(
    'the call on stdin',
    () => jsonLines(pipedOut).some(answered),
    15_000,
    () => pipedOut + pipedErr,
  );
  await sleep(2500);
  live.child.kill('SIGINT');
  await live.finish(15_000);
  tcpdump.kill('SIGINT');
  assert.equal(await pipedExit, 0, pipedErr);

  const fromLive = jsonLines(live.stdout);
  const fromPipe = jsonLines(pipedOut);
  const end = fromLive.find((l) => l.event === 'end')!;
  assert.ok(end, live.stdout);
  assert.equal(end.written.frames, end.frames, 'every frame captured was saved');
  const pipeEnd = fromPipe.find((l) => l.event === 'end')!;
  assert.ok(pipeEnd, pipedOut);
  // Rotated: several files, each within 40 kB, holding every frame between them.
  const { files } = pipeEnd.written as { files: number };
  assert.ok(files > 1, `rotated into ${files} files`);
  let rotatedFrames = 0;
  for (let n = 0; n < files; n++) {
    const name = n === 0 ? rotated : `${rotated}.${n}`;
    assert.ok(statSync(name).size <= 40_000, `${name}: ${statSync(name).size} bytes`);
    const json = JSON.parse(
      execFileSync(process.execPath, [bin, 'analyze', name, '--json'], { encoding: 'utf8' }),
    ) as Line;
    rotatedFrames += json.frames as number;
  }
  assert.equal(rotatedFrames, pipeEnd.frames);

  // 4. The saved file, analysed as a file: the same calls with the same numbers.
  const file = JSON.parse(
    execFileSync(process.execPath, [bin, 'analyze', saved, '--json'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  ) as Line;
  assert.equal(file.frames, end.frames);
  // A Call-ID reported again (a phone's REGISTER refreshed on it): its last line is the call.
  const lastLines = (all: Line[]): Line[] => [
    ...new Map(all.filter((l) => l.event === 'call').map((l) => [l.call.callId, l])).values(),
  ];
  const liveCalls = lastLines(fromLive);
  assert.equal(liveCalls.length, file.calls.length, 'every call of the file reported');
  for (const l of liveCalls) {
    const same = file.calls.find((c: Line) => c.callId === l.call.callId);
    assert.deepEqual(l.call, same, `call ${l.call.callId}`);
    const streams = file.rtpStreams.filter((s: Line) => s.callId === l.call.callId);
    assert.deepEqual(l.rtpStreams, streams, `streams of ${l.call.callId}`);
  }
  // The pipe saw the same traffic through its own tcpdump (kernel times may differ by a µs):
  // the same calls, messages, states and stream counts.
  const callCore = (c: Line): Line => ({ ...c, start: 0, duration: 0 });
  const streamCore = (s: Line): Line[] => [
    s.ssrc,
    s.src,
    s.dst,
    s.codec,
    s.packets,
    s.lost,
    s.dtmf,
  ];
  const pipeCalls = lastLines(fromPipe);
  assert.equal(pipeCalls.length, liveCalls.length, 'the same calls on stdin');
  for (const l of pipeCalls) {
    const same = liveCalls.find((c) => c.call.callId === l.call.callId);
    assert.ok(same, `call ${l.call.callId} on stdin only`);
    assert.deepEqual(callCore(l.call), callCore(same.call));
    assert.deepEqual(l.rtpStreams.map(streamCore), same.rtpStreams.map(streamCore));
  }

  // 5. What the calls were.
  const call = liveCalls.find(answered)!;
  assert.equal(call.call.state, 'completed');
  assert.equal(call.call.finalStatus, 200);
  assert.equal(call.rtpStreams.length, 2, JSON.stringify(call.rtpStreams));
  for (const s of call.rtpStreams) {
    assert.ok(s.packets >= 50, `${s.src} -> ${s.dst}: ${s.packets} packets`);
    assert.equal(s.lost, 0);
  }
  const refused = liveCalls.find((l) => l.call.to.startsWith('3999@'));
  assert.ok(refused, JSON.stringify(liveCalls.map((l) => l.call.to)));
  assert.equal(refused.call.state, 'rejected');
  assert.equal(refused.call.finalStatus, 404);
});
