/* Dropout: the dropped fraction matches the rate, kept units are scaled by 1 / (1 - rate),
 * evaluation is the identity, and masks are keyed by global sample ids so that splitting a
 * batch across ranks gives the same masks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

static void dropout_make(dpt_layer *l, float rate, int in, int max_batch) {
    char line[64];
    snprintf(line, sizeof line, "dropout rate=%.9g", (double)rate);
    dpt_layer_spec s = harness_spec(line);
    harness_make(l, &s, in, 1, 3, max_batch);
    assert_int_equal(l->out, in);
    assert_int_equal((int)l->cache_per_sample, in);
}

static void test_dropped_fraction_matches_rate_and_kept_units_are_scaled(void **state) {
    (void)state;
    enum { B = 64, F = 512, N = B * F };
    const float rate = 0.3f;
    dpt_layer l;
    dropout_make(&l, rate, F, B);
    float *x = dpt_alloc_floats(N), *y = dpt_alloc_floats(N); /* (B, F) */
    fill_uniform(x, N, 0.5f, 1.5f, 1);
    dpt_step_ctx ctx = {.training = true, .seed = 1, .step = 0};
    l.type->forward(&l, x, y, B, &ctx);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        if (y[i] == 0.0f) {
            dropped++;
        } else {
            /* One float multiply: within one rounding of the exact x / (1 - rate). */
            assert_close(y[i], x[i] / (1.0 - rate), 2e-7, 0.0);
        }
    }
    /* Binomial(N, 0.3): standard deviation of the fraction sqrt(0.21 / 32768) = 2.5e-3. */
    assert_near((double)dropped / N, rate, 5 * 2.5e-3);
    free(x);
    free(y);
    harness_free(&l);
}

static void test_evaluation_mode_is_the_identity(void **state) {
    (void)state;
    enum { B = 4, F = 6 };
    dpt_layer l;
    dropout_make(&l, 0.5f, F, B);
    float x[B * F], y[B * F], dx[B * F]; /* (B, F) */
    fill_uniform(x, B * F, -1.0f, 1.0f, 2);
    dpt_step_ctx eval = {.training = false, .seed = 1, .step = 5};
    l.type->forward(&l, x, y, B, NULL);
    assert_memory_equal(x, y, sizeof x);
    memset(y, 0, sizeof y);
    l.type->forward(&l, x, y, B, &eval);
    assert_memory_equal(x, y, sizeof x);
    /* ... and so is its backward. */
    l.type->backward(&l, x, y, x, dx, B, &eval);
    assert_memory_equal(x, dx, sizeof x);
    harness_free(&l);
}

static void test_rate_zero_in_training_is_the_identity(void **state) {
    (void)state;
    enum { B = 3, F = 5 };
    dpt_layer l;
    dropout_make(&l, 0.0f, F, B);
    float x[B * F], y[B * F]; /* (B, F) */
    fill_uniform(x, B * F, -1.0f, 1.0f, 3);
    dpt_step_ctx ctx = {.training = true, .seed = 1, .step = 5};
    l.type->forward(&l, x, y, B, &ctx);
    assert_memory_equal(x, y, sizeof x);
    harness_free(&l);
}

static void test_masks_do_not_depend_on_how_the_batch_is_split(void **state) {
    (void)state;
    enum { B = 8, F = 5 };
    dpt_layer l;
    dropout_make(&l, 0.5f, F, B);
    float x[B * F], whole[B * F], parts[B * F]; /* (B, F) */
    fill_uniform(x, B * F, 0.5f, 1.5f, 4);
    int64_t ids[B] = {120, 7, 33, 980, 4, 51, 62, 2};
    dpt_step_ctx ctx = {.training = true, .seed = 9, .step = 17, .sample_ids = ids};
    l.type->forward(&l, x, whole, B, &ctx);
    /* Rank 0 gets rows [0, 4), rank 1 rows [4, 8), each with its slice of the sample ids. */
    dpt_step_ctx c0 = ctx, c1 = ctx;
    c1.sample_ids = ids + 4;
    l.type->forward(&l, x, parts, 4, &c0);
    l.type->forward(&l, x + 4 * F, parts + 4 * F, 4, &c1);
    assert_memory_equal(whole, parts, sizeof whole);
    int zeros = 0;
    for (int i = 0; i < B * F; i++) zeros += whole[i] == 0.0f;
    assert_true(zeros > 0 && zeros < B * F); /* the comparison above saw real masks */
    harness_free(&l);
}

static void test_masks_change_with_step_and_repeat_for_the_same_step(void **state) {
    (void)state;
    enum { B = 4, F = 16 };
    dpt_layer l;
    dropout_make(&l, 0.5f, F, B);
    float x[B * F], a[B * F], b[B * F], c[B * F]; /* (B, F) */
    for (int i = 0; i < B * F; i++) x[i] = 1.0f;
    dpt_step_ctx ctx = {.training = true, .seed = 9, .step = 1};
    l.type->forward(&l, x, a, B, &ctx);
    l.type->forward(&l, x, b, B, &ctx);
    ctx.step = 2;
    l.type->forward(&l, x, c, B, &ctx);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    /* Without sample ids, row b is sample b. */
    int64_t ids[B] = {0, 1, 2, 3};
    ctx.sample_ids = ids;
    l.type->forward(&l, x, b, B, &ctx);
    assert_memory_equal(b, c, sizeof b);
    harness_free(&l);
}

static void test_rates_outside_zero_to_one_are_rejected(void **state) {
    (void)state;
    /* Checked when the key is set, as the config reads it. */
    const char *bad[] = {"1", "1.5", "-0.1", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpt_layer_spec s = harness_spec("dropout");
        char err[256] = "";
        assert_int_equal(dpt_layer_spec_set(&s, "rate", bad[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "rate: expected a number in [0, 1), got '"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropped_fraction_matches_rate_and_kept_units_are_scaled),
        cmocka_unit_test(test_evaluation_mode_is_the_identity),
        cmocka_unit_test(test_rate_zero_in_training_is_the_identity),
        cmocka_unit_test(test_masks_do_not_depend_on_how_the_batch_is_split),
        cmocka_unit_test(test_masks_change_with_step_and_repeat_for_the_same_step),
        cmocka_unit_test(test_rates_outside_zero_to_one_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
