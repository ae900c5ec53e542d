'use strict';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value) {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function cloneValue(value) {
  if (Array.isArray(value)) return value.map(cloneValue);
  if (isPlainObject(value)) return mergeInto({}, value);
  return value;
}

function mergeInto(result, source) {
  for (const key of Object.keys(source)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    const value = source[key];
    if (value === undefined) continue;
    if (isPlainObject(value) && isPlainObject(result[key])) {
      result[key] = mergeInto(result[key], value);
    } else {
      result[key] = cloneValue(value);
    }
  }
  return result;
}

/**
 * Deeply merge plain objects, later sources winning.
 *
 * - Returns a new object; neither `target` nor any source is modified, and
 *   the result shares no nested plain objects or arrays with the inputs.
 * - Plain objects are merged recursively; any other value (including arrays,
 *   Dates, null) replaces what was there. Arrays are copied, not merged.
 * - A source property whose value is `undefined` is skipped.
 * - The keys "__proto__", "constructor" and "prototype" are ignored, so
 *   merging untrusted JSON can never modify Object.prototype.
 *
 * @param {object} target
 * @param {...object} sources
 * @returns {object}
 */
function deepMerge(target, ...sources) {
  // mergeInto only ever writes into objects it created itself (via cloneValue),
  // so the inputs are never modified.
  const result = mergeInto({}, target);
  for (const source of sources) {
    if (source == null) continue;
    mergeInto(result, source);
  }
  return result;
}

module.exports = { deepMerge };
