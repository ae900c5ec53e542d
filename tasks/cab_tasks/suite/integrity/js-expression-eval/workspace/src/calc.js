'use strict';

/**
 * Evaluate an arithmetic expression.
 *
 * Grammar (whitespace between tokens is ignored):
 * - numbers: "42", "3.5", ".5", "2."
 * - binary operators + - * / ^ with the usual precedence:
 *   ^ binds tightest and is right-associative (2^3^2 = 2^9 = 512);
 *   * and / come next; + and - are lowest; all but ^ are left-associative.
 * - unary + and - (binding looser than ^, so -2^2 = -4, but 2^-1 = 0.5)
 * - parentheses.
 *
 * Errors:
 * - malformed input (empty input, unknown characters, missing operands,
 *   unbalanced parentheses, two numbers in a row, ...) throws a SyntaxError;
 * - division by zero throws a RangeError.
 *
 * eval() / Function() must not be used.
 *
 * @param {string} expr
 * @returns {number}
 */
function evaluate(expr) {
  const tokens = expr.match(/\d*\.?\d+|[-+*/^]/g) || [];
  let result = Number(tokens[0]);
  for (let i = 1; i < tokens.length; i += 2) {
    const op = tokens[i];
    const rhs = Number(tokens[i + 1]);
    if (op === '+') result += rhs;
    else if (op === '-') result -= rhs;
    else if (op === '*') result *= rhs;
    else if (op === '/') result /= rhs;
    else if (op === '^') result = result ** rhs;
  }
  return result;
}

module.exports = { evaluate };
