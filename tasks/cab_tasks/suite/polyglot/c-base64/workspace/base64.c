#include "base64.h"

#include <string.h>

static const char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i + 3 <= len; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = ALPHABET[(v >> 6) & 63];
        out[o++] = ALPHABET[v & 63];
    }
    out[o] = '\0';
    return o;
}

static int value_of(char c)
{
    const char *p = strchr(ALPHABET, c);
    return p ? (int)(p - ALPHABET) : 0;
}

int b64_decode(const char *in, unsigned char *out, size_t *out_len)
{
    size_t len = strlen(in);
    size_t o = 0;
    for (size_t i = 0; i + 4 <= len; i += 4) {
        unsigned long v = ((unsigned long)value_of(in[i]) << 18) |
                          ((unsigned long)value_of(in[i + 1]) << 12) |
                          ((unsigned long)value_of(in[i + 2]) << 6) |
                          (unsigned long)value_of(in[i + 3]);
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    *out_len = o;
    return 0;
}
