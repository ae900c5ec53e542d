#include <stdio.h>
#include <stdlib.h>

#include "rpn.h"

/* Test harness.  A test is `static int fn(void)` that returns nonzero when it
 * passes; RUN(fn) runs it and prints "PASS fn" or "FAIL fn".  When the
 * environment variable CAB_TEST_REPORT names a file, every result is also
 * appended to it as "pass fn" / "fail fn" (one line each, flushed at once),
 * and main ends it with "end <passed> <failed>".  Tests added at
 * verification time come in through optional headers next to this file, and
 * are run by main with the same RUN: cab_canary.h defines CAB_CANARIES() and
 * hidden_tests.h defines CAB_HIDDEN_TESTS().  Protected: do not edit. */

static int passed = 0, failed = 0;

static FILE *cab_report(void)
{
    static FILE *file = NULL;
    static int opened = 0;
    if (!opened) {
        const char *path = getenv("CAB_TEST_REPORT");
        opened = 1;
        if (path && *path)
            file = fopen(path, "a");
    }
    return file;
}

static void cab_record(int ok, const char *name)
{
    FILE *report = cab_report();
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    fflush(stdout);
    if (ok)
        passed++;
    else
        failed++;
    if (report) {
        fprintf(report, "%s %s\n", ok ? "pass" : "fail", name);
        fflush(report);
    }
}

static void cab_report_end(void)
{
    FILE *report = cab_report();
    if (report) {
        fprintf(report, "end %d %d\n", passed, failed);
        fclose(report);
    }
}

#define RUN(fn) cab_record((fn)() != 0, #fn)

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            printf("    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ok = 0;                                                              \
        }                                                                        \
    } while (0)

#if defined(__has_include)
#if __has_include("cab_canary.h")
#include "cab_canary.h"
#endif
#if __has_include("hidden_tests.h")
#include "hidden_tests.h"
#endif
#endif
#ifndef CAB_CANARIES
#define CAB_CANARIES()
#endif
#ifndef CAB_HIDDEN_TESTS
#define CAB_HIDDEN_TESTS()
#endif

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
    CAB_HIDDEN_TESTS();
    CAB_CANARIES();
    printf("%d passed, %d failed\n", passed, failed);
    cab_report_end();
    return failed ? 1 : 0;
}
