/* Shared helpers: the always-on assertion, error-message formatting and allocation that aborts
 * on failure (out of memory cannot be handled meaningfully inside a training step). */
#include "core/util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void dpt_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "dptrain: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    fflush(stderr);
    abort();
}

void dpt_err_format(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
}

void *dpt_calloc(size_t n, size_t size) {
    /* calloc(0, ...) may return NULL; one byte keeps "NULL means failure" simple. */
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "dptrain: out of memory allocating %zu x %zu bytes\n", n, size);
        abort();
    }
    return p;
}

float *dpt_alloc_floats(size_t n) {
    DPT_ASSERT(n <= SIZE_MAX / sizeof(float) - 64);
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        fprintf(stderr, "dptrain: out of memory allocating %zu floats\n", n);
        abort();
    }
    memset(p, 0, bytes);
    return p;
}

const char *dpt_join_names(char *buf, size_t buflen, const char *const *names) {
    DPT_ASSERT(buf && buflen > 0);
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; names && names[i]; i++) {
        int n = snprintf(buf + used, buflen - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= buflen - used) break; /* truncated: snprintf already ended it */
        used += (size_t)n;
    }
    return buf;
}

uint64_t dpt_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
