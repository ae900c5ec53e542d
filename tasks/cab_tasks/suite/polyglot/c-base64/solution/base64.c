#include "base64.h"

#include <string.h>

static const char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = ALPHABET[(v >> 6) & 63];
        out[o++] = ALPHABET[v & 63];
    }
    size_t rest = len - i;
    if (rest > 0) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (rest == 2)
            v |= (unsigned long)in[i + 1] << 8;
        out[o++] = ALPHABET[(v >> 18) & 63];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = rest == 2 ? ALPHABET[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* Value of a base64 character, or -1 if it is not in the alphabet. */
static int value_of(char c)
{
    if (c == '\0')
        return -1;
    const char *p = strchr(ALPHABET, c);
    return p ? (int)(p - ALPHABET) : -1;
}

int b64_decode(const char *in, unsigned char *out, size_t *out_len)
{
    size_t len = strlen(in);
    if (len % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last_group = (i + 4 == len);
        int pad = 0;
        if (last_group && in[i + 3] == '=') {
            pad = 1;
            if (in[i + 2] == '=')
                pad = 2;
        }
        unsigned long v = 0;
        for (int k = 0; k < 4; k++) {
            int d;
            if (k >= 4 - pad) {
                d = 0;
            } else {
                d = value_of(in[i + k]);
                if (d < 0)
                    return -1; /* includes '=' anywhere but the final padding */
            }
            v = (v << 6) | (unsigned long)d;
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    *out_len = o;
    return 0;
}
