import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, SipRequest } from '../sip/index.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { Registrar, addressOfRecord } from './registrar.ts';

const policy = { minExpires: 60, maxExpires: 3600, defaultExpires: 3600 };
const source = { protocol: 'udp', address: '192.0.2.50', port: 40123 };

function register(
  contact: string[],
  opts: { expires?: number; cseq?: number; callId?: string } = {},
): SipRequest {
  const lines = [
    'REGISTER sip:demo.trapezoid SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKreg1;rport=40123;received=192.0.2.50',
    'From: <sip:1000@demo.trapezoid>;tag=a1',
    'To: <sip:1000@demo.trapezoid>',
    `Call-ID: ${opts.callId ?? 'reg-call-1'}`,
    `CSeq: ${opts.cseq ?? 1} REGISTER`,
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

function setup(now = { t: 1_000_000 }) {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'trapezoid-reg-')), 'r.db'));
  return { store, now, registrar: new Registrar(store, policy, () => now.t) };
}

const AOR = 'sip:1000@demo.trapezoid';

test('AOR is scheme, user and lower-case host', () => {
  assert.equal(
    addressOfRecord({
      scheme: 'sip',
      user: '1000',
      host: 'Demo.Trapezoid',
      port: 5060,
      params: { transport: 'tcp' },
      headers: {},
    }),
    AOR,
  );
});

test('add two contacts with q, list them in the 200, target is the real source (NAT)', () => {
  const { registrar, store } = setup();
  const res = registrar.register(
    register(['<sip:1000@10.0.0.5:5060>;q=0.5', '<sip:1000@10.0.0.6:5060>;expires=120'], {
      expires: 600,
    }),
    AOR,
    source,
  );
  assert.equal(res.status, 200);
  const contacts = res.contact;
  assert.equal(contacts.length, 2);
  const byHost = new Map(contacts.map((c) => [c.uri.host, c]));
  assert.equal(byHost.get('10.0.0.5')?.expires, 600);
  assert.equal(byHost.get('10.0.0.5')?.q, 0.5);
  assert.equal(byHost.get('10.0.0.6')?.expires, 120);
  assert.ok(res.has('Date'));
  const bindings = store.bindingsFor(AOR, 1_000_000);
  assert.equal(bindings[0]!.contact, 'sip:1000@10.0.0.6:5060'); // q=1 first
  assert.ok(bindings.every((b) => b.target === 'udp:192.0.2.50:40123'));
});

test('too brief gets 423 with Min-Expires; too long is capped', () => {
  const { registrar } = setup();
  const brief = registrar.register(register(['<sip:1000@10.0.0.5>'], { expires: 10 }), AOR, source);
  assert.equal(brief.status, 423);
  assert.equal(brief.minExpires, 60);
  const long = registrar.register(
    register(['<sip:1000@10.0.0.5>'], { expires: 99999 }),
    AOR,
    source,
  );
  assert.equal(long.status, 200);
  assert.equal(long.contact[0]!.expires, 3600);
});

test('refresh needs a higher CSeq in the same Call-ID; expires=0 removes one contact', () => {
  const { registrar, store } = setup();
  registrar.register(
    register(['<sip:1000@10.0.0.5>', '<sip:1000@10.0.0.6>'], { cseq: 5 }),
    AOR,
    source,
  );
  const stale = registrar.register(register(['<sip:1000@10.0.0.5>'], { cseq: 5 }), AOR, source);
  assert.equal(stale.status, 500);
  const removed = registrar.register(
    register(['<sip:1000@10.0.0.5>;expires=0'], { cseq: 6 }),
    AOR,
    source,
  );
  assert.equal(removed.status, 200);
  assert.deepEqual(
    store.bindingsFor(AOR, 1_000_000).map((b) => b.contact),
    ['sip:1000@10.0.0.6'],
  );
  // Another Call-ID (another phone) may update regardless of CSeq.
  const other = registrar.register(
    register(['<sip:1000@10.0.0.6>'], { cseq: 1, callId: 'other' }),
    AOR,
    source,
  );
  assert.equal(other.status, 200);
});

test('Contact * with Expires: 0 removes all; without Expires: 0 it is a 400', () => {
  const { registrar, store } = setup();
  registrar.register(
    register(['<sip:1000@10.0.0.5>', '<sip:1000@10.0.0.6>'], { cseq: 1 }),
    AOR,
    source,
  );
  assert.equal(registrar.register(register(['*'], { cseq: 2 }), AOR, source).status, 400);
  const res = registrar.register(register(['*'], { cseq: 3, expires: 0 }), AOR, source);
  assert.equal(res.status, 200);
  assert.equal(res.contact.length, 0);
  assert.equal(store.bindingsFor(AOR, 1_000_000).length, 0);
});

test('no Contact queries the bindings; expired ones are gone', () => {
  const { registrar, now } = setup();
  registrar.register(register(['<sip:1000@10.0.0.5>'], { expires: 60 }), AOR, source);
  assert.equal(registrar.register(register([]), AOR, source).contact.length, 1);
  now.t += 61_000;
  assert.equal(registrar.register(register([], { cseq: 2 }), AOR, source).contact.length, 0);
});
