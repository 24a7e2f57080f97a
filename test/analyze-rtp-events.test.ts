// RTP with no SIP whose stream also carries RFC 4733 telephone-events on a dynamic payload type:
// recognised as telephone-event from the packets (Wireshark does so for payload type 101 by its
// preference), its digits read, its event packets left out of the jitter; every packet of the
// heuristic stream counted by the cleartext finding. tshark (RTP heuristic on) is the reference
// for the packet counts, the codec names and, on the capture without the event packets, the jitter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile, buildReport } from '../src/analyze/index.ts';
import type { UdpDatagram } from './analyze-capture-builder.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import { needTool } from './support/peers.ts';

const SSRC = 0x0badcafe;
const VOICE_PT = 8;

function header(seq: number, ts: number, pt: number, marker = false): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 0x80;
  b[1] = pt | (marker ? 0x80 : 0);
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(SSRC, 8);
  return b;
}

/** 300 packets of PCMA every 20 ms; digits '1' and '5' as RFC 4733 events in place of voice. */
function stream(eventPt: number): UdpDatagram[] {
  const out: UdpDatagram[] = [];
  let seed = 11;
  const noise = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 0.003;
  const digits = new Map([
    [100, 1],
    [200, 5],
  ]);
  let seq = 4000;
  for (let i = 0; i < 300; i++) {
    const at = 1700000000 + i * 0.02 + noise();
    const start = [...digits.keys()].find((d) => i >= d && i < d + 8);
    let payload: Buffer;
    if (start !== undefined) {
      // one event of 8 packets: duration grows by 160; the last 3 are end packets (E bit)
      const k = i - start;
      const end = k >= 5;
      const ev = Buffer.from([digits.get(start)!, (end ? 0x80 : 0) | 10, 0, 0]);
      ev.writeUInt16BE(160 * Math.min(k + 1, 6), 2);
      payload = Buffer.concat([header(seq++, 160 * start, eventPt, k === 0), ev]);
    } else {
      payload = Buffer.concat([header(seq++, 160 * i, VOICE_PT), Buffer.alloc(160, 0xd5)]);
    }
    out.push({ ts: at, src: '192.0.2.30', sport: 41000, dst: '192.0.2.40', dport: 51000, payload });
  }
  return out;
}

interface Row {
  payload: string;
  packets: number;
  meanJitter: number;
  maxJitter: number;
}

function tsharkStreams(bin: string, path: string): Row[] {
  const text = execFileSync(
    bin,
    ['-r', path, '-o', 'rtp.heuristic_rtp:TRUE', '-q', '-z', 'rtp,streams'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const m =
      /0x[0-9A-Fa-f]+\s+(.*?)\s+(\d+)\s+-?\d+\s+\(-?[\d.]+%\)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+([\d.]+)/.exec(
        line,
      );
    if (m) {
      rows.push({
        payload: m[1]!,
        packets: Number(m[2]),
        meanJitter: Number(m[3]),
        maxJitter: Number(m[4]),
      });
    }
  }
  return rows;
}

test('RFC 4733 on payload type 101 with no SDP: telephone-event as tshark says, digits, jitter without the events', async (t) => {
  const bin = needTool(t, 'tshark');
  if (!bin) return;
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const packets = stream(101);
  const path = join(dir, 'events.pcap');
  writeFileSync(path, buildUdpPcap(packets));
  const voicePath = join(dir, 'voice.pcap');
  writeFileSync(
    voicePath,
    buildUdpPcap(packets.filter((p) => (p.payload[1]! & 0x7f) === VOICE_PT)),
  );

  const { analysis } = await analyzeCaptureFile(path, { security: true });
  const report = buildReport(analysis);
  assert.equal(report.rtpStreams.length, 1);
  const s = report.rtpStreams[0]!;
  assert.equal(s.foundBy, 'heuristic');
  assert.equal(s.codec, 'PCMA,telephone-event');
  assert.equal(s.dtmf, '15');

  const [theirs] = tsharkStreams(bin, path);
  assert.ok(theirs, 'tshark finds the stream');
  // without SDP tshark names the type by its dissector: 'rtpevent'
  assert.match(theirs.payload, /rtpevent|telephone-event/, 'tshark takes it for RFC 4733 too');
  assert.equal(s.packets, theirs.packets);
  const [voice] = tsharkStreams(bin, voicePath);
  for (const [ours, ref, what] of [
    [s.maxJitterMs, voice!.maxJitter, 'max'],
    [s.meanJitterMs, voice!.meanJitter, 'mean'],
  ] as const) {
    assert.ok(
      Math.abs(ours - ref) <= Math.max(ref * 0.01, 0.0005 + 1e-9),
      `${what} jitter: ours ${ours} vs tshark without the events ${ref}`,
    );
  }
  assert.ok(theirs.maxJitter > voice!.maxJitter, 'tshark with the events shows a jitter jump');

  // Cleartext: every packet of the heuristic stream, those before it proved itself included.
  const cleartext = report.findings.find((f) => f.kind === 'cleartext');
  assert.equal(cleartext?.frameCount, packets.length);
});

test('RFC 4733 on another dynamic payload type (110) with no SDP is telephone-event too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'events110.pcap');
  writeFileSync(path, buildUdpPcap(stream(110)));
  const report = buildReport((await analyzeCaptureFile(path)).analysis);
  assert.equal(report.rtpStreams[0]?.codec, 'PCMA,telephone-event');
  assert.equal(report.rtpStreams[0]?.dtmf, '15');
});

test('a dynamic payload type that is not shaped like RFC 4733 stays unnamed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const packets = stream(110).map((p) =>
    (p.payload[1]! & 0x7f) === 110
      ? { ...p, payload: Buffer.concat([p.payload, Buffer.alloc(16, 0x55)]) }
      : p,
  );
  const path = join(dir, 'other110.pcap');
  writeFileSync(path, buildUdpPcap(packets));
  const report = buildReport((await analyzeCaptureFile(path)).analysis);
  assert.equal(report.rtpStreams[0]?.codec, 'PCMA,PT110');
  assert.equal(report.rtpStreams[0]?.dtmf, undefined);
});
