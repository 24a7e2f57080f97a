// `trapezoid parse`, run as a user runs it: `node bin/trapezoid.js parse ...` on RFC 4475
// torture messages, on stdin, and with bad usage. The whole torture corpus also goes through
// runParse in-process (fast) to show the command gives a verdict, never a crash, on each file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sharedDir } from '../../test/support/peers.ts';
import { freePort } from '../../test/support/ports.ts';
import { serve } from '../../test/security-peer.ts';
import { runParse } from './parse.ts';

const torture = join(sharedDir, 'sip-torture');
const bin = join(repoRoot, 'bin', 'trapezoid.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function trapezoid(args: string[], stdin?: Buffer | string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

const noStackTrace = (r: Run): void => {
  assert.doesNotMatch(r.stdout + r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'a stack trace was printed');
};

/** The 1-based line `n` of a file, CR dropped. */
function lineOf(file: string, n: number): string {
  return readFileSync(join(torture, file), 'latin1').split('\n')[n - 1]!.replace(/\r$/, '');
}

// Each spawn starts node + tsx (about half a second): run them side by side.
describe('trapezoid parse, spawned', { concurrency: 4 }, () => {
  test('a valid INVITE (wsinv): start line, headers as written, typed readings, body', async () => {
    const r = await trapezoid(['parse', join(torture, 'wsinv.dat')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], 'INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0');
    assert.match(
      lines[1]!,
      /request: method INVITE, Request-URI sip:vivekg@chair-dnrc\.example\.com/,
    );
    assert.match(r.stdout, /host chair-dnrc\.example\.com/);
    // Header names are shown as received, in order.
    assert.match(r.stdout, /^TO: /m);
    assert.match(r.stdout, /^MaX-fOrWaRdS: /m);
    assert.ok(r.stdout.indexOf('\nTO:') < r.stdout.indexOf('\nfrom'));
    // Typed readings (RFC 4475 3.1.1.1 names these values).
    assert.match(r.stdout, /tag 1918181833n/);
    assert.match(r.stdout, /display name "J Rosenberg \\+"/);
    assert.match(r.stdout, /tag 98asjd8/);
    assert.match(r.stdout, /^ {4}68$/m);
    assert.match(r.stdout, /seq 9, method INVITE/);
    assert.match(r.stdout, /branch 390skdjuw/);
    assert.match(r.stdout, /TCP host spindle\.example\.com, branch z9hG4bK9ikj8/);
    assert.match(r.stdout, /branch z9hG4bK30239/);
    assert.match(r.stdout, /q 0\.33/);
    assert.match(r.stdout, /^body: 150 bytes, application\/sdp$/m);
    assert.equal(r.stderr, '');
  });

  test('--json gives one object: kind, method, uri, typed headers, raw lines in order, body', async () => {
    const r = await trapezoid(['parse', '--json', join(torture, 'wsinv.dat')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout) as {
      valid: boolean;
      kind: string;
      method: string;
      uri: string;
      headers: {
        callId: string;
        cseq: { seq: number; method: string };
        via: Array<{ transport: string; host: string; branch?: string }>;
        to: { tag?: string };
        from: { displayName?: string; tag?: string };
        maxForwards: number;
        contact: Array<{ q?: number }>;
      };
      headerLines: Array<{ name: string; value: string }>;
      body: { length: number; contentType: string; text: string };
    };
    assert.equal(j.valid, true);
    assert.equal(j.kind, 'request');
    assert.equal(j.method, 'INVITE');
    assert.equal(j.uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
    assert.equal(j.headers.callId, 'wsinv.ndaksdj@192.0.2.1');
    assert.deepEqual(j.headers.cseq, { seq: 9, method: 'INVITE' });
    assert.deepEqual(
      j.headers.via.map((v) => [v.transport, v.host, v.branch]),
      [
        ['UDP', '192.0.2.2', '390skdjuw'],
        ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
        ['UDP', '192.168.255.111', 'z9hG4bK30239'],
      ],
    );
    assert.equal(j.headers.to.tag, '1918181833n');
    assert.equal(j.headers.from.tag, '98asjd8');
    assert.equal(j.headers.maxForwards, 68);
    assert.equal(j.headers.contact[0]!.q, 0.33);
    assert.deepEqual(
      j.headerLines.slice(0, 3).map((h) => h.name),
      ['TO', 'from', 'MaX-fOrWaRdS'],
    );
    assert.equal(j.body.length, 150);
    assert.equal(j.body.contentType, 'application/sdp');
    assert.ok(j.body.text.startsWith('v=0\r\n'));
  });

  test('a response with a UTF-8 reason phrase (unreason), given on stdin', async () => {
    const input = readFileSync(join(torture, 'unreason.dat'));
    const r = await trapezoid(['parse', '--json', '-'], input);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout) as { kind: string; status: number; reason: string };
    assert.equal(j.kind, 'response');
    assert.equal(j.status, 200);
    assert.equal(j.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');

    const text = await trapezoid(['parse', '-'], input);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /response: status 200, reason "= 2\*\*3 \* 5\*\*2 но сто/);
  });

  test('digest credentials are shown parameter by parameter', async () => {
    const msg = [
      'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7',
      'Max-Forwards: 70',
      'To: Bob <sip:bob@biloxi.example.com>',
      'From: Bob <sip:bob@biloxi.example.com>;tag=456248',
      'Call-ID: 843817637684230@998sdasdh09',
      'CSeq: 1826 REGISTER',
      'Contact: <sip:bob@192.0.2.4>;expires=7200;q=0.7',
      'Authorization: Digest username="bob", realm="biloxi.example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",',
      ' uri="sip:registrar.biloxi.example.com", response="245f23415f11432b3434341c022f5432", qop=auth, nc=00000001, cnonce="0a4f113b"',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const r = await trapezoid(['parse', '-'], msg);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Digest: .*username "bob"/);
    assert.match(r.stdout, /realm "biloxi\.example\.com"/);
    assert.match(r.stdout, /response "245f23415f11432b3434341c022f5432"/);
    assert.match(r.stdout, /nc "00000001"/);
    assert.match(r.stdout, /uri sip:bob@192\.0\.2\.4, expires 7200 s, q 0\.7/);
    assert.match(r.stdout, /^body: 0 bytes$/m);
  });

  test('an invalid message: reason, line and column, the line itself and a caret', async () => {
    // RFC 4475 3.1.2.4: Content-Length: -999.
    const r = await trapezoid(['parse', join(torture, 'ncl.dat')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    noStackTrace(r);
    const [head, shown, caret] = r.stdout.split('\n');
    const m = /^invalid: (.+) at line (\d+), column (\d+)$/.exec(head!);
    assert.ok(m, `first line: ${head}`);
    const line = Number(m[2]);
    const column = Number(m[3]);
    assert.equal(lineOf('ncl.dat', line), 'Content-Length: -999');
    const gutter = `${line} | `;
    assert.equal(shown, gutter + 'Content-Length: -999');
    assert.equal(caret!.indexOf('^'), gutter.length + column - 1);
    assert.ok(column <= 'Content-Length: -999'.length + 1);
  });

  test('an invalid message in --json, and from stdin', async () => {
    const input = readFileSync(join(torture, 'ncl.dat'));
    const r = await trapezoid(['parse', '--json', '-'], input);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout) as {
      valid: boolean;
      reason: string;
      line: number;
      column: number;
    };
    assert.equal(j.valid, false);
    assert.ok(j.reason.length > 0);
    assert.equal(lineOf('ncl.dat', j.line), 'Content-Length: -999');
    assert.ok(j.column >= 1);
  });

  test('empty input and garbage are invalid (exit 1), never a stack trace', async () => {
    for (const input of ['', 'hello\r\n\r\n', '\x00\x01\x02']) {
      const r = await trapezoid(['parse', '-'], input);
      assert.equal(r.code, 1, JSON.stringify(input) + ': ' + r.stdout + r.stderr);
      assert.match(r.stdout, /^invalid: .+ at line \d+, column \d+$/m);
      noStackTrace(r);
    }
  });

  test('usage errors exit 2: no FILE, an unreadable FILE, an unknown flag', async () => {
    const none = await trapezoid(['parse']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /missing required argument/);

    const missing = await trapezoid(['parse', join(torture, 'no-such-file.dat')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*no-such-file\.dat: ENOENT/);
    noStackTrace(missing);

    const dir = await trapezoid(['parse', torture]);
    assert.equal(dir.code, 2);
    assert.match(dir.stderr, /cannot read .*EISDIR/);

    const flag = await trapezoid(['parse', '--bogus', join(torture, 'wsinv.dat')]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--bogus'/);
  });
});

// RFC 4475, as sorted in ../shared/sip-torture/README.md: 3.1.2 must be rejected, every other
// section parsed (3.3 messages are valid SIP that an element then refuses, except insuf: a request
// without the headers every request carries is not a request).
const reject = (
  'badinv01 clerr ncl scalar02 scalarlg quotbal ltgtruri lwsruri lwsstart trws escruri baddate ' +
  'regbadct badaspec baddn badvers mismatch01 mismatch02 bigcode ' +
  // 3.3.8: parses, but lacks To, From, Call-ID and Max-Forwards (RFC 3261 §8.1.1).
  'insuf'
).split(' ');
const accept = (
  'wsinv intmeth esc01 escnull esc02 lwsdisp longreq dblreq semiuri transports mpart01 unreason ' +
  'noreason badbranch unkscm novelsc unksm2 bext01 invut regaut01 multi01 mcl01 bcast zeromf ' +
  'cparam01 cparam02 regescrt sdp01 inv2543'
).split(' ');

test('every RFC 4475 message gets the verdict the RFC asks for, in text and JSON', () => {
  for (const [names, code] of [
    [accept, 0],
    [reject, 1],
  ] as const) {
    for (const name of names) {
      const input = readFileSync(join(torture, `${name}.dat`));
      let text = '';
      assert.equal(
        runParse(input, false, (s) => (text += s)),
        code,
        `${name}: ${text}`,
      );
      let json = '';
      assert.equal(
        runParse(input, true, (s) => (json += s)),
        code,
        name,
      );
      const j = JSON.parse(json) as { valid: boolean; line?: number };
      assert.equal(j.valid, code === 0, name);
      if (code === 0) {
        const start = input.subarray(0, input.indexOf('\n')).toString('utf8').replace(/\r$/, '');
        assert.equal(text.split('\n')[0], start, name);
        assert.match(text, /^body: \d+ bytes/m, name);
      } else {
        assert.match(text, /^invalid: .+ at line \d+, column \d+\n/, name);
        assert.equal(typeof j.line, 'number', name);
      }
    }
  }
});

/** A request whose 8th line is `contact`, otherwise well formed. */
function optionsWith(extra: string): Buffer {
  return Buffer.from(
    'OPTIONS sip:a@example.com SIP/2.0\r\n' +
      'Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1\r\n' +
      'To: <sip:a@example.com>\r\n' +
      'From: <sip:b@example.com>;tag=1\r\n' +
      'Call-ID: 1@example.com\r\n' +
      'CSeq: 1 OPTIONS\r\n' +
      'Max-Forwards: 70\r\n' +
      `${extra}\r\n` +
      'Content-Length: 0\r\n\r\n',
    'latin1',
  );
}

test('the caret sits under the offending byte, also on a long line with a control byte', () => {
  const long = 'x'.repeat(200);
  const input = optionsWith(`Contact: <sip:${long}@exa\x01mple.com>;p=${long}`);
  let out = '';
  assert.equal(
    runParse(input, false, (s) => (out += s)),
    1,
  );
  const [head, shown, caret] = out.split('\n') as [string, string, string];
  const m = /^invalid: (.+) at line (\d+), column (\d+)$/.exec(head);
  assert.ok(m, head);
  assert.doesNotMatch(out, /\x01/, 'raw control byte printed');
  assert.equal(Number(m[2]), 8);
  // The shown line is cut around the spot, and the caret points at the byte the parser named.
  assert.ok(shown.length < 130, `shown line is ${shown.length} chars`);
  assert.match(shown, /^8 \| \.\.\.x+/);
  assert.match(shown, /\.\.\.$/);
  const byte = input.toString('latin1').split('\r\n')[7]![Number(m[3]) - 1]!;
  const under = shown.slice(caret.indexOf('^'));
  assert.ok(
    under.startsWith(byte === '\x01' ? '\\x01' : byte),
    `caret under ${JSON.stringify(under.slice(0, 4))}, parser column names ${JSON.stringify(byte)}`,
  );
});

test('control bytes of a message never reach the terminal raw (no ANSI escapes)', () => {
  const input = optionsWith('Subject: \x1b[31mred\x1b[0m');
  let out = '';
  runParse(input, false, (s) => (out += s));
  assert.doesNotMatch(out, /\x1b/);
  assert.match(out, /\\x1b\[31mred/);
});

test('headers named like object members (constructor, __proto__) are plain headers', () => {
  const input = optionsWith('constructor: x\r\n__proto__: y\r\ntoString: z');
  let out = '';
  assert.equal(
    runParse(input, false, (s) => (out += s)),
    0,
    out,
  );
  assert.match(out, /^constructor: x$/m);
  assert.match(out, /^__proto__: y$/m);
  let json = '';
  assert.equal(
    runParse(input, true, (s) => (json += s)),
    0,
    json,
  );
  const j = JSON.parse(json) as { headerLines: Array<{ name: string }> };
  assert.deepEqual(j.headerLines.map((h) => h.name).slice(-4), [
    'constructor',
    '__proto__',
    'toString',
    'Content-Length',
  ]);
});

// ---- a request missing a mandatory header (issue 11) ---------------------------------------

const MANDATORY_LINES = [
  'Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-mandatory-NAME;rport',
  'Max-Forwards: 70',
  'From: <sip:alice@parse.test>;tag=1',
  'To: <sip:parse.test>',
  'Call-ID: mandatory-NAME@127.0.0.1',
  'CSeq: 1 OPTIONS',
];

/** An OPTIONS from 127.0.0.1:port without the header `name`. */
function optionsWithout(name: string, port: number): string {
  return [
    'OPTIONS sip:parse.test SIP/2.0',
    ...MANDATORY_LINES.filter((l) => !l.startsWith(`${name}:`)).map((l) =>
      l.replace('PORT', String(port)).replace('NAME', name),
    ),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** Sends `text` from `socket` to 127.0.0.1:port: the first line of the answer, or undefined. */
function answerTo(socket: Socket, text: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(undefined);
    }, 2000);
    const onMessage = (m: Buffer) => {
      clearTimeout(timer);
      resolve(m.toString('latin1').split('\r\n')[0]);
    };
    socket.once('message', onMessage);
    socket.send(text, port, '127.0.0.1');
  });
}

test('regression: a request missing Via, Call-ID, CSeq, From, To or Max-Forwards parsed as valid', async (t) => {
  const server = await serve(
    { domain: 'parse.test' },
    { sip: await freePort(), http: await freePort() },
    'parse-mandatory',
  );
  t.after(() => server.stop());
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  const port = socket.address().port;

  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards']) {
    const text = optionsWithout(name, port);
    const r = await trapezoid(['parse', '--json', '-'], text);
    assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
    const verdict = JSON.parse(r.stdout) as { valid: boolean; reason: string; header?: string };
    assert.equal(verdict.valid, false);
    assert.equal(verdict.reason, `Missing ${name} header`);
    assert.equal(verdict.header, name);
    const answer = await answerTo(socket, text, server.sip);
    if (name === 'Via') {
      // Nowhere to send a response (RFC 3261 §18.2.2): the server stays silent.
      assert.equal(answer, undefined);
    } else if (name === 'Max-Forwards') {
      // A proxy passes a request without Max-Forwards (§16.3 step 3); a UAC must send one.
      assert.equal(answer, 'SIP/2.0 200 OK');
    } else {
      // The same reason as the server's 400.
      assert.equal(answer, `SIP/2.0 400 ${verdict.reason}`);
    }
  }
  // Several missing: all named, in text too, on the request line.
  const few = await trapezoid(
    ['parse', '-'],
    `OPTIONS sip:parse.test SIP/2.0\r\n${MANDATORY_LINES[0]!.replace('PORT', '5060')}\r\nContent-Length: 0\r\n\r\n`,
  );
  assert.equal(few.code, 1, few.stdout);
  assert.match(
    few.stdout,
    /^invalid: Missing To, From, Call-ID, CSeq, Max-Forwards headers at line 1, column 1$/m,
  );
  noStackTrace(few);
  // An RFC 2543 request (no z9hG4bK branch) had no Max-Forwards to send (RFC 4475 inv2543).
  const old = optionsWithout('Max-Forwards', 5060).replace(/;branch=[^;\r]+/, '');
  assert.equal((await trapezoid(['parse', '-'], old)).code, 0);
  // A response is read as it is: no Max-Forwards there, and none needed.
  const ok = await trapezoid(
    ['parse', '-'],
    [
      'SIP/2.0 200 OK',
      ...MANDATORY_LINES.filter((l) => !l.startsWith('Max-Forwards')).map((l) =>
        l.replace('PORT', '5060').replace('NAME', 'r'),
      ),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  assert.equal(ok.code, 0, ok.stdout);
});
