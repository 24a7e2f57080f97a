import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseMessage, SipRequest } from '../sip/index.ts';
import type { Endpoint, InboundMessage } from '../transport/index.ts';
import { validateConfig } from './config.ts';
import { SecurityGuard, type SecurityConfig } from './security-guard.ts';
import { RateLimiter } from './rate-limiter.ts';
import { BanList } from './ban-list.ts';

function security(overrides: Partial<SecurityConfig> = {}): SecurityConfig {
  return { ...validateConfig({}).security, ...overrides };
}

function request(userAgent?: string): SipRequest {
  const msg = parseMessage(
    [
      'OPTIONS sip:demo.trapezoid SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKg1',
      'From: <sip:100@demo.trapezoid>;tag=f1',
      'To: <sip:100@demo.trapezoid>',
      'Call-ID: guard-1',
      'CSeq: 1 OPTIONS',
      ...(userAgent ? [`User-Agent: ${userAgent}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  assert.ok(msg instanceof SipRequest);
  return msg;
}

const from = (address: string, port = 5060): Endpoint => ({ protocol: 'udp', address, port });

function inbound(req: SipRequest, source: Endpoint): InboundMessage {
  return {
    message: req,
    source,
    local: { protocol: 'udp', address: '127.0.0.1', port: 5060 },
    receivedAt: 0,
  };
}

function setup(overrides: Partial<SecurityConfig> = {}, maxTracked?: number) {
  const clock = { t: 1_000_000 };
  const lines: string[] = [];
  const guard = new SecurityGuard(security(overrides), {
    now: () => clock.t,
    maxTracked,
    // The guard's log as JSON lines (what serve writes when stderr is not a TTY): their messages.
    logger: pino(
      { level: 'info' },
      { write: (line: string) => lines.push((JSON.parse(line) as { msg: string }).msg) },
    ),
  });
  const req = request('Linphone/5.0');
  const send = (source: Endpoint, r = req) => guard.admit(r, inbound(r, source));
  return { clock, guard, send, lines };
}

test('rate limit: the request over the limit bans the address, later ones are dropped, the ban expires', () => {
  const { clock, guard, send } = setup({
    rateLimit: { requests: 10, perSeconds: 2, banSeconds: 30 },
  });
  const attacker = from('192.0.2.66', 40000);
  for (let i = 0; i < 10; i++) {
    assert.equal(send(attacker), true, `request ${i + 1} is within the limit`);
    clock.t += 10;
  }
  assert.equal(send(attacker), false, 'the 11th within 2 s is over the limit');
  // Every port of the address is banned.
  assert.equal(send(from('192.0.2.66', 40001)), false);
  assert.equal(send(from('192.0.2.67')), true, 'another address is not affected');
  const bans = guard.bans();
  assert.equal(bans.length, 1);
  assert.equal(bans[0]!.source, '192.0.2.66');
  assert.equal(bans[0]!.reason, 'rate-limit');
  assert.equal(bans[0]!.count, 1, 'one request dropped by the ban so far');
  assert.equal(bans[0]!.until, new Date(clock.t + 30_000).toISOString());
  clock.t += 29_000;
  assert.equal(send(attacker), false, 'still banned after 29 s');
  clock.t += 1_000;
  assert.equal(send(attacker), true, 'the ban ended');
  assert.deepEqual(guard.bans(), []);
  assert.equal(guard.stats.droppedRate, 1);
  assert.equal(guard.stats.droppedBanned, 2);
  assert.equal(guard.stats.bansIssued, 1);
});

test('rate limit: a steady rate just under the limit is never banned, across many windows', () => {
  const { clock, guard, send } = setup({
    rateLimit: { requests: 10, perSeconds: 1, banSeconds: 30 },
  });
  const phone = from('192.0.2.10');
  for (let i = 0; i < 200; i++) {
    assert.equal(send(phone), true, `request ${i}`);
    clock.t += 125; // 8 per second
  }
  assert.equal(guard.stats.bansIssued, 0);
});

test('rate limit: a burst straddling two windows is still caught (sliding window)', () => {
  const { clock, send } = setup({ rateLimit: { requests: 10, perSeconds: 1, banSeconds: 30 } });
  const a = from('192.0.2.20');
  assert.equal(send(a), true); // opens the window at t0
  clock.t += 900;
  for (let i = 0; i < 9; i++) assert.equal(send(a), true); // 10 in the first window, at its end
  clock.t += 150; // a new fixed window began 50 ms ago; 95% of the old one still counts
  let admitted = 0;
  for (let i = 0; i < 10; i++) if (send(a)) admitted++;
  assert.ok(
    admitted < 5,
    `a fixed window would admit 10 more; the sliding one admitted ${admitted}`,
  );
});

test('trusted sources (address or address:port) are never rate-limited nor banned', () => {
  const { guard, send } = setup({
    rateLimit: { requests: 3, perSeconds: 10, banSeconds: 30 },
    trustedSources: ['192.0.2.1', '127.0.0.1:7000', '[::1]:7001'],
  });
  for (let i = 0; i < 50; i++) {
    assert.equal(send(from('192.0.2.1', 1000 + i)), true);
    assert.equal(send(from('127.0.0.1', 7000)), true);
    assert.equal(send({ protocol: 'udp', address: '::1', port: 7001 }), true);
  }
  for (let i = 0; i < 10; i++) guard.authFailed(from('192.0.2.1'), '1000');
  assert.deepEqual(guard.bans(), []);
  // Another port of a trusted address:port is not trusted.
  let admitted = 0;
  for (let i = 0; i < 10; i++) if (send(from('127.0.0.1', 7002))) admitted++;
  assert.equal(admitted, 3);
  assert.equal(guard.bans()[0]!.source, '127.0.0.1');
});

test('scanner user agents are dropped case-insensitively, without a ban; an empty list drops none', () => {
  const { guard, send } = setup();
  const svmap = request('friendly-scanner');
  assert.equal(send(from('192.0.2.30'), svmap), false);
  assert.equal(send(from('192.0.2.30'), request('Mozilla SIPVicious/0.3')), false);
  assert.equal(send(from('192.0.2.30'), request('sipsak 0.9.8')), true, 'a monitoring probe');
  assert.equal(send(from('192.0.2.30'), request('Linphone/5.0')), true);
  assert.equal(send(from('192.0.2.30'), request()), true, 'no User-Agent at all is not a scanner');
  assert.equal(guard.stats.droppedScanner, 2);
  assert.deepEqual(guard.bans(), []);

  const open = setup({ scannerUserAgents: [] });
  assert.equal(open.send(from('192.0.2.30'), svmap), true);
});

test('scanner drops are logged, not flooded: the first per address, then a count once a minute', () => {
  const { clock, send, lines } = setup();
  const svwar = request('friendly-scanner');
  const scanner = from('192.0.2.40', 5070);
  for (let i = 0; i < 1000; i++) {
    assert.equal(send(scanner, svwar), false);
    clock.t += 10; // 1000 requests in 10 s
  }
  assert.deepEqual(lines, [
    'security: dropped OPTIONS from scanner udp:192.0.2.40:5070 (User-Agent "friendly-scanner"); more from 192.0.2.40 are counted, reported at most once a minute',
  ]);
  clock.t += 50_000; // a minute after the first report: the next drop reports the count
  send(scanner, svwar);
  assert.equal(lines.length, 2);
  assert.equal(
    lines[1],
    'security: scanner 192.0.2.40: 1000 more requests dropped in the last 60 s (User-Agent "friendly-scanner")',
  );
  send(scanner, svwar);
  assert.equal(lines.length, 2, 'then quiet again for a minute');
});

test('scanner drops from many addresses: at most 10 log lines a minute, the rest counted in one', () => {
  const { clock, send, lines } = setup();
  const svmap = request('friendly-scanner');
  for (let i = 0; i < 500; i++) send(from(`198.51.100.${i % 250}`, 6000 + i), svmap);
  assert.equal(lines.length, 10);
  clock.t += 60_000;
  send(from('203.0.113.1'), svmap);
  assert.equal(lines.length, 12);
  assert.match(lines[10]!, /^security: 240 more scanner reports withheld in the last minute/);
  assert.match(lines[11]!, /^security: dropped OPTIONS from scanner udp:203\.0\.113\.1:5060/);
});

test('brute force from one address: maxFailures failures in the window ban it, spread-out ones do not', () => {
  const { clock, guard, send } = setup({
    bruteForce: { maxFailures: 5, windowSeconds: 60, banSeconds: 600 },
  });
  const slow = from('192.0.2.40');
  for (let i = 0; i < 12; i++) {
    guard.authFailed(slow, `u${i}`);
    clock.t += 30_000; // two failures a minute: at most 3 in any window
  }
  assert.equal(guard.isBanned('192.0.2.40'), false);

  const cracker = from('192.0.2.41', 5070);
  for (let i = 0; i < 4; i++) guard.authFailed(cracker, `x${i}`);
  assert.equal(send(cracker), true, 'four failures: not yet');
  guard.authFailed(cracker, 'x4');
  assert.equal(send(cracker), false, 'the fifth bans it');
  const ban = guard.bans().find((b) => b.source === '192.0.2.41');
  assert.equal(ban?.reason, 'brute-force');
  assert.equal(ban?.until, new Date(clock.t + 600_000).toISOString());
});

test("brute force against one user from many addresses bans them, not the user's own phone", () => {
  const { clock, guard, send, lines } = setup({
    bruteForce: { maxFailures: 5, windowSeconds: 60, banSeconds: 600 },
  });
  const phone = from('198.51.100.7', 5060);
  guard.authSucceeded(phone, '1000');
  clock.t += 1000;
  guard.authFailed(phone, '1000'); // the owner mistypes once
  const bots = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4'].map((a) => from(a));
  for (const b of bots) {
    clock.t += 1000;
    guard.authFailed(b, '1000'); // one failure each: no address reaches the per-address limit
  }
  // Five failures against 1000 in the window: every failing address but the owner's is banned.
  assert.deepEqual(
    guard
      .bans()
      .map((b) => b.source)
      .sort(),
    bots.map((b) => b.address).sort(),
  );
  assert.ok(guard.bans().every((b) => b.reason === 'user-under-attack' && b.user === '1000'));
  assert.equal(send(phone), true, "the owner's phone still gets through");
  assert.ok(lines.some((l) => l.includes('user 1000 under attack')));

  // While under attack, a new address is banned at its first failure against 1000 ...
  clock.t += 1000;
  guard.authFailed(from('203.0.113.99'), '1000');
  assert.equal(guard.isBanned('203.0.113.99'), true);
  // ... but not for another user.
  guard.authFailed(from('203.0.113.100'), '1001');
  assert.equal(guard.isBanned('203.0.113.100'), false);
  // The owner's phone failing again is not banned by the user rule.
  guard.authFailed(phone, '1000');
  assert.equal(guard.isBanned(phone.address), false);
  // After banSeconds the user is no longer under attack: one failure is one failure again.
  clock.t += 601_000;
  guard.authFailed(from('203.0.113.101'), '1000');
  assert.equal(guard.isBanned('203.0.113.101'), false);
});

test('failures without a user name still count per address', () => {
  const { guard } = setup({ bruteForce: { maxFailures: 3, windowSeconds: 60, banSeconds: 60 } });
  for (let i = 0; i < 3; i++) guard.authFailed(from('192.0.2.50'), undefined);
  assert.equal(guard.isBanned('192.0.2.50'), true);
});

test('memory stays bounded under a flood of distinct addresses and user names', () => {
  const { clock, guard, send } = setup(
    { rateLimit: { requests: 2, perSeconds: 1, banSeconds: 60 } },
    500,
  );
  for (let i = 0; i < 20_000; i++) {
    const a = from(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    send(a);
    guard.authFailed(a, `user${i}`);
    if (i % 100 === 0) clock.t += 10;
  }
  assert.ok(guard.trackedSources <= 500, `tracked sources ${guard.trackedSources}`);
  assert.ok(guard.trackedUsers <= 500, `tracked users ${guard.trackedUsers}`);
  // Old entries are pruned once their windows pass.
  clock.t += 10 * 60_000;
  send(from('192.0.2.200'));
  assert.equal(guard.trackedSources, 1);
});

test('RateLimiter: stale keys are forgotten, the least recently seen go first when full', () => {
  const r = new RateLimiter({ windowMs: 1000, maxKeys: 3 });
  r.hit('a', 0);
  r.hit('b', 0);
  r.hit('c', 0);
  r.hit('a', 10); // a is now the most recently seen
  r.hit('d', 20); // full: b (least recently seen) goes
  assert.equal(r.count('b', 20), 0);
  assert.equal(r.count('a', 20), 2);
  assert.equal(r.count('c', 20), 1);
  assert.ok(Math.abs(r.count('a', 1500) - 2 * (1 - 500 / 1000)) < 1e-9);
  assert.equal(r.count('a', 2000), 0);
});

test('BanList: bounded, the ban nearest its end makes room; a ban is extended, never shortened', () => {
  const list = new BanList(2);
  list.ban('a', 'rate-limit', 100, 0);
  list.ban('b', 'rate-limit', 10, 0);
  list.ban('c', 'brute-force', 50, 0); // full: b ends soonest
  assert.deepEqual(
    list.list(0).map((b) => b.source),
    ['a', 'c'],
  );
  list.ban('c', 'rate-limit', 5, 1000);
  assert.equal(list.list(1000)[1]!.until, new Date(50_000).toISOString());
  list.ban('c', 'user-under-attack', 500, 1000, '1000');
  const c = list.list(1000)[0]!;
  assert.equal(c.source, 'c');
  assert.equal(c.reason, 'user-under-attack');
  assert.equal(c.until, new Date(501_000).toISOString());
});

test('BanList.reconcile: becomes the snapshot, without undoing changes made after it was asked for', () => {
  const list = new BanList({ shared: true });
  const stored = (source: string, until: number) => ({
    source,
    reason: 'rate-limit' as const,
    until,
    node: 'other',
  });
  list.ban('kept', 'brute-force', 100, 0); // in the snapshot
  list.ban('gone', 'brute-force', 100, 0); // lifted elsewhere, the announcement missed
  list.ban('pending', 'brute-force', 100, 0); // its write has not reached the store yet
  const since = list.version;
  // Changes after the snapshot was asked for:
  list.ban('fresh', 'rate-limit', 100, 0); // a new ban here
  list.lift('unbanned'); // an unban heard here, still in the snapshot
  const result = list.reconcile(
    [stored('kept', 100_000), stored('remote', 50_000), stored('unbanned', 80_000)],
    since,
    0,
    (a) => a === 'pending',
  );
  assert.deepEqual(result, { applied: 1, lifted: 1 });
  assert.deepEqual(
    list
      .list(0)
      .map((b) => b.source)
      .sort(),
    ['fresh', 'kept', 'pending', 'remote'],
  );
  const remote = list.list(0).find((b) => b.source === 'remote')!;
  assert.equal(remote.node, 'other');
  assert.equal(remote.until, new Date(50_000).toISOString());
  // The next reconcile (after the lift was seen by the store) applies the snapshot as it is.
  const next = list.reconcile([stored('unbanned', 80_000)], list.version, 0);
  assert.deepEqual(next, { applied: 1, lifted: 4 });
  assert.deepEqual(
    list.list(0).map((b) => b.source),
    ['unbanned'],
  );
});
