'use strict';

const NUMERIC = '0|[1-9]\\d*';
const IDENT = '(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)';
const BUILD_IDENT = '[0-9a-zA-Z-]+';
const SEMVER_RE = new RegExp(
  `^(${NUMERIC})\\.(${NUMERIC})\\.(${NUMERIC})` +
    `(?:-(${IDENT}(?:\\.${IDENT})*))?` +
    `(?:\\+(${BUILD_IDENT}(?:\\.${BUILD_IDENT})*))?$`
);

/**
 * Parse a SemVer 2.0.0 version string such as "1.4.2-rc.1+build.7".
 * Throws a TypeError if the string is not a valid version (for example
 * "1.2", "01.2.3", "1.2.3-", "v1.2.3" or "1.2.3-alpha..1").
 *
 * @param {string} version
 * @returns {{major: number, minor: number, patch: number, prerelease: (string|number)[], build: string[]}}
 */
function parse(version) {
  const match = typeof version === 'string' ? SEMVER_RE.exec(version) : null;
  if (!match) throw new TypeError(`Invalid version: ${JSON.stringify(version)}`);
  const [, major, minor, patch, pre, build] = match;
  return {
    major: Number(major),
    minor: Number(minor),
    patch: Number(patch),
    prerelease: pre ? pre.split('.').map((id) => (/^\d+$/.test(id) ? Number(id) : id)) : [],
    build: build ? build.split('.') : [],
  };
}

function compareIdentifiers(x, y) {
  const xNum = typeof x === 'number';
  const yNum = typeof y === 'number';
  if (xNum && yNum) return x === y ? 0 : x < y ? -1 : 1;
  if (xNum) return -1; // numeric identifiers have lower precedence
  if (yNum) return 1;
  return x === y ? 0 : x < y ? -1 : 1;
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
  const pa = va.prerelease;
  const pb = vb.prerelease;
  if (pa.length === 0 || pb.length === 0) {
    if (pa.length === pb.length) return 0;
    return pa.length === 0 ? 1 : -1; // a release outranks its pre-releases
  }
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = compareIdentifiers(pa[i], pb[i]);
    if (c !== 0) return c;
  }
  if (pa.length === pb.length) return 0;
  return pa.length < pb.length ? -1 : 1;
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
