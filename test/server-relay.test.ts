// `trapezoid serve` with `media: relay`, between two real SIPp instances: the caller plays G.711
// RTP from a pcap (SIPp's play_pcap_audio), the callee echoes it (-rtp_echo). The callee must be
// told the relay's address, the media must flow through the relay (counted in the CDR), the
// ports must be free after the BYE, and packets a third socket injects at a relay port mid-call
// must be dropped, counted and never delivered.
//
// Ports (SIP, HTTP, SIPp media, relay ranges) come from test/support/ports.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtpPacket } from '../src/media/index.ts';
import { CallServer } from '../src/server/call-server.ts';
import { validateConfig } from '../src/server/config.ts';
import { MediaRelay } from '../src/server/media-relay.ts';
import {
  createResponse,
  parseMessage,
  type SipRequest,
  type SipResponse,
} from '../src/sip/index.ts';
import { sqliteStores } from './support/stores.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort, freePortBlock } from './support/ports.ts';
import { uacPlayingPcap } from './support/sipp-scenarios.ts';
import { Peer, scratchDir, sippErrors, waitForOutput } from './ua-sipp-peer.ts';

const bin = join(repoRoot, 'bin', 'trapezoid.js');
const HOST = '127.0.0.1';
/** Packets of the sample capture played per call (20 ms each): about 1.2 s of speech. */
const PLAYED = 60;

/**
 * Ports of the relay range in `serve`: room for a call's pairs and the 32 spare pairs it keeps
 * bound by default, so that the pairs a call frees are not bound again at once as spares.
 */
const SERVE_RELAY_PORTS = 200;
/** Ports of the relay range in process (spare pairs: 4 or none). */
const RELAY_PORTS = 40;
/** SIPp's media: its RTP port (-mp), the RTCP port after it, and the pair after those. */
const sippMediaPorts = () => freePortBlock(4, { align: 2 });

interface Cdr {
  finalStatus: number;
  hungUpBy?: string;
  packets?: number;
  lost?: number;
  jitterMs?: number;
  mos?: number;
  dropped?: number;
}

interface RelayStream {
  from?: string;
  relayPort: number;
  latched?: { address: string; port: number };
  packets: number;
}

/** serve (relay on), a SIPp uas echoing RTP, and what a uac needs to call through them. */
async function setUp(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-relay-'));
  const [sip, http, uasPort, uacPort, uasMedia, uacMedia, relayFirst] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await sippMediaPorts(),
    await sippMediaPorts(),
    await freePortBlock(SERVE_RELAY_PORTS, { align: 2 }),
  ];
  const db = join(dir, 'relay.db');
  const cfg = join(dir, 'relay.yaml');
  writeFileSync(
    cfg,
    [
      'domain: relay.example',
      `listen: [{ transport: udp, address: ${HOST}, port: ${sip} }]`,
      `database: ${db}`,
      `http: { address: ${HOST}, port: ${http} }`,
      `media: { mode: relay, ports: "${relayFirst}-${relayFirst + SERVE_RELAY_PORTS - 1}", timeoutSeconds: 30 }`,
      'trunks:',
      `  - { name: out, peers: [{ host: ${HOST}, port: ${uasPort} }] }`,
      `  - { name: in, peers: [{ host: ${HOST}, port: ${uacPort} }], transit: true }`,
      'dialplan:',
      '  - { match: { regex: "^service$" }, route: { action: trunk, trunk: out } }',
    ].join('\n'),
  );
  // The first PLAYED packets of SIPp's sample G.711 A-law capture.
  const pcap = join(dir, 'g711a-short.pcap');
  const cut = spawnSync('editcap', ['-r', '/usr/share/sip-tester/g711a.pcap', pcap, `1-${PLAYED}`]);
  assert.equal(cut.status, 0, String(cut.stderr));

  const serve = new Peer(process.execPath, [bin, 'serve', '--config', cfg, '--json'], dir);
  const uasDir = scratchDir();
  const uas = new Peer(
    'sipp',
    [
      '-sn',
      'uas',
      '-p',
      String(uasPort),
      '-i',
      HOST,
      '-mi',
      HOST,
      '-mp',
      String(uasMedia),
      '-rtp_echo',
      '-trace_msg',
      '-nostdin',
    ],
    uasDir,
  );
  t.after(async () => {
    uas.kill();
    if (serve.child.exitCode === null) {
      serve.child.kill('SIGTERM');
      await serve.finish(10_000).catch(() => serve.kill());
    }
  });
  await waitForOutput(serve, /"event":"listening"/, 15_000);
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://${HOST}:${http}${path}`);
    return (path === '/metrics' ? res.text() : res.json()) as Promise<T>;
  };
  const startUac = (pauseMs: number) => {
    const uacDir = scratchDir();
    const scenario = join(uacDir, 'uac.xml');
    writeFileSync(scenario, uacPlayingPcap(pcap, pauseMs));
    const peer = new Peer(
      'sipp',
      [
        `${HOST}:${sip}`,
        '-sf',
        scenario,
        '-s',
        'service',
        '-m',
        '1',
        '-p',
        String(uacPort),
        '-i',
        HOST,
        '-mi',
        HOST,
        '-mp',
        String(uacMedia),
        '-nostdin',
        '-trace_err',
        '-timeout',
        '20s',
      ],
      uacDir,
    );
    t.after(() => peer.kill());
    return { peer, dir: uacDir };
  };
  return { serve, uas, uasDir, uacMedia, uasMedia, api, startUac, db };
}

/** The body of the first INVITE SIPp's uas logged (-trace_msg). */
function inviteSeenByUas(uasDir: string): string {
  const log = readdirSync(uasDir).find((f) => f.endsWith('_messages.log'));
  assert.ok(log, 'the uas wrote its message log');
  const text = readFileSync(join(uasDir, log), 'utf8');
  const at = text.indexOf('INVITE sip:');
  assert.ok(at >= 0, 'the uas received an INVITE');
  return text.slice(
    at,
    text.indexOf('\n\n-----', at) > 0 ? text.indexOf('\n\n-----', at) : undefined,
  );
}

test('SIPp -> serve (media: relay) -> SIPp: SDP points at the relay, RTP flows through it, ports freed after BYE', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester') || !needTool(t, 'editcap', 'tshark')) return;
  const s = await setUp(t);
  const uac = s.startUac(PLAYED * 20 + 1200);
  // Mid-call: the session and the ports it holds.
  let ports: number[] = [];
  const deadline = Date.now() + 10_000;
  while (ports.length === 0 && Date.now() < deadline) {
    const media = await s.api<Array<{ ports: number[] }>>('/api/media');
    if (media.length === 1) ports = media[0]!.ports;
    else await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(ports.length, 2, 'one audio stream: one port pair per side');
  const done = await uac.peer.finish(30_000);
  assert.equal(done.code, 0, sippErrors(uac.dir));

  // The callee was told to send to the relay, not to the caller.
  const invite = inviteSeenByUas(s.uasDir);
  assert.match(invite, /^c=IN IP4 127\.0\.0\.1\s*$/m);
  const m = /^m=audio (\d+) RTP\/AVP 8\s*$/m.exec(invite);
  assert.ok(m, `no m= line in ${invite}`);
  const toRelay = Number(m[1]);
  assert.ok(ports.includes(toRelay), `m= port ${toRelay} is one of the relay's ${ports.join(',')}`);
  assert.notEqual(toRelay, s.uacMedia);

  // Every packet went through: the caller's 60 and the callee's 60 echoes.
  const [cdr] = await s.api<Cdr[]>('/api/cdrs');
  assert.equal(cdr!.finalStatus, 200);
  assert.equal(cdr!.hungUpBy, 'caller');
  assert.equal(cdr!.packets, 2 * PLAYED);
  assert.equal(cdr!.lost, 0);
  assert.equal(cdr!.dropped, 0);
  // No loss: the MOS estimate is G.711's best less what jitter costs (loose: a busy machine).
  assert.ok(cdr!.mos !== undefined && cdr!.mos > 3.5 && cdr!.mos <= 4.5, `MOS ${cdr!.mos}`);
  assert.ok(cdr!.jitterMs !== undefined && cdr!.jitterMs < 100, `jitter ${cdr!.jitterMs}`);

  // After the BYE: no session, the ports can be bound by anyone.
  assert.deepEqual(await s.api('/api/media'), []);
  const metrics = await s.api<string>('/metrics');
  assert.match(metrics, /^trapezoid_relay_sessions 0$/m);
  assert.match(
    metrics,
    new RegExp(`^trapezoid_relay_packets_total\\{kind="rtp"\\} ${2 * PLAYED}$`, 'm'),
  );
  for (const p of ports) {
    for (const port of [p, p + 1]) {
      const free = await new Promise<boolean>((resolve) => {
        const sock = dgram.createSocket('udp4');
        sock.once('error', () => resolve(false));
        sock.bind(port, HOST, () => sock.close(() => resolve(true)));
      });
      assert.ok(free, `relay port ${port} was released`);
    }
  }
  // And `trapezoid cdr` shows the media columns.
  const listed = spawnSync(process.execPath, [bin, 'cdr', '--db', s.db], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(
    listed.stdout,
    new RegExp(`media ${2 * PLAYED} pkts, 0 lost, jitter [\\d.]+ ms, MOS \\d\\.\\d\\d`),
  );
  const csv = spawnSync(process.execPath, [bin, 'cdr', '--db', s.db, '--csv'], {
    encoding: 'utf8',
  });
  assert.match(csv.stdout.split('\r\n')[0]!, /,packets,lost,jitterMs,mos,dropped$/);
});

test('packets injected at a relay port mid-call by a third socket are dropped, counted, not delivered', async (t) => {
  if (!needTool(t, 'sipp', 'sip-tester') || !needTool(t, 'editcap', 'tshark')) return;
  const s = await setUp(t);
  const uac = s.startUac(PLAYED * 20 + 1500);
  // Wait until the caller's stream is latched, then spray its relay port from elsewhere.
  let callerStream: RelayStream | undefined;
  const deadline = Date.now() + 10_000;
  while (!callerStream && Date.now() < deadline) {
    const media = await s.api<Array<{ tags: string[]; streams: RelayStream[] }>>('/api/media');
    callerStream = media[0]?.streams.find((x) => x.from === media[0]!.tags[0] && x.latched);
    if (!callerStream) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(callerStream, 'the caller started sending');
  assert.equal(callerStream.latched!.port, s.uacMedia, 'latched to SIPp uac media port');
  const intruder = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => intruder.bind(0, HOST, resolve));
  const INJECTED = 25;
  for (let i = 0; i < INJECTED; i++) {
    const packet = new RtpPacket({
      payloadType: 8,
      sequenceNumber: 40_000 + i,
      timestamp: i * 160,
      ssrc: 0xbad,
      payload: Buffer.alloc(160, 0xd5),
    }).marshal();
    await new Promise<void>((resolve, reject) =>
      intruder.send(packet, callerStream!.relayPort, HOST, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  intruder.close();
  const done = await uac.peer.finish(30_000);
  assert.equal(done.code, 0, sippErrors(uac.dir));
  const [cdr] = await s.api<Cdr[]>('/api/cdrs');
  assert.equal(cdr!.dropped, INJECTED);
  // Not delivered: had they reached the echoing callee, more than 2 x PLAYED would be counted.
  assert.equal(cdr!.packets, 2 * PLAYED);
  const metrics = await s.api<string>('/metrics');
  assert.match(
    metrics,
    new RegExp(`^trapezoid_relay_dropped_total\\{reason="injection"\\} ${INJECTED}$`, 'm'),
  );
});

// ---- the proxy's SDP handling, in process, with two raw-UDP phones -----------------------------
//
// The caller C and the callee E speak SIP by hand (so each message is exactly what the test says)
// to a CallServer started here with a MediaRelay: early media (183 with SDP), late offer (SDP in
// the 2xx, answer in the ACK), a re-INVITE from the callee, CANCEL, and running out of ports.

/** A phone that speaks SIP over one UDP socket and keeps what it received. */
class RawPhone {
  readonly got: Array<SipRequest | SipResponse> = [];
  private wake: (() => void) | undefined;
  private constructor(
    readonly socket: dgram.Socket,
    readonly port: number,
  ) {
    socket.on('message', (buf) => {
      this.got.push(parseMessage(buf));
      this.wake?.();
    });
  }
  static async open(t: TestContext): Promise<RawPhone> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, HOST, resolve));
    t.after(() => s.close());
    return new RawPhone(s, s.address().port);
  }
  send(to: number, msg: string | SipResponse): void {
    this.socket.send(typeof msg === 'string' ? msg : msg.toBuffer(), to, HOST);
  }
  /** The first message (received or to come) that `match` accepts; it is taken off the list. */
  async take<T extends SipRequest | SipResponse>(
    match: (m: SipRequest | SipResponse) => boolean,
    what: string,
    ms = 3000,
  ): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex(match);
      if (i >= 0) return this.got.splice(i, 1)[0] as T;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} on port ${this.port} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
  request(method: string) {
    return this.take<SipRequest>((m) => 'method' in m && m.method === method, method);
  }
  response(status: number, method = 'INVITE') {
    return this.take<SipResponse>(
      (m) => !('method' in m) && m.status === status && m.cseq.method === method,
      `${status} to ${method}`,
    );
  }
}

function offerSdp(port: number, version = 1): string {
  return (
    `v=0\r\no=- 7 ${version} IN IP4 ${HOST}\r\ns=-\r\nc=IN IP4 ${HOST}\r\nt=0 0\r\n` +
    `m=audio ${port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n`
  );
}

/** The m= port of a message's SDP (and that its c= is the relay's). */
function sdpPort(m: SipRequest | SipResponse): number {
  const text = m.body.toString();
  assert.match(text, /^c=IN IP4 127\.0\.0\.1\r$/m);
  assert.equal(m.contentLength, m.body.length, 'Content-Length matches the rewritten body');
  return Number(/^m=audio (\d+) /m.exec(text)![1]);
}

interface Dialog {
  callId: string;
  sip: number;
  c: RawPhone;
  e: RawPhone;
}

function invite(d: Dialog, body: string | undefined, cseq = 1, branch = 'c1'): string {
  return [
    `INVITE sip:service@${HOST}:${d.sip} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${d.c.port};branch=z9hG4bK-${branch}-${d.callId};rport`,
    `From: <sip:c@${HOST}:${d.c.port}>;tag=ctag`,
    `To: <sip:service@${HOST}:${d.sip}>`,
    `Call-ID: ${d.callId}`,
    `CSeq: ${cseq} INVITE`,
    `Contact: <sip:c@${HOST}:${d.c.port}>`,
    'Max-Forwards: 70',
    ...(body !== undefined ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body ?? '')}`,
    '',
    body ?? '',
  ].join('\r\n');
}

/** A request from the caller within the dialog (it ignores Record-Route, like SIPp's uac). */
function callerRequest(d: Dialog, method: string, cseq: number, body?: string): string {
  return [
    `${method} sip:service@${HOST}:${d.sip} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${d.c.port};branch=z9hG4bK-${method}${cseq}-${d.callId};rport`,
    `From: <sip:c@${HOST}:${d.c.port}>;tag=ctag`,
    `To: <sip:service@${HOST}:${d.sip}>;tag=etag`,
    `Call-ID: ${d.callId}`,
    `CSeq: ${cseq} ${method}`,
    'Max-Forwards: 70',
    ...(body !== undefined ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body ?? '')}`,
    '',
    body ?? '',
  ].join('\r\n');
}

function answer(req: SipRequest, status: number, e: RawPhone, body?: string): SipResponse {
  const res = createResponse(req, status, undefined, { toTag: 'etag' });
  res.set('Contact', `<sip:e@${HOST}:${e.port}>`);
  if (body !== undefined) {
    res.set('Content-Type', 'application/sdp');
    res.body = body;
  }
  return res;
}

/** A CallServer with a relay on `count` free ports (from an even one) and RawPhones c and e. */
async function inProcessServer(t: TestContext, count: number, spare = 4) {
  const [c, e] = [await RawPhone.open(t), await RawPhone.open(t)];
  const sip = await freePort();
  const first = await freePortBlock(count, { align: 2 });
  const ports: [number, number] = [first, first + count - 1];
  const config = validateConfig({
    domain: 'relay.example',
    listen: [{ transport: 'udp', address: HOST, port: sip }],
    media: { mode: 'relay' },
    trunks: [
      { name: 'out', peers: [{ host: HOST, port: e.port }] },
      { name: 'in', peers: [{ host: HOST, port: c.port }], transit: true },
    ],
    dialplan: [{ match: { regex: '^service$' }, route: { action: 'trunk', trunk: 'out' } }],
  });
  const store = await sqliteStores(join(mkdtempSync(join(tmpdir(), 'trapezoid-relay-')), 'r.db'));
  const relay = new MediaRelay({ address: HOST, ports, timeoutSeconds: 30, spare });
  await relay.ready();
  const server = new CallServer({ config, stores: store, relay });
  await server.start();
  t.after(async () => {
    await server.stop();
    await relay.close();
    await store.close();
  });
  /** Whether `port` is in the relay's range. */
  const inRange = (port: number) => port >= ports[0] && port <= ports[1];
  return { c, e, sip, relay, store, inRange };
}

test('in process: 183 and 200 with SDP, ACK, a re-INVITE from the callee and BYE keep one port pair per side', async (t) => {
  const { c, e, sip, relay, store, inRange } = await inProcessServer(t, RELAY_PORTS);
  const d: Dialog = { callId: 'early-media', sip, c, e };
  c.send(sip, invite(d, offerSdp(40000)));
  const inv = await e.request('INVITE');
  const eSendsTo = sdpPort(inv);
  assert.ok(inRange(eSendsTo), `${eSendsTo} is a relay port`);
  e.send(sip, answer(inv, 183, e, offerSdp(40100)));
  const early = await c.response(183);
  const cSendsTo = sdpPort(early);
  assert.notEqual(cSendsTo, eSendsTo);
  e.send(sip, answer(inv, 200, e, offerSdp(40100)));
  assert.equal(sdpPort(await c.response(200)), cSendsTo, 'the 200 repeats the early-media port');
  c.send(sip, callerRequest(d, 'ACK', 1));
  await e.request('ACK');
  const pairs = relay.portPairsInUse;

  // The callee re-INVITEs (new SDP version) through us to the caller.
  const rr = inv.get('Record-Route')!;
  e.send(
    sip,
    [
      `INVITE sip:c@${HOST}:${c.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOST}:${e.port};branch=z9hG4bK-re-${d.callId};rport`,
      `From: <sip:service@${HOST}:${sip}>;tag=etag`,
      `To: <sip:c@${HOST}:${c.port}>;tag=ctag`,
      `Call-ID: ${d.callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:e@${HOST}:${e.port}>`,
      `Route: ${rr}`,
      'Max-Forwards: 70',
      'Content-Type: application/sdp',
      `Content-Length: ${offerSdp(40100, 2).length}`,
      '',
      offerSdp(40100, 2),
    ].join('\r\n'),
  );
  const reInvite = await c.request('INVITE');
  assert.equal(sdpPort(reInvite), cSendsTo, 'the re-INVITE keeps the port');
  const ok = createResponse(reInvite, 200);
  ok.set('Content-Type', 'application/sdp');
  ok.body = offerSdp(40000, 2);
  c.send(sip, ok);
  assert.equal(sdpPort(await e.response(200)), eSendsTo);
  assert.equal(relay.portPairsInUse, pairs, 'no new ports for the re-INVITE');
  assert.equal(relay.sessionCount, 1);

  c.send(sip, callerRequest(d, 'BYE', 2));
  const bye = await e.request('BYE');
  e.send(sip, createResponse(bye, 200));
  await c.response(200, 'BYE');
  assert.equal(relay.sessionCount, 0);
  const [cdr] = await store.cdrs.listCdrs();
  assert.equal(cdr!.callId, 'early-media');
  assert.equal(cdr!.finalStatus, 200);
  assert.equal(cdr!.packets, 0, 'relayed, though no RTP was sent');
});

test('in process: late offer (SDP in the 200, answer in the ACK) goes through the relay', async (t) => {
  const { c, e, sip, relay, inRange } = await inProcessServer(t, RELAY_PORTS);
  const d: Dialog = { callId: 'late-offer', sip, c, e };
  c.send(sip, invite(d, undefined));
  const inv = await e.request('INVITE');
  assert.equal(inv.body.length, 0);
  e.send(sip, answer(inv, 200, e, offerSdp(40200)));
  const ok = await c.response(200);
  const cSendsTo = sdpPort(ok);
  assert.ok(inRange(cSendsTo), `${cSendsTo} is a relay port`);
  c.send(sip, callerRequest(d, 'ACK', 1, offerSdp(40300)));
  const ack = await e.request('ACK');
  const eSendsTo = sdpPort(ack);
  assert.ok(inRange(eSendsTo) && eSendsTo !== cSendsTo, `${eSendsTo}: another relay port`);
  const stats = relay.stats('late-offer')!;
  assert.deepEqual(stats.tags, ['etag', 'ctag'], 'the callee offered, the caller answered');
  assert.equal(stats.streams.length, 2);
});

test('in process: CANCEL ends the relay session; no ports left answers 503 with the reason', async (t) => {
  // Two port pairs: one call (one pair per side) takes them all.
  const { c, e, sip, relay, store } = await inProcessServer(t, 4, 0);
  const d: Dialog = { callId: 'cancelled', sip, c, e };
  c.send(sip, invite(d, offerSdp(40400)));
  const inv = await e.request('INVITE');
  e.send(sip, answer(inv, 180, e));
  await c.response(180);
  assert.equal(relay.sessionCount, 1);

  // A second call meanwhile: no ports.
  const d2: Dialog = { callId: 'no-ports', sip, c, e };
  c.send(sip, invite(d2, offerSdp(40500), 1, 'c2'));
  const refused = await c.take<SipResponse>(
    (m) => !('method' in m) && m.callId === 'no-ports' && m.status >= 300,
    'final response to the second call',
  );
  assert.equal(refused.status, 503);
  assert.match(refused.reason, /media relay: no free ports/);
  assert.equal(relay.sessionCount, 1);

  // A body that claims to be SDP and is not: 488 naming the problem, no session.
  const d3: Dialog = { callId: 'bad-sdp', sip, c, e };
  c.send(sip, invite(d3, 'this is not SDP\r\n', 1, 'c3'));
  const bad = await c.take<SipResponse>(
    (m) => !('method' in m) && m.callId === 'bad-sdp' && m.status >= 300,
    'final response to the bad SDP',
  );
  assert.equal(bad.status, 488);
  assert.match(bad.reason, /^Not Acceptable Here \(SDP: /);
  assert.equal(relay.sessionCount, 1);

  // The first call is cancelled: its ports come back.
  c.send(
    sip,
    [
      `CANCEL sip:service@${HOST}:${sip} SIP/2.0`,
      `Via: SIP/2.0/UDP ${HOST}:${c.port};branch=z9hG4bK-c1-cancelled;rport`,
      `From: <sip:c@${HOST}:${c.port}>;tag=ctag`,
      `To: <sip:service@${HOST}:${sip}>`,
      'Call-ID: cancelled',
      'CSeq: 1 CANCEL',
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  const cancel = await e.request('CANCEL');
  e.send(sip, createResponse(cancel, 200));
  e.send(sip, answer(inv, 487, e));
  await c.response(487);
  assert.equal(relay.sessionCount, 0);
  assert.equal(relay.portPairsFree, 2);
  const cdrs = await store.cdrs.listCdrs();
  assert.deepEqual(cdrs.map((x) => [x.callId, x.finalStatus, x.cause]).sort(), [
    ['bad-sdp', 488, 'media-unavailable'],
    ['cancelled', 487, 'cancelled'],
    ['no-ports', 503, 'media-unavailable'],
  ]);
});
