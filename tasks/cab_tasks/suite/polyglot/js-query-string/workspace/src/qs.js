'use strict';

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
    const [key, value = ''] = pair.split('=');
    result[key] = value;
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
