/* Standardisation: apply then invert returns the input, statistics are the population ones, a
 * constant feature (std 0) passes through shifted, and a disabled norm is a no-op. */
#include <stdlib.h>
#include <string.h>

#include "core/norm.h"
#include "core_check.h"

static void test_set_uses_population_std_and_stores_zero_std_as_one(void **state) {
    (void)state;
    dpt_norm n;
    dpt_norm_alloc(&n, 2);
    assert_false(n.enabled);
    /* Feature 0 over rows {1, 2, 3}: mean 2, squared deviations 2; feature 1 constant 5. */
    const double mean[2] = {2.0, 5.0}, sq_dev[2] = {2.0, 0.0};
    dpt_norm_set(&n, mean, sq_dev, 3);
    assert_true(n.enabled);
    assert_near(n.mean[0], 2.0, 0.0);
    assert_near(n.std[0], sqrt(2.0 / 3.0), 1e-7); /* population: divide by 3, not 2 */
    assert_near(n.std[1], 1.0, 0.0);
    float x[6] = {1, 5, 2, 5, 3, 5}; /* (3, 2) */
    dpt_norm_apply(&n, x, 3);
    assert_near(x[0], -1.0 / sqrt(2.0 / 3.0), 1e-6);
    assert_near(x[2], 0.0, 0.0);
    for (int r = 0; r < 3; r++) assert_near(x[2 * r + 1], 0.0, 0.0);
    dpt_norm_free(&n);
}

static void test_apply_then_invert_roundtrips(void **state) {
    (void)state;
    enum { R = 50, F = 4 };
    dpt_norm n;
    dpt_norm_alloc(&n, F);
    const double mean[F] = {100.0, -3.0, 0.5, 7.0}, sq_dev[F] = {R * 400.0, R * 0.01, 0.0, R};
    dpt_norm_set(&n, mean, sq_dev, R);
    float x[R * F], orig[R * F]; /* (R, F) */
    fill_uniform(x, R * F, -200.0f, 200.0f, 1);
    memcpy(orig, x, sizeof x);
    dpt_norm_apply(&n, x, R);
    dpt_norm_invert(&n, x, R);
    /* Two float32 operations each way on values up to ~300: a few ulp of 300 (~3e-5 each). */
    for (int i = 0; i < R * F; i++) assert_close(x[i], orig[i], 1e-6, 1e-4);
    dpt_norm_free(&n);
}

static void test_disabled_norm_leaves_data_alone(void **state) {
    (void)state;
    dpt_norm n;
    dpt_norm_alloc(&n, 2);
    const double mean[2] = {1.0, 2.0}, sq_dev[2] = {4.0, 4.0};
    dpt_norm_set(&n, mean, sq_dev, 1);
    n.enabled = false;
    float x[2] = {3.0f, 4.0f};
    dpt_norm_apply(&n, x, 1);
    dpt_norm_invert(&n, x, 1);
    assert_near(x[0], 3.0, 0.0);
    assert_near(x[1], 4.0, 0.0);
    dpt_norm_free(&n);
    dpt_norm_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_uses_population_std_and_stores_zero_std_as_one),
        cmocka_unit_test(test_apply_then_invert_roundtrips),
        cmocka_unit_test(test_disabled_norm_leaves_data_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
