'use strict';

/**
 * Form-decode one key or value: "+" is a space and %XX escapes are UTF-8.
 * Escapes that cannot be decoded are left exactly as written.
 */
function decodeComponent(text) {
  const spaced = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    // Decode each run of valid escapes separately; keep the rest verbatim.
    return spaced.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/**
 * Parse a URL query string into an object.
 *
 * - A leading "?" is ignored; empty pairs ("a=1&&b=2") are skipped.
 * - Keys and values are form-decoded: "+" means a space and %XX escapes are
 *   decoded as UTF-8. A malformed escape (e.g. "%zz" or a lone "%") is kept
 *   verbatim instead of throwing.
 * - Only the first "=" separates key and value ("a=b=c" gives { a: "b=c" });
 *   a pair without "=" has the value "".
 * - A key that appears more than once yields an array of its values, in order.
 *
 * @param {string} qs
 * @returns {Record<string, string | string[]>}
 */
function parse(qs) {
  const result = {};
  const text = qs.startsWith('?') ? qs.slice(1) : qs;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
    if (!Object.prototype.hasOwnProperty.call(result, key)) {
      Object.defineProperty(result, key, {
        value,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    } else if (Array.isArray(result[key])) {
      result[key].push(value);
    } else {
      result[key] = [result[key], value];
    }
  }
  return result;
}

/**
 * Serialize an object produced by parse() back into a query string.
 * Arrays produce one pair per element; keys and values are percent-encoded.
 *
 * @param {Record<string, string | string[]>} obj
 * @returns {string}
 */
function stringify(obj) {
  const parts = [];
  for (const [key, value] of Object.entries(obj)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(v)}`);
    }
  }
  return parts.join('&');
}

module.exports = { parse, stringify };
