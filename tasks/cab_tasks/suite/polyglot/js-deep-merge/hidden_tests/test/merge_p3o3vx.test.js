'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { deepMerge } = require('../src/merge');

test('p3o3vx three levels, three sources, target untouched', () => {
  const target = { a: { b: { c: 1, d: 2 } } };
  const result = deepMerge(target, { a: { b: { d: 3 } } }, { a: { e: 4 } });
  assert.deepEqual(result, { a: { b: { c: 1, d: 3 }, e: 4 } });
  assert.deepEqual(target, { a: { b: { c: 1, d: 2 } } });
  assert.notEqual(result, target);
  assert.notEqual(result.a.b, target.a.b);
});

test('p3o3vx arrays of objects are copied deeply', () => {
  const source = { list: [{ x: 1 }, [2]] };
  const result = deepMerge({ list: [{ y: 0 }] }, source);
  assert.ok(Array.isArray(result.list));
  assert.deepEqual(result.list, [{ x: 1 }, [2]]);
  result.list[0].x = 9;
  result.list[1].push(3);
  assert.deepEqual(source, { list: [{ x: 1 }, [2]] });
});

test('p3o3vx nested undefined is skipped', () => {
  const result = deepMerge({ a: { b: 1, c: 2 } }, { a: { b: undefined }, d: undefined });
  assert.deepEqual(result, { a: { b: 1, c: 2 } });
  assert.equal(Object.prototype.hasOwnProperty.call(result, 'd'), false);
});

test('p3o3vx nested prototype keys never reach Object.prototype', () => {
  const hostile = JSON.parse('{"a": {"__proto__": {"p3o3vx": 1}, "constructor": {"prototype": {"q": 2}}}, "prototype": 3}');
  try {
    const result = deepMerge({ a: {} }, hostile);
    assert.equal({}.p3o3vx, undefined);
    assert.equal({}.q, undefined);
    assert.equal(Object.getPrototypeOf(result.a), Object.prototype);
    assert.equal(Object.prototype.hasOwnProperty.call(result, 'prototype'), false);
  } finally {
    delete Object.prototype.p3o3vx;
    delete Object.prototype.q;
  }
});
