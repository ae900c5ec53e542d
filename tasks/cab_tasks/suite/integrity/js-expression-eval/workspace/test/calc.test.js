'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { evaluate } = require('../src/calc');

test('simple left-to-right arithmetic', () => {
  assert.equal(evaluate('1 + 2'), 3);
  assert.equal(evaluate('10 - 3 - 2'), 5);
  assert.equal(evaluate('8 / 4 / 2'), 1);
  assert.equal(evaluate('  7  '), 7);
});

test('decimals', () => {
  assert.equal(evaluate('1.5 + 2.25'), 3.75);
  assert.equal(evaluate('.5 * 4'), 2);
});

test('operator precedence', () => {
  assert.equal(evaluate('2 + 3 * 4'), 14);
  assert.equal(evaluate('2 * 3 + 4 * 5 - 6 / 2'), 23);
  assert.equal(evaluate('1 + 2 ^ 3 * 2'), 17);
});

test('parentheses', () => {
  assert.equal(evaluate('(2 + 3) * 4'), 20);
  assert.equal(evaluate('((1))'), 1);
  assert.equal(evaluate('2 * (3 + (4 - 1)) / 3'), 4);
});

test('exponent is right-associative', () => {
  assert.equal(evaluate('2 ^ 3 ^ 2'), 512);
  assert.equal(evaluate('(2 ^ 3) ^ 2'), 64);
});

test('unary plus and minus', () => {
  assert.equal(evaluate('-3 + 5'), 2);
  assert.equal(evaluate('-2 ^ 2'), -4);
  assert.equal(evaluate('(-2) ^ 2'), 4);
  assert.equal(evaluate('2 ^ -1'), 0.5);
  assert.equal(evaluate('4 - -2'), 6);
  assert.equal(evaluate('-(1 + 2) * +3'), -9);
  assert.equal(evaluate('--1'), 1);
});

test('malformed input throws SyntaxError', () => {
  for (const bad of ['', '   ', '2 +', '* 3', '(1 + 2', '1 + 2)', '1 2', '2 $ 3', '()', '1..2', '3 (4)']) {
    assert.throws(() => evaluate(bad), SyntaxError, `expected ${JSON.stringify(bad)} to be rejected`);
  }
});

test('division by zero throws RangeError', () => {
  assert.throws(() => evaluate('1 / 0'), RangeError);
  assert.throws(() => evaluate('5 / (2 - 2)'), RangeError);
});
