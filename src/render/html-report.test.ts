import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHtmlReport } from './html-report.ts';
import { exampleReport } from './example-calls.ts';
import { callOf } from './test-models.ts';
import type { Report } from './model.ts';

/** The JSON the page embeds, parsed back. */
function embedded(html: string): {
  calls: Array<{ callId: string; messages: Array<{ raw: string; index: number }> }>;
} {
  const m = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html);
  assert.ok(m, 'report-data script present');
  return JSON.parse(m[1]!);
}

test('one call row and one ladder template per call, arrows per message', () => {
  const report = exampleReport();
  const html = renderHtmlReport(report);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.equal((html.match(/<tr data-testid="call-row"/g) ?? []).length, 2);
  report.calls.forEach((call, i) => {
    const tpl = new RegExp(`<template id="call-${i}">([\\s\\S]*?)</template>`).exec(html);
    assert.ok(tpl, `template ${i}`);
    const arrows = [...tpl[1]!.matchAll(/data-testid="arrow" data-index="(\d+)"/g)].map((a) =>
      Number(a[1]),
    );
    assert.deepEqual(
      arrows,
      call.messages.map((m) => m.index),
    );
  });
  const data = embedded(html);
  assert.deepEqual(
    data.calls.map((c) => c.messages.map((m) => m.raw)),
    report.calls.map((c) => c.messages.map((m) => m.raw)),
  );
  assert.ok(html.includes('data-testid="findings"') && html.includes('sev-medium'));
  assert.ok(html.includes('Requests by method'));
});

test('the page is self-contained: no external URL, a CSP that forbids fetching', () => {
  const html = renderHtmlReport(exampleReport({ 'call-a84b4c76': 'UklGRg==' }));
  const urls = [...html.matchAll(/\s(?:src|href|action)\s*=\s*"([^"]*)"/g)].map((m) => m[1]!);
  for (const u of urls) assert.ok(u.startsWith('#') || u.startsWith('data:'), u);
  assert.equal(/<link\b|@import|url\(/.test(html), false);
  const external = [...html.matchAll(/https?:\/\/[^\s"'<]+/g)].map((m) => m[0]);
  assert.deepEqual([...new Set(external)], ['http://www.w3.org/2000/svg']);
  assert.match(html, /Content-Security-Policy" content="default-src &#39;none&#39;/);
});

test('hostile strings are escaped and the embedded JSON cannot end its script', () => {
  const raw =
    'INVITE sip:x SIP/2.0\r\nSubject: </script><script>alert(1)</script>\u2028\u2029<!--\r\n\r\n';
  const call = callOf(
    ['10.0.0.1:5060', '10.0.0.2:5060'],
    [
      { from: '10.0.0.1:5060', to: '10.0.0.2:5060', label: 'INVITE', raw },
      { from: '10.0.0.2:5060', to: '10.0.0.1:5060', label: '486 <img src=x onerror=alert(2)>' },
    ],
  );
  call.from = '<script>alert(3)</script>@evil';
  call.hosts[0]!.userAgent = '"><script>alert(4)</script>';
  const report: Report = {
    title: '</title><script>alert(5)</script>',
    source: '<b>evil.pcap</b>',
    calls: [call],
    rtpStreams: [],
    findings: [{ kind: '<k>', severity: 'high', text: '<i>x</i>', frames: [1] }],
    warnings: ['<marquee>'],
    audio: { bad: '"><script>alert(6)</script>' },
  };
  call.audioId = 'bad';
  const html = renderHtmlReport(report);
  // Exactly the two scripts the page carries.
  assert.equal((html.match(/<script/g) ?? []).length, 2);
  assert.equal(/<img|<marquee|<b>evil|<i>x/.test(html), false);
  assert.equal(html.includes('\u2028') || html.includes('\u2029'), false);
  assert.equal(embedded(html).calls[0]!.messages[0]!.raw, raw);
  // An audio clip that is not base64 is left out rather than pasted into an attribute.
  assert.equal(html.includes('data-testid="audio-bad"'), false);
});

test('audio players appear for clips the report has, and only those', () => {
  const clip = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=';
  const html = renderHtmlReport(exampleReport({ 'call-a84b4c76': clip, 'stream-0badcafe': clip }));
  assert.equal((html.match(/<audio /g) ?? []).length, 2);
  assert.ok(html.includes(`data-testid="audio-call-a84b4c76" src="data:audio/wav;base64,${clip}"`));
  assert.ok(html.includes('data-testid="audio-stream-0badcafe"'));
  assert.equal(html.includes('audio-stream-1234abcd'), false);
  assert.equal(renderHtmlReport(exampleReport()).includes('<audio '), false);
});

test('an empty report still renders a page', () => {
  const html = renderHtmlReport({ title: 'Nothing', calls: [], rtpStreams: [] });
  assert.ok(html.includes('No calls in this source.'));
  assert.ok(html.includes('No RTP streams.'));
  assert.ok(html.includes('No findings.'));
});

test('a finding resting on more packets than it lists says how many in all', () => {
  const frames = Array.from({ length: 20 }, (_, i) => 100 + i);
  const html = renderHtmlReport({
    title: 'Flood',
    calls: [],
    rtpStreams: [],
    findings: [{ kind: 'brute-force', severity: 'high', text: 'x', frames, frameCount: 45 }],
  });
  assert.equal((html.match(/data-frame-link="/g) ?? []).length, 20);
  assert.ok(html.includes('data-frame-link="119">119</a>, … (45 in all)'));
  const few = renderHtmlReport({
    title: 'Few',
    calls: [],
    rtpStreams: [],
    findings: [{ kind: 'spoofing', severity: 'medium', text: 'y', frames: [3, 4] }],
  });
  assert.equal(few.includes('in all'), false);
});
