// The byte builders of checked-values.ts must give exactly what the string parsers give (via.ts,
// name-addr.ts, uri.ts are the reference), take the plain forms, and decline everything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { nameAddrFromBytes, viaFromBytes } from './checked-values.ts';
import { splitList } from './grammar.ts';
import { H } from './header-names.ts';
import { parseMessage, parseNameAddr, parseVia, type SipMessage } from './index.ts';
import { sharedDir } from '../../test/support/peers.ts';

/** Compares every Via/From/To line a builder takes with the string parser; returns how many it took. */
function compareLines(m: SipMessage): { taken: number; lines: number } {
  let taken = 0;
  let lines = 0;
  for (let i = 0; i < m._count(); i++) {
    const kind = m._kindAt(i);
    if (kind !== H.via && kind !== H.from && kind !== H.to) continue;
    lines++;
    const fast =
      kind === H.via ? m._fromBytes(i, viaFromBytes) : m._fromBytes(i, nameAddrFromBytes);
    if (fast === undefined) continue;
    taken++;
    const text = m._valueAt(i);
    const ref = kind === H.via ? parseVia(splitList(text)[0]!) : parseNameAddr(text);
    assert.deepStrictEqual(fast, ref, `line ${i}: ${text}`);
  }
  return { taken, lines };
}

const PLAIN = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP ss1.example.com:5060;branch=z9hG4bK2d4790.1;received=192.0.2.111, SIP/2.0/TCP h',
  'Via: SIP/2.0/TLS 192.0.2.101;branch=z9hG4bK74bf9;rport=5060;Received=192.0.2.101;x;ttl=3',
  'From: "Alice Liddell" <sip:alice@atlanta.example.com;transport=udp;lr>;tag=9fxced76sl;x',
  'To: Bob <sips:bob@biloxi.example.com:5061>',
  'Call-ID: a@b',
  'CSeq: 1 INVITE',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

test('plain Via, From and To are built from bytes, equal to the string parsers', () => {
  const m = parseMessage(PLAIN);
  assert.deepEqual(compareLines(m), { taken: 4, lines: 4 });
  assert.equal(m.topVia.branch, 'z9hG4bK2d4790.1');
  assert.equal(m.topVia.received, '192.0.2.111');
  assert.equal(m.from.displayName, 'Alice Liddell');
  assert.equal(m.from.tag, '9fxced76sl');
  assert.deepEqual(m.from.uri.params, { transport: 'udp', lr: null });
  assert.equal(m.to.uri.port, 5061);
});

test('unusual forms are left to the string parsers (and still read right)', () => {
  const odd = [
    'Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1',
    'Via: SIP/2.0/UDP h ;branch=z9hG4bK1',
    'Via: SIP / 2.0 / UDP h;branch=z9hG4bK1',
    'Via: SIP/2.0/udp h;branch=z9hG4bK1',
    'Via: SIP/2.0/UDP h;branch=z9hG4bK1;x="q"',
    'Via: SIP/2.0/UDP h (comment)',
    'From: "A \\"B\\"" <sip:a@b>;tag=1',
    'From: A B <sip:a@b>;tag=1',
    'From: sip:a@b;tag=1',
    'From: <sip:a%41@b>;tag=1',
    'From: <sip:a:pw@b>;tag=1',
    'From: <SIP:a@b>;tag=1',
    'From: <sip:a@b?Subject=x>;tag=1',
    'From: <sip:a@[::1]>;tag=1',
    'From: <sip:a@b>; tag=1',
    'From: <sip:a@b>;p="x y"',
    'From: <tel:+1-555>;tag=1',
  ];
  for (const line of odd) {
    const name = line.slice(0, line.indexOf(':'));
    const msg = [
      'OPTIONS sip:x@y SIP/2.0',
      name === 'Via' ? line : 'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
      name === 'From' ? line : 'From: <sip:a@b>;tag=1',
      'To: <sip:c@d>',
      'Call-ID: c',
      'CSeq: 1 OPTIONS',
      '',
      '',
    ].join('\r\n');
    const m = parseMessage(msg);
    const i = m._first(name === 'Via' ? H.via : H.from);
    const fast =
      name === 'Via' ? m._fromBytes(i, viaFromBytes) : m._fromBytes(i, nameAddrFromBytes);
    assert.equal(fast, undefined, `declined: ${line}`);
    // the getter falls back and agrees with the string parser
    const text = m._valueAt(i);
    if (name === 'Via') assert.deepStrictEqual(m.topVia, parseVia(splitList(text)[0]!));
    else assert.deepStrictEqual(m.from, parseNameAddr(text));
  }
});

test('on every RFC 4475 message, what the builders take equals the string parsers', () => {
  const dir = join(sharedDir, 'sip-torture');
  let taken = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.dat')) continue;
    let m: SipMessage;
    try {
      m = parseMessage(readFileSync(join(dir, f)));
    } catch {
      continue; // the invalid ones
    }
    taken += compareLines(m).taken;
  }
  assert.ok(taken >= 50, `builders took ${taken} lines`);
});

test('generated Via and name-addr values: builders equal the string parsers', () => {
  const tok = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,8}$/);
  const host = fc.oneof(
    fc.constantFrom('a.example.com', 'h', '192.0.2.1', 'x-y.z', '[2001:db8::1]'),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,6}[a-z0-9](\.[a-z]{2,4})?$/),
  );
  const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
  const param = fc.tuple(
    fc.constantFrom('branch', 'Branch', 'received', 'rport', 'ttl', 'x', 'maddr', 'tag', 'lr'),
    fc.option(fc.oneof(tok, fc.constantFrom('192.0.2.9', '"quoted v"', '5060')), {
      nil: undefined,
    }),
  );
  const ws = fc.constantFrom('', '', '', ' ');
  let parsed = 0;
  let taken = 0;
  fc.assert(
    fc.property(
      fc.constantFrom('UDP', 'TCP', 'TLS', 'WS', 'SCTP', 'udp', 'FOO'),
      host,
      port,
      fc.array(param, { maxLength: 4 }),
      fc.constantFrom('', '"Alice A."', 'Bob', '"x\\"y"', 'A B'),
      fc.option(tok, { nil: undefined }),
      fc.array(param, { maxLength: 3 }),
      ws,
      (transport, h, p, vparams, display, user, hparams, sp) => {
        const hp = h + (p !== undefined ? `:${p}` : '');
        const ps = (list: [string, string | undefined][], fix: (n: string) => boolean) =>
          list
            .filter(([n]) => fix(n))
            .map(([n, v]) => `;${sp}${n}${v !== undefined ? `=${v}` : ''}`)
            .join('');
        const viaParams = ps(
          vparams.map(([n, v]) => [
            n,
            n === 'branch' || n === 'Branch' ? 'z9hG4bK' + (v ?? 'b') : v,
          ]),
          (n) => !['received', 'rport', 'ttl', 'maddr'].includes(n),
        );
        const via = `SIP/2.0/${transport} ${hp}${viaParams}`;
        const uri = `sip:${user !== undefined ? user + '@' : ''}${hp}`;
        const na = `${display}${display ? ' ' : ''}<${uri}>${ps(hparams, (n) => n !== 'branch' && n !== 'Branch')}`;
        const msg = [
          'OPTIONS sip:x@y SIP/2.0',
          `Via: ${via}`,
          `From: ${na}`,
          `To: ${na}`,
          'Call-ID: c',
          'CSeq: 1 OPTIONS',
          '',
          '',
        ].join('\r\n');
        let m: SipMessage;
        try {
          m = parseMessage(msg);
        } catch {
          return; // a combination the grammar refuses: nothing to compare
        }
        parsed++;
        taken += compareLines(m).taken;
      },
    ),
    { numRuns: 2000 },
  );
  // most combinations are valid, and many of those are in the plain form the builders take
  assert.ok(parsed > 1000, `${parsed} generated messages parsed`);
  assert.ok(taken > 1000, `builders took ${taken} lines`);
});
