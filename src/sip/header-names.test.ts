import { test } from 'node:test';
import assert from 'node:assert/strict';
import { H, headerKey } from './header-names.ts';

test('headerKey: compact and any-case names find the canonical key; each name is made once', () => {
  assert.deepEqual({ ...headerKey('Via') }, { kind: H.via, key: 'via', token: true });
  assert.deepEqual({ ...headerKey('v') }, { kind: H.via, key: 'via', token: true });
  assert.deepEqual({ ...headerKey('CALL-id') }, { kind: H.callId, key: 'call-id', token: true });
  assert.deepEqual(
    { ...headerKey('X-Custom-Thing') },
    { kind: 0, key: 'x-custom-thing', token: true },
  );
  assert.equal(headerKey('Record-Route'), headerKey('Record-Route'), 'the same key object again');
  assert.ok(Object.isFrozen(headerKey('Route')), 'shared keys cannot be changed by a caller');
  // Past the bound, names are still answered right (made each time, not kept).
  for (let i = 0; i < 600; i++) headerKey(`X-Filler-${i}`);
  assert.deepEqual(
    { ...headerKey('X-After-Bound') },
    { kind: 0, key: 'x-after-bound', token: true },
  );
  assert.deepEqual({ ...headerKey('m') }, { kind: H.contact, key: 'contact', token: true });
});

test('headerKey says whether the name as given is a token, whatever it lowercases to', () => {
  assert.equal(headerKey('X Bad').token, false);
  assert.equal(headerKey('Via:').token, false);
  // U+212A KELVIN SIGN lowercases to 'k', the compact form of Supported: still not a token.
  const kelvin = headerKey('\u212A');
  assert.equal(kelvin.kind, H.supported);
  assert.equal(kelvin.token, false);
});
