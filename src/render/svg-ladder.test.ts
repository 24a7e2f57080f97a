import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderSvg } from './svg-ladder.ts';
import { proxiedCall, rejectedCall } from './example-calls.ts';
import { callOf } from './test-models.ts';

const XML_ENTITY = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
const NAME = /^[A-Za-z_:][\w.:-]*/;

/**
 * A small XML 1.0 well-formedness check: one root element, tags nest and match, attributes are
 * quoted and unique, no raw '<' or stray '&' in text or attribute values, only known entities.
 * Throws with the offset of the first problem.
 */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`not well-formed at ${i}: ${why}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  const checkText = (text: string, at: number): void => {
    for (let k = 0; k < text.length; k++) {
      if (text[k] === '<') {
        i = at + k;
        fail('raw <');
      }
      if (text[k] === '&' && !XML_ENTITY.test(text.slice(k))) {
        i = at + k;
        fail('stray &');
      }
      if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text[k]!)) {
        i = at + k;
        fail('forbidden character');
      }
    }
  };
  while (i < xml.length) {
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end < 0) fail('unclosed comment');
      i = end + 3;
    } else if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i);
      if (end < 0) fail('unclosed processing instruction');
      i = end + 2;
    } else if (xml.startsWith('</', i)) {
      const name = NAME.exec(xml.slice(i + 2))?.[0] ?? fail('bad end tag');
      if (stack.pop() !== name) fail(`mismatched </${name}>`);
      i += 2 + name.length;
      while (/\s/.test(xml[i] ?? '')) i++;
      if (xml[i] !== '>') fail('bad end tag');
      i++;
    } else if (xml[i] === '<') {
      if (stack.length === 0 && ++roots > 1) fail('second root element');
      const name = NAME.exec(xml.slice(i + 1))?.[0] ?? fail('bad start tag');
      i += 1 + name.length;
      const seen = new Set<string>();
      for (;;) {
        const space = /^\s*/.exec(xml.slice(i))![0].length;
        i += space;
        if (xml.startsWith('/>', i)) {
          i += 2;
          break;
        }
        if (xml[i] === '>') {
          stack.push(name);
          i++;
          break;
        }
        if (space === 0) fail('attributes must be separated by space');
        const attr = NAME.exec(xml.slice(i))?.[0] ?? fail('bad attribute name');
        if (seen.has(attr)) fail(`duplicate attribute ${attr}`);
        seen.add(attr);
        i += attr.length;
        const m = /^\s*=\s*(["'])/.exec(xml.slice(i)) ?? fail('attribute without quoted value');
        i += m[0].length;
        const end = xml.indexOf(m[1]!, i);
        if (end < 0) fail('unclosed attribute value');
        checkText(xml.slice(i, end), i);
        i = end + 1;
      }
    } else {
      const next = xml.indexOf('<', i);
      const end = next < 0 ? xml.length : next;
      const text = xml.slice(i, end);
      if (stack.length === 0 && text.trim() !== '') fail('text outside the root element');
      checkText(text, i);
      i = end;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed elements: ${stack.join(' > ')}`);
  if (roots !== 1) throw new Error('no root element');
}

test('the checker itself rejects broken XML', () => {
  assert.throws(() => assertWellFormed('<svg><g></svg>'));
  assert.throws(() => assertWellFormed('<svg><text>a < b</text></svg>'));
  assert.throws(() => assertWellFormed('<svg><text>AT&T</text></svg>'));
  assert.throws(() => assertWellFormed('<svg a="1" a="2"/>'));
  assert.throws(() => assertWellFormed('<svg/><svg/>'));
  assertWellFormed('<svg x="a &amp; b"><text>&lt;ok&gt; &#233;</text><!-- c --></svg>');
});

test('SVG ladders are well-formed XML, hostile strings included', () => {
  const hostile = callOf(
    ['10.0.0.1:5060', '10.0.0.2:5060'],
    [
      { from: '10.0.0.1:5060', to: '10.0.0.2:5060', label: 'INVITE', sdp: 'SDP <b>&amp;</b> "x"' },
      {
        from: '10.0.0.2:5060',
        to: '10.0.0.1:5060',
        label: '200 <script>alert("x")</script> & \u0001',
      },
    ],
  );
  hostile.hosts[0]!.userAgent = '</svg><script>alert(1)</script>';
  hostile.callId = ']]><!-- --> &';
  for (const call of [proxiedCall(), rejectedCall(), hostile, callOf([], [])]) {
    const svg = renderSvg(call);
    assertWellFormed(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  }
  const svg = renderSvg(hostile);
  assert.equal(svg.includes('<script'), false);
  assert.ok(svg.includes('200 &lt;script&gt;'));
});

test('one arrow group per message, in call order, with the class colour', () => {
  const call = proxiedCall();
  const svg = renderSvg(call);
  const arrows = [...svg.matchAll(/<g class="([^"]+)" data-testid="arrow" data-index="(\d+)"/g)];
  assert.deepEqual(
    arrows.map((a) => Number(a[2])),
    call.messages.map((m) => m.index),
  );
  assert.deepEqual(
    arrows.map((a) => a[1]!.split(' ')[1]),
    [
      'tz-request',
      'tz-1xx',
      'tz-request',
      'tz-1xx',
      'tz-1xx',
      'tz-2xx',
      'tz-2xx',
      'tz-request',
      'tz-request',
      'tz-2xx',
    ],
  );
  // Labels appear in the same order as the messages.
  let at = 0;
  for (const m of call.messages) {
    const found = svg.indexOf(`>${m.label}</text>`, at);
    assert.ok(found >= at, `${m.label} after ${at}`);
    at = found + 1;
  }
  const rejected = renderSvg(rejectedCall());
  assert.ok(rejected.includes('tz-arrow tz-4xx'));
  assert.ok(rejected.includes('tz-retransmission'));
});

test('hosts are columns left to right and arrows point from sender to receiver', () => {
  const svg = renderSvg(proxiedCall());
  const hostX = [...svg.matchAll(/<line class="tz-lifeline" x1="([\d.]+)"/g)].map((m) =>
    Number(m[1]),
  );
  assert.equal(hostX.length, 3);
  assert.ok(hostX[0]! < hostX[1]! && hostX[1]! < hostX[2]!);
  const groups = svg.split('data-testid="arrow"').slice(1);
  const shaft = (g: string): [number, number] => {
    const m = /<line x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"/.exec(g)!;
    return [Number(m[1]), Number(m[2])];
  };
  const [x1, x2] = shaft(groups[0]!); // INVITE alice → proxy
  assert.equal(x1, hostX[0]);
  assert.ok(x2 > x1 && x2 < hostX[1]!);
  const [y1, y2] = shaft(groups[1]!); // 100 Trying proxy → alice
  assert.equal(y1, hostX[1]);
  assert.ok(y2 < y1 && y2 > hostX[0]!);
});

test('RTP streams are bars with their quality summary', () => {
  const svg = renderSvg(proxiedCall());
  assert.equal((svg.match(/data-testid="rtp-bar"/g) ?? []).length, 2);
  assert.ok(svg.includes('RTP PCMU 0x1234abcd 10.0.0.1:4000 → 10.0.0.3:5000, 499 pkts, 0 lost'));
});

test('under the ladder, each stream has a bar where its media flowed in the call', () => {
  const call = proxiedCall();
  const svg = renderSvg(call);
  const track = /<rect class="tz-track" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/.exec(svg)!;
  const [left, length] = [Number(track[1]), Number(track[2])];
  const bars = [
    ...svg.matchAll(/<rect class="tz-media" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g),
  ];
  assert.equal(bars.length, call.rtp.length);
  call.rtp.forEach((s, i) => {
    const x = Number(bars[i]![1]);
    const w = Number(bars[i]![2]);
    const expectX = left + ((s.start - call.start) / call.duration) * length;
    const expectW = ((s.end - s.start) / call.duration) * length;
    assert.ok(Math.abs(x - expectX) < 0.2, `bar ${i} starts at ${x}, want ${expectX}`);
    assert.ok(Math.abs(w - expectW) < 0.2, `bar ${i} is ${w} wide, want ${expectW}`);
  });
  assert.equal(renderSvg(rejectedCall()).includes('class="tz-media"'), false);
});

test('an empty call is a small valid image that says so', () => {
  const svg = renderSvg(callOf([], []));
  assert.ok(svg.includes('No messages in this call'));
  assert.equal(svg.includes('data-testid="arrow"'), false);
});
