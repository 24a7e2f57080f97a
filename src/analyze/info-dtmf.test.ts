import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dtmfFromInfo } from './info-dtmf.ts';

test('dtmfFromInfo: application/dtmf-relay Signal lines', () => {
  assert.equal(dtmfFromInfo('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'), '5');
  assert.equal(dtmfFromInfo('application/dtmf-relay', 'signal= #\r\nDuration=100\r\n'), '#');
  assert.equal(dtmfFromInfo('application/dtmf-relay', 'Signal=11\r\n'), '#');
  assert.equal(dtmfFromInfo('application/dtmf-relay', 'Duration=160\r\n'), undefined);
});

test('dtmfFromInfo: application/dtmf bare digits; other bodies ignored', () => {
  assert.equal(dtmfFromInfo('application/dtmf', '7\r\n'), '7');
  assert.equal(dtmfFromInfo('application/dtmf', '*'), '*');
  assert.equal(dtmfFromInfo('application/dtmf', 'hello'), undefined);
  assert.equal(dtmfFromInfo('application/sdp', 'Signal=5'), undefined);
  assert.equal(dtmfFromInfo(undefined, 'Signal=5'), undefined);
});
