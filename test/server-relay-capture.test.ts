// The relayed RTP in the per-call capture, and the trunk failover state in the console's API, on
// one call through `trapezoid serve` (media: relay) between real SIPp instances: the caller plays
// G.711 from a pcap into trunk "in"; trunk "out" has two peers, the first answering 503 (SIPp
// with test/fixtures/sipp/uas-503.xml), the second answering and echoing the RTP.
//
// - GET /api/calls/{id}/pcap holds the call's SIP and its relayed RTP (headers only, the
//   default): `trapezoid analyze` and `tshark -z rtp,streams` find the same four streams (each
//   direction into the relay and out of it) with the same packet counts, and the streams into
//   the relay add up to the packets the CDR says the relay relayed.
// - GET /api/trunks shows trunk "out"'s first peer answered 503 and was failed over from, and
//   the second answered 200.
//
// Ports (SIP, HTTP, SIPp media, the relay range) come from test/support/ports.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtpPacket } from '../src/media/index.ts';
import { CallCapture, DEFAULT_CAPTURE_LIMITS } from '../src/server/call-capture.ts';
import type { CdrRecord, TrunkState } from '../src/server/console-model.ts';
import { MediaRelay, type RelayedPacket } from '../src/server/media-relay.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort, freePortBlock } from './support/ports.ts';
import { uacPlayingPcap } from './support/sipp-scenarios.ts';
import { Peer, scratchDir, sippErrors, waitForOutput } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const HOST = '127.0.0.1';
/** Packets of SIPp's sample G.711 capture played (30 ms each). */
const PLAYED = 50;
/** The relay's port range: a call's pairs and the 32 spare pairs the relay keeps bound. */
const RELAY_PORTS = 200;
/** The RTP header the capture keeps of each packet, in a raw-IP frame: IPv4 + UDP + RTP. */
const HEADERS_FRAME = 20 + 8 + 12;

interface Stream {
  src: string;
  dst: string;
  ssrc: string;
  packets: number;
  lost: number;
}

/** Rows of `tshark -q -z rtp,streams`: start end src sport dst dport SSRC payload pkts lost ... */
function tsharkStreams(text: string): Stream[] {
  const rows: Stream[] = [];
  for (const line of text.split('\n')) {
    const m =
      /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+.*?\s(\d+)\s+(-?\d+)\s+\(-?[\d.]+%\)/.exec(
        line,
      );
    if (!m) continue;
    rows.push({
      src: `${m[1]}:${m[2]}`,
      dst: `${m[3]}:${m[4]}`,
      ssrc: m[5]!.toLowerCase(),
      packets: Number(m[6]),
      lost: Number(m[7]),
    });
  }
  return rows;
}

const key = (s: Stream) => `${s.src} > ${s.dst} ${s.ssrc}`;
const byKey = (rows: Stream[]) =>
  rows.map((s) => `${key(s)}: ${s.packets} pkts, ${s.lost} lost`).sort();

test('a relayed call failed over on a trunk: its pcap has the relayed RTP (analyze and tshark agree with the CDR), /api/trunks shows the failover', async (t) => {
  const tshark = needTool(t, 'tshark', 'tshark');
  if (!needTool(t, 'sipp', 'sip-tester') || !needTool(t, 'editcap', 'tshark') || !tshark) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-relay-capture-'));
  const [sip, http, downPort, upPort, uacPort, upMedia, uacMedia, relayFirst] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePortBlock(4, { align: 2 }),
    await freePortBlock(4, { align: 2 }),
    await freePortBlock(RELAY_PORTS, { align: 2 }),
  ];
  const cfg = join(dir, 'serve.yaml');
  writeFileSync(
    cfg,
    [
      'domain: capture.example',
      `listen: [{ transport: udp, address: ${HOST}, port: ${sip} }]`,
      `database: ${join(dir, 'serve.db')}`,
      `http: { address: ${HOST}, port: ${http} }`,
      `media: { mode: relay, ports: "${relayFirst}-${relayFirst + RELAY_PORTS - 1}", timeoutSeconds: 30 }`,
      'trunks:',
      `  - name: out`,
      `    peers: [{ host: ${HOST}, port: ${downPort} }, { host: ${HOST}, port: ${upPort} }]`,
      `  - { name: in, peers: [{ host: ${HOST}, port: ${uacPort} }], transit: true }`,
      'dialplan:',
      '  - { match: { regex: "^service$" }, route: { action: trunk, trunk: out } }',
    ].join('\n'),
  );
  const pcap = join(dir, 'g711a-short.pcap');
  const cut = spawnSync('editcap', ['-r', '/usr/share/sip-tester/g711a.pcap', pcap, `1-${PLAYED}`]);
  assert.equal(cut.status, 0, String(cut.stderr));

  const serve = new Peer(process.execPath, [bin, 'serve', '--config', cfg, '--json'], dir);
  const sippArgs = ['-i', HOST, '-nostdin', '-trace_err', '-timeout', '30s'];
  const downDir = scratchDir();
  const down = new Peer(
    'sipp',
    [
      '-sf',
      join(repoRoot, 'test/fixtures/sipp/uas-503.xml'),
      '-p',
      String(downPort),
      '-m',
      '1',
    ].concat(sippArgs),
    downDir,
  );
  const upDir = scratchDir();
  const up = new Peer(
    'sipp',
    ['-sn', 'uas', '-p', String(upPort), '-mi', HOST, '-mp', String(upMedia), '-rtp_echo'].concat(
      sippArgs,
    ),
    upDir,
  );
  t.after(async () => {
    down.kill();
    up.kill();
    if (serve.child.exitCode === null) {
      serve.child.kill('SIGTERM');
      await serve.finish(10_000).catch(() => serve.kill());
    }
  });
  // --json: the summary line comes once the SIP and HTTP listeners are up.
  await waitForOutput(serve, /"event":"listening"/, 15_000);
  const api = async (path: string) => {
    const res = await fetch(`http://${HOST}:${http}${path}`);
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res;
  };

  // Before any call: both peers listed, no outcome yet.
  const before = (await (await api('/api/trunks')).json()) as TrunkState[];
  const outBefore = before.find((x) => x.name === 'out');
  assert.deepEqual(
    outBefore?.peers,
    [{ peer: `udp:${HOST}:${downPort}` }, { peer: `udp:${HOST}:${upPort}` }],
    JSON.stringify(before),
  );

  const uacDir = scratchDir();
  const scenario = join(uacDir, 'uac.xml');
  writeFileSync(scenario, uacPlayingPcap(pcap, PLAYED * 30 + 1200));
  const started = Date.now();
  const uac = new Peer(
    'sipp',
    [`${HOST}:${sip}`, '-sf', scenario, '-s', 'service', '-m', '1', '-p', String(uacPort)]
      .concat(['-mi', HOST, '-mp', String(uacMedia)])
      .concat(sippArgs),
    uacDir,
  );
  t.after(() => uac.kill());
  const done = await uac.finish(40_000);
  assert.equal(done.code, 0, `caller: ${sippErrors(uacDir)}`);
  const downDone = await down.finish(15_000);
  assert.equal(downDone.code, 0, `the 503 peer: ${sippErrors(downDir)}`);

  // The trunk's failover, as the console reads it.
  const trunks = (await (await api('/api/trunks')).json()) as TrunkState[];
  const out = trunks.find((x) => x.name === 'out');
  assert.ok(out?.peers, JSON.stringify(trunks));
  const [first, second] = out.peers;
  assert.equal(first?.peer, `udp:${HOST}:${downPort}`);
  assert.equal(first?.last?.status, 503);
  assert.equal(first?.last?.failedOver, true, 'the first peer was failed over from');
  assert.equal(second?.peer, `udp:${HOST}:${upPort}`);
  assert.equal(second?.last?.status, 200);
  assert.equal(second?.last?.failedOver, false);
  for (const p of [first!, second!]) {
    assert.ok(p.last!.ts >= started - 1000 && p.last!.ts <= Date.now(), `time of ${p.peer}`);
  }
  assert.ok(first!.last!.ts <= second!.last!.ts, 'the 503 came before the 200');
  // The caller's trunk sent nothing out: no outcome.
  assert.deepEqual(trunks.find((x) => x.name === 'in')?.peers, [
    { peer: `udp:${HOST}:${uacPort}` },
  ]);

  // What the relay counted, from the CDR.
  const [cdr] = (await (await api('/api/cdrs')).json()) as Array<CdrRecord & { packets?: number }>;
  assert.equal(cdr?.finalStatus, 200);
  assert.equal(cdr.trunk, 'out');
  const relayed = cdr.packets;
  assert.ok(relayed !== undefined && relayed > 0, `the CDR counts relayed packets: ${relayed}`);
  // Both directions went through (the echo may lose a packet on a loaded machine, not most).
  assert.ok(relayed > PLAYED, `${relayed} packets relayed: both directions`);

  // The call's capture.
  const file = join(dir, 'call.pcapng');
  writeFileSync(
    file,
    Buffer.from(
      await (await api(`/api/calls/${encodeURIComponent(cdr.callId)}/pcap`)).arrayBuffer(),
    ),
  );

  // tshark: the RTP streams.
  const run = (args: string[]) =>
    execFileSync(tshark, args, {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const theirs = tsharkStreams(run(['-r', file, '-q', '-z', 'rtp,streams']));
  assert.equal(
    theirs.length,
    4,
    `four streams (two directions, in and out of the relay):\n${byKey(theirs).join('\n')}`,
  );
  const relayPort = (e: string) => {
    const port = Number(e.split(':').pop());
    return e.startsWith(`${HOST}:`) && port >= relayFirst && port < relayFirst + RELAY_PORTS;
  };
  const into = theirs.filter((s) => relayPort(s.dst));
  const outOf = theirs.filter((s) => relayPort(s.src));
  assert.equal(into.length, 2, 'two streams into the relay');
  assert.equal(outOf.length, 2, 'two streams out of the relay');
  const sum = (rows: Stream[]) => rows.reduce((n, s) => n + s.packets, 0);
  assert.equal(sum(into), relayed, 'the streams into the relay carry what the CDR counts');
  assert.equal(sum(outOf), relayed, 'and the relay sent every one on');
  const fromCaller = into.find((s) => s.src === `${HOST}:${uacMedia}`);
  assert.equal(fromCaller?.packets, PLAYED, 'every packet the caller played');

  // Headers only (the default): frames cut after the RTP header, the length on the wire kept.
  const sizes = run([
    '-r',
    file,
    '-Y',
    'rtp',
    '-T',
    'fields',
    '-e',
    'frame.cap_len',
    '-e',
    'frame.len',
  ])
    .trim()
    .split('\n');
  assert.equal(sizes.length, 2 * relayed);
  for (const line of sizes) {
    const [capLen, len] = line.split('\t').map(Number);
    assert.equal(capLen, HEADERS_FRAME, line);
    assert.ok(len! > HEADERS_FRAME + 100, `the wire length of a G.711 packet: ${line}`);
  }

  // trapezoid analyze: the same streams, the same counts.
  const analysis = JSON.parse(
    execFileSync(process.execPath, [bin, 'analyze', file, '--format', 'json'], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  ) as {
    rtpStreams: Array<{ src: string; dst: string; ssrc: string; packets: number; lost: number }>;
  };
  const ours = analysis.rtpStreams.map((s) => ({ ...s, ssrc: s.ssrc.toLowerCase() }));
  assert.deepEqual(byKey(ours), byKey(theirs), 'analyze and tshark: the same RTP streams');
});

// ---- in process: the relay's packet tap and the ring, whole packets and RTCP ------------------

const sdpAt = (port: number) =>
  ['v=0', `o=x 1 1 IN IP4 ${HOST}`, 's=-', `c=IN IP4 ${HOST}`, 't=0 0', `m=audio ${port} RTP/AVP 0`]
    .concat(['a=rtpmap:0 PCMU/8000', ''])
    .join('\r\n');

test('in process: the relay tells its tap of each relayed RTP and RTCP packet; the ring keeps them whole or as headers', async (t) => {
  const first = await freePortBlock(20, { align: 2 });
  const relay = new MediaRelay({
    address: HOST,
    ports: [first, first + 19],
    timeoutSeconds: 30,
    spare: 2,
  });
  t.after(() => relay.close());
  const open = async () => {
    const s = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    await new Promise<void>((r) => s.bind(0, HOST, r));
    t.after(() => s.close());
    return { s, got, port: s.address().port };
  };
  const [a, b] = [await open(), await open()];
  // A offers, B answers: B sends to the offer's port, A to the answer's; each receives from there.
  const toB = Number(/m=audio (\d+)/.exec(relay.offer('c1', 'ta', sdpAt(a.port)))![1]);
  const aSendsTo = Number(/m=audio (\d+)/.exec(relay.answer('c1', 'tb', sdpAt(b.port)))![1]);
  await relay.ready();

  const whole = new CallCapture({ ...DEFAULT_CAPTURE_LIMITS, rtp: 'packets' });
  const headers = new CallCapture({ ...DEFAULT_CAPTURE_LIMITS, rtp: 'headers' });
  const from = { protocol: 'udp' as const, address: HOST, port: 5060 };
  for (const c of [whole, headers])
    c.sip('c1', Date.now(), from, from, 'INVITE sip:x SIP/2.0\r\n\r\n');
  const told: RelayedPacket[] = [];
  relay.packetTap = (p) => {
    told.push({ ...p, packet: Buffer.from(p.packet) });
    whole.relayed(p, relay.address);
    headers.relayed(p, relay.address);
  };
  const rtp = new RtpPacket({
    payloadType: 0,
    sequenceNumber: 1,
    timestamp: 160,
    ssrc: 0x1234,
    payload: Buffer.alloc(160, 0x55),
  }).marshal();
  const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0x12, 0x34]);
  const deadline = Date.now() + 10_000;
  const until = async (done: () => boolean) => {
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  a.s.send(rtp, aSendsTo, HOST);
  await until(() => b.got.length >= 1);
  // RTCP goes to B's port + 1 (nobody listens there here: the tap still hears it relayed).
  a.s.send(rr, aSendsTo + 1, HOST);
  await until(() => told.length >= 2);
  assert.deepEqual(b.got, [rtp], 'B got the RTP');
  assert.equal(told.length, 2, 'the tap heard the RTP and the RTCP');
  const [heard, heardRtcp] = told as [RelayedPacket, RelayedPacket];
  assert.equal(heard.callId, 'c1');
  assert.equal(heard.rtcp, false);
  assert.deepEqual(heard.from, { address: HOST, port: a.port });
  assert.equal(heard.inPort, aSendsTo);
  assert.equal(heard.outPort, toB);
  assert.deepEqual(heard.to, { address: HOST, port: b.port });
  assert.deepEqual(heard.packet, rtp);
  assert.ok(Math.abs(heard.ts - Date.now()) < 10_000);
  assert.equal(heardRtcp.rtcp, true);
  assert.equal(heardRtcp.inPort, aSendsTo + 1);
  assert.equal(heardRtcp.outPort, toB + 1);
  assert.deepEqual(heardRtcp.to, { address: HOST, port: b.port + 1 });

  // Each packet twice (into the relay, out of it), after the SIP.
  const kept = whole.packets('c1')!.slice(1);
  assert.deepEqual(
    kept.map((p) => `${p.src.port}>${p.dst.port} ${p.data.length}/${p.origLen ?? '-'}`),
    [
      `${a.port}>${aSendsTo} ${rtp.length}/-`,
      `${toB}>${b.port} ${rtp.length}/-`,
      `${a.port}>${aSendsTo + 1} 8/-`,
      `${toB + 1}>${b.port + 1} 8/-`,
    ],
  );
  assert.deepEqual(kept[0]!.data, rtp);
  const cut = headers.packets('c1')!.slice(1);
  assert.deepEqual(
    cut.map((p) => `${p.data.length}/${p.origLen ?? '-'}`),
    [`12/${rtp.length}`, `12/${rtp.length}`, '8/-', '8/-'],
  );

  // The byte bound holds for many small headers: each kept packet counts its record too.
  const small = new CallCapture({ ...DEFAULT_CAPTURE_LIMITS, maxBytes: 65536, rtp: 'headers' });
  small.sip('c1', Date.now(), from, from, 'INVITE sip:x SIP/2.0\r\n\r\n');
  for (let i = 0; i < 5000; i++) small.relayed(heard, relay.address);
  assert.ok(small.bytes <= 65536, `${small.bytes} bytes held`);
  const keptSmall = small.packets('c1')!.length - 1;
  assert.ok(keptSmall > 100 && keptSmall < 65536 / 12 / 2, `${keptSmall} headers kept`);
  assert.equal(small.dropped('c1'), 2 * 5000 - keptSmall);
});
