/* Small shared helpers: always-on assertions for bugs, error-message formatting for bad input. */
#ifndef DPT_UTIL_H
#define DPT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A bug check that stays on in release builds; prints file:line and aborts.  In an MPI job the
 * launcher sees the abort and ends the other ranks.  Bad input is never reported this way. */
#define DPT_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) dpt_assert_fail(#cond, __FILE__, __LINE__);                                   \
    } while (0)

_Noreturn void dpt_assert_fail(const char *expr, const char *file, int line);

/* snprintf into an error buffer; evaluates to -1 so callers can write `return dpt_err(...)`.
 * The -1 is outside the variadic function so that static analysis, which does not look into
 * variadic functions, sees it (else it follows "failed" calls as if they had succeeded). */
void dpt_err_format(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int dpt_err_rc(void) {
    return -1;
}
#define dpt_err(...) (dpt_err_format(__VA_ARGS__), dpt_err_rc())

/* Writes "a, b, c" from a NULL-terminated name list into buf (truncated to buflen); returns buf.
 * For "expected one of: ..." messages. */
const char *dpt_join_names(char *buf, size_t buflen, const char *const *names);

/* FNV-1a over n bytes, continued from h (start with DPT_FNV_BASIS): the checksums of model
 * parameters, optimizer state and config text. */
#define DPT_FNV_BASIS 0xcbf29ce484222325ULL
uint64_t dpt_fnv1a(uint64_t h, const void *data, size_t n);

/* Allocation that aborts on failure (out of memory is not recoverable here); zeroed. */
void *dpt_calloc(size_t n, size_t size);
/* 64-byte aligned, zeroed float buffer; free with free(). */
float *dpt_alloc_floats(size_t n);

#endif
