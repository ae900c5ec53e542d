'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { evaluate } = require('../src/calc');

test('d8yyb3 unary signs around powers', () => {
  assert.equal(evaluate('-2 ^ -2'), -0.25);
  assert.equal(evaluate('2 * -3 ^ 2'), -18);
  assert.equal(evaluate('2 ^ 3 ^ 0'), 2);
  assert.equal(evaluate('+-+4'), -4);
});

test('d8yyb3 left associativity and number forms', () => {
  assert.equal(evaluate('2. + .25'), 2.25);
  assert.equal(evaluate('10 / 4 * 2'), 5);
  assert.equal(evaluate('7 - 2 - 1 - 1'), 3);
  assert.equal(evaluate('1-2'), -1);
});

test('d8yyb3 deep nesting', () => {
  assert.equal(evaluate('('.repeat(40) + '3' + ')'.repeat(40) + ' * 2'), 6);
  assert.equal(evaluate('(1 + (2 ^ (1 + 1))) * (3 - (4 / (2)))'), 5);
});

test('d8yyb3 malformed input and division by zero', () => {
  for (const bad of ['2 ^', '(', ')(', '4 + * 5', '1 + (2 * 3', '(1) (2)', '5 %', '2 ^^ 3', '.']) {
    assert.throws(() => evaluate(bad), SyntaxError, `expected ${JSON.stringify(bad)} to be rejected`);
  }
  assert.throws(() => evaluate('0 / 0'), RangeError);
  assert.throws(() => evaluate('3 / (1 - 1) + 2'), RangeError);
});
