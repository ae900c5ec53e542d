#ifndef RPN_H
#define RPN_H

enum rpn_status {
    RPN_OK = 0,
    RPN_STACK_UNDERFLOW, /* an operator found fewer than two operands */
    RPN_DIV_BY_ZERO,     /* "/" with a zero divisor */
    RPN_BAD_TOKEN,       /* a token that is neither an integer nor + - * / */
    RPN_LEFTOVER,        /* the expression left more (or fewer) than one value */
    RPN_STACK_OVERFLOW   /* more than RPN_MAX_DEPTH values pushed at once */
};

#define RPN_MAX_DEPTH 64

/* Evaluate a reverse-Polish expression of space-separated tokens, e.g.
 * "3 4 + 2 *" (= 14). Tokens are decimal integers, optionally with a leading
 * '-' ("-4"), or one of the operators + - * /. For "a b -" the result is
 * a - b and for "a b /" it is a / b (C integer division). An empty or blank
 * expression is RPN_LEFTOVER. On RPN_OK the value is stored in *result;
 * otherwise *result is left unchanged. */
enum rpn_status rpn_eval(const char *expr, long *result);

#endif
