import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, SipRequest } from '../sip/index.ts';
import { SqliteLocationStore } from '../store/sqlite-locations.ts';
import { LocationService, type RegisterSource } from './location-service.ts';
import type { BindingChange } from './location-service.ts';

const policy = { minExpires: 60, maxExpires: 3600, defaultExpires: 3600, maxBindings: 3 };
const source: RegisterSource = {
  target: { protocol: 'udp', address: '192.0.2.50', port: 40123 },
  flow: { node: 'node-a' },
};
const AOR = 'sip:1000@demo.trapezoid';

function register(
  contact: string[],
  opts: { expires?: number; cseq?: number; callId?: string; path?: string[] } = {},
): SipRequest {
  const lines = [
    'REGISTER sip:demo.trapezoid SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKreg1;rport=40123;received=192.0.2.50',
    'From: <sip:1000@demo.trapezoid>;tag=a1',
    'To: <sip:1000@demo.trapezoid>',
    `Call-ID: ${opts.callId ?? 'reg-call-1'}`,
    `CSeq: ${opts.cseq ?? 1} REGISTER`,
    ...(opts.path ?? []).map((p) => `Path: ${p}`),
    ...contact.map((c) => `Contact: ${c}`),
    ...(opts.expires !== undefined ? [`Expires: ${opts.expires}`] : []),
    'Content-Length: 0',
    '',
    '',
  ];
  const msg = parseMessage(lines.join('\r\n'));
  assert.ok(msg instanceof SipRequest);
  return msg;
}

function setup() {
  const now = { t: 1_000_000 };
  const store = new SqliteLocationStore(
    join(mkdtempSync(join(tmpdir(), 'trapezoid-loc-')), 'l.db'),
  );
  const changes: BindingChange[] = [];
  const service = new LocationService(
    store,
    policy,
    () => now.t,
    (c) => changes.push(c),
  );
  return { store, now, service, changes };
}

test('add two contacts: the 200 lists both with their time left, the target is the source, the flow its node', async () => {
  const { service, changes } = setup();
  const res = await service.register(
    register(['<sip:1000@10.0.0.5:5060>;q=0.5', '<sip:1000@10.0.0.6:5060>;expires=120'], {
      expires: 600,
    }),
    AOR,
    source,
  );
  assert.equal(res.status, 200);
  const contacts = res.getAll('Contact').sort();
  assert.deepEqual(contacts, [
    '<sip:1000@10.0.0.5:5060>;expires=600;q=0.5',
    '<sip:1000@10.0.0.6:5060>;expires=120',
  ]);
  const bindings = await service.lookup(AOR);
  assert.equal(bindings[0]!.contact, 'sip:1000@10.0.0.6:5060', 'highest q first');
  assert.deepEqual(bindings[0]!.target, source.target);
  assert.equal(bindings[0]!.flow.node, 'node-a');
  assert.deepEqual(
    changes.map((c) => [c.action, c.contact, c.source]),
    [
      ['added', 'sip:1000@10.0.0.5:5060', 'udp:192.0.2.50:40123'],
      ['added', 'sip:1000@10.0.0.6:5060', 'udp:192.0.2.50:40123'],
    ],
  );
});

test('refresh, then remove with Expires 0; Contact * removes the rest', async () => {
  const { service, changes } = setup();
  await service.register(register(['<sip:1000@10.0.0.5>', '<sip:1000@10.0.0.6>']), AOR, source);
  const refreshed = await service.register(
    register(['<sip:1000@10.0.0.5>'], { cseq: 2, expires: 300 }),
    AOR,
    source,
  );
  assert.equal(refreshed.status, 200);
  assert.equal(changes.at(-1)!.action, 'refreshed');
  const removed = await service.register(
    register(['<sip:1000@10.0.0.5>'], { cseq: 3, expires: 0 }),
    AOR,
    source,
  );
  assert.deepEqual(removed.getAll('Contact'), ['<sip:1000@10.0.0.6>;expires=3600']);
  const star = await service.register(register(['*'], { cseq: 4, expires: 0 }), AOR, source);
  assert.equal(star.status, 200);
  assert.deepEqual(await service.lookup(AOR), []);
  assert.deepEqual(
    changes.filter((c) => c.action === 'removed').map((c) => c.contact),
    ['sip:1000@10.0.0.5', 'sip:1000@10.0.0.6'],
  );
});

test('§10.3 checks: Contact * without Expires 0 is 400; too brief is 423 with Min-Expires; an old CSeq is 500', async () => {
  const { service } = setup();
  assert.equal((await service.register(register(['*']), AOR, source)).status, 400);
  const brief = await service.register(
    register(['<sip:1000@10.0.0.5>'], { expires: 30 }),
    AOR,
    source,
  );
  assert.equal(brief.status, 423);
  assert.equal(brief.get('Min-Expires'), '60');
  assert.equal(
    (await service.register(register(['<sip:1000@10.0.0.5>'], { cseq: 5 }), AOR, source)).status,
    200,
  );
  const late = await service.register(
    register(['<sip:1000@10.0.0.9>', '<sip:1000@10.0.0.5>'], { cseq: 4 }),
    AOR,
    source,
  );
  assert.equal(late.status, 500, 'the CSeq 4 REGISTER arrived after CSeq 5');
  assert.deepEqual(
    (await service.lookup(AOR)).map((b) => b.contact),
    ['sip:1000@10.0.0.5'],
    'refused as a whole: its other contact was not bound either',
  );
});

test('the cap: more contacts than maxBindings in one REGISTER is 403; going over drops the closest to expiry', async () => {
  const { service, now } = setup();
  const four = ['a', 'b', 'c', 'd'].map((h) => `<sip:1000@${h}.example>`);
  assert.equal((await service.register(register(four), AOR, source)).status, 403);
  for (const [i, h] of ['a', 'b', 'c'].entries()) {
    now.t += 1000;
    await service.register(
      register([`<sip:1000@${h}.example>`], { callId: `c-${h}`, expires: 600 + i }),
      AOR,
      source,
    );
  }
  await service.register(register(['<sip:1000@d.example>'], { callId: 'c-d' }), AOR, source);
  assert.deepEqual(
    (await service.lookup(AOR)).map((b) => b.contact).sort(),
    ['sip:1000@b.example', 'sip:1000@c.example', 'sip:1000@d.example'],
    'a, the binding closest to expiry, made room',
  );
});

test('Path (RFC 3327) is stored with the binding and echoed in the 200', async () => {
  const { service } = setup();
  const res = await service.register(
    register(['<sip:1000@10.0.0.5>'], { path: ['<sip:edge.example;lr>'] }),
    AOR,
    source,
  );
  assert.deepEqual(res.getAll('Path'), ['<sip:edge.example;lr>']);
  assert.deepEqual((await service.lookup(AOR))[0]!.path, ['<sip:edge.example;lr>']);
});
