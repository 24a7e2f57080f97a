// The tolerant reading against its corpus (test/fixtures/analyze-tolerant/corpus.json): for each
// message, the strict parser's verdict (the server must stay strict: still refused, same reason)
// and the reading the analyzer files in a call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseMessage, SipParseError, SipRequest, SipResponse } from './index.ts';
import { bracketIPv6, parseTolerant, repairNameAddr, repairUri } from './tolerant-parser.ts';

interface Expected {
  kind: 'request' | 'response';
  method: string;
  status?: number;
  callId: string;
  cseq: number;
  requestUri?: string;
  fromUser?: string | null;
  fromHost: string;
  fromDisplay?: string;
  toHost: string;
  viaHost: string;
}

interface Entry {
  name: string;
  why: string;
  message: string;
  reason: string | null;
  expect: Expected | null;
}

const corpus = JSON.parse(
  readFileSync(
    fileURLToPath(new URL('../../test/fixtures/analyze-tolerant/corpus.json', import.meta.url)),
    'utf8',
  ),
) as Entry[];

function strictVerdict(text: string): string | null {
  try {
    const m = parseMessage(text);
    // What the analyzer reads of every message: a missing one is a refusal too.
    void [m.from, m.to, m.topVia, m.cseq, m.callId];
    return null;
  } catch (e) {
    assert.ok(e instanceof SipParseError, `only SipParseError: ${String(e)}`);
    return e.reason;
  }
}

for (const entry of corpus) {
  test(`tolerant corpus: ${entry.name} (${entry.why})`, () => {
    assert.equal(strictVerdict(entry.message), entry.reason, 'the strict parser is unchanged');
    if (entry.expect === null) {
      assert.throws(() => parseTolerant(entry.message), SipParseError);
      return;
    }
    const r = parseTolerant(entry.message);
    const e = entry.expect;
    const m = r.message;
    assert.equal(m instanceof SipRequest ? 'request' : 'response', e.kind);
    if (m instanceof SipRequest) {
      assert.equal(m.method, e.method);
      assert.equal(r.requestUri, e.requestUri ?? 'sip:bob@192.0.2.2');
    } else {
      assert.ok(m instanceof SipResponse);
      assert.equal(m.status, e.status);
      assert.equal(m.cseq.method, e.method);
    }
    assert.equal(r.callId, e.callId);
    assert.equal(m.cseq.seq, e.cseq);
    assert.equal(m.from.uri.user, e.fromUser === null ? undefined : (e.fromUser ?? 'alice'));
    assert.equal(m.from.uri.host, e.fromHost);
    if (e.fromDisplay !== undefined) assert.equal(m.from.displayName, e.fromDisplay);
    assert.equal(m.to.uri.host, e.toHost);
    assert.equal(m.topVia.host, e.viaHost);
    if (entry.reason === null) {
      assert.deepEqual(r.deviations, [], 'nothing to say about a message the strict parser reads');
    } else {
      assert.equal(
        r.deviations[0]?.reason,
        entry.reason,
        'the first deviation is the strict reason',
      );
      for (const d of r.deviations) assert.notEqual(d.repair, '', `a repair for '${d.reason}'`);
    }
  });
}

test('a message the strict parser reads is returned as it is, without deviations', () => {
  const text = corpus.find((e) => e.name === 'unknown-scheme-accepted')!.message;
  const r = parseTolerant(text);
  assert.equal(r.deviations.length, 0);
  assert.equal(r.message.toString(), parseMessage(text).toString());
});

test('bracketIPv6: bare IPv6 hosts, with a port only when the rest is an address', () => {
  assert.equal(bracketIPv6('2001:db8::1'), '[2001:db8::1]');
  assert.equal(bracketIPv6('host:a:b'), undefined, 'not an address');
  assert.equal(bracketIPv6('192.0.2.1:5060'), undefined, 'IPv4 with a port needs nothing');
  assert.equal(bracketIPv6('[2001:db8::1]:5060'), undefined, 'already bracketed');
  // '2001:db8:0:0:0:0:2:1:5060' has nine groups: the last can only be a port.
  assert.equal(bracketIPv6('2001:db8:0:0:0:0:2:1:5060'), '[2001:db8:0:0:0:0:2:1]:5060');
});

test('repairUri and repairNameAddr keep what parses and refuse what cannot be read', () => {
  assert.equal(repairUri('sip:bob@192.0.2.2'), 'sip:bob@192.0.2.2');
  assert.equal(repairUri('sip:b ob@192.0.2.2'), 'sip:b%20ob@192.0.2.2');
  assert.equal(repairUri('sip:@'), undefined);
  assert.equal(
    repairNameAddr('Smith, Alice <sip:alice@2001:db8::1>;tag=x'),
    '"Smith, Alice" <sip:alice@[2001:db8::1]>;tag=x',
  );
  assert.equal(repairNameAddr('sip:alice@2001:db8::1;tag=x'), '<sip:alice@[2001:db8::1]>;tag=x');
  assert.equal(repairNameAddr('<sip:alice@192.0.2.1'), undefined);
});

test('deviation lines point into the original message', () => {
  const text = corpus.find((e) => e.name === 'everything-at-once')!.message;
  const r = parseTolerant(text);
  const byReason = new Map(r.deviations.map((d) => [d.reason, d]));
  assert.equal(r.deviations[0]!.line, 1);
  const from = [...byReason.values()].find((d) => d.header === 'From');
  assert.equal(from?.line, 3, 'From is the third line');
  const length = [...byReason.values()].find((d) => d.header === 'Content-Length');
  assert.equal(length?.line, 8);
});
