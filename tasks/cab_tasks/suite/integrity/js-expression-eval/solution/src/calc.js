'use strict';

function tokenize(expr) {
  const tokens = [];
  let i = 0;
  while (i < expr.length) {
    const ch = expr[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (/[0-9.]/.test(ch)) {
      const match = /^(?:\d+\.?\d*|\.\d+)/.exec(expr.slice(i));
      if (!match) throw new SyntaxError(`Invalid number at position ${i}`);
      tokens.push({ type: 'num', value: Number(match[0]), pos: i });
      i += match[0].length;
      continue;
    }
    if ('+-*/^()'.includes(ch)) {
      tokens.push({ type: ch, pos: i });
      i++;
      continue;
    }
    throw new SyntaxError(`Unexpected character ${JSON.stringify(ch)} at position ${i}`);
  }
  return tokens;
}

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
  const tokens = tokenize(String(expr));
  let pos = 0;

  const peek = () => tokens[pos];
  const fail = (what) => {
    const tok = peek();
    const where = tok ? `at position ${tok.pos}` : 'at end of input';
    throw new SyntaxError(`Expected ${what} ${where}`);
  };

  // expression := term (('+' | '-') term)*
  function expression() {
    let value = term();
    while (peek() && (peek().type === '+' || peek().type === '-')) {
      const op = tokens[pos++].type;
      const rhs = term();
      value = op === '+' ? value + rhs : value - rhs;
    }
    return value;
  }

  // term := unary (('*' | '/') unary)*
  function term() {
    let value = unary();
    while (peek() && (peek().type === '*' || peek().type === '/')) {
      const op = tokens[pos++].type;
      const rhs = unary();
      if (op === '/') {
        if (rhs === 0) throw new RangeError('Division by zero');
        value /= rhs;
      } else {
        value *= rhs;
      }
    }
    return value;
  }

  // unary := ('+' | '-') unary | power
  function unary() {
    const tok = peek();
    if (tok && (tok.type === '+' || tok.type === '-')) {
      pos++;
      const value = unary();
      return tok.type === '-' ? -value : value;
    }
    return power();
  }

  // power := primary ('^' unary)?      (right-associative)
  function power() {
    const base = primary();
    if (peek() && peek().type === '^') {
      pos++;
      return base ** unary();
    }
    return base;
  }

  // primary := number | '(' expression ')'
  function primary() {
    const tok = peek();
    if (!tok) fail('a number or "("');
    if (tok.type === 'num') {
      pos++;
      return tok.value;
    }
    if (tok.type === '(') {
      pos++;
      const value = expression();
      if (!peek() || peek().type !== ')') fail('")"');
      pos++;
      return value;
    }
    return fail('a number or "("');
  }

  const result = expression();
  if (pos !== tokens.length) fail('an operator');
  return result;
}

module.exports = { evaluate };
