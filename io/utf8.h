/* UTF-8: validation with the offset of the first bad byte (so importers can name file, line and
 * column), the next code point of a string, and encoding one code point.  Strict RFC 3629: no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF. */
#ifndef DPT_UTF8_H
#define DPT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The code point starting at s[*pos] (s has n bytes) into *cp, *pos advanced past it.  Returns 0,
 * or -1 for an invalid or truncated sequence (then *pos is unchanged: the offset of the bad
 * byte). */
int dpt_utf8_next(const char *s, size_t n, size_t *pos, uint32_t *cp);
/* Offset of the first byte of s (n bytes) that is not part of valid UTF-8; n when all is valid. */
size_t dpt_utf8_check(const char *s, size_t n);
/* Writes cp (<= U+10FFFF, not a surrogate) as 1-4 bytes into out; returns the byte count, 0 for
 * a code point that cannot be encoded. */
int dpt_utf8_encode(uint32_t cp, char out[4]);

#endif
