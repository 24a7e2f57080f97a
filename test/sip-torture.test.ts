// RFC 4475 torture messages (../shared/sip-torture), each with what the RFC says it must yield.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  SipParseError,
  SipRequest,
  SipResponse,
  parseMessage,
  validateRequest,
} from '../src/sip/index.ts';
import { sharedDir } from './support/peers.ts';

const dir = join(sharedDir, 'sip-torture');
const load = (name: string): Buffer => readFileSync(join(dir, `${name}.dat`));
const req = (name: string): SipRequest => {
  const m = parseMessage(load(name));
  assert.ok(m instanceof SipRequest, `${name} is a request`);
  return m;
};
const res = (name: string): SipResponse => {
  const m = parseMessage(load(name));
  assert.ok(m instanceof SipResponse, `${name} is a response`);
  return m;
};

/** Every valid message also round-trips: its serialization parses to the same headers and body. */
function roundTrips(name: string): void {
  const m = parseMessage(load(name));
  const again = parseMessage(m.toBuffer());
  assert.deepEqual(again.headerLines(), m.headerLines(), `${name}: headers survive serialization`);
  assert.deepEqual(again.body, m.body, `${name}: body survives serialization`);
}

const EXPECTED_FILES = 49;

test('the folder holds the 49 RFC 4475 messages', () => {
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.dat')).length, EXPECTED_FILES);
});

// ---- 3.1.1 valid messages ----

test('3.1.1.1 wsinv: a short tortuous INVITE', () => {
  const m = req('wsinv');
  assert.equal(m.method, 'INVITE');
  assert.deepEqual(m.requestUri.params, { unknownparam: null });
  assert.equal(m.to.uri.user, 'vivekg');
  assert.equal(m.to.tag, '1918181833n');
  assert.equal(m.from.displayName, 'J Rosenberg \\"');
  assert.equal(m.from.tag, '98asjd8');
  assert.equal(m.maxForwards, 68);
  assert.equal(m.callId, 'wsinv.ndaksdj@192.0.2.1');
  assert.equal(m.contentLength, 150);
  assert.deepEqual(m.cseq, { seq: 9, method: 'INVITE' });
  assert.deepEqual(
    m.via.map((v) => [v.protocol, v.transport, v.host, v.branch]),
    [
      ['SIP/2.0', 'UDP', '192.0.2.2', '390skdjuw'],
      ['SIP/2.0', 'TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['SIP/2.0', 'UDP', '192.168.255.111', 'z9hG4bK30239'],
    ],
  );
  assert.equal(m.get('Subject'), '');
  assert.equal(m.get('NewFangledHeader'), 'newfangled value continued newfangled value');
  assert.equal(m.get('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
  assert.equal(m.contentType, 'application/sdp');
  assert.equal(m.route.length, 1);
  assert.deepEqual(m.route[0]!.uri.params, {
    lr: null,
    unknownwith: 'value',
    'unknown-no-value': null,
  });
  const c = m.contact[0]!;
  assert.equal(c.displayName, 'Quoted string ""');
  assert.deepEqual(c.params, { newparam: 'newvalue', secondparam: null, q: '0.33' });
  assert.equal(c.q, 0.33);
  assert.equal(m.body.length, 150);
  roundTrips('wsinv');
});

test('3.1.1.2 intmeth: wide range of valid characters', () => {
  const m = req('intmeth');
  assert.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  assert.equal(m.cseq.method, m.method);
  assert.equal(m.requestUri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  assert.equal(m.requestUri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  assert.equal(m.requestUri.host, 'example.com');
  assert.equal(m.topVia.branch, "z9hG4bK-.!%66*_+`'~");
  assert.equal(m.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  assert.equal(m.to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  assert.equal(m.from.displayName, "token1~` token2'+_ token3*%!.-");
  assert.equal(
    m.from.params["fromparam''~+*_!.-%"],
    '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"',
  );
  assert.equal(m.from.tag, "_token~1'+`*%!-.");
  assert.equal(m.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
  assert.equal(m.maxForwards, 255);
  assert.equal(m.get("extensionHeader-!.%*+_`'~"), '\uFEFF\u5927\u505C\u96FB');
  roundTrips('intmeth');
});

test('3.1.1.3 esc01: escaped characters in URIs', () => {
  const m = req('esc01');
  assert.equal(m.requestUri.user, 'sips:user@example.com');
  assert.equal(m.requestUri.host, 'example.net');
  assert.equal(m.to.uri.user, 'user');
  assert.equal(m.from.uri.user, 'I have spaces');
  assert.equal(m.callId, 'esc01.239409asdfakjkn23onasd0-3234');
  assert.equal(m.contentType, 'application/sdp');
  const c = m.contact[0]!;
  assert.equal(c.uri.user, 'caller');
  assert.deepEqual(c.uri.params, { lr: null, name: 'value%41' });
  roundTrips('esc01');
});

test('3.1.1.4 escnull: escaped nulls in URIs', () => {
  const m = req('escnull');
  assert.equal(m.to.uri.user, 'null-\x00-null');
  assert.equal(m.from.uri.user, 'null-\x00-null');
  assert.deepEqual(
    m.contact.map((c) => c.uri.user),
    ['\x00', '\x00\x00'],
  );
});

test('3.1.1.5 esc02: use of % when it is not an escape', () => {
  const m = req('esc02');
  assert.equal(m.method, 'RE%47IST%45R');
  assert.equal(m.cseq.method, 'RE%47IST%45R');
  assert.equal(m.to.displayName, '%Z%45');
  assert.equal(m.topVia.branch, 'z9hG4bK209%fzsnel234');
  // C%6Fntact is an unknown header, not a third Contact
  assert.equal(m.contact.length, 2);
  assert.equal(m.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
});

test('3.1.1.6 lwsdisp: no LWS between display name and <', () => {
  const m = req('lwsdisp');
  assert.equal(m.from.displayName, 'caller');
  assert.equal(m.from.uri.user, 'caller');
  assert.equal(m.from.tag, '323');
});

test('3.1.1.7 longreq: long values in header fields', () => {
  const m = req('longreq');
  assert.match(m.to.displayName!, /^I have a user name of (extreme){10} proportion$/);
  assert.equal(m.to.uri.port, 6000);
  assert.equal(m.to.uri.params.unknownparam1, 'very' + 'long'.repeat(20) + 'value');
  assert.equal(m.from.uri.user, 'amazinglylongcallername'.repeat(5));
  assert.equal(m.from.tag!.length, 155);
  assert.equal(m.via.length, 34);
  assert.deepEqual(
    m.via.slice(0, 3).map((v) => v.host),
    ['sip33.example.com', 'sip32.example.com', 'sip31.example.com'],
  );
  assert.equal(m.via[33]!.received, '192.0.2.5');
  assert.ok(m.via[33]!.branch!.startsWith('verylong'));
  assert.equal(m.contentLength, 150);
  roundTrips('longreq');
});

test('3.1.1.8 dblreq: a second request after the first in one datagram is ignored', () => {
  const m = req('dblreq');
  assert.equal(m.method, 'REGISTER');
  assert.equal(m.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  assert.equal(m.body.length, 0);
});

test('3.1.1.9 semiuri: semicolon-separated parameters in the URI user part', () => {
  const m = req('semiuri');
  assert.equal(m.requestUri.user, 'user;par=u@example.net');
  assert.equal(m.requestUri.host, 'example.com');
  assert.deepEqual(m.requestUri.params, {});
  assert.deepEqual(m.accept, [
    'application/sdp',
    'application/pkcs7-mime',
    'multipart/mixed',
    'multipart/signed',
    'message/sip',
    'message/sipfrag',
  ]);
});

test('3.1.1.10 transports: varied and unknown transport types', () => {
  const m = req('transports');
  assert.deepEqual(
    m.via.map((v) => v.transport),
    ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP'],
  );
});

test('3.1.1.11 mpart01: multipart MIME message', () => {
  const m = req('mpart01');
  assert.equal(m.contentType, 'multipart/mixed');
  assert.equal(m.body.length, 553);
  const parts = m.multipart()!;
  assert.equal(parts.length, 2);
  assert.deepEqual(parts[0]!.headers[0], { name: 'Content-Type', value: 'text/plain' });
  assert.equal(parts[0]!.body.toString(), 'Hello');
  assert.equal(parts[1]!.headers[0]!.value, 'application/octet-stream');
  assert.equal(parts[1]!.body[0], 0x30); // a DER SEQUENCE starts with 0x30
  assert.equal(m.date!.toISOString(), '2005-10-15T04:44:56.000Z');
  roundTrips('mpart01');
});

test('3.1.1.12 unreason: unusual reason phrase', () => {
  const m = res('unreason');
  assert.equal(m.status, 200);
  assert.ok(m.reason.startsWith('= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e'));
  assert.equal(m.body.length, 154);
  assert.ok(m.toString().startsWith(`SIP/2.0 200 ${m.reason}\r\n`));
});

test('3.1.1.13 noreason: empty reason phrase', () => {
  const m = res('noreason');
  assert.equal(m.status, 100);
  assert.equal(m.reason, '');
});

// ---- 3.1.2 invalid messages: SipParseError naming the problem, line and column ----

const INVALID: [string, RegExp, number, string | undefined][] = [
  // file, reason, line, header
  ['badinv01', /^Invalid Via: parameter name expected/, 7, 'Via'],
  ['clerr', /^Content-Length 9999 exceeds body of 154 bytes$/, 10, 'Content-Length'],
  ['ncl', /^Invalid Content-Length: '-999' is not a number$/, 10, 'Content-Length'],
  ['scalar02', /^Invalid CSeq: sequence number is not a 32-bit integer$/, 5, 'CSeq'],
  ['scalarlg', /^Invalid CSeq: sequence number is not a 32-bit integer$/, 5, 'CSeq'],
  ['quotbal', /^Invalid To: unterminated quoted display name$/, 2, 'To'],
  ['ltgtruri', /^Invalid Request-URI: it must not be enclosed in '<' and '>'$/, 1, undefined],
  ['lwsruri', /^Invalid request line: whitespace in the Request-URI/, 1, undefined],
  ['lwsstart', /^Invalid request line: more than one space before the Request-URI$/, 1, undefined],
  ['trws', /^Invalid request line: .*after the SIP version$/, 1, undefined],
  ['escruri', /^Invalid Request-URI: headers are not allowed/, 1, undefined],
  ['baddate', /^Invalid Date: time zone must be GMT$/, 8, 'Date'],
  ['regbadct', /^Invalid Contact: '\?' in a URI needs angle brackets$/, 8, 'Contact'],
  ['badaspec', /^Invalid To: bad scheme in URI$/, 5, 'To'],
  ['baddn', /^Invalid From: display name must be tokens or quoted$/, 4, 'From'],
  ['badvers', /^Unsupported SIP version 'SIP\/7\.0'$/, 1, undefined],
  ['mismatch01', /^CSeq method 'INVITE' does not match the request method 'OPTIONS'$/, 6, 'CSeq'],
  ['mismatch02', /^CSeq method 'INVITE' does not match the request method 'NEWMETHOD'$/, 6, 'CSeq'],
  ['bigcode', /^Invalid status line: status code must be 3 digits$/, 1, undefined],
];

for (const [name, reason, line, header] of INVALID) {
  test(`3.1.2 ${name} is rejected with a readable reason`, () => {
    assert.throws(
      () => parseMessage(load(name)),
      (e: unknown) => {
        assert.ok(e instanceof SipParseError, `${name}: SipParseError, got ${String(e)}`);
        assert.match(e.reason, reason);
        assert.equal(e.line, line, `${name}: line`);
        assert.ok(e.column >= 1, `${name}: column`);
        assert.equal(e.header, header, `${name}: header`);
        return true;
      },
    );
  });
}

test('3.1.2 error columns point at the offending spot', () => {
  const at = (name: string): [number, number] => {
    try {
      parseMessage(load(name));
    } catch (e) {
      if (e instanceof SipParseError) return [e.line, e.column];
    }
    return [0, 0];
  };
  assert.deepEqual(at('lwsstart'), [1, 8]); // the second space after INVITE
  assert.deepEqual(at('ncl'), [10, 17]); // the '-' of -999
  assert.deepEqual(at('badaspec'), [5, 23]); // the space after '<'
  assert.deepEqual(at('mismatch01'), [6, 9]); // INVITE in the CSeq
});

// ---- 3.2 transaction layer ----

test('3.2.1 badbranch: a branch that is only the magic cookie still parses', () => {
  const m = req('badbranch');
  assert.equal(m.topVia.branch, 'z9hG4bK');
});

// ---- 3.3 application layer: parse; validateRequest gives the answer ----

test('3.3.1 insuf: missing required headers -> 400 naming them', () => {
  const m = req('insuf');
  assert.deepEqual(validateRequest(m), {
    status: 400,
    reason: 'Missing To, From, Call-ID headers',
  });
  assert.throws(() => m.callId, SipParseError);
});

test('3.3.2 unkscm / 3.3.4 novelsc: unknown Request-URI schemes -> 416', () => {
  const a = req('unkscm');
  assert.equal(a.requestUri.scheme, 'nobodyknowsthisscheme');
  assert.equal(a.requestUri.opaque, 'totallyopaquecontent');
  assert.equal(validateRequest(a)?.status, 416);
  const b = req('novelsc');
  assert.equal(b.requestUri.scheme, 'soap.beep');
  assert.equal(validateRequest(b)?.status, 416);
});

test('3.3.3 unksm2: unknown URI schemes in header fields parse', () => {
  const m = req('unksm2');
  assert.equal(m.to.uri.scheme, 'isbn');
  assert.equal(m.to.uri.opaque, '2983792873');
  assert.equal(m.from.uri.scheme, 'http');
  assert.equal(m.contact[0]!.uri.scheme, 'name');
  assert.equal(validateRequest(m), undefined);
});

test('3.3.5 bext01: unknown Require / Proxy-Require -> 420 with Unsupported', () => {
  const m = req('bext01');
  assert.deepEqual(validateRequest(m), {
    status: 420,
    reason: 'Bad Extension',
    unsupported: ['nothingSupportsThis', 'nothingSupportsThisEither'],
  });
  assert.deepEqual(validateRequest(m, { proxy: true })?.unsupported, [
    'noProxiesSupportThis',
    'norDoAnyProxiesSupportThis',
  ]);
});

test('3.3.6 invut: unknown Content-Type -> 415', () => {
  const m = req('invut');
  assert.equal(m.contentType, 'application/unknownformat');
  assert.equal(validateRequest(m, { accept: ['application/sdp'] })?.status, 415);
  assert.equal(m.body.length, 40);
});

test('3.3.7 regaut01: unknown authorization scheme is exposed', () => {
  const m = req('regaut01');
  assert.deepEqual(m.authorization, [
    { scheme: 'NoOneKnowsThisScheme', params: { 'opaque-data': 'here' } },
  ]);
  assert.equal(m.contentLength, 0);
});

test('3.3.8 multi01: multiple values in single-value headers -> 400', () => {
  const m = req('multi01');
  assert.equal(validateRequest(m)?.status, 400);
  assert.match(
    validateRequest(m)!.reason,
    /^Multiple (To|From|Call-ID|CSeq|Max-Forwards) headers$/,
  );
  assert.deepEqual(m.getAll('Call-ID'), ['multi01.98asdh@192.0.2.1', 'multi01.98asdh@192.0.2.2']);
});

test('3.3.9 mcl01: multiple Content-Length values -> 400', () => {
  const m = req('mcl01');
  assert.deepEqual(m.getAll('Content-Length'), ['13', '5']);
  assert.deepEqual(validateRequest(m), { status: 400, reason: 'Multiple Content-Length headers' });
});

test('3.3.10 bcast: 200 OK with a broadcast Via parses', () => {
  const m = res('bcast');
  assert.equal(m.via[1]!.host, '255.255.255.255');
  assert.equal(m.via.length, 2);
});

test('3.3.11 zeromf: Max-Forwards of zero is exposed as 0', () => {
  const m = req('zeromf');
  assert.equal(m.maxForwards, 0);
});

test('3.3.12 cparam01/cparam02: Contact parameters outside vs inside the brackets', () => {
  const a = req('cparam01').contact[0]!;
  assert.deepEqual(a.params, { unknownparam: null });
  assert.deepEqual(a.uri.params, {});
  assert.equal(a.uri.user, '+19725552222');
  const b = req('cparam02').contact[0]!;
  assert.deepEqual(b.params, {});
  assert.deepEqual(b.uri.params, { unknownparam: null });
});

test('3.3.14 regescrt: escaped headers in a Contact URI', () => {
  const m = req('regescrt');
  assert.deepEqual(m.contact[0]!.uri.headers, { Route: '<sip:sip.example.com>' });
});

test('3.3.15 sdp01: Accept lists an unknown type', () => {
  const m = req('sdp01');
  assert.deepEqual(m.accept, ['text/nobodyKnowsThis']);
  assert.equal(m.contentType, 'application/sdp');
});

// ---- 3.4 backward compatibility ----

test('3.4.1 inv2543: an RFC 2543 INVITE parses', () => {
  const m = req('inv2543');
  assert.equal(m.topVia.branch, undefined);
  assert.equal(m.maxForwards, undefined);
  assert.equal(m.from.tag, undefined);
  assert.equal(m.to.params.user, 'phone'); // no brackets: the parameter belongs to the header
  assert.equal(m.from.uri.params.user, 'phone');
  assert.equal(m.recordRoute[0]!.uri.params.maddr, 'ss1.example.com');
  assert.equal(m.body.length, m.contentLength);
});

test('every valid torture message parses, and its typed getters do not throw', () => {
  const invalid = new Set(INVALID.map(([n]) => n));
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.dat'))) {
    const name = f.slice(0, -4);
    if (invalid.has(name)) continue;
    const m = parseMessage(load(name));
    for (const get of [
      () => m.via,
      () => m.contact,
      () => m.route,
      () => m.recordRoute,
      () => m.contentType,
      () => m.expires,
    ])
      get();
    if (name !== 'insuf') {
      assert.ok(m.from.uri.scheme);
      assert.ok(m.to.uri.scheme);
      assert.ok(m.callId);
      assert.ok(m.cseq.method);
    }
  }
});
