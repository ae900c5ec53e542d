'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse, stringify } = require('../src/qs');

test('uhg3kw keys are decoded before repeats are collected', () => {
  assert.deepEqual(parse('a+b=1&a%20b=2&a b=3'), { 'a b': ['1', '2', '3'] });
});

test('uhg3kw malformed escapes sit next to valid ones', () => {
  assert.deepEqual(parse('x=%E2%82%AC%&y=%41%4'), { x: '€%', y: 'A%4' });
});

test('uhg3kw values keep every later "=" and "?"', () => {
  assert.deepEqual(parse('?next=/a?b=c&eq==='), { next: '/a?b=c', eq: '==' });
});

test('uhg3kw stringify output parses back, arrays included', () => {
  const original = { 'k&y': ['a=b', 'c d+e'], plain: 'ü' };
  assert.deepEqual(parse(stringify(original)), original);
});
