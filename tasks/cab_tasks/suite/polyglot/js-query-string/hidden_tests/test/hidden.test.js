'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse, stringify } = require('../src/qs');

test('only the first "=" splits key and value', () => {
  assert.deepEqual(parse('expr=a=b=c&k='), { expr: 'a=b=c', k: '' });
});

test('round trip through stringify', () => {
  const original = { name: 'Zoë & co', list: ['1+1=2', '50%'], empty: '' };
  assert.deepEqual(parse(stringify(original)), original);
});

test('keys that look like Object.prototype members are plain data', () => {
  const parsed = parse('constructor=x&toString=y');
  assert.equal(parsed.constructor, 'x');
  assert.equal(parsed.toString, 'y');
});
