// The tolerant reading on real traffic: sip-rtp-g711.pcap (SIPp <-> FreeSWITCH, 2 calls) with its
// SIP messages broken the ways real phones break them. tshark reads such messages (its SIP
// dissector is lenient): its `-z sip,stat` on the mutated capture is the reference, and the
// analysis of the mutated capture must equal the analysis of the original in every number, with
// each mutated message listed with its frame and the strict parser's reason.
// Also: a spoofed INVITE whose Request-URI breaks the grammar is seen by --security (regression:
// it vanished from the statistics and the findings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketDecoder, readCaptureFile } from '../src/capture/index.ts';
import { analyzeCaptureFile, buildReport } from '../src/analyze/index.ts';
import type { UdpDatagram } from './analyze-capture-builder.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import { needTool, sharedDir } from './support/peers.ts';

const original = join(sharedDir, 'captures', 'sip-rtp-g711.pcap');

/** Each a way real SIP breaks the grammar; applied in turn to the capture's SIP messages. */
const MUTATIONS: Array<{ name: string; apply: (sip: string) => string }> = [
  {
    // (tshark reads a Request-URI like this; it does not read a start line with a lower-case or
    // odd version or stray whitespace, which the tolerant reading keeps: those are in the
    // corpus, test/fixtures/analyze-tolerant, and in the test below)
    name: 'Request-URI with a bare IPv6 host',
    apply: (s) => s.replace(/^([A-Z]+) sip:([^@\s]+)@[^\s;>]+/, '$1 sip:$2@2001:db8::5'),
  },
  {
    name: 'display name with a comma, unquoted',
    apply: (s) => s.replace(/^(From|f):[ \t]*(?:"[^"]*"[ \t]*)?<?/im, '$1: Smith, Jo <'),
  },
  {
    name: 'Content-Length longer than the datagram',
    apply: (s) =>
      s.replace(
        /^(Content-Length|l):[ \t]*(\d+)/im,
        (_m, n: string, v: string) => `${n}: ${Number(v) + 400}`,
      ),
  },
  {
    name: 'Max-Forwards that is not a number, and a Via with a bare IPv6 sent-by',
    apply: (s) =>
      s
        .replace(/^Max-Forwards:[^\r\n]*/im, 'Max-Forwards: seventy')
        .replace(/^(Via|v):[ \t]*SIP\/2\.0\/UDP [^;\r\n]+/im, '$1: SIP/2.0/UDP 2001:db8::7'),
  },
];

async function datagrams(path: string): Promise<UdpDatagram[]> {
  const out: UdpDatagram[] = [];
  const decoder = new PacketDecoder({
    onUdp: (p) => {
      out.push({
        ts: p.ts,
        src: p.src,
        sport: p.srcPort,
        dst: p.dst,
        dport: p.dstPort,
        payload: Buffer.from(p.payload),
      });
    },
    onTcpData: () => undefined,
  });
  await readCaptureFile(path, (f) => decoder.decode(f));
  decoder.finish();
  return out;
}

function tsharkSipStat(bin: string, path: string): Record<string, number> {
  const text = execFileSync(bin, ['-r', path, '-q', '-z', 'sip,stat'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(SIP \d{3}|[A-Z]+)\b.*:\s*(\d+) Packets/.exec(line);
    if (m) out[m[1]!.replace('SIP ', '')] = Number(m[2]);
  }
  return out;
}

test('tolerant reading: a real capture with broken SIP keeps every call and number (regression: "No calls")', async (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-tolerant-'));
  t.after(() => (process.env.KEEP ? undefined : rmSync(dir, { recursive: true, force: true })));

  const packets = await datagrams(original);
  const mutated: number[] = [];
  let k = 0;
  const broken = packets.map((p, i) => {
    const text = p.payload.toString('latin1');
    if (!/^(SIP\/2\.0 \d{3}|[A-Z]+ sip:)/.test(text)) return p;
    // The next mutation in turn that applies to this message.
    let changed = text;
    for (let tries = 0; tries < MUTATIONS.length && changed === text; tries++) {
      changed = MUTATIONS[k++ % MUTATIONS.length]!.apply(text);
    }
    assert.notEqual(changed, text, `a mutation applies to frame ${i + 1}`);
    mutated.push(i + 1);
    return { ...p, payload: Buffer.from(changed, 'latin1') };
  });
  assert.ok(mutated.length >= 10, `${mutated.length} SIP messages mutated`);
  const path = join(dir, 'broken.pcap');
  writeFileSync(path, buildUdpPcap(broken));

  const before = buildReport((await analyzeCaptureFile(original, { keepRaw: false })).analysis);
  const after = buildReport((await analyzeCaptureFile(path, { keepRaw: false })).analysis);

  // tshark reads every mutated message: its counts are ours.
  const theirs = tsharkSipStat(bin, path);
  const ours: Record<string, number> = { ...after.stats.byMethod };
  for (const [code, n] of Object.entries(after.stats.byCode)) if (n > 0) ours[code] = n;
  assert.deepEqual(ours, theirs, 'requests by method and responses by code as tshark counts them');

  // ... and they are the numbers of the intact capture.
  assert.deepEqual(after.stats.byMethod, before.stats.byMethod);
  assert.deepEqual(after.stats.byCode, before.stats.byCode);
  assert.equal(after.stats.parseErrors, 0);
  assert.equal(after.stats.malformed, mutated.length);
  const summary = (r: typeof before): unknown =>
    r.calls.map((c) => [c.callId, c.state, c.finalStatus, c.hungUpBy, c.messages.length]);
  assert.deepEqual(summary(after), summary(before), 'the same calls, states and message counts');
  const streams = (r: typeof before): unknown =>
    r.rtpStreams.map((s) => [s.ssrc, s.src, s.dst, s.packets, s.lost, s.callId]);
  assert.deepEqual(streams(after), streams(before), 'SDP of broken messages still finds the RTP');

  // Every broken message is listed with its frame and the strict reason, and marked in its call.
  assert.deepEqual(
    after.malformed.map((m) => m.frame),
    mutated,
  );
  for (const frame of mutated) {
    assert.ok(
      after.warnings.some(
        (w) => w.startsWith(`frame ${frame}: malformed SIP `) && /read tolerantly: \S/.test(w),
      ),
      `warning for frame ${frame}`,
    );
  }
  const marked = after.calls
    .flatMap((c) => c.messages.filter((m) => m.malformed))
    .map((m) => m.frame);
  assert.deepEqual(
    marked.sort((a, b) => a! - b!),
    mutated,
  );
});

function sip(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n');
}

test('--security: a spoofed INVITE with a malformed Request-URI is counted, spoofing and malformed (regression)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-tolerant-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const invite = sip([
    'INVITE sip:100@2001:db8::1 SIP/2.0',
    'Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKspoof1',
    'From: <sip:100@198.51.100.20>;tag=s1',
    'To: <sip:100@203.0.113.5>',
    'Call-ID: spoof-1',
    'CSeq: 1 INVITE',
    'User-Agent: friendly-scanner',
    'Max-Forwards: 70',
    'Content-Length: 0',
  ]);
  const options = sip([
    'OPTIONS sip:200@203.0.113.5 SIP/3.0',
    'Via: SIP/2.0/UDP 198.51.100.66:5060;branch=z9hG4bKo1',
    'From: <sip:200@198.51.100.66>;tag=o1',
    'To: <sip:200@203.0.113.5>',
    'Call-ID: probe-2',
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
  ]);
  const path = join(dir, 'spoof.pcap');
  writeFileSync(
    path,
    buildUdpPcap([
      {
        ts: 1,
        src: '198.51.100.66',
        sport: 5060,
        dst: '203.0.113.5',
        dport: 5060,
        payload: invite,
      },
      {
        ts: 2,
        src: '198.51.100.66',
        sport: 5060,
        dst: '203.0.113.5',
        dport: 5060,
        payload: options,
      },
    ]),
  );
  const { analysis } = await analyzeCaptureFile(path, { security: true });
  const report = buildReport(analysis);
  assert.deepEqual(report.stats.byMethod, { INVITE: 1, OPTIONS: 1 });
  assert.equal(report.stats.malformed, 2);
  const kinds = (kind: string) => report.findings.filter((f) => f.kind === kind);
  const spoofing = kinds('spoofing');
  assert.equal(spoofing.length, 1);
  assert.deepEqual(spoofing[0]!.frames, [1]);
  assert.match(spoofing[0]!.text, /198\.51\.100\.20/);
  assert.ok(
    kinds('scanner').some((f) => f.frames.includes(1)),
    'the scanner User-Agent is seen',
  );
  const malformed = kinds('malformed');
  assert.equal(malformed.length, 1);
  assert.deepEqual(malformed[0]!.frames, [1, 2]);
  assert.equal(malformed[0]!.frameCount, 2);
  assert.match(malformed[0]!.text, /Invalid Request-URI: bad port/);
  assert.match(malformed[0]!.text, /Unsupported SIP version/);
});
