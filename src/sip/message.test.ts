import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SipRequest,
  SipResponse,
  createResponse,
  newBranch,
  newCallId,
  newTag,
  parseMessage,
  parseVia,
  reasonPhrase,
} from './index.ts';

const REQ =
  'INVITE sip:bob@example.com SIP/2.0\r\n' +
  'v: SIP/2.0/UDP  proxy.example.com;branch=z9hG4bKp1 , SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1;received=192.0.2.1\r\n' +
  'Via: SIP/2.0/TCP first.example.com;branch=z9hG4bKf1\r\n' +
  'f: <sip:alice@example.com>;tag=a1\r\n' +
  't: <sip:bob@example.com>\r\n' +
  'i: c1@example.com\r\n' +
  'CSeq: 1 INVITE\r\n' +
  'X-Odd:   kept   exactly  \r\n' +
  'Supported: timer, 100rel\r\n' +
  'k: path\r\n' +
  'l: 0\r\n' +
  '\r\n';

test('get, getAll and has accept any case and compact forms', () => {
  const m = parseMessage(REQ);
  assert.equal(m.get('VIA'), 'SIP/2.0/UDP  proxy.example.com;branch=z9hG4bKp1');
  assert.deepEqual(m.getAll('v').length, 3);
  assert.deepEqual(m.getAll('supported'), ['timer', '100rel', 'path']);
  assert.deepEqual(m.supported, ['timer', '100rel', 'path']);
  assert.equal(m.get('call-id'), 'c1@example.com');
  assert.equal(m.get('x-odd'), 'kept   exactly');
  assert.ok(m.has('Content-Length'));
  assert.ok(!m.has('Route'));
  assert.equal(m.via.length, 3);
  assert.equal(m.via[1]!.received, '192.0.2.1');
});

test('removeFirst pops the top Via out of a comma list; other lines keep their bytes', () => {
  const m = parseMessage(REQ);
  assert.equal(m.removeFirst('Via'), 'SIP/2.0/UDP  proxy.example.com;branch=z9hG4bKp1');
  assert.equal(m.topVia.host, 'ua.example.com');
  assert.equal(m.via.length, 2);
  const out = m.toString();
  assert.ok(out.includes('\r\nX-Odd:   kept   exactly  \r\n'), out);
  assert.ok(out.includes('\r\nf: <sip:alice@example.com>;tag=a1\r\n'));
  const again = parseMessage(out);
  assert.deepEqual(
    again.via.map((v) => v.host),
    ['ua.example.com', 'first.example.com'],
  );
});

test('set replaces every line; append and prepend place lines beside their kin', () => {
  const m = parseMessage(REQ);
  m.prepend('Via', 'SIP/2.0/UDP me.example.com;branch=z9hG4bKme');
  assert.equal(m.topVia.host, 'me.example.com');
  m.set('Supported', 'replaces');
  assert.deepEqual(m.supported, ['replaces']);
  m.append('Route', '<sip:r1.example.com;lr>');
  m.append('Route', '<sip:r2.example.com;lr>');
  assert.deepEqual(
    m.route.map((r) => r.uri.host),
    ['r1.example.com', 'r2.example.com'],
  );
  m.remove('x-odd');
  assert.equal(m.get('X-Odd'), undefined);
  const names = m.headerLines().map((h) => h.name);
  assert.deepEqual(names.slice(0, 2), ['Via', 'v']);
  assert.equal(names.filter((n) => n === 'Supported').length, 1);
  const back = parseMessage(m.toBuffer());
  assert.deepEqual(
    back.route.map((r) => r.uri.host),
    ['r1.example.com', 'r2.example.com'],
  );
});

test('typed getters follow mutations', () => {
  const m = parseMessage(REQ);
  assert.equal(m.cseq.seq, 1);
  m.set('CSeq', '2 INVITE');
  assert.equal(m.cseq.seq, 2);
  assert.equal(m.maxForwards, undefined);
  m.set('Max-Forwards', '69');
  assert.equal(m.maxForwards, 69);
});

test('Content-Length always matches the body', () => {
  const m = parseMessage(REQ);
  m.body = 'hello';
  const out = m.toString();
  assert.ok(out.includes('\r\nl: 5\r\n'), out);
  assert.ok(out.endsWith('\r\n\r\nhello'));
  const built = new SipRequest('MESSAGE', 'sip:a@b', [['Call-ID', 'x']], 'hi');
  assert.equal(
    built.toString(),
    'MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 2\r\n\r\nhi',
  );
});

test('createResponse copies Via, From, To (adding the tag), Call-ID and CSeq', () => {
  const req = parseMessage(REQ) as SipRequest;
  const res = createResponse(req, 180, undefined, { toTag: 'b2' });
  assert.ok(res instanceof SipResponse);
  assert.equal(res.reason, 'Ringing');
  assert.equal(res.via.length, 3);
  assert.equal(res.to.tag, 'b2');
  assert.equal(res.from.tag, 'a1');
  assert.equal(res.callId, 'c1@example.com');
  assert.deepEqual(res.cseq, { seq: 1, method: 'INVITE' });
  const parsed = parseMessage(res.toBuffer());
  assert.equal((parsed as SipResponse).status, 180);
  assert.equal(parsed.to.tag, 'b2');
});

test('clone is deep', () => {
  const m = parseMessage(REQ) as SipRequest;
  const c = m.clone();
  c.set('CSeq', '5 INVITE');
  c.uri = 'sip:carol@example.com';
  assert.equal(m.cseq.seq, 1);
  assert.equal(m.uri, 'sip:bob@example.com');
  assert.equal(c.requestUri.user, 'carol');
});

test('ids: branch has the magic cookie; ids differ', () => {
  const b = newBranch();
  assert.match(b, /^z9hG4bK[0-9a-f]{16}$/);
  assert.notEqual(newBranch(), b);
  assert.notEqual(newTag(), newTag());
  assert.match(newCallId('example.com'), /^[0-9a-f]{24}@example\.com$/);
  assert.equal(reasonPhrase(486), 'Busy Here');
});

test('mutating rejects header values with line breaks, and names that are not tokens', () => {
  const m = parseMessage(REQ);
  assert.throws(() => m.set('Subject', 'a\r\nVia: evil'), /line breaks/);
  assert.throws(() => m.append('X-Note', 'a\nb'), /line breaks/);
  assert.throws(() => m.set('Bad Name', 'x'), /Invalid header name/);
  // lowercases to a known compact name ('k', Supported), but is not a token
  assert.throws(() => m.append('\u212A', 'x'), /Invalid header name/);
});

// Issue 17 (proxy memory and CPU): a clone shares the parsed message's header table and bytes,
// and a changed message still reads its unchanged lines from their checked bytes.
test('a clone shares the header table, the source bytes and an untouched body; changes stay apart', () => {
  const src =
    'INVITE sip:bob@example.com SIP/2.0\r\n' +
    'Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1\r\n' +
    'From: <sip:alice@example.com>;tag=a1\r\n' +
    'To: <sip:bob@example.com>\r\n' +
    'Call-ID: c1@example.com\r\n' +
    'CSeq: 1 INVITE\r\n' +
    'Max-Forwards: 70\r\n' +
    'Content-Length: 4\r\n' +
    '\r\n' +
    'v=0\n';
  const m = parseMessage(src) as SipRequest;
  const c = m.clone();
  assert.equal(c._ht, m._ht, 'the header table is shared, not copied');
  assert.equal(c._src, m._src);
  assert.equal(c.body.buffer, m.body.buffer, 'the body is the same bytes');
  assert.equal(c.toString(), src, 'an unchanged clone writes the very same bytes');
  c.prepend('Via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1');
  c.set('Max-Forwards', '69');
  c.body = 'v=1\r\n';
  assert.equal(m.toString(), src, 'the original is untouched');
  assert.equal(
    c.toString(),
    'INVITE sip:bob@example.com SIP/2.0\r\n' +
      'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n' +
      'Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1\r\n' +
      'From: <sip:alice@example.com>;tag=a1\r\n' +
      'To: <sip:bob@example.com>\r\n' +
      'Call-ID: c1@example.com\r\n' +
      'CSeq: 1 INVITE\r\n' +
      'Max-Forwards: 69\r\n' +
      'Content-Length: 5\r\n' +
      '\r\n' +
      'v=1\r\n',
  );
  // the unchanged lines are still read from the bytes the parser checked
  assert.equal(c.via.length, 2);
  assert.equal(c.via[1]!.host, 'ua.example.com');
  assert.equal(c.firstVia?.host, 'proxy.example.com');
  assert.equal(c.from.tag, 'a1');
  assert.equal(c.cseq.seq, 1);
  assert.equal(c.callId, 'c1@example.com');
  assert.equal(c.maxForwards, 69);
  assert.equal(parseMessage(c.toBuffer()).toString(), c.toString(), 'what it writes parses back');
});

test('firstVia is via[0] without parsing the others, and undefined without a Via', () => {
  const m = parseMessage(REQ);
  assert.deepEqual(m.firstVia, parseMessage(REQ).via[0]);
  const bare = new SipRequest('OPTIONS', 'sip:a@b', [['CSeq', '1 OPTIONS']]);
  assert.equal(bare.firstVia, undefined);
});

test('viaCount counts Via values as via.length does, without parsing them', () => {
  const text = [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x="1,2", SIP/2.0/TCP b.example.com;branch=z9hG4bK2',
    'v: SIP/2.0/UDP c.example.com:5070;branch=z9hG4bK3',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:b@example.com>;tag=2',
    'Call-ID: via-count',
    'CSeq: 1 INVITE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const counted = parseMessage(Buffer.from(text));
  assert.equal(counted.viaCount, 3, 'a comma inside a quoted parameter does not split');
  const parsed = parseMessage(Buffer.from(text));
  assert.equal(parsed.via.length, 3);
  assert.equal(parsed.viaCount, 3, 'the same once parsed');
  parsed.removeFirst('Via');
  assert.equal(parsed.viaCount, parsed.via.length);
  assert.equal(parsed.viaCount, 2);
});

test('receivedBytes: the message as it came, whatever changed since; none for a built or cloned one', () => {
  const msg =
    'SIP/2.0 200 OK\r\n' +
    'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n' +
    'Via: SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1\r\n' +
    'From: <sip:alice@example.com>;tag=a1\r\n' +
    'To: <sip:bob@example.com>;tag=b1\r\n' +
    'Call-ID: c1@example.com\r\n' +
    'CSeq: 1 INVITE\r\n' +
    'Content-Length: 4\r\n' +
    '\r\n' +
    'v=0\n';
  // Keep-alive CRLFs before it and bytes past its Content-Length are not part of it (§7.5, §18.3).
  const res = parseMessage(Buffer.from(`\r\n\r\n${msg}junk`)) as SipResponse;
  assert.equal(res.receivedBytes()?.toString(), msg);
  res.removeFirst('Via');
  res.body = 'v=1\r\n';
  assert.notEqual(res.toString(), msg);
  assert.equal(res.receivedBytes()?.toString(), msg, 'changes do not show in what was received');
  assert.equal(res.clone().receivedBytes(), undefined, 'a clone was never received');
  res.removeFirst('Via');
  res.remove('Via');
  assert.equal(res.has('Via'), false);
  assert.equal(res.receivedHas('v'), true, 'what came had Vias, whatever was removed since');
  assert.equal(res.receivedHas('Authorization'), false);
  assert.equal(res.clone().receivedHas('Via'), false);
  assert.throws(() => res.receivedHas('X-Unknown'), RangeError);
  assert.equal(new SipRequest('OPTIONS', 'sip:a@b').receivedBytes(), undefined);
});

test('prependVia writes the Via as text and keeps the object given as the top Via', () => {
  const req = parseMessage(
    Buffer.from(
      'OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n' +
        'To: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\n' +
        'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
    ),
  ) as SipRequest;
  const own = parseVia('SIP/2.0/TCP 192.0.2.7:5080;branch=z9hG4bKb;rport');
  req.prependVia(own);
  assert.equal(req.topVia, own);
  assert.equal(req.viaCount, 2);
  const again = parseMessage(req.toBuffer());
  assert.deepEqual(again.topVia, own);
  assert.deepEqual(
    req.via.map((v) => v.branch),
    ['z9hG4bKb', 'z9hG4bKa'],
  );
  // a later change to the Vias forgets it, as any other cached value
  req.removeFirst('Via');
  assert.equal(req.topVia.branch, 'z9hG4bKa');
});
