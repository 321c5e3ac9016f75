/* flatten, reshape (core/layer_reshape.c) and upsample2d / upsample1d (core/layer_upsample.c):
 * output shapes, the values against a direct loop, gradients against finite differences, the
 * build messages, and a conv-free autoencoder-shaped model through them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* These layers copy or sum values: the gradient is exact but for the rounding of a sum of at
 * most 4 values (upsample's blocks), ~1e-6 over a step of 2e-2; h and the tolerances are
 * tests/core/test_gradcheck.c's. */
#define H_STEP 1e-2f
#define RTOL   1e-2
#define ATOL   1e-3

static void make(dpt_layer *l, const char *line, dpt_shape in) {
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    if (harness_build_shape(l, &s, &in, 1, err, sizeof err)) fail_msg("%s: %s", line, err);
    assert_int_equal(l->cache_per_sample + l->cache_fixed, 0);
    assert_int_equal(l->ntensors, 0);
}

static const char *out_text(const dpt_layer *l) {
    static char buf[64];
    return dpt_shape_str(&l->out_shape, buf, sizeof buf);
}

static void check_gradients(const char *line, dpt_shape in, int B) {
    dpt_layer l;
    make(&l, line, in);
    size_t in_n = dpt_shape_size(&in) * B, out_n = dpt_shape_size(&l.out_shape) * B;
    float *x = dpt_alloc_floats(in_n), *r = dpt_alloc_floats(out_n);
    fill_uniform(x, in_n, -2.0f, 2.0f, 1);
    fill_uniform(r, out_n, -1.0f, 1.0f, 2);
    harness_check_dx(&l, x, r, B, NULL, H_STEP, RTOL, ATOL);
    free(x), free(r);
}

static void expect_error(const char *line, dpt_shape in, const char *msg) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    assert_int_equal(harness_build_shape(&l, &s, &in, 0, err, sizeof err), -1);
    assert_string_equal(err, msg);
}

static void test_flatten_and_reshape_relabel_the_same_values(void **state) {
    (void)state;
    dpt_layer l;
    make(&l, "flatten", dpt_shape_3d(28, 28, 1));
    assert_string_equal(out_text(&l), "(784) float32");
    make(&l, "flatten", dpt_shape_1d(5));
    assert_string_equal(out_text(&l), "(5) float32");
    make(&l, "reshape target_shape=[7,7,16]", dpt_shape_1d(784));
    assert_string_equal(out_text(&l), "(7, 7, 16) float32");
    assert_string_equal(harness_value(&l.spec, "target_shape"), "[7, 7, 16]");
    make(&l, "reshape target_shape=[-1,4]", dpt_shape_3d(2, 3, 2));
    assert_string_equal(out_text(&l), "(3, 4) float32");
    assert_string_equal(harness_value(&l.spec, "target_shape"), "[-1, 4]");
    make(&l, "reshape target_shape=-1", dpt_shape_2d(3, 4));
    assert_string_equal(out_text(&l), "(12) float32");
    assert_string_equal(harness_value(&l.spec, "target_shape"), "[-1]");
    /* forward and backward are copies */
    float x[2 * 12], y[2 * 12], dx[2 * 12];
    fill_uniform(x, 24, -1.0f, 1.0f, 3);
    l.type->forward(&l, x, y, 2, NULL);
    assert_memory_equal(x, y, sizeof x);
    l.type->backward(&l, x, y, y, dx, 2, NULL);
    assert_memory_equal(x, dx, sizeof x);
    check_gradients("flatten", dpt_shape_3d(2, 3, 2), 2);
    check_gradients("reshape target_shape=[2,-1]", dpt_shape_3d(2, 3, 2), 3);
}

static void test_reshape_refuses_counts_that_do_not_match(void **state) {
    (void)state;
    expect_error("reshape target_shape=[10,10]", dpt_shape_3d(28, 28, 1),
                 "reshape cannot make the input (28, 28, 1) float32 (784 values) into [10, 10] "
                 "(100 values): expected the same number of values");
    expect_error("reshape target_shape=[5,-1]", dpt_shape_2d(3, 4),
                 "reshape cannot make the input (3, 4) float32 (12 values) into [5, -1]: 12 is no "
                 "multiple of 5");
    expect_error("reshape target_shape=[-1,-1]", dpt_shape_1d(4),
                 "reshape target_shape [-1, -1]: expected integers >= 1 and at most one -1");
    expect_error("reshape target_shape=[0,4]", dpt_shape_1d(4),
                 "reshape target_shape [0, 4]: expected integers >= 1 and at most one -1");
    dpt_layer_spec s;
    char err[256];
    assert_int_equal(dpt_layer_spec_parse(&s, "reshape target_shape=[1,2,3,4]", err, sizeof err),
                     -1);
    assert_string_equal(err, "target_shape: expected an integer >= -1 or a list of 1 to 3, got "
                             "'[1,2,3,4]'");
}

/* y[h][w][c] = x[h / sh][w / sw][c]. */
static void test_upsample_copies_each_cell_into_a_block(void **state) {
    (void)state;
    enum { B = 2, H = 3, W = 2, C = 3, SH = 2, SW = 3 };
    dpt_layer l;
    make(&l, "upsample2d size=[2,3]", dpt_shape_3d(H, W, C));
    assert_string_equal(out_text(&l), "(6, 6, 3) float32");
    float x[B * H * W * C], y[B * H * SH * W * SW * C];
    fill_uniform(x, B * H * W * C, -1.0f, 1.0f, 4);
    l.type->forward(&l, x, y, B, NULL);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H * SH; h++)
            for (int w = 0; w < W * SW; w++)
                for (int c = 0; c < C; c++)
                    assert_true(y[((b * H * SH + h) * W * SW + w) * C + c] ==
                                x[((b * H + h / SH) * W + w / SW) * C + c]);
    make(&l, "upsample1d size=3", dpt_shape_2d(4, 2));
    assert_string_equal(out_text(&l), "(12, 2) float32");
    make(&l, "upsample2d", dpt_shape_3d(7, 7, 64));
    assert_string_equal(out_text(&l), "(14, 14, 64) float32");
    assert_string_equal(harness_value(&l.spec, "size"), "2");
}

static void test_upsample_gradients_sum_each_block(void **state) {
    (void)state;
    check_gradients("upsample2d", dpt_shape_3d(3, 2, 2), 2);
    check_gradients("upsample2d size=[1,3]", dpt_shape_3d(2, 3, 1), 3);
    check_gradients("upsample2d size=[3,2]", dpt_shape_3d(2, 2, 3), 1);
    check_gradients("upsample1d", dpt_shape_2d(4, 3), 2);
    check_gradients("upsample1d size=3", dpt_shape_2d(2, 1), 3);
}

static void test_upsample_refuses_other_ranks(void **state) {
    (void)state;
    expect_error("upsample2d", dpt_shape_2d(10, 3),
                 "upsample2d needs (H, W, C) input, got (10, 3) float32 (expected an image; "
                 "sequences take upsample1d)");
    expect_error("upsample1d", dpt_shape_3d(2, 2, 1),
                 "upsample1d needs (T, F) input, got (2, 2, 1) float32 (expected a sequence; "
                 "images take upsample2d)");
}

/* (F) -> dense -> reshape (H, W, C) -> upsample2d -> max_pool2d -> flatten -> dense: shapes
 * chain and the gradients of every parameter agree with finite differences. */
static void test_a_reshape_upsample_pool_model_has_correct_gradients(void **state) {
    (void)state;
    enum { B = 3, F = 4 };
    dpt_layer_spec specs[] = {harness_spec("dense units=12 activation=tanh"),
                              harness_spec("reshape target_shape=[2,3,2]"),
                              harness_spec("upsample2d"),
                              harness_spec("avg_pool2d pool_size=3 strides=1 padding=same"),
                              harness_spec("flatten"),
                              harness_spec("dense units=2")};
    int n = sizeof specs / sizeof specs[0];
    dpt_model m;
    char err[512];
    dpt_shape in = dpt_shape_1d(F);
    if (dpt_model_build(&m, specs, n, &in, B, err, sizeof err)) fail_msg("%s", err);
    dpt_model_init_params(&m, 2);
    float x[B * F], r[B * 2];
    fill_uniform(x, B * F, -1.0f, 1.0f, 5);
    fill_uniform(r, B * 2, -1.0f, 1.0f, 6);
    dpt_model_forward(&m, x, B, NULL);
    dpt_model_zero_grads(&m);
    dpt_model_backward(&m, r, B);
    for (size_t k = 0; k < m.nparams; k++) {
        float v0 = m.params[k];
        double f[2];
        for (int side = 0; side < 2; side++) {
            m.params[k] = side ? v0 - H_STEP : v0 + H_STEP;
            const float *out = dpt_model_forward(&m, x, B, NULL);
            f[side] = 0.0;
            for (int i = 0; i < B * 2; i++) f[side] += (double)r[i] * out[i];
        }
        m.params[k] = v0;
        double num = (f[0] - f[1]) / ((double)(v0 + H_STEP) - (double)(v0 - H_STEP));
        /* tanh is smooth: its truncation error h^2 f'''/6 is ~2e-5 (test_gradcheck.c) */
        assert_close(m.grads[k], num, RTOL, ATOL);
    }
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten_and_reshape_relabel_the_same_values),
        cmocka_unit_test(test_reshape_refuses_counts_that_do_not_match),
        cmocka_unit_test(test_upsample_copies_each_cell_into_a_block),
        cmocka_unit_test(test_upsample_gradients_sum_each_block),
        cmocka_unit_test(test_upsample_refuses_other_ranks),
        cmocka_unit_test(test_a_reshape_upsample_pool_model_has_correct_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
