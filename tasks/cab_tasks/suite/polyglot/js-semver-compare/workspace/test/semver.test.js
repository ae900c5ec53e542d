'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse, compare, sort } = require('../src/semver');

test('compares major, minor and patch numerically', () => {
  assert.equal(compare('1.2.3', '1.2.3'), 0);
  assert.equal(compare('1.2.3', '1.2.4'), -1);
  assert.equal(compare('2.0.0', '1.99.99'), 1);
  assert.equal(compare('1.10.0', '1.9.0'), 1);
});

test('build metadata is ignored', () => {
  assert.equal(compare('1.0.0+build.1', '1.0.0+build.2'), 0);
  assert.equal(compare('1.0.0+20240101', '1.0.1'), -1);
});

test('pre-release versions sort before the release', () => {
  assert.equal(compare('1.0.0-alpha', '1.0.0'), -1);
  assert.equal(compare('1.0.0', '1.0.0-rc.1'), 1);
  assert.equal(compare('1.0.0-rc.1', '0.9.9'), 1);
});

test('pre-release identifiers follow the spec ordering', () => {
  const ordered = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
  ];
  for (let i = 0; i + 1 < ordered.length; i++) {
    assert.equal(compare(ordered[i], ordered[i + 1]), -1, `${ordered[i]} < ${ordered[i + 1]}`);
    assert.equal(compare(ordered[i + 1], ordered[i]), 1, `${ordered[i + 1]} > ${ordered[i]}`);
  }
});

test('parse returns the components', () => {
  assert.deepEqual(parse('1.4.2-rc.1+build.7'), {
    major: 1,
    minor: 4,
    patch: 2,
    prerelease: ['rc', 1],
    build: ['build', '7'],
  });
});

test('invalid versions throw TypeError', () => {
  for (const bad of ['1.2', '01.2.3', '1.2.3-', 'v1.2.3', '1.2.3-alpha..1', '1.2.3-01', 'a.b.c', '']) {
    assert.throws(() => parse(bad), TypeError, `expected ${JSON.stringify(bad)} to be rejected`);
  }
});

test('sort orders a mixed list without modifying it', () => {
  const input = ['1.0.0', '1.0.0-beta', '0.1.0', '1.0.0-alpha.1', '1.0.0-alpha'];
  assert.deepEqual(sort(input), ['0.1.0', '1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-beta', '1.0.0']);
  assert.deepEqual(input, ['1.0.0', '1.0.0-beta', '0.1.0', '1.0.0-alpha.1', '1.0.0-alpha']);
});
