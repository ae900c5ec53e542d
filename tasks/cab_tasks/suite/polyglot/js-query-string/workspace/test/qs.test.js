'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse, stringify } = require('../src/qs');

test('parses simple pairs', () => {
  assert.deepEqual(parse('a=1&b=two'), { a: '1', b: 'two' });
});

test('ignores leading question mark and empty pairs', () => {
  assert.deepEqual(parse('?x=1&&y=2&'), { x: '1', y: '2' });
  assert.deepEqual(parse(''), {});
});

test('pair without "=" has empty value', () => {
  assert.deepEqual(parse('flag&name=bob'), { flag: '', name: 'bob' });
});

test('decodes plus and percent escapes', () => {
  assert.deepEqual(parse('q=hello+world&city=S%C3%A3o%20Paulo'), {
    q: 'hello world',
    city: 'São Paulo',
  });
  assert.deepEqual(parse('a%26b=c%3Dd'), { 'a&b': 'c=d' });
});

test('repeated keys collect into an array', () => {
  assert.deepEqual(parse('tag=a&tag=b&x=1&tag=c'), { tag: ['a', 'b', 'c'], x: '1' });
});

test('malformed escapes are kept verbatim', () => {
  assert.deepEqual(parse('p=100%&q=%zz+1'), { p: '100%', q: '%zz 1' });
});

test('stringify encodes values', () => {
  assert.equal(stringify({ q: 'a b', tag: ['x', 'y'] }), 'q=a%20b&tag=x&tag=y');
});
