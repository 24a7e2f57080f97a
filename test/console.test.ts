// The live console (issue 14) in a real browser: `trapezoid serve` with a token, the page it
// serves at / opened in Debian's Chromium (playwright-core). The page asks for the token; two
// trapezoid phones register (both appear); one calls the other through the media relay (the call
// appears within 1 s of the server logging its INVITE, its ladder grows live to the 200 and the
// BYE, the INVITE's credentials are redacted); a CDR search finds it; the call's capture
// downloaded from the page is read by `trapezoid analyze` and tshark, and both give the messages
// the server logged. Also the access rules: the console's files load without the token, its data
// and actions do not, and a server with no token has no actions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CONSOLE_DIR } from '../src/server/http-api.ts';
import type { CallDetail } from '../src/server/console-model.ts';
import { needTool, repoRoot } from './support/peers.ts';
import { freePort, freePortRange } from './support/ports.ts';
import { InProcessPhone } from './support/in-process-phone.ts';
import { RawClient, serve, sipRequest } from './security-peer.ts';

const TOKEN = 'console-test-token-0123456789';
const DOMAIN = 'console.test';
const bin = join(repoRoot, 'bin', 'trapezoid.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bundle the server serves: built here when missing, so this file runs on its own. */
function ensureConsoleBuilt(): void {
  if (existsSync(join(CONSOLE_DIR, 'index.html'))) return;
  execFileSync(
    process.execPath,
    [
      join(repoRoot, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--config',
      join(repoRoot, 'web', 'vite.config.ts'),
    ],
    {
      cwd: repoRoot,
      stdio: 'pipe',
      timeout: 120_000,
    },
  );
}

/** The little of the browser the page functions below use (the project has no lib.dom). */
interface PageGlobals {
  document: {
    querySelectorAll(
      s: string,
    ): ArrayLike<{ textContent: string | null; getAttribute(a: string): string | null }>;
  };
}

/** The labels of the ladder's arrows, in order. */
function arrowLabels(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const d = (globalThis as unknown as PageGlobals).document;
    return Array.from(d.querySelectorAll('#ladder [data-testid="arrow"] .tz-label')).map(
      (e) => e.textContent ?? '',
    );
  });
}

test(
  'the live console: registrations, a live call and its ladder, CDR search, the call capture read by analyze and tshark',
  { timeout: 120_000 },
  async (t) => {
    const executablePath = needTool(t, 'chromium', 'chromium');
    if (!executablePath) return;
    const tshark = needTool(t, 'tshark', 'tshark');
    if (!tshark) return;
    ensureConsoleBuilt();

    const [sip, http, carrier1, carrier2] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const relayPorts = await freePortRange(80);
    const phoneRtp = await freePortRange(20);
    const server = await serve(
      {
        domain: DOMAIN,
        http: { address: '127.0.0.1', port: http, token: TOKEN },
        media: { mode: 'relay', ports: relayPorts, timeoutSeconds: 30 },
        // The phones (127.0.0.1) are trusted; a flood from 127.0.0.9 is banned (then unbanned).
        security: {
          rateLimit: { requests: 20, perSeconds: 1, banSeconds: 120 },
          trustedSources: ['127.0.0.1'],
        },
        // A trunk no call goes to: the panel lists its peers in failover order.
        trunks: [
          {
            name: 'carrier',
            peers: [
              { host: '127.0.0.1', port: carrier1 },
              { host: '127.0.0.1', port: carrier2 },
            ],
          },
        ],
        users: [
          { user: '2001', password: 'caller-pw-2001' },
          { user: '2002', password: 'callee-pw-2002' },
        ],
      },
      { sip, http },
      'console',
    );
    t.after(() => server.stop());
    const base = `http://127.0.0.1:${http}`;
    const dir = mkdtempSync(join(tmpdir(), 'trapezoid-console-'));
    // One hook, in this order: Chromium still writes its profile until it has closed, and a
    // removal that raced it (ENOTEMPTY) once left the browser running and the run hanging.
    const browser: { context?: BrowserContext } = {};
    t.after(async () => {
      await browser.context?.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    });

    // Access: the page loads without the token; the data and the actions need it.
    assert.equal((await fetch(`${base}/`)).status, 200);
    assert.equal((await fetch(`${base}/api/calls`)).status, 401);
    assert.equal((await fetch(`${base}/api/events`)).status, 401);
    assert.equal((await fetch(`${base}/api/bans/127.0.0.9`, { method: 'DELETE' })).status, 401);
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal(
      (await fetch(`${base}/api/bans/127.0.0.9`, { method: 'DELETE', headers: auth })).status,
      404,
      'with the token: no such ban',
    );
    // The page, like the API, answers only to its own names (DNS rebinding).
    const misdirected = await new Promise<number>((resolve, reject) =>
      httpGet(
        { host: '127.0.0.1', port: http, path: '/', headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject),
    );
    assert.equal(misdirected, 421);

    // A fresh profile: playwright takes it as the persistent context's --user-data-dir.
    const context = await chromium.launchPersistentContext(join(dir, 'chromium'), {
      executablePath,
      acceptDownloads: true,
      viewport: { width: 1600, height: 1000 },
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
    browser.context = context;
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('blob:')) outside.push(r.url());
    });
    await page.goto(`${base}/`);
    await page.getByTestId('token-input').waitFor({ state: 'visible', timeout: 10_000 });
    await page.getByTestId('token-input').fill(TOKEN);
    await page.getByTestId('token-input').press('Enter');
    await page.waitForSelector('[data-testid="feed-status"].ok', { timeout: 10_000 });
    assert.match((await page.getByTestId('access').textContent()) ?? '', /actions allowed/);
    // The trunks panel: each peer in failover order, no call sent to either yet
    // (test/server-relay-capture.test.ts checks a failover through /api/trunks).
    const peers = page
      .locator('[data-testid="trunk"]', { hasText: 'carrier' })
      .getByTestId('trunk-peer');
    await peers.nth(1).waitFor({ timeout: 5_000 });
    assert.deepEqual(await peers.allTextContents(), [
      `1. udp:127.0.0.1:${carrier1} no call yet`,
      `2. udp:127.0.0.1:${carrier2} no call yet`,
    ]);

    // Two phones register: both appear.
    const server_ = `127.0.0.1:${sip}`;
    const callee = new InProcessPhone({
      server: server_,
      user: '2002',
      domain: DOMAIN,
      password: 'callee-pw-2002',
      answer: true,
      listen: 'udp:127.0.0.1:0',
      play: 'tone:440',
      rtpPorts: phoneRtp,
      calls: 1,
    });
    t.after(() => callee.stop());
    await callee.waitFor('registered', 15_000);
    await page.waitForSelector(`[data-testid="registration"][data-aor="sip:2002@${DOMAIN}"]`, {
      timeout: 5_000,
    });

    const caller = new InProcessPhone({
      server: server_,
      user: '2001',
      domain: DOMAIN,
      password: 'caller-pw-2001',
      call: `sip:2002@${DOMAIN}`,
      play: 'tone:880',
      hangupAfter: 3,
      rtpPorts: phoneRtp,
    });
    t.after(() => caller.stop());
    await caller.waitFor('registered', 15_000);
    await page.waitForSelector(`[data-testid="registration"][data-aor="sip:2001@${DOMAIN}"]`, {
      timeout: 5_000,
    });

    // The call appears within 1 s of the server logging its INVITE.
    const row = page.locator('[data-testid="call-row"]').first();
    await row.waitFor({ timeout: 10_000 });
    const callId = (await row.getAttribute('data-call-id'))!;
    const seenAt = Number(await row.getAttribute('data-first-seen'));
    const detail0 = (await (
      await fetch(`${base}/api/calls/${encodeURIComponent(callId)}`, { headers: auth })
    ).json()) as CallDetail;
    const appearedMs = seenAt - detail0.messages[0]!.ts;
    assert.ok(appearedMs < 1000, `the call appeared ${appearedMs} ms after its INVITE`);
    t.diagnostic(
      `the call appeared in the page ${appearedMs} ms after the server logged its INVITE`,
    );

    // Open it while it is set up: the ladder grows live to the 200, then to the BYE.
    await row.click();
    await page.waitForFunction(
      () => {
        const d = (globalThis as unknown as PageGlobals).document;
        return Array.from(d.querySelectorAll('#ladder .tz-label')).some((e) =>
          /^200 /.test(e.textContent ?? ''),
        );
      },
      undefined,
      { timeout: 10_000 },
    );
    const atAnswer = await arrowLabels(page);
    assert.ok(!atAnswer.includes('BYE'), `the call is still up: ${atAnswer.join(', ')}`);
    await page.waitForSelector('[data-testid="call-row"][data-state="answered"]', {
      timeout: 5_000,
    });
    await sleep(1200); // a few media seconds on the relay, then the picture of a live call
    await page.locator('#ladder [data-testid="arrow"][data-index="0"]').click();
    assert.match((await page.getByTestId('message').textContent()) ?? '', /^INVITE sip:2002@/);
    if (process.env.TRAPEZOID_SCREENSHOT)
      await page.screenshot({ path: process.env.TRAPEZOID_SCREENSHOT, fullPage: false });
    await page.waitForFunction(
      () => {
        const d = (globalThis as unknown as PageGlobals).document;
        return Array.from(d.querySelectorAll('#ladder .tz-label')).some(
          (e) => e.textContent === 'BYE',
        );
      },
      undefined,
      { timeout: 15_000 },
    );
    await page.waitForSelector(
      `[data-testid="call-row"][data-call-id="${callId}"][data-state="ended"]`,
      { timeout: 5_000 },
    );
    await caller.waitFor('ended', 10_000);
    await sleep(300); // the 200 to the BYE
    const final = await arrowLabels(page);
    assert.ok(final.length > atAnswer.length, 'the ladder grew after the answer');
    const logged = (await (
      await fetch(`${base}/api/calls/${encodeURIComponent(callId)}`, { headers: auth })
    ).json()) as CallDetail;
    assert.deepEqual(
      final,
      logged.messages.map((m) => m.label),
      'the ladder shows every logged message, in order',
    );
    assert.equal(logged.codec, 'PCMU');

    // The first INVITE's credentials are redacted in the message pane (the second carries them).
    const authorized = logged.messages.findIndex(
      (m) => m.label === 'INVITE' && /Authorization:/i.test(m.raw),
    );
    assert.ok(authorized >= 0, 'the caller authenticated its INVITE');
    await page.locator(`#ladder [data-testid="arrow"][data-index="${authorized}"]`).click();
    const shown = (await page.getByTestId('message').textContent()) ?? '';
    assert.match(shown, /^INVITE sip:2002@/);
    assert.match(shown, /Authorization:/i);
    assert.doesNotMatch(shown, /response="?[0-9a-f]{32}/i, 'the digest response is not shown');

    // CDR search by the callee's number finds the call.
    await page.getByTestId('cdr-number').fill('2002');
    await page.getByTestId('cdr-search').click();
    await page.waitForSelector(`[data-testid="cdr"][data-call-id="${callId}"]`, { timeout: 5_000 });
    const csv = await fetch(`${base}/api/cdrs?number=2002&format=csv`, { headers: auth });
    assert.match(
      await csv.text(),
      new RegExp(`^id,callId,.*\\r\\n\\d+,${callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},`, 's'),
    );

    // A flood from 127.0.0.9 is banned: the ban shows, and Unban (an action, with the token)
    // lifts it.
    const flooder = await RawClient.open('127.0.0.9');
    t.after(() => flooder.close());
    const options = () =>
      sipRequest(flooder, {
        method: 'OPTIONS',
        uri: `sip:${DOMAIN}`,
        from: `sip:probe@${DOMAIN}`,
        to: `sip:${DOMAIN}`,
      });
    await Promise.all(Array.from({ length: 40 }, () => flooder.request(options(), sip, 500)));
    const banRow = page.locator('[data-testid="ban"]', { hasText: '127.0.0.9' });
    await banRow.waitFor({ timeout: 5_000 });
    assert.equal(await flooder.request(options(), sip, 500), undefined, 'banned: no answer');
    await banRow.getByTestId('unban').click();
    await banRow.waitFor({ state: 'detached', timeout: 5_000 });
    assert.ok(await flooder.request(options(), sip, 2000), 'unbanned: answered again');

    // The call's capture, downloaded from the page.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('pcap-download').click(),
    ]);
    const pcap = join(dir, 'call.pcapng');
    await download.saveAs(pcap);
    const wanted = logged.messages.map((m) => m.raw.split('\r\n')[0]);

    // trapezoid analyze: the same call and messages, between the same hosts.
    const analysis = JSON.parse(
      execFileSync(
        process.execPath,
        [bin, 'analyze', pcap, '--ladder', callId, '--format', 'json'],
        {
          encoding: 'utf8',
          timeout: 60_000,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    ) as {
      calls: Array<{
        callId: string;
        ladder: { messages: Array<{ raw: string; from: string; to: string }> };
      }>;
    };
    assert.deepEqual(
      analysis.calls.map((c) => c.callId),
      [callId],
    );
    const analysed = analysis.calls[0]!.ladder.messages;
    assert.deepEqual(
      analysed.map((m) => m.raw.split('\r\n')[0]),
      wanted,
    );
    assert.deepEqual(
      analysed.map((m) => `${m.from} -> ${m.to}`),
      logged.messages.map((m) => `${m.from.replace(/^\w+:/, '')} -> ${m.to.replace(/^\w+:/, '')}`),
    );

    // tshark: the same messages.
    const fields = execFileSync(
      tshark,
      [
        '-r',
        pcap,
        '-Y',
        'sip',
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-e',
        'sip.Call-ID',
        '-e',
        'sip.Request-Line',
        '-e',
        'sip.Status-Line',
      ],
      { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines = fields
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    assert.deepEqual(
      lines.map((l) => l[0]),
      wanted.map(() => callId),
    );
    assert.deepEqual(
      lines.map((l) => l[1] || l[2]),
      wanted,
    );

    // The phones unregister while the server still answers (after hooks run in order: the
    // server's stop comes first).
    assert.equal(await caller.stop(), 0);
    assert.equal(await callee.stop(), 0);
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
    assert.deepEqual(outside, [], 'the page asks nothing of any other host');
  },
);

test(
  'console access: read-only without the token when http.readWithoutToken is set; no actions at all without a token',
  { timeout: 60_000 },
  async (t) => {
    const [open, bare] = await Promise.all([
      (async () =>
        serve(
          {
            domain: DOMAIN,
            http: {
              address: '127.0.0.1',
              port: await freePort(),
              token: TOKEN,
              readWithoutToken: true,
            },
          },
          { sip: await freePort(), http: 0 },
          'console-open',
        ))(),
      (async () =>
        serve(
          { domain: DOMAIN },
          { sip: await freePort(), http: await freePort() },
          'console-bare',
        ))(),
    ]);
    t.after(() => Promise.all([open.stop(), bare.stop()]));
    const port = (s: typeof open) =>
      Number(new URL((JSON.parse(s.peer.stdout.split('\n')[0]!) as { http: string }).http).port);
    const openBase = `http://127.0.0.1:${port(open)}`;
    const bareBase = `http://127.0.0.1:${port(bare)}`;

    // Read-only for all: the page, the data and the event stream; the actions need the token.
    assert.equal((await fetch(`${openBase}/`)).status, 200);
    assert.equal((await fetch(`${openBase}/api/calls`)).status, 200);
    assert.equal(
      (await fetch(`${openBase}/api/cdrs?format=csv`)).headers.get('content-type'),
      'text/csv; charset=utf-8',
    );
    const events = await fetch(`${openBase}/api/events`);
    assert.equal(events.status, 200);
    const first = await events.body!.getReader().read();
    assert.match(new TextDecoder().decode(first.value), /^data: \{"type":"hello","canAct":false,/);
    await events.body!.cancel().catch(() => {});
    assert.equal((await fetch(`${openBase}/api/bans/127.0.0.9`, { method: 'DELETE' })).status, 401);
    assert.equal(
      (
        await fetch(`${openBase}/api/calls`, {
          headers: { authorization: 'Bearer wrong-token-0123456789' },
        })
      ).status,
      401,
      'a wrong token is refused, not ignored',
    );
    assert.equal(
      (
        await fetch(`${openBase}/api/bans/127.0.0.9`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).status,
      404,
    );

    // No token configured (loopback): reading is open, acting is not possible.
    assert.equal((await fetch(`${bareBase}/api/calls`)).status, 200);
    assert.equal((await fetch(`${bareBase}/api/bans/127.0.0.9`, { method: 'DELETE' })).status, 403);
    assert.equal((await fetch(`${bareBase}/api/calls/no-such-call/pcap`)).status, 404);
  },
);
