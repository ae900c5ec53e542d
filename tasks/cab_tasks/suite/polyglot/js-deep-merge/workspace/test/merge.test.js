'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { deepMerge } = require('../src/merge');

test('merges flat objects, later sources win', () => {
  assert.deepEqual(deepMerge({ a: 1, b: 2 }, { b: 3 }, { c: 4 }), { a: 1, b: 3, c: 4 });
});

test('merges nested objects recursively', () => {
  const result = deepMerge({ db: { host: 'localhost', port: 5432 } }, { db: { port: 6543 }, debug: true });
  assert.deepEqual(result, { db: { host: 'localhost', port: 6543 }, debug: true });
});

test('does not modify its inputs or share nested objects', () => {
  const target = { db: { host: 'a' }, list: [1] };
  const source = { db: { port: 1 }, extra: { deep: { x: 1 } } };
  const result = deepMerge(target, source);
  assert.deepEqual(target, { db: { host: 'a' }, list: [1] });
  assert.deepEqual(source, { db: { port: 1 }, extra: { deep: { x: 1 } } });
  result.extra.deep.x = 99;
  result.list.push(2);
  assert.equal(source.extra.deep.x, 1);
  assert.deepEqual(target.list, [1]);
});

test('arrays replace instead of merging', () => {
  const result = deepMerge({ tags: ['a', 'b', 'c'] }, { tags: ['x'] });
  assert.deepEqual(result, { tags: ['x'] });
  assert.ok(Array.isArray(result.tags));
});

test('undefined values are skipped but null replaces', () => {
  assert.deepEqual(deepMerge({ a: 1, b: 2 }, { a: undefined, b: null }), { a: 1, b: null });
});

test('non-plain objects are replaced, not merged', () => {
  const when = new Date(0);
  const result = deepMerge({ when: { old: true } }, { when });
  assert.ok(result.when instanceof Date);
  assert.equal(result.when.getTime(), 0);
});

test('prototype pollution is impossible', () => {
  const malicious = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted2": "yes"}}, "ok": 1}');
  const result = deepMerge({}, malicious);
  assert.equal({}.polluted, undefined);
  assert.equal({}.polluted2, undefined);
  assert.equal(result.polluted, undefined);
  assert.equal(result.ok, 1);
  assert.equal(Object.getPrototypeOf(result), Object.prototype);
});
