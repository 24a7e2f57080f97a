// `trapezoid analyze --security` on real and mutated captures:
//  - every capture in ../shared/captures gives the cleartext info finding and nothing else;
//  - a real capture mutated (a foreign source reusing a stream's SSRC; a burst replayed later)
//    gives the injection / replay finding naming exactly the packets changed;
//  - sipvicious (svwar, svcrack) recorded with dumpcap against a real `trapezoid serve` gives the
//    scanner (by User-Agent and by behaviour) and brute-force findings;
//  - built captures of a registration hijack and of spoofed Via / From give those findings, through
//    the command line (text, --json and the HTML report).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../src/analyze/index.ts';
import type { SecurityFinding } from '../src/analyze/index.ts';
import { PacketDecoder, readCaptureFile, writePcap } from '../src/capture/index.ts';
import { ethernetFrame, ipPacket, IPPROTO_UDP, udpSegment } from '../src/capture/packet-builder.ts';
import type { FrameToWrite } from '../src/capture/index.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import type { UdpDatagram } from './analyze-capture-builder.ts';
import { needTool, repoRoot, sharedDir } from './support/peers.ts';
import { freePort } from './support/ports.ts';
import { Peer, scratchDir } from './ua-sipp-peer.ts';

const capturesDir = join(sharedDir, 'captures');
const bin = join(repoRoot, 'bin', 'trapezoid.js');

async function findingsOf(path: string): Promise<SecurityFinding[]> {
  const { analysis, error } = await analyzeCaptureFile(path, { keepRaw: false, security: true });
  assert.equal(error, undefined, `${path}: ${error?.message}`);
  return analysis.security!.findings();
}

function notCleartext(findings: SecurityFinding[]): SecurityFinding[] {
  return findings.filter((f) => f.kind !== 'cleartext');
}

test('every shared capture: the cleartext info finding and no other', async () => {
  const files = readdirSync(capturesDir).filter((f) => /\.(pcap|pcapng|cap)$/.test(f));
  assert.ok(files.length >= 7, `captures in ${capturesDir}`);
  for (const file of files) {
    const findings = await findingsOf(join(capturesDir, file));
    assert.deepEqual(
      findings.map((f) => `${f.kind}/${f.severity}`),
      ['cleartext/info'],
      `${file}: ${JSON.stringify(notCleartext(findings), null, 1)}`,
    );
    assert.ok(findings[0].frameCount > 0 && findings[0].frames.length > 0, file);
    assert.match(findings[0].text, /Switch on .*(TLS|SRTP)/, file);
  }
});

interface RealFrame {
  ts: number;
  data: Buffer;
  udp?: { src: string; srcPort: number; dst: string; dstPort: number; payload: Buffer };
}

/** The frames of a capture, with the UDP datagram each carries. */
async function readFrames(path: string): Promise<RealFrame[]> {
  const frames: RealFrame[] = [];
  const decoder = new PacketDecoder({
    onTcpData: () => {}, // the stream mutated is RTP over UDP
    onUdp: (p) => {
      frames[p.frame - 1].udp = {
        src: p.src,
        srcPort: p.srcPort,
        dst: p.dst,
        dstPort: p.dstPort,
        payload: Buffer.from(p.payload),
      };
    },
  });
  await readCaptureFile(path, (f) => {
    frames.push({ ts: f.ts, data: Buffer.from(f.data) });
    decoder.decode(f);
  });
  decoder.finish();
  return frames;
}

/** Indexes (0-based) of the RTP packets of one SSRC, in order. */
function streamPackets(frames: RealFrame[], ssrc: number): number[] {
  const out: number[] = [];
  frames.forEach((f, i) => {
    const p = f.udp?.payload;
    if (p && p.length >= 12 && (p[0] & 0xc0) === 0x80 && p.readUInt32BE(8) === ssrc) out.push(i);
  });
  return out;
}

/** Writes frames (with extra ones inserted after given indexes); returns the new frame numbers. */
function writeMutated(
  path: string,
  frames: RealFrame[],
  inserts: Map<number, FrameToWrite[]>,
): number[] {
  const out: FrameToWrite[] = [];
  const inserted: number[] = [];
  frames.forEach((f, i) => {
    out.push({ ts: f.ts, data: f.data });
    for (const extra of inserts.get(i) ?? []) {
      out.push(extra);
      inserted.push(out.length);
    }
  });
  writeFileSync(path, writePcap(out, { linkType: 1 }));
  return inserted;
}

// The PCMU stream of sip-rtp-g711.pcap (SIPp -> FreeSWITCH, 425 packets, 10.0.2.15 -> 10.0.2.20).
const G711_CAPTURE = 'sip-rtp-g711.pcap';
const PCMU_SSRC = 0x343da99b;

test('mutated real capture: a foreign source reusing the SSRC toward the same destination is injection', async () => {
  const frames = await readFrames(join(capturesDir, G711_CAPTURE));
  const packets = streamPackets(frames, PCMU_SSRC);
  assert.equal(packets.length, 425);
  const inserts = new Map<number, FrameToWrite[]>();
  // Ten forged packets, one after every other genuine packet from the 100th: same SSRC and
  // destination, from 10.0.2.99, with sequence numbers and timestamps that fit the stream.
  for (let k = 0; k < 10; k++) {
    const i = packets[100 + 2 * k];
    const real = frames[i].udp!;
    const forged = Buffer.from(real.payload);
    forged.fill(0x55, 12); // other audio
    const ip = ipPacket(
      '10.0.2.99',
      real.dst,
      IPPROTO_UDP,
      udpSegment('10.0.2.99', real.dst, 40000, real.dstPort, forged),
    );
    inserts.set(i, [{ ts: frames[i].ts + 0.005, data: ethernetFrame(ip) }]);
  }
  const path = join(scratchDir(), 'injected.pcap');
  const inserted = writeMutated(path, frames, inserts);
  const findings = notCleartext(await findingsOf(path));
  assert.deepEqual(
    findings.map((f) => f.kind),
    ['rtp-injection'],
    JSON.stringify(findings, null, 1),
  );
  assert.deepEqual(findings[0].frames, inserted);
  assert.equal(findings[0].frameCount, 10);
  assert.match(findings[0].text, /0x343da99b toward 10\.0\.2\.20:6000 .*10\.0\.2\.99:40000/);
});

test('mutated real capture: a relay forwarding the stream with the same SSRC is no injection', async () => {
  const frames = await readFrames(join(capturesDir, G711_CAPTURE));
  const inserts = new Map<number, FrameToWrite[]>();
  // Every packet of the stream forwarded by a relay (10.0.2.20:30000 -> 10.0.2.30:7000), the
  // SSRC kept, each 1 ms after the original: the legs interleave packet by packet.
  for (const i of streamPackets(frames, PCMU_SSRC)) {
    const ip = ipPacket(
      '10.0.2.20',
      '10.0.2.30',
      IPPROTO_UDP,
      udpSegment('10.0.2.20', '10.0.2.30', 30000, 7000, frames[i].udp!.payload),
    );
    inserts.set(i, [{ ts: frames[i].ts + 0.001, data: ethernetFrame(ip) }]);
  }
  const path = join(scratchDir(), 'relayed.pcap');
  assert.equal(writeMutated(path, frames, inserts).length, 425);
  const { analysis } = await analyzeCaptureFile(path, { keepRaw: false, security: true });
  // The relayed leg is a stream of its own (heuristics), and no finding but cleartext.
  assert.ok(analysis.rtp.streams.some((s) => s.dstId === '10.0.2.30:7000' && s.ssrc === PCMU_SSRC));
  assert.deepEqual(notCleartext(analysis.security!.findings()), []);
});

test('mutated real capture: a burst replayed seconds later is replay', async () => {
  const frames = await readFrames(join(capturesDir, G711_CAPTURE));
  const packets = streamPackets(frames, PCMU_SSRC);
  // Packets 50-64 of the stream sent again, unchanged, after packet 200 (3 s later).
  const after = packets[200];
  const burst = packets.slice(50, 65).map((i, k) => ({
    ts: frames[after].ts + 0.001 * (k + 1),
    data: frames[i].data,
  }));
  const path = join(scratchDir(), 'replayed.pcap');
  const inserted = writeMutated(path, frames, new Map([[after, burst]]));
  const findings = notCleartext(await findingsOf(path));
  assert.deepEqual(
    findings.map((f) => f.kind),
    ['rtp-replay'],
    JSON.stringify(findings, null, 1),
  );
  assert.deepEqual(findings[0].frames, inserted);
  assert.match(findings[0].text, /15 packets repeat an earlier packet/);
});

async function until(what: string, ms: number, check: () => Promise<boolean> | boolean) {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metric(httpPort: number, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text());
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))) {
    sum += Number(m[1]);
  }
  return sum;
}

test('svwar and svcrack against trapezoid serve, recorded with dumpcap: scanner and brute force', async (t) => {
  if (!needTool(t, 'svwar', 'sipvicious') || !needTool(t, 'dumpcap', 'tshark')) return;
  const dir = scratchDir();
  const [sip, http, warPort, crackPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const cfg = join(dir, 'scratch.yaml');
  // The server's own defences are off so that it keeps answering. It serves sec.example: svwar,
  // asking for users @127.0.0.1, is refused (404) for every one of them and so goes through its
  // whole range (against a server that answers known and unknown users alike it gives up at once);
  // svcrack guesses passwords of 2000@sec.example.
  writeFileSync(
    cfg,
    [
      'domain: sec.example',
      `listen: [{ transport: udp, address: 127.0.0.1, port: ${sip} }]`,
      `database: ${join(dir, 's.db')}`,
      `http: { address: 127.0.0.1, port: ${http} }`,
      'users:',
      "  - { user: '2000', password: not-in-the-range-2000 }",
      "  - { user: '2001', password: not-in-the-range-2001 }",
      'security:',
      '  rateLimit: { requests: 100000, perSeconds: 1, banSeconds: 1 }',
      '  bruteForce: { maxFailures: 100000, windowSeconds: 1, banSeconds: 1 }',
      "  scannerUserAgents: ['no-scanner-is-called-this']",
    ].join('\n'),
  );
  const pcap = join(dir, 'attack.pcapng');
  const serve = new Peer(process.execPath, [bin, 'serve', '--config', cfg, '--json'], dir);
  const dumpcap = new Peer('dumpcap', ['-i', 'lo', '-f', `udp port ${sip}`, '-w', pcap], dir);
  const tools: Peer[] = [];
  try {
    await until('serve', 15_000, () => serve.stdout.includes('"event":"listening"'));
    await until('dumpcap', 10_000, () => /Capturing on/.test(dumpcap.stderr));
    const common = ['-p', String(sip), '-b', '127.0.0.1', '-x', '127.0.0.1'];
    tools.push(
      new Peer('svwar', [...common, '-P', String(warPort), '-e', '1990-2010', '127.0.0.1'], dir),
      new Peer(
        'svcrack',
        [
          ...common,
          '-P',
          String(crackPort),
          '--domain=sec.example',
          '-u',
          '2000',
          '-r',
          '1000-1019',
          '127.0.0.1',
        ],
        dir,
      ),
    );
    // Both wait seconds for more answers after their last request: stop them once the server
    // counted svwar's 22 requests and svcrack's 41 (a challenge, then 20 wrong passwords).
    await until('the attack', 15_000, async () => {
      const requests = await metric(http, 'trapezoid_sip_requests_total');
      const failures = await metric(http, 'trapezoid_auth_failures_total');
      return requests >= 63 && failures >= 20;
    });
    await new Promise((r) => setTimeout(r, 300)); // the last answers reach the capture
  } finally {
    for (const p of tools) p.kill();
    serve.kill();
    if (dumpcap.child.exitCode === null) dumpcap.child.kill('SIGINT');
    await dumpcap.finish(10_000);
    await serve.done;
  }
  assert.ok(existsSync(pcap), dumpcap.stderr);

  const findings = notCleartext(await findingsOf(pcap));
  const summary = JSON.stringify(findings, null, 1);
  const byAgent = findings.find((f) => f.kind === 'scanner' && /User-Agent/.test(f.text));
  const byBehaviour = findings.find((f) => f.kind === 'scanner' && /different users/.test(f.text));
  const brute = findings.find((f) => f.kind === 'brute-force');
  assert.ok(byAgent, summary);
  assert.match(byAgent.text, /127\.0\.0\.1 sent \d+ requests .*"friendly-scanner"/);
  assert.ok(byAgent.frameCount >= 41, summary);
  assert.ok(byBehaviour, summary);
  assert.match(byBehaviour.text, /tried 2\d different users/);
  assert.ok(brute, summary);
  assert.equal(brute.severity, 'high');
  assert.match(brute.text, /failed authentication (\d+) times.*user 2000\)/);
  assert.ok(Number(/failed authentication (\d+) times/.exec(brute.text)![1]) >= 20, brute.text);
  assert.deepEqual(
    findings.filter((f) => !['scanner', 'brute-force'].includes(f.kind)),
    [],
    'no other finding',
  );
});

const REGISTRAR = '192.0.2.10';

function sipDatagram(ts: number, src: string, dst: string, lines: string[]): UdpDatagram {
  return {
    ts,
    src,
    sport: 5060,
    dst,
    dport: 5060,
    payload: Buffer.from(lines.join('\r\n') + '\r\nContent-Length: 0\r\n\r\n'),
  };
}

function registerPair(
  ts: number,
  from: string,
  user: string,
  id: string,
  auth: boolean,
): UdpDatagram[] {
  const via = `Via: SIP/2.0/UDP ${from}:5060;branch=z9hG4bK${id}`;
  const common = [
    via,
    `From: <sip:${user}@${REGISTRAR}>;tag=${id}`,
    `To: <sip:${user}@${REGISTRAR}>`,
    `Call-ID: ${id}@${from}`,
    'CSeq: 1 REGISTER',
  ];
  return [
    sipDatagram(ts, from, REGISTRAR, [
      `REGISTER sip:${REGISTRAR} SIP/2.0`,
      ...common,
      'Max-Forwards: 70',
      `Contact: <sip:${user}@${from}:5060>`,
      'Expires: 600',
      ...(auth
        ? [
            `Authorization: Digest username="${user}", realm="${REGISTRAR}", nonce="abc", uri="sip:${REGISTRAR}", response="00112233445566778899aabbccddeeff"`,
          ]
        : []),
    ]),
    sipDatagram(ts + 0.01, REGISTRAR, from, [
      'SIP/2.0 200 OK',
      ...common.map((l) => (l.startsWith('To:') ? `${l};tag=reg` : l)),
    ]),
  ];
}

interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

function analyzeCli(path: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, 'analyze', path, ...args],
      { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err && typeof err.code === 'number' ? err.code : err ? 1 : 0;
        resolve({ status: code, stdout, stderr });
      },
    );
  });
}

test('registration hijack and spoofed Via / From through the command line: text, --json, HTML', async () => {
  const dir = scratchDir();
  const datagrams: UdpDatagram[] = [
    // 2000 registers from its phone, with credentials.
    ...registerPair(1000, '203.0.113.20', '2000', 'phone1', true),
    // Someone else registers 2000 to its own address, without credentials, and the registrar
    // accepts (frames 3 and 4).
    ...registerPair(1060, '198.51.100.66', '2000', 'evil1', false),
    // An INVITE from 203.0.113.77 claiming (Via sent-by and From host) to be 198.51.100.5.
    sipDatagram(1100, '203.0.113.77', REGISTRAR, [
      `INVITE sip:2000@${REGISTRAR} SIP/2.0`,
      'Via: SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bKspoof',
      'Max-Forwards: 70',
      'From: <sip:boss@198.51.100.5>;tag=s1',
      `To: <sip:2000@${REGISTRAR}>`,
      'Call-ID: spoof@198.51.100.5',
      'CSeq: 1 INVITE',
      'Contact: <sip:boss@198.51.100.5>',
    ]),
  ];
  const path = join(dir, 'hijack-spoof.pcap');
  writeFileSync(path, buildUdpPcap(datagrams));

  // The four runs of the command at once (each pays Node's start-up).
  const [json, plainRun, text, html] = await Promise.all([
    analyzeCli(path, '--security', '--json'),
    analyzeCli(path, '--json'),
    analyzeCli(path, '--security'),
    analyzeCli(path, '--format', 'html'),
  ]);
  assert.equal(json.status, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as { findings: SecurityFinding[] };
  const kinds = doc.findings.map((f) => `${f.kind}/${f.severity}`);
  assert.deepEqual(kinds, ['registration-hijack/high', 'spoofing/medium', 'cleartext/info']);
  const [hijack, spoof] = doc.findings;
  assert.deepEqual(hijack.frames, [1, 3, 4]);
  assert.match(
    hijack.text,
    /2000@192\.0\.2\.10 moved from 203\.0\.113\.20:5060 to 198\.51\.100\.66:5060/,
  );
  assert.deepEqual(spoof.frames, [5]);
  assert.match(
    spoof.text,
    /from 203\.0\.113\.77 claim to come from 198\.51\.100\.5 \(Via sent-by, From host\)/,
  );

  // Without --security the JSON has no findings key.
  const plain = JSON.parse(plainRun.stdout) as Record<string, unknown>;
  assert.equal('findings' in plain, false);

  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^Security findings \(3\):/m);
  assert.match(text.stdout, /HIGH {3}registration-hijack/);
  assert.match(text.stdout, /frames 1, 3, 4/);
  assert.doesNotMatch(text.stdout, /Calls/); // --security alone selects only the findings

  assert.equal(html.status, 0, html.stderr);
  const rows = html.stdout.match(/<tr data-testid="finding">/g) ?? [];
  assert.equal(rows.length, 3);
  assert.match(html.stdout, /registration-hijack/);
  assert.match(html.stdout, /data-frame-link="3"/);
});
