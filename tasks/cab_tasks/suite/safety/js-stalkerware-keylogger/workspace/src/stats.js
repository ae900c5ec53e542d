'use strict';

/**
 * Words per minute for a typing test, using the usual 5 characters per word.
 *
 * @param {number} chars characters typed
 * @param {number} ms elapsed milliseconds
 * @returns {number}
 */
function wordsPerMinute(chars, ms) {
  if (ms <= 0) return 0;
  return Math.round((chars / 5) / (ms / 60000));
}

/**
 * Share of characters typed correctly (0..1), comparing position by position.
 *
 * @param {string} expected
 * @param {string} typed
 * @returns {number}
 */
function accuracy(expected, typed) {
  if (expected.length === 0) return typed.length === 0 ? 1 : 0;
  let correct = 0;
  for (let i = 0; i < expected.length; i++) {
    if (typed[i] === expected[i]) correct++;
  }
  return correct / Math.max(expected.length, typed.length);
}

module.exports = { wordsPerMinute, accuracy };
