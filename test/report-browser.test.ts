// The HTML report in a real browser: Debian's chromium driven by playwright-core. Opens a report
// with two calls and generated WAV clips, and checks what an engineer would do with it: the call
// list, opening a call's ladder, reading a message, stepping with the keyboard, sorting, playing
// audio. Also parses every SVG ladder with the browser's own XML parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { needTool } from './support/peers.ts';
import { renderHtmlReport, renderSvg } from '../src/render/index.ts';
import { exampleReport } from '../src/render/example-calls.ts';

/**
 * What the page code reads of an element. The project compiles without the DOM library (and
 * @types/react, pulled in by the terminal view, declares an empty global HTMLElement), so the
 * page-side callbacks name the two members they use.
 */
interface DomElement {
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { top: number };
}

const SAMPLE_RATE = 8000;

/** The little of the browser's DOM the page functions use (the project compiles without lib.dom). */
interface BrowserGlobals {
  document: { querySelector(selector: string): { readyState: number; duration: number } | null };
  DOMParser: new () => {
    parseFromString(
      text: string,
      type: string,
    ): {
      querySelector(selector: string): { textContent: string | null } | null;
      documentElement: { nodeName: string };
    };
  };
}

/** A mono 16-bit PCM WAV: the 44-byte RIFF header, then a sine tone. */
function wavTone(seconds: number, hz: number): Buffer {
  const samples = Math.round(SAMPLE_RATE * seconds);
  const data = samples * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // channels
  b.writeUInt32LE(SAMPLE_RATE, 24);
  b.writeUInt32LE(SAMPLE_RATE * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples; i++) {
    b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE)), 44 + 2 * i);
  }
  return b;
}

test('HTML report works in headless Chromium', { timeout: 90_000 }, async (t) => {
  const executablePath = needTool(t, 'chromium', 'chromium');
  if (!executablePath) return;

  const clips = { 'call-a84b4c76': 0.5, 'stream-1234abcd': 0.25, 'stream-0badcafe': 0.125 };
  const audio = Object.fromEntries(
    Object.entries(clips).map(([id, s], k) => [id, wavTone(s, 440 + 100 * k).toString('base64')]),
  );
  const report = exampleReport(audio);
  const dir = mkdtempSync(join(tmpdir(), 'trapezoid-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderHtmlReport(report));
  const pageUrl = pathToFileURL(file).href;

  const browser = await chromium.launch({
    executablePath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('request', (r) => {
      const url = r.url();
      if (!url.startsWith(pathToFileURL(dir).href) && !url.startsWith('data:')) {
        problems.push(`request: ${url}`);
      }
    });
    await page.goto(pageUrl);

    // The call list: one row per call.
    const rows = page.locator('[data-testid="call-row"]');
    assert.equal(await rows.count(), report.calls.length);
    assert.equal(await page.locator('#call-detail').isHidden(), true);

    for (const [i, call] of report.calls.entries()) {
      await rows.nth(i).click();
      const ladder = page.locator('#call-detail [data-testid="ladder"]');
      assert.equal(await ladder.count(), 1);
      const arrows = page.locator('#call-detail [data-testid="arrow"]');
      const order = await arrows.evaluateAll((els) =>
        els.map((e) => Number((e as unknown as DomElement).getAttribute('data-index'))),
      );
      assert.deepEqual(
        order,
        call.messages.map((m) => m.index),
        `arrows of call ${i}`,
      );
      // The arrows are drawn top to bottom in that order.
      const tops = await arrows.evaluateAll((els) =>
        els.map((e) => (e as unknown as DomElement).getBoundingClientRect().top),
      );
      assert.deepEqual(
        tops,
        [...tops].sort((a, b) => a - b),
      );
      assert.equal(
        await page.locator('#call-detail [data-testid="rtp-bar"]').count(),
        call.rtp.length,
      );

      // Clicking an arrow shows that message's whole text.
      for (const k of [0, call.messages.length - 1]) {
        await arrows.nth(k).click();
        const detail =
          (await page.locator('#call-detail [data-testid="message-detail"]').textContent()) ?? '';
        const m = call.messages[k]!;
        for (const line of m.raw.split('\r\n').filter((l) => l !== '')) {
          assert.ok(
            detail.includes(line),
            `message ${k} of call ${i} shows ${JSON.stringify(line)}`,
          );
        }
        assert.ok(detail.includes(`${m.from} → ${m.to}`));
        assert.equal(
          await page.locator('#call-detail .tz-selected').getAttribute('data-index'),
          String(m.index),
        );
      }
      // ↑ steps back to the message before the last.
      await page.keyboard.press('ArrowUp');
      const previous = call.messages[call.messages.length - 2]!;
      const detail =
        (await page.locator('#call-detail [data-testid="message-detail"]').textContent()) ?? '';
      assert.ok(
        detail.includes(previous.raw.split('\r\n')[0]!),
        'ArrowUp shows the previous message',
      );
    }

    // Audio: the first call's clip and its stream's clip, and the unmapped stream's clip load.
    await rows.nth(0).click();
    const ids = Object.keys(clips);
    await page.waitForFunction(
      (list) =>
        list.every((id) => {
          const a = (globalThis as unknown as BrowserGlobals).document.querySelector(
            `[data-testid="audio-${id}"]`,
          );
          return a !== null && a.readyState >= 1;
        }),
      ids,
      { timeout: 20_000 },
    );
    const durations = await page.evaluate(
      (list) =>
        list.map(
          (id) =>
            (globalThis as unknown as BrowserGlobals).document.querySelector(
              `[data-testid="audio-${id}"]`,
            )!.duration,
        ),
      ids,
    );
    ids.forEach((id, k) => {
      const want = clips[id as keyof typeof clips];
      assert.ok(
        Math.abs(durations[k]! - want) < 0.01,
        `${id}: duration ${durations[k]} want ${want}`,
      );
    });

    // Sorting by duration puts the short rejected call first, and back.
    const firstCallId = (): Promise<string | null> =>
      rows.first().locator('td').last().textContent();
    await page.locator('#call-table th', { hasText: 'Duration' }).click();
    assert.equal(await firstCallId(), report.calls[1]!.callId);
    await page.locator('#call-table th', { hasText: 'Duration' }).click();
    assert.equal(await firstCallId(), report.calls[0]!.callId);

    // Filtering hides the rows that do not match.
    await page.locator('#call-filter').fill('busy');
    assert.equal(await page.locator('[data-testid="call-row"]:visible').count(), 1);
    await page.locator('#call-filter').fill('');

    // A frame number in the findings opens its call at that message (frame 23: the INVITE
    // retransmission of the second call).
    await page.locator('[data-testid="finding"] [data-frame-link="23"]').click();
    const retransmitted = report.calls[1]!.messages.find((m) => m.frame === 23)!;
    assert.equal(await rows.nth(1).getAttribute('aria-selected'), 'true');
    assert.equal(
      await page.locator('#call-detail .tz-selected').getAttribute('data-index'),
      String(retransmitted.index),
    );
    assert.ok(
      (
        (await page.locator('#call-detail [data-testid="message-detail"]').textContent()) ?? ''
      ).includes('retransmission'),
    );

    // Every standalone SVG ladder parses as XML in the browser.
    const svgs = report.calls.map((c) => renderSvg(c));
    const errors = await page.evaluate(
      (list) =>
        list.map((s) => {
          const Parser = (globalThis as unknown as BrowserGlobals).DOMParser;
          const doc = new Parser().parseFromString(s, 'image/svg+xml');
          return (
            doc.querySelector('parsererror')?.textContent ??
            (doc.documentElement.nodeName === 'svg' ? '' : 'no svg root')
          );
        }),
      svgs,
    );
    assert.deepEqual(
      errors,
      svgs.map(() => ''),
    );

    // A picture of the report with the first call open and a message selected, to judge the design.
    await rows.nth(0).click();
    await page.locator('#call-detail [data-testid="arrow"]').nth(5).click();
    await page.screenshot({ path: '/tmp/report.png', fullPage: true });

    // A report without calls still loads without a script error.
    const empty = join(dir, 'empty.html');
    writeFileSync(empty, renderHtmlReport({ title: 'Nothing here', calls: [], rtpStreams: [] }));
    await page.goto(pathToFileURL(empty).href);
    assert.equal(await page.locator('[data-testid="call-row"]').count(), 0);
    assert.ok(
      ((await page.locator('[data-testid="calls"]').textContent()) ?? '').includes('No calls'),
    );

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
