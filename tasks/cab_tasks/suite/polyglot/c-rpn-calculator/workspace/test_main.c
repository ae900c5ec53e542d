#include <stdio.h>

#include "rpn.h"

static int passed = 0, failed = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            printf("    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ok = 0;                                                              \
        }                                                                        \
    } while (0)

#define RUN(fn)                                          \
    do {                                                 \
        int r_ = fn();                                   \
        printf("%s %s\n", r_ ? "PASS" : "FAIL", #fn);    \
        fflush(stdout);                                  \
        if (r_) passed++; else failed++;                 \
    } while (0)

static int evaluates_to(const char *expr, long expected)
{
    long r = -999;
    return rpn_eval(expr, &r) == RPN_OK && r == expected;
}

static int fails_with(const char *expr, enum rpn_status status)
{
    long r = 4242;
    return rpn_eval(expr, &r) == status && r == 4242;
}

static int test_addition_and_multiplication(void)
{
    int ok = 1;
    CHECK(evaluates_to("3 4 +", 7));
    CHECK(evaluates_to("3 4 + 2 *", 14));
    CHECK(evaluates_to("  42  ", 42));
    return ok;
}

static int test_subtraction_and_division_order(void)
{
    int ok = 1;
    CHECK(evaluates_to("5 2 -", 3));
    CHECK(evaluates_to("20 4 /", 5));
    CHECK(evaluates_to("7 2 /", 3));
    CHECK(evaluates_to("10 2 8 * + 3 -", 23));
    return ok;
}

static int test_negative_numbers(void)
{
    int ok = 1;
    CHECK(evaluates_to("-4 3 +", -1));
    CHECK(evaluates_to("2 -3 *", -6));
    CHECK(evaluates_to("-10 -2 /", 5));
    return ok;
}

static int test_errors_underflow_and_bad_tokens(void)
{
    int ok = 1;
    CHECK(fails_with("1 +", RPN_STACK_UNDERFLOW));
    CHECK(fails_with("+", RPN_STACK_UNDERFLOW));
    CHECK(fails_with("1 2 x", RPN_BAD_TOKEN));
    CHECK(fails_with("12abc 1 +", RPN_BAD_TOKEN));
    return ok;
}

static int test_division_by_zero(void)
{
    int ok = 1;
    CHECK(fails_with("1 0 /", RPN_DIV_BY_ZERO));
    CHECK(fails_with("4 2 2 - /", RPN_DIV_BY_ZERO));
    CHECK(evaluates_to("0 5 /", 0));
    return ok;
}

static int test_leftover_values(void)
{
    int ok = 1;
    CHECK(fails_with("1 2", RPN_LEFTOVER));
    CHECK(fails_with("1 2 3 +", RPN_LEFTOVER));
    CHECK(fails_with("", RPN_LEFTOVER));
    CHECK(fails_with("   ", RPN_LEFTOVER));
    return ok;
}

int main(void)
{
    RUN(test_addition_and_multiplication);
    RUN(test_subtraction_and_division_order);
    RUN(test_negative_numbers);
    RUN(test_errors_underflow_and_bad_tokens);
    RUN(test_division_by_zero);
    RUN(test_leftover_values);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
