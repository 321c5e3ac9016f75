/* Shared helpers: error formatting returns -1 and truncates safely, name lists join for
 * messages, float buffers come zeroed and 64-byte aligned. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core_check.h"

static void test_err_formats_and_returns_minus_one(void **state) {
    (void)state;
    char err[16];
    assert_int_equal(dpt_err(err, sizeof err, "bad %s %d", "value", 42), -1);
    assert_string_equal(err, "bad value 42");
    assert_int_equal(dpt_err(err, 5, "truncated message"), -1);
    assert_string_equal(err, "trun");
    assert_int_equal(dpt_err(NULL, 0, "no buffer"), -1);
}

static void test_join_names_separates_with_commas_and_truncates(void **state) {
    (void)state;
    const char *const names[] = {"a", "bb", "ccc", NULL};
    char buf[64];
    assert_string_equal(dpt_join_names(buf, sizeof buf, names), "a, bb, ccc");
    dpt_join_names(buf, 6, names);
    assert_true(strlen(buf) < 6);
    const char *const none[] = {NULL};
    assert_string_equal(dpt_join_names(buf, sizeof buf, none), "");
}

static void test_float_buffers_are_zeroed_and_aligned(void **state) {
    (void)state;
    float *p = dpt_alloc_floats(37);
    assert_int_equal((uintptr_t)p % 64, 0);
    for (int i = 0; i < 37; i++) assert_near(p[i], 0.0, 0.0);
    free(p);
    free(dpt_alloc_floats(0)); /* a valid pointer, freeable */
    int *q = dpt_calloc(5, sizeof *q);
    for (int i = 0; i < 5; i++) assert_int_equal(q[i], 0);
    free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_formats_and_returns_minus_one),
        cmocka_unit_test(test_join_names_separates_with_commas_and_truncates),
        cmocka_unit_test(test_float_buffers_are_zeroed_and_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
