import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeXml, jsonForScript, terminalSafe } from './escape.ts';

test('escapeXml escapes markup and replaces characters XML forbids', () => {
  assert.equal(
    escapeXml(`<a href="x">'&'</a>`),
    '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
  );
  assert.equal(escapeXml('a\u0000b\u001bc\td\n'), 'a\ufffdb\ufffdc\td\n');
  assert.equal(escapeXml('x\ud800y'), 'x\ufffdy');
  assert.equal(escapeXml('😀'), '😀');
});

test('terminalSafe removes escape sequences and line breaks', () => {
  const text = terminalSafe('486 Busy\x1b[2J\r\nHere\x9b');
  assert.equal(text.includes('\x1b'), false);
  assert.equal(text.includes('\n'), false);
  assert.equal(text.includes('\x9b'), false);
  assert.equal(text, '486 Busy\ufffd[2J  Here\ufffd');
});

test('jsonForScript cannot close a script element and round-trips', () => {
  const value = { raw: '</script><script>alert(1)</script><!-- & \u2028\u2029 >' };
  const json = jsonForScript(value);
  assert.equal(/[<>&\u2028\u2029]/.test(json), false);
  assert.deepEqual(JSON.parse(json), value);
});
