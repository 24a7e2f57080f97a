import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FramingError, StreamFramer } from './stream-framer.ts';

const msg = (body: string, cl = String(Buffer.byteLength(body)), name = 'Content-Length'): string =>
  `MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP a.example.com;branch=z9hG4bK1\r\nCSeq: 1 MESSAGE\r\n${name}: ${cl}\r\n\r\n${body}`;

test('splits several messages arriving in one chunk', () => {
  const a = msg('hello');
  const b = msg('');
  const c = msg('wörld', undefined, 'l');
  const f = new StreamFramer();
  const out = f.push(Buffer.from(a + b + c));
  assert.deepEqual(
    out.map((m) => m.toString()),
    [a, b, c],
  );
  assert.equal(f.buffered, 0);
});

test('reassembles messages split at every byte boundary', () => {
  const stream = msg('first body') + '\r\n\r\n' + msg('second\r\n\r\nbody with blank lines');
  const bytes = Buffer.from(stream);
  for (let cut = 1; cut < bytes.length; cut++) {
    const f = new StreamFramer();
    const out = [...f.push(bytes.subarray(0, cut)), ...f.push(bytes.subarray(cut))];
    assert.equal(out.length, 2, `cut at ${cut}`);
    assert.equal(out[0]!.toString(), msg('first body'));
    assert.equal(out[1]!.toString(), msg('second\r\n\r\nbody with blank lines'));
    assert.equal(f.pongsDue, 1, `cut at ${cut}`);
  }
});

test('one byte at a time', () => {
  const bytes = Buffer.from(msg('x') + msg('yz'));
  const f = new StreamFramer();
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...f.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(
    out.map((m) => m.toString()),
    [msg('x'), msg('yz')],
  );
});

test('keep-alives: CRLF pongs are skipped, CRLFCRLF pings are counted', () => {
  const f = new StreamFramer();
  assert.deepEqual(f.push(Buffer.from('\r\n\r\n')), []);
  assert.equal(f.pongsDue, 1);
  assert.deepEqual(f.push(Buffer.from('\r\n')), []);
  assert.equal(f.pongsDue, 1);
  assert.deepEqual(f.push(Buffer.from('\r\n')), []);
  assert.equal(f.pongsDue, 2);
  const out = f.push(Buffer.from('\r\n' + msg('a')));
  assert.equal(out.length, 1);
  assert.equal(f.pongsDue, 2);
});

test('a message with no Content-Length is a FramingError, and the stream stays failed', () => {
  const f = new StreamFramer();
  const noCl = 'OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n';
  assert.throws(
    () => f.push(Buffer.from(noCl)),
    (e: unknown) => e instanceof FramingError && /Missing Content-Length/.test(e.reason),
  );
  assert.throws(() => f.push(Buffer.from(msg('a'))), FramingError);
});

test('a message larger than maxMessageSize is rejected as soon as its length is known', () => {
  const f = new StreamFramer({ maxMessageSize: 200 });
  // the header block announces 10000 bytes: rejected before the body arrives
  assert.throws(() => f.push(Buffer.from(msg('', '10000'))), /exceeds the limit of 200/);
});

test('a header block that never ends is not buffered forever', () => {
  const f = new StreamFramer({ maxMessageSize: 1000 });
  const line = Buffer.from('X-Filler: ' + 'a'.repeat(90) + '\r\n');
  f.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\n'));
  assert.throws(() => {
    for (let i = 0; i < 20; i++) f.push(line);
  }, /header block exceeds 1000 bytes/);
  assert.equal(f.buffered, 0);
});

test('an invalid or contradictory Content-Length is a FramingError', () => {
  assert.throws(
    () => new StreamFramer().push(Buffer.from(msg('a', '-1'))),
    /Invalid Content-Length/,
  );
  const two = 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab';
  assert.throws(() => new StreamFramer().push(Buffer.from(two)), /Invalid Content-Length/);
});

test('returned messages do not alias the caller\u2019s chunk', () => {
  const chunk = Buffer.from(msg('abc') + msg('de').slice(0, 20));
  const f = new StreamFramer();
  const [m] = f.push(chunk);
  chunk.fill(0x41);
  assert.equal(m!.toString(), msg('abc'));
  const rest = f.push(Buffer.from(msg('de').slice(20)));
  assert.equal(rest[0]!.toString(), msg('de'));
});

test('a framing error keeps the messages framed before it and the start of the offending one', () => {
  const good = msg('ok');
  const bad = msg('', '12x');
  const f = new StreamFramer();
  let caught: unknown;
  try {
    f.push(Buffer.from(good + bad));
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FramingError);
  assert.equal(caught.status, 400);
  assert.deepEqual(
    caught.framed.map((m) => m.toString()),
    [good],
  );
  assert.equal(caught.head.toString(), bad);
  // A later push throws again, with nothing framed to hand up twice.
  assert.throws(
    () => f.push(Buffer.from(msg('x'))),
    (e: unknown) => {
      return e instanceof FramingError && e.framed.length === 0;
    },
  );
});

test('a message too large is a 513 framing error; the bytes of a message in progress are readable', () => {
  const f = new StreamFramer({ maxMessageSize: 200 });
  const partial = msg('0123456789', '20');
  assert.deepEqual(f.push(Buffer.from(partial)), []);
  assert.equal(f.pending.toString(), partial);
  const tooLarge = new StreamFramer({ maxMessageSize: 200 });
  assert.throws(
    () => tooLarge.push(Buffer.from(msg('', '10000'))),
    (e: unknown) => e instanceof FramingError && e.status === 513,
  );
});
