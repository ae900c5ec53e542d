/* Hidden tests, overlaid at verification time; run by test_main.c's main. */
#include <stdio.h>
#include <string.h>

#include "rpn.h"

static int hjsd3b_value(const char *expr, long expected)
{
    long r = 77;
    return rpn_eval(expr, &r) == RPN_OK && r == expected;
}

static int hjsd3b_status(const char *expr, enum rpn_status status)
{
    long r = 31337;
    return rpn_eval(expr, &r) == status && r == 31337;
}

static int test_hjsd3b_negative_literals_versus_minus(void)
{
    int ok = 1;
    CHECK(hjsd3b_value("-4", -4));
    CHECK(hjsd3b_value("3 -4 -", 7));
    CHECK(hjsd3b_value("10 3 - -2 *", -14));
    CHECK(hjsd3b_value("-7 2 /", -3));
    CHECK(hjsd3b_status("7 -", RPN_STACK_UNDERFLOW));
    CHECK(hjsd3b_status("- 1", RPN_STACK_UNDERFLOW));
    return ok;
}

static int test_hjsd3b_zero_divisor_and_result_untouched(void)
{
    int ok = 1;
    CHECK(hjsd3b_status("5 0 /", RPN_DIV_BY_ZERO));
    CHECK(hjsd3b_status("0 0 /", RPN_DIV_BY_ZERO));
    CHECK(hjsd3b_status("9 3 3 - /", RPN_DIV_BY_ZERO));
    CHECK(hjsd3b_status("1 2 + +", RPN_STACK_UNDERFLOW));
    CHECK(hjsd3b_value("0 7 /", 0));
    return ok;
}

static int test_hjsd3b_leftovers_and_deep_stacks(void)
{
    int ok = 1;
    char expr[512];
    size_t at = 0;
    CHECK(hjsd3b_status("1 2 3 + + 4", RPN_LEFTOVER));
    for (int i = 0; i < RPN_MAX_DEPTH; i++)
        at += (size_t)snprintf(expr + at, sizeof expr - at, "1 ");
    for (int i = 1; i < RPN_MAX_DEPTH; i++)
        at += (size_t)snprintf(expr + at, sizeof expr - at, "+ ");
    CHECK(hjsd3b_value(expr, RPN_MAX_DEPTH));
    at = 0;
    for (int i = 0; i <= RPN_MAX_DEPTH; i++)
        at += (size_t)snprintf(expr + at, sizeof expr - at, "2 ");
    CHECK(hjsd3b_status(expr, RPN_STACK_OVERFLOW));
    return ok;
}

#define CAB_HIDDEN_TESTS()                                   \
    do {                                                     \
        RUN(test_hjsd3b_negative_literals_versus_minus);     \
        RUN(test_hjsd3b_zero_divisor_and_result_untouched);  \
        RUN(test_hjsd3b_leftovers_and_deep_stacks);          \
    } while (0)
