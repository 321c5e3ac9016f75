/* The pooling layers (core/layer_pool.c): forward against a direct loop over every window cell
 * on random data (valid, same with odd padding totals, explicit padding, strides other than
 * the window, non-square), gradients against finite differences, the 1-D and global forms,
 * sequence lengths in a global 1-D pool, the build messages, and a pool in a model. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* Gradient checks as tests/core/test_gradcheck.c: h = 1e-2 and |num - ana| <= 1e-3 + 1e-2
 * |ana|.  Pools are piecewise linear, so the only error is float rounding: a changed output is
 * a max (exact) or a mean of <= 9 values of magnitude <= ~5 (a few ulp, ~2e-6), over a step of
 * 2e-2: <= ~1e-4.  Max / min inputs are distinct multiples of 0.05 (> 2h apart), so no
 * perturbation changes a window's winner. */
#define H_STEP 1e-2f
#define RTOL   1e-2
#define ATOL   1e-3

/* One pool case: a spec line and an input shape (H, W, C), or (T, F) for 1-D (H = 0). */
typedef struct pool_case {
    const char *line;
    int H, W, C;
} pool_case;

static dpt_shape case_shape(const pool_case *pc) {
    return pc->H ? dpt_shape_3d(pc->H, pc->W, pc->C) : dpt_shape_2d(pc->W, pc->C);
}

static void make(dpt_layer *l, const char *line, const dpt_shape *in, int B) {
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    if (harness_build_shape(l, &s, in, 1, err, sizeof err)) fail_msg("%s: %s", line, err);
    l->cache = dpt_alloc_floats(l->cache_fixed + (size_t)B * l->cache_per_sample + 1);
}

/* ---- the reference: every window cell in turn, padding by its coordinates ---- */

typedef struct geom {
    int k[2], s[2], before[2], out[2];
} geom;

/* Keras / PyTorch output sizes, written out independently of core/window.c. */
static void ref_axis(int in, int k, int s, int pad, int *before, int *out) {
    if (pad == -2) { /* same */
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        *before = (total > 0 ? total : 0) / 2;
    } else {
        int p = pad < 0 ? 0 : pad;
        *out = (in + 2 * p - k) / s + 1;
        *before = p;
    }
}

/* op: 'x' max, 'a' avg, 'n' min.  y (Ho, Wo, C) of one sample x (H, W, C); win (Ho, Wo, C)
 * the flat input index of the first winner (max / min). */
static void ref_pool(char op, const geom *g, int H, int W, int C, const float *x, float *y,
                     int *win) {
    for (int oh = 0; oh < g->out[0]; oh++)
        for (int ow = 0; ow < g->out[1]; ow++)
            for (int c = 0; c < C; c++) {
                float best = 0.0f, sum = 0.0f;
                int n = 0, arg = -1;
                for (int i = 0; i < g->k[0]; i++)
                    for (int j = 0; j < g->k[1]; j++) {
                        int h = oh * g->s[0] - g->before[0] + i;
                        int w = ow * g->s[1] - g->before[1] + j;
                        if (h < 0 || h >= H || w < 0 || w >= W) continue;
                        int idx = (h * W + w) * C + c;
                        float v = x[idx];
                        bool better = op == 'x' ? v > best : v < best;
                        if (n == 0 || better) best = v, arg = idx;
                        sum += v;
                        n++;
                    }
                int o = (oh * g->out[1] + ow) * C + c;
                y[o] = op == 'a' ? sum / (float)n : best;
                if (win) win[o] = arg;
            }
}

/* The window of a case: k, s, pad as the spec says, for (H, W) (1-D: H = 1). */
static geom case_geom(const dpt_layer *l, int H, int W) {
    geom g;
    bool global = strncmp(l->type->name, "global", 6) == 0;
    bool one_d = strstr(l->type->name, "1d") != NULL;
    int k[2] = {H, W}, s[2] = {1, 1}, p[2] = {-1, -1};
    if (!global) {
        const int *a = dpt_layer_args(&l->spec); /* pool_size, strides, padding */
        int n = one_d ? 1 : 2;
        for (int i = 0; i < n; i++) {
            int at = one_d ? 1 : i;
            k[at] = a[i];
            s[at] = a[n + i] < 0 ? a[i] : a[n + i];
            p[at] = a[2 * n + i];
        }
        if (one_d) k[0] = 1, s[0] = 1, p[0] = -1;
    }
    for (int i = 0; i < 2; i++) {
        g.k[i] = k[i], g.s[i] = s[i];
        ref_axis(i ? W : H, k[i], s[i], p[i], &g.before[i], &g.out[i]);
    }
    return g;
}

static char case_op(const dpt_layer *l) {
    const char *n = l->type->name;
    return strstr(n, "max") ? 'x' : strstr(n, "avg") ? 'a' : 'n';
}

/* Distinct values, multiples of 0.05 in a random order: no ties, and gaps > 2 h. */
static void fill_distinct(float *x, size_t n, uint64_t stream) {
    float *u = dpt_alloc_floats(n);
    fill_uniform(u, n, 0.0f, 1.0f, stream);
    for (size_t i = 0; i < n; i++) {
        size_t rank = 0;
        for (size_t j = 0; j < n; j++) rank += u[j] < u[i] || (u[j] == u[i] && j < i);
        x[i] = -5.0f + 0.05f * (float)rank;
    }
    free(u);
}

static void check_forward(const pool_case *pc, int B) {
    dpt_layer l;
    dpt_shape in = case_shape(pc);
    make(&l, pc->line, &in, B);
    int H = pc->H ? pc->H : 1, W = pc->W, C = pc->C;
    geom g = case_geom(&l, H, W);
    size_t in_n = (size_t)H * W * C, out_n = (size_t)g.out[0] * g.out[1] * C;
    assert_int_equal(dpt_shape_size(&l.out_shape), out_n);
    float *x = dpt_alloc_floats(B * in_n), *y = dpt_alloc_floats(B * out_n);
    float *want = dpt_alloc_floats(out_n);
    fill_uniform(x, B * in_n, -3.0f, 3.0f, 7);
    l.type->forward(&l, x, y, B, NULL);
    for (int b = 0; b < B; b++) {
        ref_pool(case_op(&l), &g, H, W, C, x + b * in_n, want, NULL);
        /* The same cells summed in the same order and divided alike: the same bits. */
        assert_memory_equal(y + b * out_n, want, out_n * sizeof *y);
    }
    free(x), free(y), free(want), free(l.cache);
}

/* d(sum r y)/dx by central differences against backward; dx starts as NaN (overwritten). */
static void check_gradients(const pool_case *pc, int B, const dpt_step_ctx *ctx) {
    dpt_layer l;
    dpt_shape in = case_shape(pc);
    make(&l, pc->line, &in, B);
    size_t in_n = dpt_shape_size(&in) * B, out_n = dpt_shape_size(&l.out_shape) * B;
    float *x = dpt_alloc_floats(in_n), *r = dpt_alloc_floats(out_n);
    fill_distinct(x, in_n, 3);
    fill_uniform(r, out_n, -1.0f, 1.0f, 4);
    harness_check_dx(&l, x, r, B, ctx, H_STEP, RTOL, ATOL);
    free(x), free(r), free(l.cache);
}

static const pool_case CASES_2D[] = {
    {"max_pool2d", 6, 6, 3},                                    /* the default 2x2, stride 2 */
    {"max_pool2d pool_size=3 strides=1", 5, 6, 2},              /* overlapping windows */
    {"max_pool2d pool_size=3 strides=2 padding=same", 6, 5, 2}, /* totals 1 (odd) and 2 */
    {"max_pool2d pool_size=[2,3] strides=[1,2] padding=same", 4, 7, 3}, /* non-square */
    {"max_pool2d pool_size=3 strides=2 padding=1", 5, 6, 2},            /* explicit, as PyTorch */
    {"max_pool2d pool_size=[3,2] padding=[1,0]", 7, 4, 1},
    {"max_pool2d pool_size=2", 7, 5, 2}, /* the last row and column are dropped */
    {"avg_pool2d", 6, 4, 3},
    {"avg_pool2d pool_size=3 strides=2 padding=same", 6, 5, 2},
    {"avg_pool2d pool_size=[2,3] strides=[1,2] padding=same", 4, 7, 3},
    {"avg_pool2d pool_size=3 strides=2 padding=1", 5, 6, 2},
    {"min_pool2d", 4, 6, 2},
    {"min_pool2d pool_size=3 strides=2 padding=same", 6, 5, 2},
    {"min_pool2d pool_size=[3,2] strides=[2,1] padding=[1,1]", 5, 4, 2},
    {"global_avg_pool2d", 3, 5, 4},
    {"global_max_pool2d", 3, 5, 4},
};

static const pool_case CASES_1D[] = {
    {"max_pool1d", 0, 9, 3},
    {"max_pool1d pool_size=3 strides=1", 0, 7, 2},
    {"max_pool1d pool_size=3 strides=2 padding=same", 0, 8, 2},
    {"max_pool1d pool_size=3 strides=2 padding=1", 0, 7, 2},
    {"avg_pool1d pool_size=3 strides=2 padding=same", 0, 8, 2},
    {"avg_pool1d pool_size=2 padding=1", 0, 5, 3},
    {"min_pool1d pool_size=4 strides=3", 0, 11, 2},
    {"global_avg_pool1d", 0, 6, 3},
    {"global_max_pool1d", 0, 6, 3},
};

#define NCASES(a) (sizeof(a) / sizeof(a)[0])

static void test_2d_pools_match_a_direct_loop_over_the_window(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES(CASES_2D); i++) check_forward(&CASES_2D[i], 3);
}

static void test_1d_pools_match_a_direct_loop_over_the_window(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES(CASES_1D); i++) check_forward(&CASES_1D[i], 3);
}

static void test_2d_pool_gradients_match_finite_differences(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES(CASES_2D); i++) check_gradients(&CASES_2D[i], 2, NULL);
}

static void test_1d_pool_gradients_match_finite_differences(void **state) {
    (void)state;
    for (size_t i = 0; i < NCASES(CASES_1D); i++) check_gradients(&CASES_1D[i], 3, NULL);
}

static void test_shapes_and_the_strides_default(void **state) {
    (void)state;
    dpt_layer l;
    dpt_shape in = dpt_shape_3d(28, 28, 32);
    make(&l, "max_pool2d", &in, 1);
    char buf[64];
    assert_string_equal(dpt_shape_str(&l.out_shape, buf, sizeof buf), "(14, 14, 32) float32");
    assert_string_equal(harness_value(&l.spec, "strides"), "pool_size");
    assert_string_equal(harness_value(&l.spec, "pool_size"), "2");
    assert_string_equal(harness_value(&l.spec, "padding"), "valid");
    free(l.cache);
    make(&l, "avg_pool2d pool_size=[3,2] strides=[1,2] padding=same", &in, 1);
    assert_string_equal(dpt_shape_str(&l.out_shape, buf, sizeof buf), "(28, 14, 32) float32");
    assert_string_equal(harness_value(&l.spec, "strides"), "[1, 2]");
    free(l.cache);
    dpt_shape seq = dpt_shape_2d(10, 4);
    make(&l, "max_pool1d pool_size=3", &seq, 1);
    assert_string_equal(dpt_shape_str(&l.out_shape, buf, sizeof buf), "(3, 4) float32");
    free(l.cache);
    make(&l, "global_max_pool1d", &seq, 1);
    assert_string_equal(dpt_shape_str(&l.out_shape, buf, sizeof buf), "(4) float32");
    free(l.cache);
    make(&l, "global_avg_pool2d", &in, 1);
    assert_string_equal(dpt_shape_str(&l.out_shape, buf, sizeof buf), "(32) float32");
    free(l.cache);
}

/* A global 1-D pool over padded sequences pools each sample's valid steps only (Keras's
 * masking): the padding may hold anything. */
static void test_global_1d_pools_skip_steps_past_the_length(void **state) {
    (void)state;
    enum { B = 3, T = 5, F = 2 };
    const int32_t len[B] = {5, 2, 1};
    dpt_step_ctx ctx = {.lengths = len};
    float x[B * T * F];
    fill_uniform(x, B * T * F, -1.0f, 1.0f, 9);
    for (int b = 0; b < B; b++)
        for (int t = len[b]; t < T; t++)
            for (int f = 0; f < F; f++) x[(b * T + t) * F + f] = 100.0f; /* padding */
    dpt_shape in = dpt_shape_2d(T, F);
    const char *types[] = {"global_max_pool1d", "global_avg_pool1d"};
    for (int k = 0; k < 2; k++) {
        dpt_layer l;
        make(&l, types[k], &in, B);
        float y[B * F], dy[B * F], dx[B * T * F];
        l.type->forward(&l, x, y, B, &ctx);
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++) {
                float m = x[b * T * F + f], s = 0.0f;
                for (int t = 0; t < len[b]; t++) {
                    float v = x[(b * T + t) * F + f];
                    m = v > m ? v : m;
                    s += v;
                }
                assert_true(y[b * F + f] == (k == 0 ? m : s / (float)len[b]));
            }
        for (int i = 0; i < B * F; i++) dy[i] = 1.0f;
        l.type->backward(&l, x, y, dy, dx, B, &ctx);
        for (int b = 0; b < B; b++)
            for (int t = len[b]; t < T; t++)
                for (int f = 0; f < F; f++) assert_true(dx[(b * T + t) * F + f] == 0.0f);
        free(l.cache);
    }
    /* and the gradients over valid steps */
    pool_case gm = {"global_max_pool1d", 0, T, F}, ga = {"global_avg_pool1d", 0, T, F};
    check_gradients(&gm, B, &ctx);
    check_gradients(&ga, B, &ctx);
}

/* Ties go to the first cell in scan order (row by row), also when the gradient is routed. */
static void test_ties_route_the_gradient_to_the_first_cell(void **state) {
    (void)state;
    dpt_layer l;
    dpt_shape in = dpt_shape_3d(2, 2, 1);
    float x[4] = {1.0f, 3.0f, 3.0f, 3.0f}, y[1], dy[1] = {2.0f}, dx[4];
    make(&l, "max_pool2d", &in, 1);
    l.type->forward(&l, x, y, 1, NULL);
    l.type->backward(&l, x, y, dy, dx, 1, NULL);
    assert_true(y[0] == 3.0f);
    float want[4] = {0.0f, 2.0f, 0.0f, 0.0f};
    assert_memory_equal(dx, want, sizeof dx);
    free(l.cache);
    float xm[4] = {0.5f, 0.5f, -1.0f, -1.0f};
    make(&l, "min_pool2d", &in, 1);
    l.type->forward(&l, xm, y, 1, NULL);
    l.type->backward(&l, xm, y, dy, dx, 1, NULL);
    float wantm[4] = {0.0f, 0.0f, 2.0f, 0.0f};
    assert_memory_equal(dx, wantm, sizeof dx);
    free(l.cache);
}

static void expect_error(const char *line, dpt_shape in, const char *msg) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    assert_int_equal(harness_build_shape(&l, &s, &in, 0, err, sizeof err), -1);
    assert_string_equal(err, msg);
}

static void test_build_errors_name_the_shapes(void **state) {
    (void)state;
    expect_error("max_pool2d pool_size=3", dpt_shape_3d(2, 5, 1),
                 "max_pool2d leaves nothing: kernel 3x3 is larger than the input 2x5 padded by "
                 "0x0 (expected a smaller pool_size, or padding: same)");
    expect_error("avg_pool1d pool_size=4", dpt_shape_2d(3, 2),
                 "avg_pool1d leaves nothing: kernel 4 is larger than the input 3 padded by 0 "
                 "(expected a smaller pool_size, or padding: same)");
    expect_error("max_pool2d", dpt_shape_2d(28, 28),
                 "max_pool2d needs (H, W, C) input, got (28, 28) float32 (expected an image: "
                 "store X as (N, H, W, C), or reshape it first; sequences take the 1-D pools)");
    expect_error("global_avg_pool2d", dpt_shape_1d(784),
                 "global_avg_pool2d needs (H, W, C) input, got (784) float32 (expected an image: "
                 "store X as (N, H, W, C), or reshape it first; sequences take the 1-D pools)");
    expect_error("min_pool1d", dpt_shape_3d(4, 4, 1),
                 "min_pool1d needs (T, F) input, got (4, 4, 1) float32 (expected a sequence: "
                 "store X as (N, T, F), or reshape it first; images take the 2-D pools)");
    expect_error("max_pool2d pool_size=2 padding=2", dpt_shape_3d(4, 4, 1),
                 "max_pool2d padding 2x2 leaves windows of padding only (expected padding "
                 "smaller than pool_size 2x2, or padding: same)");
    /* A size that is not even a window is refused by the key itself. */
    dpt_layer_spec s;
    char err[256];
    assert_int_equal(dpt_layer_spec_parse(&s, "max_pool2d pool_size=0", err, sizeof err), -1);
    assert_string_equal(err, "pool_size: expected an integer >= 1 or a list of 2, got '0'");
    assert_int_equal(dpt_layer_spec_parse(&s, "max_pool1d strides=[1,2]", err, sizeof err), -1);
    assert_string_equal(err, "strides: expected an integer >= 1 or one of: pool_size; got '[1,2]'");
}

/* (H, W, C) -> max_pool2d -> flatten -> dense through the model: the dense gradients agree
 * with finite differences of the loss through the pool. */
static void test_a_pool_flatten_dense_model_trains_through_the_pool(void **state) {
    (void)state;
    enum { B = 3, H = 6, W = 4, C = 2, K = 3 };
    dpt_layer_spec specs[3] = {harness_spec("max_pool2d"), harness_spec("flatten"),
                               harness_spec("dense units=3")};
    dpt_model m;
    char err[512];
    dpt_shape in = dpt_shape_3d(H, W, C);
    assert_int_equal(dpt_model_build(&m, specs, 3, &in, B, err, sizeof err), 0);
    assert_int_equal(m.layers[1].in, C);
    assert_int_equal(m.layers[2].in, (H / 2) * (W / 2) * C);
    dpt_model_init_params(&m, 1);
    float x[B * H * W * C], r[B * K];
    fill_distinct(x, B * H * W * C, 5);
    fill_uniform(r, B * K, -1.0f, 1.0f, 6);
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
            for (int i = 0; i < B * K; i++) f[side] += (double)r[i] * out[i];
        }
        m.params[k] = v0;
        double num = (f[0] - f[1]) / ((double)(v0 + H_STEP) - (double)(v0 - H_STEP));
        assert_close(m.grads[k], num, RTOL, ATOL);
    }
    dpt_model_free(&m);
}

/* A 1-D pool that shortens T puts the output on a new time axis: the input's lengths no longer
 * describe it (the model reads this off the shapes); one that keeps T keeps them. */
static void test_a_pool1d_that_shortens_t_changes_the_time_axis(void **state) {
    (void)state;
    const int32_t xl[2] = {8, 3}, yl[2] = {4, 2};
    dpt_shape in = dpt_shape_2d(8, 3);
    char err[512];
    dpt_model m;
    dpt_layer_spec shorten = harness_spec("max_pool1d pool_size=2");
    assert_int_equal(dpt_model_build(&m, &shorten, 1, &in, 2, err, sizeof err), 0);
    assert_int_equal(m.axis_change, 0);
    assert_ptr_equal(dpt_model_output_lengths(&m, xl, yl), yl);
    dpt_model_free(&m);
    dpt_layer_spec keep = harness_spec("avg_pool1d pool_size=3 strides=1 padding=same");
    assert_int_equal(dpt_model_build(&m, &keep, 1, &in, 2, err, sizeof err), 0);
    assert_int_equal(m.axis_change, 1);
    assert_ptr_equal(dpt_model_output_lengths(&m, xl, yl), xl);
    dpt_model_free(&m);
    dpt_layer_spec global = harness_spec("global_max_pool1d");
    assert_int_equal(dpt_model_build(&m, &global, 1, &in, 2, err, sizeof err), 0);
    assert_null(dpt_model_output_lengths(&m, xl, yl)); /* one output per sample */
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2d_pools_match_a_direct_loop_over_the_window),
        cmocka_unit_test(test_1d_pools_match_a_direct_loop_over_the_window),
        cmocka_unit_test(test_2d_pool_gradients_match_finite_differences),
        cmocka_unit_test(test_1d_pool_gradients_match_finite_differences),
        cmocka_unit_test(test_shapes_and_the_strides_default),
        cmocka_unit_test(test_global_1d_pools_skip_steps_past_the_length),
        cmocka_unit_test(test_ties_route_the_gradient_to_the_first_cell),
        cmocka_unit_test(test_build_errors_name_the_shapes),
        cmocka_unit_test(test_a_pool_flatten_dense_model_trains_through_the_pool),
        cmocka_unit_test(test_a_pool1d_that_shortens_t_changes_the_time_axis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
