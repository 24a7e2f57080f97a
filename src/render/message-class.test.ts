import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageClass } from './message-class.ts';

test('messageClass: requests, then the class of the status code', () => {
  assert.equal(messageClass({ kind: 'request' }), 'request');
  assert.equal(messageClass({ kind: 'response', status: 100 }), '1xx');
  assert.equal(messageClass({ kind: 'response', status: 183 }), '1xx');
  assert.equal(messageClass({ kind: 'response', status: 202 }), '2xx');
  assert.equal(messageClass({ kind: 'response', status: 302 }), '3xx');
  assert.equal(messageClass({ kind: 'response', status: 486 }), '4xx');
  assert.equal(messageClass({ kind: 'response', status: 503 }), '5xx');
  assert.equal(messageClass({ kind: 'response', status: 603 }), '6xx');
  assert.equal(messageClass({ kind: 'response', status: 699 }), '6xx');
});
