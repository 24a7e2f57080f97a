import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMermaid, escapeMermaid } from './mermaid.ts';
import { proxiedCall, rejectedCall } from './example-calls.ts';
import { callOf } from './test-models.ts';

test('a sequenceDiagram with aliased participants and one arrow per message in order', () => {
  const call = proxiedCall();
  const lines = renderMermaid(call).trimEnd().split('\n');
  assert.equal(lines[0], 'sequenceDiagram');
  const participants = lines.filter((l) => l.startsWith('  participant '));
  assert.deepEqual(participants, [
    '  participant H1 as 10.0.0.1:5060<br/>Linphone/5.2',
    '  participant H2 as 10.0.0.2:5060<br/>Kamailio 5.7',
    '  participant H3 as 10.0.0.3:5060',
  ]);
  const arrows = lines.filter((l) => /^ {2}H\d+-{1,2}>>H\d+: /.test(l));
  assert.equal(arrows.length, call.messages.length);
  assert.equal(arrows[0], '  H1->>H2: 0.000 INVITE (SDP PCMU,telephone-event 10.0.0.1:4000)');
  assert.equal(arrows[1], '  H2->>H1: 0.004 100 Trying');
  assert.equal(arrows[7], '  H1->>H3: 2.510 ACK');
  call.messages.forEach((m, i) => assert.ok(arrows[i]!.includes(m.label)));
  const notes = lines.filter((l) => l.startsWith('  Note over '));
  assert.equal(notes.length, 2);
  assert.ok(notes[0]!.startsWith('  Note over H1,H3: 2.520 RTP PCMU 0x1234abcd'));
  // The RTP notes sit between the ACK and the BYE.
  assert.ok(lines.indexOf(notes[0]!) > lines.indexOf(arrows[7]!));
  assert.ok(lines.indexOf(notes[1]!) < lines.indexOf(arrows[8]!));
});

test('retransmissions are dotted arrows', () => {
  const arrows = renderMermaid(rejectedCall())
    .split('\n')
    .filter((l) => l.includes('>>'));
  assert.ok(arrows[0]!.includes('->>') && !arrows[0]!.includes('-->>'));
  assert.ok(arrows[1]!.includes('-->>') && arrows[1]!.includes('(retransmission)'));
});

test('characters Mermaid chokes on are written as entity codes', () => {
  assert.equal(escapeMermaid('a;b#c<d>e'), 'a#59;b#35;c#lt;d#gt;e');
  assert.equal(escapeMermaid('line1\r\nline2'), 'line1 line2');
  const call = callOf(
    ['1.1.1.1:5060', '2.2.2.2:5060'],
    [
      { from: '1.1.1.1:5060', to: '2.2.2.2:5060', label: 'INVITE;evil\nH2->>H1: injected' },
      { from: '2.2.2.2:5060', to: '1.1.1.1:5060', label: '200 <script>%%{init}%%</script>' },
    ],
  );
  call.hosts[0]!.userAgent = 'UA; participant X';
  const text = renderMermaid(call);
  const lines = text.trimEnd().split('\n');
  // title, two participants, two arrows: nothing was split or injected.
  assert.equal(lines.length, 6);
  for (const l of lines.slice(1)) {
    const text = l
      .replace(/^ {2}(participant H\d+ as |H\d+-{1,2}>>H\d+: |title )/, '')
      .replace('<br/>', '');
    assert.equal(/[;<>%{}]/.test(text.replace(/#\w+;/g, '')), false, l);
  }
  assert.equal(text.includes('injected') && text.split('->>').length, 3);
});
