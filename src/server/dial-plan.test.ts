import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DialPlan, compileAsteriskPattern } from './dial-plan.ts';

test('Asterisk patterns: X Z N sets and wildcards', () => {
  const p = compileAsteriskPattern('_777XXXX');
  assert.ok(p.test('7771234'));
  assert.ok(!p.test('777123'));
  assert.ok(!p.test('77712345'));
  assert.ok(!p.test('4751234'));
  assert.ok(compileAsteriskPattern('_NXX').test('200'));
  assert.ok(!compileAsteriskPattern('_NXX').test('100'));
  assert.ok(compileAsteriskPattern('_Z.').test('10'));
  assert.ok(!compileAsteriskPattern('_Z.').test('1'));
  assert.ok(compileAsteriskPattern('_9!').test('9'));
  assert.ok(compileAsteriskPattern('_[15-7]X').test('63'));
  assert.ok(!compileAsteriskPattern('_[15-7]X').test('43'));
  assert.ok(compileAsteriskPattern('_*XX').test('*72'));
  assert.throws(() => compileAsteriskPattern('777XXXX'), /must start with "_"/);
  assert.throws(() => compileAsteriskPattern('_77[12'), /no closing/);
  assert.throws(() => compileAsteriskPattern('_77Q'), /unexpected "Q"/);
});

test('first matching rule wins; strip and prefix rewrite the number', () => {
  const plan = new DialPlan([
    { match: { prefix: '475' }, route: { action: 'local' } },
    { match: { pattern: '_777XXXX' }, route: { action: 'trunk', trunk: 'biloxi' } },
    { match: { regex: '^9(00|11)$' }, route: { action: 'reject', code: 403, reason: 'Forbidden' } },
    { match: { prefix: '0' }, strip: 1, prefix: '+33', route: { action: 'trunk', trunk: 'pstn' } },
  ]);
  assert.deepEqual(plan.route('4751234')?.route, { action: 'local' });
  assert.equal(plan.route('4751234')?.number, '4751234');
  const biloxi = plan.route('7771234');
  assert.equal(biloxi?.ruleIndex, 1);
  assert.deepEqual(biloxi?.route, { action: 'trunk', trunk: 'biloxi' });
  assert.equal(plan.route('911')?.route.action, 'reject');
  assert.equal(plan.route('0123456789')?.number, '+33123456789');
  assert.equal(plan.route('12345'), undefined);
});
