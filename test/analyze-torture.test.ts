// Robustness: the 49 RFC 4475 torture messages, each as a UDP datagram of one capture, plus
// truncated copies of each. The analyzer must never throw; every SIP-looking datagram ends up
// either in a call or in parseFailures (with its frame number and the parser's reason), and the
// statistics count exactly the messages that were filed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile, buildReport, looksLikeSip } from '../src/analyze/index.ts';
import { buildUdpPcap } from './analyze-capture-builder.ts';
import { sharedDir } from './support/peers.ts';

test('RFC 4475 torture messages (whole and truncated) never crash the analyzer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-torture-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tortureDir = join(sharedDir, 'sip-torture');
  const payloads: Buffer[] = [];
  for (const f of readdirSync(tortureDir)
    .filter((x) => x.endsWith('.dat'))
    .sort()) {
    const bytes = readFileSync(join(tortureDir, f));
    payloads.push(bytes, bytes.subarray(0, Math.floor(bytes.length / 2)));
  }
  assert.ok(payloads.length >= 98);
  const file = join(dir, 'torture.pcap');
  writeFileSync(
    file,
    buildUdpPcap(
      payloads.map((payload, i) => ({
        ts: 1700000000 + i,
        src: '192.0.2.1',
        sport: 5060,
        dst: '192.0.2.2',
        dport: 5060,
        payload,
      })),
    ),
  );
  const { analysis, frames } = await analyzeCaptureFile(file);
  assert.equal(frames, payloads.length);
  const report = buildReport(analysis);
  const sipLooking = payloads.filter((p) => looksLikeSip(p)).length;
  const filed = report.calls.reduce((n, c) => n + c.messages.length, 0);
  assert.equal(filed + report.parseFailures.length, sipLooking);
  assert.equal(report.stats.messages, filed);
  assert.ok(report.parseFailures.length > 0, 'the invalid ones are reported');
  for (const f of report.parseFailures) {
    assert.ok(f.frame !== undefined && f.frame >= 1 && f.frame <= frames);
    assert.ok(f.reason.length > 0);
  }
  assert.ok(!report.warnings.some((w) => /analyzer error/.test(w)), report.warnings.join('\n'));
});
