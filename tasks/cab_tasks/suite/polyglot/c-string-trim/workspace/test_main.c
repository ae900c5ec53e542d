#include <stdio.h>
#include <string.h>

#include "strtrim.h"

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
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
