// The terminal view of `trapezoid analyze`, driven in tmux as a user would: keys with
// `send-keys`, the screen read with `capture-pane`.
//  1. A capture streamed on stdin (`analyze - --tui --write SAVED < FILE`, keys from the
//     terminal): the call list's counts equal `trapezoid analyze SAVED --json`; OPTIONS hidden
//     and shown with 'o'; a filter typed after '/' leaves one call; Enter opens its ladder, the
//     message text and its RTP streams with the packet counts of the JSON; p/h/t save the call.
//  2. HEP collected live (`analyze --hep ... --tui`): a call appears in progress as its INVITE
//     arrives and turns completed when the BYE is answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHep3 } from '../src/capture/index.ts';
import { repoRoot, needTool } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { scratchDir } from './ua-sipp-peer.ts';
import { sleep, type Line } from './support/json-lines.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');

class Tmux {
  readonly name: string;
  constructor(name: string, command: string, cwd: string) {
    this.name = name;
    const r = spawnSync('tmux', [
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      '160',
      '-y',
      '50',
      '-c',
      cwd,
      `${command}; echo "EXIT=$?"; sleep 60`,
    ]);
    assert.equal(r.status, 0, r.stderr.toString());
  }

  screen(): string {
    return spawnSync('tmux', ['capture-pane', '-p', '-t', this.name], { encoding: 'utf8' }).stdout;
  }

  async keys(...keys: string[]): Promise<void> {
    for (const k of keys) {
      spawnSync('tmux', ['send-keys', '-t', this.name, k]);
      await sleep(150);
    }
  }

  async type(text: string): Promise<void> {
    spawnSync('tmux', ['send-keys', '-t', this.name, '-l', text]);
    await sleep(200);
  }

  async waitFor(re: RegExp, ms = 20_000): Promise<string> {
    const start = Date.now();
    for (;;) {
      const s = this.screen();
      if (re.test(s)) return s;
      if (Date.now() - start > ms) throw new Error(`screen never matched ${re}:\n${s}`);
      await sleep(100);
    }
  }

  kill(): void {
    spawnSync('tmux', ['kill-session', '-t', this.name]);
  }
}

test('terminal view of a capture on stdin: counts, filter, ladder, RTP and saving as the JSON says', async (t) => {
  if (!needTool(t, 'tmux')) return;
  const dir = scratchDir();
  const input = join(dir, 'in.pcap');
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/generate-capture.ts',
      '--calls',
      '12',
      '--seconds',
      '3',
      '--out',
      input,
      '--quiet',
    ],
    { cwd: repoRoot },
  );
  const saved = join(dir, 'saved.pcap');
  const tmux = new Tmux(
    `trapezoid-tui-${process.pid}`,
    `node ${bin} analyze - --tui --write ${saved} < ${input}`,
    dir,
  );
  t.after(() => tmux.kill());
  let screen = await tmux.waitFor(/\(capture ended\)/);

  const file = JSON.parse(
    execFileSync(process.execPath, [bin, 'analyze', saved, '--json'], { encoding: 'utf8' }),
  ) as Line;
  const calls = file.calls as Line[];
  const options = calls.filter((c) => c.firstMethod === 'OPTIONS').length;
  assert.ok(options > 0 && calls.length > 10, `${calls.length} calls, ${options} OPTIONS`);
  assert.match(screen, new RegExp(`calls ${calls.length - options} shown / ${calls.length} kept`));
  assert.match(screen, new RegExp(`frames ${file.frames}\\b`));
  await tmux.keys('o');
  screen = await tmux.waitFor(new RegExp(`calls ${calls.length} shown / ${calls.length} kept`));
  assert.match(screen, /OPTIONS shown/);

  // A rejected call, found by typing its callee.
  const rejected = calls.find((c) => c.state === 'rejected')!;
  await tmux.keys('/');
  await tmux.type(rejected.to);
  screen = await tmux.waitFor(/calls 1 shown/);
  assert.match(screen, new RegExp(`rejected ${rejected.finalStatus}`));
  await tmux.keys('Enter', 'Enter');
  screen = await tmux.waitFor(/message 1\//);
  assert.match(screen, new RegExp(`Call-ID ${rejected.callId.replace(/[.]/g, '\\.')}`));
  assert.match(screen, /──INVITE──/);
  assert.match(screen, new RegExp(`${rejected.finalStatus} `));
  assert.match(screen, /^INVITE sip:/m, 'the first message text');
  await tmux.keys('Down');
  screen = await tmux.waitFor(/message 2\//);
  await tmux.keys('Escape');
  await tmux.waitFor(/Filter: /);

  // An answered call with media: the RTP rows carry the JSON's packet counts.
  const answered = calls.find((c) => c.state === 'completed' && c.rtpStreams.length === 2)!;
  await tmux.keys('/');
  for (let i = 0; i < 40; i++) await tmux.keys('BSpace');
  await tmux.type(answered.to);
  await tmux.waitFor(/calls 1 shown/);
  await tmux.keys('Enter', 'Enter');
  screen = await tmux.waitFor(/message 1\//);
  for (const ssrc of answered.rtpStreams as string[]) {
    const s = (file.rtpStreams as Line[]).find(
      (x) => x.ssrc === ssrc && x.callId === answered.callId,
    )!;
    const row = screen.split('\n').find((l) => l.includes(ssrc));
    assert.ok(row, `stream ${ssrc} on screen:\n${screen}`);
    assert.match(row, new RegExp(`\\s${s.packets}\\s`), `packets of ${ssrc}: ${row}`);
  }

  // Save the call three ways.
  const base = `call-${answered.callId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}`;
  await tmux.keys('h');
  await tmux.waitFor(/saved .*\.html/);
  await tmux.keys('t');
  await tmux.waitFor(/saved .*\.txt/);
  await tmux.keys('p');
  await tmux.waitFor(/saved .*\.pcap/);
  assert.match(readFileSync(join(dir, `${base}.html`), 'utf8'), new RegExp(answered.callId));
  assert.match(readFileSync(join(dir, `${base}.txt`), 'utf8'), /INVITE/);
  const one = JSON.parse(
    execFileSync(process.execPath, [bin, 'analyze', join(dir, `${base}.pcap`), '--json'], {
      encoding: 'utf8',
    }),
  ) as Line;
  assert.equal(one.calls.length, 1);
  assert.equal(one.calls[0].callId, answered.callId);
  assert.equal(one.calls[0].messages, answered.messages);
  assert.equal(one.calls[0].state, answered.state);

  await tmux.keys('Escape', 'q');
  await tmux.waitFor(/EXIT=0/);
  assert.ok(existsSync(saved));
});

test('terminal view of HEP collected live: a call appears in progress and turns completed', async (t) => {
  if (!needTool(t, 'tmux')) return;
  const dir = scratchDir();
  const port = await freePort();
  const tmux = new Tmux(
    `trapezoid-tui-hep-${process.pid}`,
    `node ${bin} analyze --hep udp:127.0.0.1:${port} --tui`,
    dir,
  );
  t.after(() => tmux.kill());
  await tmux.waitFor(/hep udp:127\.0\.0\.1/);
  const socket = createSocket('udp4');
  t.after(() => socket.close());
  const a = { host: '127.0.0.2', port: 5062 };
  const b = { host: '127.0.0.3', port: 5064 };
  const send = async (from: typeof a, to: typeof a, text: string): Promise<void> => {
    const payload = Buffer.from(text.replace(/\n/g, '\r\n'));
    const hep = encodeHep3({
      src: from.host,
      srcPort: from.port,
      dst: to.host,
      dstPort: to.port,
      proto: 'udp',
      ts: Date.now() / 1000,
      payload,
    });
    await new Promise<void>((r) => socket.send(hep, port, '127.0.0.1', () => r()));
  };
  const head = (first: string, cseq: string, toTag = ''): string =>
    `${first}\nVia: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-tui-${cseq.replace(' ', '')}\n` +
    `From: "Alice" <sip:alice@tui.test>;tag=a1\nTo: <sip:bob@tui.test>${toTag}\n` +
    `Call-ID: tui-live-call\nCSeq: ${cseq}\nContent-Length: 0\n\n`;
  await send(a, b, head('INVITE sip:bob@tui.test SIP/2.0', '1 INVITE'));
  await send(b, a, head('SIP/2.0 180 Ringing', '1 INVITE', ';tag=b1'));
  let screen = await tmux.waitFor(/alice@tui\.test.*in-progress/);
  assert.match(screen, /calls 1 shown \/ 1 kept/);
  await send(b, a, head('SIP/2.0 200 OK', '1 INVITE', ';tag=b1'));
  await send(a, b, head('ACK sip:bob@tui.test SIP/2.0', '1 ACK', ';tag=b1'));
  await send(a, b, head('BYE sip:bob@tui.test SIP/2.0', '2 BYE', ';tag=b1'));
  await send(b, a, head('SIP/2.0 200 OK', '2 BYE', ';tag=b1'));
  screen = await tmux.waitFor(/alice@tui\.test.*completed 200\s+6\s/);
  await tmux.keys('q');
  await tmux.waitFor(/EXIT=0/);
});
