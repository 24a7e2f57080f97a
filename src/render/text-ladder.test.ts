import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderText } from './text-ladder.ts';
import { proxiedCall, rejectedCall } from './example-calls.ts';
import { callOf } from './test-models.ts';

const ESC = '\x1b';
const A = '10.0.0.1:5060';
const B = '10.0.0.2:5060';
const C = '10.0.0.3:5060';

/** Lines that draw an arrow (a shaft and a head). */
function arrowLines(text: string): string[] {
  return text.split('\n').filter((l) => /[▶◀↺]/.test(l) && !l.includes('═'));
}

/** Positions of the lifelines (│ or ┼) on the first lifeline-only line. */
function lifelineColumns(text: string): number[] {
  const line = text.split('\n').find((l) => /^\s*│[\s│]*$/.test(l))!;
  return Array.from(line).flatMap((ch, i) => (ch === '│' ? [i] : []));
}

test('every message is one arrow line, in call order, with its label', () => {
  const call = proxiedCall();
  const lines = arrowLines(renderText(call));
  assert.equal(lines.length, call.messages.length);
  call.messages.forEach((m, i) =>
    assert.ok(lines[i]!.includes(m.label), `line ${i} has ${m.label}: ${lines[i]}`),
  );
});

test('arrows run from the sender column to the receiver column', () => {
  const call = callOf(
    [A, B, C],
    [
      { from: A, to: B, label: 'INVITE' },
      { from: B, to: A, label: '100 Trying' },
      { from: A, to: C, label: 'ACK' },
      { from: C, to: A, label: 'BYE' },
    ],
  );
  const text = renderText(call);
  const cols = lifelineColumns(text);
  assert.equal(cols.length, 3);
  const [invite, trying, ack, bye] = arrowLines(text).map((l) => Array.from(l));
  // INVITE: A → B, the head just left of B's lifeline, nothing drawn right of B.
  assert.equal(invite![cols[1]! - 1], '▶');
  assert.equal(invite![cols[0]!], '│');
  assert.equal(invite![cols[0]! + 1], '─');
  // 100 Trying: B → A, the head just right of A's lifeline.
  assert.equal(trying![cols[0]! + 1], '◀');
  // ACK: A → C crosses B's lifeline, which stays visible.
  assert.equal(ack![cols[1]!], '┼');
  assert.equal(ack![cols[2]! - 1], '▶');
  assert.equal(bye![cols[0]! + 1], '◀');
  assert.equal(bye![cols[1]!], '┼');
});

test('headers name each host in column order, with the user agent under it', () => {
  const text = renderText(proxiedCall());
  const lines = text.split('\n');
  const ids = lines[1]!;
  assert.ok(ids.indexOf(A) < ids.indexOf(B) && ids.indexOf(B) < ids.indexOf(C), ids);
  assert.ok(lines[2]!.includes('Linphone/5.2') && lines[2]!.includes('Kamailio 5.7'), lines[2]);
  // Each header is centred on its lifeline.
  const cols = lifelineColumns(text);
  const mid = ids.indexOf(A) + Math.floor(A.length / 2);
  assert.ok(Math.abs(mid - cols[0]!) <= 1, `${mid} vs ${cols[0]}`);
});

test('time column shows seconds from the call start', () => {
  const lines = arrowLines(renderText(proxiedCall()));
  assert.match(lines[0]!, /^ {2}0\.000 /);
  assert.match(lines[1]!, /^ {2}0\.004 /);
  assert.match(lines.at(-1)!, /^ 12\.500 /);
});

test('SDP summaries and retransmissions are noted beside the arrow', () => {
  const text = renderText(rejectedCall());
  const lines = arrowLines(text);
  assert.ok(lines[0]!.includes('SDP PCMA 10.0.0.1:4002'));
  assert.ok(lines[1]!.includes('╌') && lines[1]!.includes('(retransmission)'), lines[1]);
  assert.ok(!lines[0]!.includes('(retransmission)'));
  assert.ok(lines[2]!.includes('486 Busy Here'));
});

test('RTP streams are drawn as double lines and summarised under the ladder', () => {
  const text = renderText(proxiedCall());
  const rtp = text.split('\n').filter((l) => l.includes('═'));
  assert.equal(rtp.length, 2);
  assert.ok(rtp[0]!.includes('RTP PCMU') && rtp[0]!.includes('▶'));
  assert.ok(rtp[1]!.includes('◀'));
  assert.ok(
    text.includes(
      'RTP PCMU 0x1234abcd 10.0.0.1:4000 → 10.0.0.3:5000, 499 pkts, 0 lost, jitter 0.4/0.2 ms, MOS 4.4',
    ),
  );
  assert.ok(text.includes('3 lost (0.6%)') && text.includes('DTMF 12#'));
  // Placed between the ACK and the BYE, where the media started.
  const all = text.split('\n');
  const ack = all.findIndex((l) => l.includes(' ACK '));
  const bye = all.findIndex((l) => l.includes(' BYE '));
  const first = all.indexOf(rtp[0]!);
  assert.ok(ack < first && first < bye, `${ack} ${first} ${bye}`);
});

test('colour by status class when asked, none otherwise', () => {
  const plain = renderText(rejectedCall(), { color: false });
  assert.equal(plain.includes(ESC), false);
  const colored = renderText(rejectedCall(), { color: true });
  const busy = arrowLines(colored).find((l) => l.includes('Busy Here'))!;
  assert.ok(busy.includes(`${ESC}[31m`), JSON.stringify(busy)); // red
  const invite = arrowLines(colored).find((l) => l.includes('INVITE') && l.includes('SDP'))!;
  assert.ok(invite.includes(`${ESC}[36m`), JSON.stringify(invite)); // cyan
  const ok = arrowLines(renderText(proxiedCall(), { color: true })).find((l) =>
    l.includes('200 OK'),
  )!;
  assert.ok(ok.includes(`${ESC}[32m`), JSON.stringify(ok)); // green
  // Stripping the colours gives back the plain rendering.
  assert.equal(colored.replace(/\x1b\[\d+m/g, ''), plain);
});

test('hostile strings cannot reach the terminal', () => {
  const call = callOf(
    ['10.0.0.1:5060', '10.0.0.9:5060'],
    [
      { from: A, to: '10.0.0.9:5060', label: 'INVITE\x1b[2J\r\nX' },
      {
        from: '10.0.0.9:5060',
        to: A,
        label: '200 <script>alert(1)</script>\x07',
        sdp: 'SDP \x1b]0;pwned\x07',
      },
    ],
  );
  call.hosts[1]!.userAgent = 'evil\x1b[31mUA\nnext';
  call.callId = 'id\x1b[H';
  for (const color of [false, true]) {
    const text = renderText(call, { color });
    const stripped = text.replace(/\x1b\[\d+m/g, '');
    assert.equal(stripped.includes(ESC), false);
    assert.equal(stripped.includes('\x07'), false);
    assert.equal(arrowLines(stripped).length, 2);
  }
});

test('many hosts get narrow columns that fit the width', () => {
  const hosts = Array.from({ length: 8 }, (_, i) => `192.168.100.${100 + i}:5060`);
  const steps = hosts.slice(1).map((h, i) => ({ from: hosts[i]!, to: h, label: 'INVITE' }));
  steps.push({ from: hosts[7]!, to: hosts[0]!, label: '200 OK' });
  const text = renderText(callOf(hosts, steps), { width: 100 });
  const cols = lifelineColumns(text);
  assert.equal(cols.length, 8);
  assert.ok(cols.at(-1)! < 100, `last column at ${cols.at(-1)}`);
  const lines = text.split('\n');
  // Header lines (after the title) stay inside the width; ports are never cut off.
  for (const l of lines.slice(
    1,
    lines.findIndex((x) => x.includes('│')),
  ))
    assert.ok(Array.from(l).length <= 100, l);
  assert.equal((text.match(/:5060/g) ?? []).length, 8);
  assert.equal(arrowLines(text).length, 8);
  assert.ok(arrowLines(text).at(-1)!.includes('200 OK'));
});

test('long labels are truncated with … only when they cannot fit, and shown whole beside', () => {
  const long = '503 Service Unavailable because the upstream trunk is in maintenance';
  const call = callOf(
    [A, B],
    [
      { from: A, to: B, label: 'INVITE' },
      { from: B, to: A, label: long },
    ],
  );
  const narrow = arrowLines(renderText(call, { width: 60 }));
  assert.ok(!narrow[0]!.includes('…'));
  const [shaft, note] = [narrow[1]!.slice(0, narrow[1]!.lastIndexOf('│') + 1), narrow[1]!];
  assert.ok(shaft.includes('…'), shaft);
  assert.ok(note.includes(long), note);
  const wide = renderText(callOf([A, B], [{ from: A, to: B, label: 'INVITE' }]), { width: 200 });
  assert.equal(wide.includes('…'), false);
});

test('an empty call renders its title and says so', () => {
  const text = renderText(callOf([], []));
  assert.ok(text.startsWith('Call test-call@example.com'));
  assert.ok(text.includes('(no messages)'));
});

test('hosts missing from the host list still get a column', () => {
  const call = callOf(
    [A],
    [
      { from: A, to: '[2001:db8::1]:5060', label: 'OPTIONS' },
      { from: '[2001:db8::1]:5060', to: A, label: '200 OK' },
      { from: A, to: A, label: 'MESSAGE' },
    ],
  );
  const text = renderText(call);
  assert.ok(text.includes('[2001:db8::1]:5060'));
  assert.equal(lifelineColumns(text).length, 2);
  const lines = arrowLines(text);
  assert.equal(lines.length, 3);
  assert.ok(lines[2]!.includes('↺') && lines[2]!.includes('MESSAGE'));
});

test('malformed messages are marked, INFO and RFC 4733 digits drawn, duplicates never negative loss', () => {
  const call = proxiedCall();
  call.messages[0]!.malformed = 'Invalid Request-URI: bad port';
  const info = call.messages[1]!;
  info.dtmf = '7';
  const stream = call.rtp[1]!;
  stream.dtmfEvents = [{ ts: call.start + 5, digit: '1' }];
  const first = call.rtp[0]!;
  first.lost = -2;
  first.duplicates = 2;
  call.dtmf = '17';
  const text = renderText(call, { width: 200 });
  assert.match(text, /!INVITE/);
  assert.match(text, /malformed: Invalid Request-URI: bad port/);
  assert.match(text, /DTMF 7 \(SIP INFO\)/);
  assert.match(text, /┈ DTMF 1 ┈.*RFC 4733/);
  assert.match(text, /, DTMF 17$/m, 'the call title has the digits');
  assert.match(text, /0x1234abcd 499 pkts, 0 lost, 2 dup/);
  assert.doesNotMatch(text, /-2 lost/);
});
