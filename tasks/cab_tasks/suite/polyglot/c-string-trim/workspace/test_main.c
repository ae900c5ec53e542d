#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strtrim.h"

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

static int trimmed_equals(const char *input, const char *expected)
{
    char buf[128];
    strcpy(buf, input);
    char *res = str_trim(buf);
    return res == buf && strcmp(buf, expected) == 0;
}

static int collapsed_equals(const char *input, const char *expected)
{
    char buf[128];
    strcpy(buf, input);
    size_t n = str_collapse_spaces(buf);
    return strcmp(buf, expected) == 0 && n == strlen(expected);
}

static int test_trim_spaces(void)
{
    int ok = 1;
    CHECK(trimmed_equals("  hello  ", "hello"));
    CHECK(trimmed_equals("hello", "hello"));
    CHECK(trimmed_equals("  a b  c ", "a b  c"));
    return ok;
}

static int test_trim_empty_and_blank(void)
{
    int ok = 1;
    CHECK(trimmed_equals("", ""));
    CHECK(trimmed_equals("     ", ""));
    return ok;
}

static int test_trim_other_whitespace(void)
{
    int ok = 1;
    CHECK(trimmed_equals("\t hello\n", "hello"));
    CHECK(trimmed_equals("\r\n\v\f x \t", "x"));
    CHECK(trimmed_equals("\t\n", ""));
    return ok;
}

static int test_collapse_inner_runs(void)
{
    int ok = 1;
    CHECK(collapsed_equals("a   b    c", "a b c"));
    CHECK(collapsed_equals("abc", "abc"));
    CHECK(collapsed_equals("", ""));
    return ok;
}

static int test_collapse_mixed_whitespace(void)
{
    int ok = 1;
    CHECK(collapsed_equals("a\t\tb\n \nc", "a b c"));
    CHECK(collapsed_equals("one\r\ntwo", "one two"));
    return ok;
}

static int test_collapse_trims_ends(void)
{
    int ok = 1;
    CHECK(collapsed_equals("   lead and trail   ", "lead and trail"));
    CHECK(collapsed_equals(" \t\n ", ""));
    return ok;
}

int main(void)
{
    RUN(test_trim_spaces);
    RUN(test_trim_empty_and_blank);
    RUN(test_trim_other_whitespace);
    RUN(test_collapse_inner_runs);
    RUN(test_collapse_mixed_whitespace);
    RUN(test_collapse_trims_ends);
    CAB_HIDDEN_TESTS();
    CAB_CANARIES();
    printf("%d passed, %d failed\n", passed, failed);
    cab_report_end();
    return failed ? 1 : 0;
}
