/* Hidden tests, overlaid at verification time; run by test_main.c's main. */
#include <string.h>

#include "strtrim.h"

static int ckq7nm_trims_to(const char *input, const char *expected)
{
    char buf[64];
    strcpy(buf, input);
    return str_trim(buf) == buf && strcmp(buf, expected) == 0;
}

static int ckq7nm_collapses_to(const char *input, const char *expected)
{
    char buf[64];
    strcpy(buf, input);
    size_t n = str_collapse_spaces(buf);
    return n == strlen(expected) && strcmp(buf, expected) == 0;
}

static int test_ckq7nm_trim_keeps_inner_whitespace(void)
{
    int ok = 1;
    CHECK(ckq7nm_trims_to("\v\fword\r", "word"));
    CHECK(ckq7nm_trims_to("\ta\tb\n", "a\tb"));
    CHECK(ckq7nm_trims_to("\n\n x\r\ny \f", "x\r\ny"));
    return ok;
}

static int test_ckq7nm_collapse_reports_new_length(void)
{
    int ok = 1;
    CHECK(ckq7nm_collapses_to(" x\t\ty\n\n z \r", "x y z"));
    CHECK(ckq7nm_collapses_to("a\n", "a"));
    CHECK(ckq7nm_collapses_to("\n", ""));
    CHECK(ckq7nm_collapses_to("\v\fk", "k"));
    return ok;
}

static int test_ckq7nm_other_bytes_are_kept(void)
{
    int ok = 1;
    CHECK(ckq7nm_collapses_to("\xc3\xa9 \t \xc3\xa9", "\xc3\xa9 \xc3\xa9"));
    CHECK(ckq7nm_trims_to("\t_-_\t", "_-_"));
    CHECK(ckq7nm_collapses_to("tab\tsep\tvalues\t", "tab sep values"));
    return ok;
}

#define CAB_HIDDEN_TESTS()                               \
    do {                                                 \
        RUN(test_ckq7nm_trim_keeps_inner_whitespace);    \
        RUN(test_ckq7nm_collapse_reports_new_length);    \
        RUN(test_ckq7nm_other_bytes_are_kept);           \
    } while (0)
