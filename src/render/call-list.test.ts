import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderCallList } from './call-list.ts';
import { proxiedCall, rejectedCall } from './example-calls.ts';

test('one row per call under a header, with the VoIP Calls columns', () => {
  const text = renderCallList([proxiedCall(), rejectedCall()], { width: 200 });
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(
    lines[0]!,
    /^#\s+Start\s+Duration\s+From\s+To\s+Method\s+State\s+Status\s+Hung up\s+Msgs\s+Call-ID$/,
  );
  assert.match(
    lines[1]!,
    /^1\s+22:13:20\s+12\.5 s\s+Alice <alice@example\.com>\s+bob@example\.com\s+INVITE\s+completed\s+200 OK\s+caller\s+10\s+a84b4c76e66710@pc33\.example\.com$/,
  );
  assert.match(
    lines[2]!,
    /^2\s+22:13:50\s+0\.6 s\s+alice@atlanta\.example\.com\s+.*rejected\s+486 Busy Here\s+-\s+4\s+3848276298220188511@/,
  );
  // Columns line up: every row has the Status column where the header has it.
  const at = lines[0]!.indexOf('Status');
  assert.equal(lines[1]!.indexOf('200 OK'), at);
  assert.equal(lines[2]!.indexOf('486 Busy Here'), at);
});

test('fits the width by truncating parties and Call-ID with …', () => {
  const text = renderCallList([proxiedCall(), rejectedCall()], { width: 110 });
  for (const l of text.trimEnd().split('\n'))
    assert.ok(Array.from(l).length <= 110, `${Array.from(l).length}: ${l}`);
  assert.ok(text.includes('…'));
});

test('colours only when asked; hostile values are made safe', () => {
  const call = rejectedCall();
  call.from = 'evil\x1b[2J@example.com';
  assert.equal(renderCallList([call]).includes('\x1b'), false);
  const colored = renderCallList([call], { color: true });
  assert.ok(colored.includes('\x1b[31mrejected'));
  assert.equal(colored.includes('\x1b[2J'), false);
  assert.equal(renderCallList([]), 'No calls.\n');
});

test('DTMF column when a call has digits; malformed messages counted with !', () => {
  const call = proxiedCall();
  call.dtmf = '12#';
  call.messages[0]!.malformed = 'Invalid Request-URI: bad port';
  const lines = renderCallList([call, rejectedCall()], { width: 200 }).trimEnd().split('\n');
  assert.match(lines[0]!, /\bMsgs\s+DTMF\s+Call-ID$/);
  assert.match(lines[1]!, /\s10 \(1!\)\s+12#\s+a84b4c76e66710@/);
  assert.doesNotMatch(renderCallList([rejectedCall()]), /DTMF/);
});

test('wide: nothing truncated whatever the width', () => {
  const text = renderCallList([proxiedCall(), rejectedCall()], { width: 60, wide: true });
  assert.equal(text.includes('…'), false);
  assert.ok(text.includes('a84b4c76e66710@pc33.example.com'));
});
