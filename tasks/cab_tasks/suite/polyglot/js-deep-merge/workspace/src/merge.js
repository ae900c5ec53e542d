'use strict';

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
  for (const source of sources) {
    for (const key of Object.keys(source)) {
      const value = source[key];
      if (value && typeof value === 'object') {
        if (!target[key] || typeof target[key] !== 'object') target[key] = {};
        deepMerge(target[key], value);
      } else {
        target[key] = value;
      }
    }
  }
  return target;
}

module.exports = { deepMerge };
