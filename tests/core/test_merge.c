/* The merge layers add, subtract, multiply, average and concatenate (core/layer_merge.c): input
 * counts and shapes refused with their messages, values on hand-computed cases, every input's
 * gradient against finite differences, and the same bits for any thread count. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* Every merge is linear in each input value, and a perturbation of one input value changes one
 * output value: the central difference is exact but for float32 rounding, a product or sum of
 * at most 3 values in [-2, 2] (<= 8 in magnitude) off by ~1 ulp of 8, ~1e-6, over a step of
 * 2e-2: ~5e-5.  h and the tolerances are tests/core/test_gradcheck.c's; a wrong sign, factor
 * or input is off by O(1). */
#define H_STEP 1e-2f
#define RTOL   1e-2
#define ATOL   1e-3

static const char *out_text(const dpt_layer *l) {
    static char buf[64];
    return dpt_shape_str(&l->out_shape, buf, sizeof buf);
}

static void expect_error(const char *line, const dpt_shape *in, int n, const char *msg) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    assert_int_equal(harness_build_n(&l, &s, in, n, 1, err, sizeof err), -1);
    assert_string_equal(err, msg);
}

static void expect_out(const char *line, const dpt_shape *in, int n, const char *out) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    if (harness_build_n(&l, &s, in, n, 1, err, sizeof err)) fail_msg("%s: %s", line, err);
    assert_string_equal(out_text(&l), out);
    assert_int_equal(l.ntensors, 0);
    assert_int_equal(l.cache_per_sample + l.cache_fixed, 0);
    assert_int_equal(l.ninputs, n);
}

static void test_merges_keep_the_shape_and_concatenate_sums_the_last_axis(void **state) {
    (void)state;
    dpt_shape three[] = {dpt_shape_2d(5, 8), dpt_shape_2d(5, 8), dpt_shape_2d(5, 8)};
    expect_out("add", three, 3, "(5, 8) float32");
    expect_out("subtract", three, 2, "(5, 8) float32");
    expect_out("multiply", three, 3, "(5, 8) float32");
    expect_out("average", three, 2, "(5, 8) float32");
    dpt_shape seq[] = {dpt_shape_2d(5, 8), dpt_shape_2d(5, 4)};
    expect_out("concatenate", seq, 2, "(5, 12) float32");
    dpt_shape img[] = {dpt_shape_3d(3, 4, 2), dpt_shape_3d(3, 4, 5), dpt_shape_3d(3, 4, 1)};
    expect_out("concatenate", img, 3, "(3, 4, 8) float32");
    dpt_shape vec[] = {dpt_shape_1d(8), dpt_shape_1d(4)};
    expect_out("concatenate", vec, 2, "(12) float32");
    dpt_shape eight[DPT_LAYER_MAX_INPUTS];
    for (int k = 0; k < DPT_LAYER_MAX_INPUTS; k++) eight[k] = dpt_shape_1d(3);
    expect_out("add", eight, DPT_LAYER_MAX_INPUTS, "(3) float32");
}

static void test_merges_refuse_wrong_counts_shapes_and_int_inputs(void **state) {
    (void)state;
    dpt_shape mixed[] = {dpt_shape_2d(5, 8), dpt_shape_2d(5, 4)};
    expect_error("add", mixed, 2, "add needs inputs of one shape, got (5, 8) and (5, 4)");
    dpt_shape later[] = {dpt_shape_2d(5, 8), dpt_shape_2d(5, 8), dpt_shape_2d(6, 8)};
    expect_error("multiply", later, 3, "multiply needs inputs of one shape, got (5, 8) and (6, 8)");
    dpt_shape rank[] = {dpt_shape_1d(8), dpt_shape_2d(1, 8)};
    expect_error("average", rank, 2, "average needs inputs of one shape, got (8) and (1, 8)");
    dpt_shape three[] = {dpt_shape_1d(3), dpt_shape_1d(3), dpt_shape_1d(3)};
    expect_error("subtract", three, 3, "subtract takes 2 inputs, got 3");
    expect_error("add", three, 1, "add takes 2 to 8 inputs, got 1");
    expect_error("concatenate", three, 1, "concatenate takes 2 to 8 inputs, got 1");
    dpt_shape steps[] = {dpt_shape_2d(5, 8), dpt_shape_2d(6, 4)};
    expect_error("concatenate", steps, 2,
                 "concatenate needs inputs that differ only in the last axis, got (5, 8) and "
                 "(6, 4)");
    dpt_shape ranks[] = {dpt_shape_2d(5, 8), dpt_shape_1d(8)};
    expect_error("concatenate", ranks, 2,
                 "concatenate needs inputs that differ only in the last axis, got (5, 8) and (8)");
    dpt_shape ids[] = {dpt_shape_1d(3), dpt_shape_1d(3)};
    ids[1].dtype = DPT_I32;
    expect_error("add", ids, 2,
                 "add reads float32 input, got int32 token ids (its second or later "
                 "input): put an embedding layer before it");
    /* no keys besides type and name (an axis key is not needed: always the last axis) */
    dpt_layer_spec s;
    char err[256];
    assert_int_equal(dpt_layer_spec_parse(&s, "concatenate axis=1", err, sizeof err), -1);
    assert_string_equal(err, "axis: unknown key for a concatenate layer");
}

/* One forward of `line` on n inputs of shape in (B samples). */
static void run_forward(const char *line, const dpt_shape *in, int n, float *const *x, float *y,
                        int B) {
    dpt_layer l;
    dpt_layer_spec s = harness_spec(line);
    harness_make_n(&l, &s, in, n, 1, B);
    dpt_layer_io io = harness_io(&l, x, NULL);
    l.type->forward_n(&l, &io, y, B, NULL);
    harness_free(&l);
}

static void test_merges_compute_hand_checked_values(void **state) {
    (void)state;
    float a[] = {1, 2, 3}, b[] = {4, 5, 6}, c[] = {-1, 0.5f, 2};
    float *x[] = {a, b, c};
    dpt_shape in[] = {dpt_shape_1d(3), dpt_shape_1d(3), dpt_shape_1d(3)};
    float y[3];
    run_forward("add", in, 3, x, y, 1);
    assert_true(y[0] == 4 && y[1] == 7.5f && y[2] == 11);
    run_forward("subtract", in, 2, x, y, 1);
    assert_true(y[0] == -3 && y[1] == -3 && y[2] == -3);
    run_forward("multiply", in, 3, x, y, 1);
    assert_true(y[0] == -4 && y[1] == 5 && y[2] == 36);
    run_forward("average", in, 3, x, y, 1);
    assert_true(y[0] == 4.0f / 3.0f && y[1] == 2.5f && y[2] == 11.0f / 3.0f);
    run_forward("average", in, 2, x, y, 1);
    assert_true(y[0] == 2.5f && y[1] == 3.5f && y[2] == 4.5f);
    /* concatenate (2, 2) and (2, 1) per sample, 2 samples: each row of x0 then x1's row */
    float p[] = {1, 2, 3, 4, 5, 6, 7, 8}, q[] = {-1, -2, -3, -4};
    float *xc[] = {p, q};
    dpt_shape inc[] = {dpt_shape_2d(2, 2), dpt_shape_2d(2, 1)};
    float yc[12], want[] = {1, 2, -1, 3, 4, -2, 5, 6, -3, 7, 8, -4};
    run_forward("concatenate", inc, 2, xc, yc, 2);
    assert_memory_equal(yc, want, sizeof want);
}

/* Finite differences of every input of `line` on the shapes in (n), B samples. */
static void check_gradients(const char *line, const dpt_shape *in, int n, int B) {
    dpt_layer l;
    dpt_layer_spec s = harness_spec(line);
    harness_make_n(&l, &s, in, n, 1, B);
    float *x[DPT_LAYER_MAX_INPUTS];
    for (int k = 0; k < n; k++) {
        size_t m = dpt_shape_size(&in[k]) * (size_t)B;
        x[k] = dpt_alloc_floats(m);
        fill_uniform(x[k], m, -2.0f, 2.0f, (uint64_t)k + 1);
    }
    size_t out_n = dpt_shape_size(&l.out_shape) * (size_t)B;
    float *r = dpt_alloc_floats(out_n);
    fill_uniform(r, out_n, -1.0f, 1.0f, 99);
    harness_check_dx_n(&l, x, NULL, r, B, H_STEP, RTOL, ATOL);
    for (int k = 0; k < n; k++) free(x[k]);
    free(r);
    harness_free(&l);
}

static void test_merge_gradients_match_finite_differences(void **state) {
    (void)state;
    dpt_shape same[] = {dpt_shape_2d(4, 3), dpt_shape_2d(4, 3), dpt_shape_2d(4, 3)};
    check_gradients("add", same, 3, 3);
    check_gradients("add", same, 2, 2);
    check_gradients("subtract", same, 2, 3);
    check_gradients("multiply", same, 3, 3);
    check_gradients("multiply", same, 2, 1);
    check_gradients("average", same, 3, 2);
    dpt_shape img[] = {dpt_shape_3d(2, 2, 3), dpt_shape_3d(2, 2, 3)};
    check_gradients("multiply", img, 2, 2);
    dpt_shape cat[] = {dpt_shape_2d(4, 3), dpt_shape_2d(4, 2), dpt_shape_2d(4, 1)};
    check_gradients("concatenate", cat, 3, 3);
    dpt_shape vec[] = {dpt_shape_1d(2), dpt_shape_1d(5)};
    check_gradients("concatenate", vec, 2, 4);
}

/* A gradient nobody wants (dx[k] NULL) is skipped; the others are still written. */
static void test_merges_write_only_the_wanted_gradients(void **state) {
    (void)state;
    enum { B = 2, F = 3 };
    const char *lines[] = {"add", "subtract", "multiply", "average", "concatenate"};
    dpt_shape in[] = {dpt_shape_1d(F), dpt_shape_1d(F)};
    float a[B * F], b[B * F], dy[2 * B * F], db[B * F];
    fill_uniform(a, B * F, -1.0f, 1.0f, 1);
    fill_uniform(b, B * F, -1.0f, 1.0f, 2);
    fill_uniform(dy, 2 * B * F, -1.0f, 1.0f, 3);
    float *x[] = {a, b};
    for (size_t t = 0; t < sizeof lines / sizeof lines[0]; t++) {
        dpt_layer l;
        dpt_layer_spec s = harness_spec(lines[t]);
        harness_make_n(&l, &s, in, 2, 1, B);
        dpt_layer_io io = harness_io(&l, x, NULL);
        float y[2 * B * F];
        l.type->forward_n(&l, &io, y, B, NULL);
        for (int i = 0; i < B * F; i++) db[i] = NAN;
        io.dx[1] = db;
        l.type->backward_n(&l, &io, y, dy, B, NULL);
        for (int i = 0; i < B * F; i++) assert_false(isnan(db[i]));
        harness_free(&l);
    }
}

/* Big enough for the OpenMP split: 1 and 2 threads give the same bits. */
static void test_merges_give_the_same_bits_for_any_thread_count(void **state) {
    (void)state;
    enum { B = 64, T = 50, F = 40 };
    const char *lines[] = {"add", "multiply", "average", "concatenate"};
    dpt_shape in[] = {dpt_shape_2d(T, F), dpt_shape_2d(T, F), dpt_shape_2d(T, F)};
    size_t n = (size_t)B * T * F;
    float *x[3], *dx1[3], *dx2[3];
    for (int k = 0; k < 3; k++) {
        x[k] = dpt_alloc_floats(n);
        dx1[k] = dpt_alloc_floats(n);
        dx2[k] = dpt_alloc_floats(n);
        fill_uniform(x[k], n, -2.0f, 2.0f, (uint64_t)k + 7);
    }
    float *dy = dpt_alloc_floats(3 * n), *y1 = dpt_alloc_floats(3 * n);
    float *y2 = dpt_alloc_floats(3 * n);
    fill_uniform(dy, 3 * n, -1.0f, 1.0f, 11);
    int threads = omp_get_max_threads();
    for (size_t t = 0; t < sizeof lines / sizeof lines[0]; t++) {
        dpt_layer l;
        dpt_layer_spec s = harness_spec(lines[t]);
        harness_make_n(&l, &s, in, 3, 1, B);
        dpt_layer_io io = harness_io(&l, x, NULL);
        size_t out = (size_t)B * dpt_shape_size(&l.out_shape);
        for (int run = 0; run < 2; run++) {
            omp_set_num_threads(run == 0 ? 1 : 4);
            for (int k = 0; k < 3; k++) io.dx[k] = run == 0 ? dx1[k] : dx2[k];
            l.type->forward_n(&l, &io, run == 0 ? y1 : y2, B, NULL);
            l.type->backward_n(&l, &io, run == 0 ? y1 : y2, dy, B, NULL);
        }
        omp_set_num_threads(threads);
        assert_memory_equal(y1, y2, out * sizeof *y1);
        for (int k = 0; k < 3; k++) assert_memory_equal(dx1[k], dx2[k], n * sizeof *y1);
        harness_free(&l);
    }
    for (int k = 0; k < 3; k++) free(x[k]), free(dx1[k]), free(dx2[k]);
    free(dy), free(y1), free(y2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merges_keep_the_shape_and_concatenate_sums_the_last_axis),
        cmocka_unit_test(test_merges_refuse_wrong_counts_shapes_and_int_inputs),
        cmocka_unit_test(test_merges_compute_hand_checked_values),
        cmocka_unit_test(test_merge_gradients_match_finite_differences),
        cmocka_unit_test(test_merges_write_only_the_wanted_gradients),
        cmocka_unit_test(test_merges_give_the_same_bits_for_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
