#ifndef STRTRIM_H
#define STRTRIM_H

#include <stddef.h>

/* Remove leading and trailing whitespace (as defined by isspace: space, \t,
 * \n, \v, \f, \r) from the NUL-terminated string s, in place. Returns s. */
char *str_trim(char *s);

/* In place: remove leading and trailing whitespace and replace every
 * remaining run of whitespace characters with a single ' '. Returns the new
 * length of s. */
size_t str_collapse_spaces(char *s);

#endif
