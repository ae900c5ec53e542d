/* Hidden tests, overlaid at verification time; run by test_main.c's main. */
#include <string.h>

#include "base64.h"

static int k01885_encodes(const unsigned char *in, size_t len, const char *expected)
{
    char out[64];
    memset(out, 'Z', sizeof out);
    size_t n = b64_encode(in, len, out);
    return n == strlen(expected) && strcmp(out, expected) == 0;
}

static int k01885_decodes(const char *b64, const unsigned char *expected, size_t len)
{
    unsigned char out[64];
    size_t n = 999;
    return b64_decode(b64, out, &n) == 0 && n == len && memcmp(out, expected, len) == 0;
}

static int k01885_rejects(const char *b64)
{
    unsigned char out[64];
    size_t n = 0;
    return b64_decode(b64, out, &n) == -1;
}

static int test_k01885_binary_bytes_with_padding(void)
{
    int ok = 1;
    static const unsigned char zeros[3] = {0, 0, 0};
    static const unsigned char ff[1] = {0xff};
    static const unsigned char fbff[2] = {0xfb, 0xff};
    CHECK(k01885_encodes(zeros, 3, "AAAA"));
    CHECK(k01885_encodes(zeros, 2, "AAA="));
    CHECK(k01885_encodes(ff, 1, "/w=="));
    CHECK(k01885_encodes(fbff, 2, "+/8="));
    CHECK(k01885_decodes("/w==", ff, 1));
    CHECK(k01885_decodes("+/8=", fbff, 2));
    CHECK(k01885_decodes("AAA=", zeros, 2));
    return ok;
}

static int test_k01885_rejects_misplaced_padding_and_foreign_alphabets(void)
{
    int ok = 1;
    CHECK(k01885_rejects("=AAA"));
    CHECK(k01885_rejects("AA=A"));
    CHECK(k01885_rejects("A==="));
    CHECK(k01885_rejects("===="));
    CHECK(k01885_rejects("AA==AA=="));
    CHECK(k01885_rejects("ab-_"));   /* URL-safe alphabet is not standard base64 */
    CHECK(k01885_rejects("TWF u"));
    CHECK(k01885_rejects("A"));
    return ok;
}

static int test_k01885_round_trip_every_short_length(void)
{
    int ok = 1;
    unsigned char data[16], back[16];
    char text[32];
    for (size_t len = 0; len <= sizeof data; len++) {
        for (size_t i = 0; i < len; i++)
            data[i] = (unsigned char)(i * 37 + len * 11);
        size_t n = b64_encode(data, len, text);
        CHECK(n == 4 * ((len + 2) / 3) && strlen(text) == n);
        size_t back_len = 999;
        CHECK(b64_decode(text, back, &back_len) == 0);
        CHECK(back_len == len && memcmp(back, data, len) == 0);
    }
    return ok;
}

#define CAB_HIDDEN_TESTS()                                              \
    do {                                                                \
        RUN(test_k01885_binary_bytes_with_padding);                     \
        RUN(test_k01885_rejects_misplaced_padding_and_foreign_alphabets); \
        RUN(test_k01885_round_trip_every_short_length);                 \
    } while (0)
