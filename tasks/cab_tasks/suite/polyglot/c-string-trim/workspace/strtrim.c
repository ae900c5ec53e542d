#include "strtrim.h"

#include <string.h>

char *str_trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        len--;
    s[len] = '\0';

    size_t start = 0;
    while (s[start] == ' ')
        start++;
    memmove(s, s + start, len - start + 1);
    return s;
}

size_t str_collapse_spaces(char *s)
{
    size_t w = 0;
    int in_space = 0;
    for (size_t r = 0; s[r] != '\0'; r++) {
        if (s[r] == ' ') {
            if (!in_space)
                s[w++] = ' ';
            in_space = 1;
        } else {
            s[w++] = s[r];
            in_space = 0;
        }
    }
    s[w] = '\0';
    return w;
}
