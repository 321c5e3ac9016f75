/* Helpers shared by the core unit tests: numeric assertions that print both values, and a
 * deterministic fill for test inputs.  Header-only (static inline) so each test binary stays one
 * .c file, as the test glob expects. */
#ifndef DPT_TESTS_CORE_CHECK_H
#define DPT_TESTS_CORE_CHECK_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"

/* haystack (a message) contains needle, printing both on failure. */
#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        if (!strstr((haystack), (needle))) {                                                       \
            print_error("message \"%s\" lacks \"%s\"\n", (haystack), (needle));                    \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* |actual - expected| <= tol, reporting both numbers on failure. */
#define assert_near(actual, expected, tol)                                                         \
    check_near((double)(actual), (double)(expected), (double)(tol), #actual, __FILE__, __LINE__)

/* |actual - expected| <= atol + rtol * |expected|. */
#define assert_close(actual, expected, rtol, atol)                                                 \
    check_near((double)(actual), (double)(expected),                                               \
               (double)(atol) + (double)(rtol)*fabs((double)(expected)), #actual, __FILE__,        \
               __LINE__)

static inline void check_near(double actual, double expected, double tol, const char *expr,
                              const char *file, int line) {
    if (!(fabs(actual - expected) <= tol)) {
        print_error("%s = %.9g, expected %.9g (tolerance %.3g, off by %.3g)\n", expr, actual,
                    expected, tol, fabs(actual - expected));
        _fail(file, line);
    }
}

/* n values uniform in [lo, hi) from a fixed stream, so a failure reproduces exactly. */
static inline void fill_uniform(float *v, size_t n, float lo, float hi, uint64_t stream) {
    dpt_rng rng;
    dpt_rng_seed(&rng, 12345, stream);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * dpt_rng_uniform(&rng);
}

#endif
