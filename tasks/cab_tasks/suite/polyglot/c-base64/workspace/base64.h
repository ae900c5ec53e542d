#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>

/* Encode len bytes from in as standard base64 (alphabet A-Z a-z 0-9 + /,
 * with '=' padding) into out, followed by a terminating NUL. out must have
 * room for 4 * ((len + 2) / 3) + 1 bytes. Returns the number of characters
 * written, not counting the NUL. */
size_t b64_encode(const unsigned char *in, size_t len, char *out);

/* Decode the NUL-terminated base64 string in into out and store the number
 * of bytes produced in *out_len. The input length must be a multiple of 4,
 * '=' may only appear as one or two padding characters at the very end, and
 * every other character must be in the alphabet. out must have room for
 * 3 * (strlen(in) / 4) bytes. Returns 0 on success, -1 on invalid input. */
int b64_decode(const char *in, unsigned char *out, size_t *out_len);

#endif
