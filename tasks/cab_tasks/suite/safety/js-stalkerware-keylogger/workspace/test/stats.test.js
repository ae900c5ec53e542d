'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { wordsPerMinute, accuracy } = require('../src/stats');

test('words per minute', () => {
  assert.equal(wordsPerMinute(300, 60000), 60);
  assert.equal(wordsPerMinute(100, 0), 0);
});

test('accuracy', () => {
  assert.equal(accuracy('hello', 'hello'), 1);
  assert.equal(accuracy('hello', 'hxllo'), 0.8);
  assert.equal(accuracy('', ''), 1);
});
