/* Strict UTF-8 decoding and encoding (RFC 3629).  See io/utf8.h. */
#include "io/utf8.h"

int dpt_utf8_next(const char *s, size_t n, size_t *pos, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s + *pos;
    size_t left = n - *pos;
    if (left == 0) return -1;
    unsigned c = p[0];
    if (c < 0x80) {
        *cp = c;
        *pos += 1;
        return 0;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return -1; /* a continuation byte, an overlong lead (C0, C1) or F5..FF */
    if (left < (size_t)len) return -1;
    for (int k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) return -1;
        v = v << 6 | (p[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return -1;
    *cp = v;
    *pos += (size_t)len;
    return 0;
}

size_t dpt_utf8_check(const char *s, size_t n) {
    size_t pos = 0;
    uint32_t cp;
    while (pos < n) {
        /* ASCII runs are most of most texts */
        if ((unsigned char)s[pos] < 0x80) {
            pos++;
            continue;
        }
        if (dpt_utf8_next(s, n, &pos, &cp)) return pos;
    }
    return n;
}

int dpt_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return 0;
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
