#include "strtrim.h"

#include <ctype.h>
#include <string.h>

static int is_ws(char c)
{
    return isspace((unsigned char)c);
}

char *str_trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && is_ws(s[len - 1]))
        len--;
    s[len] = '\0';

    size_t start = 0;
    while (start < len && is_ws(s[start]))
        start++;
    memmove(s, s + start, len - start + 1);
    return s;
}

size_t str_collapse_spaces(char *s)
{
    size_t w = 0;
    int pending_space = 0;
    for (size_t r = 0; s[r] != '\0'; r++) {
        if (is_ws(s[r])) {
            /* Only emit a separator once a following word shows up. */
            pending_space = (w > 0);
        } else {
            if (pending_space)
                s[w++] = ' ';
            s[w++] = s[r];
            pending_space = 0;
        }
    }
    s[w] = '\0';
    return w;
}
