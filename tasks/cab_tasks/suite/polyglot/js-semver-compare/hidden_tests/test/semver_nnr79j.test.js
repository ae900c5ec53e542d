'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse, compare, sort } = require('../src/semver');

test('nnr79j numeric identifiers compare numerically and rank below alphanumeric ones', () => {
  assert.equal(compare('1.0.0-2', '1.0.0-10'), -1);
  assert.equal(compare('1.0.0-10', '1.0.0-a'), -1);
  assert.equal(compare('1.0.0-alpha.10', '1.0.0-alpha.9'), 1);
  assert.equal(compare('1.0.0-x-y', '1.0.0-x'), 1);
});

test('nnr79j longer pre-release wins and build metadata never counts', () => {
  assert.equal(compare('1.0.0-a.b.c', '1.0.0-a.b'), 1);
  assert.equal(compare('1.0.0-rc.1+b1', '1.0.0-rc.1+b2'), 0);
  assert.equal(compare('2.0.0-0', '1.999.999'), 1);
});

test('nnr79j parse edge cases', () => {
  assert.deepEqual(parse('1.2.3-0.a-b.3+x-y.01'), {
    major: 1,
    minor: 2,
    patch: 3,
    prerelease: [0, 'a-b', 3],
    build: ['x-y', '01'],
  });
  for (const bad of ['1.2.3+', '1.2.3+a..b', ' 1.2.3', '1.2.3.4', '1.02.3', '-1.2.3', '1.2.3-rc.01']) {
    assert.throws(() => parse(bad), TypeError, `expected ${JSON.stringify(bad)} to be rejected`);
  }
});

test('nnr79j sort orders numeric pre-release parts', () => {
  assert.deepEqual(sort(['1.0.0-rc.10', '1.0.0-rc.2', '1.0.0', '1.0.0-rc.1']), [
    '1.0.0-rc.1',
    '1.0.0-rc.2',
    '1.0.0-rc.10',
    '1.0.0',
  ]);
});
