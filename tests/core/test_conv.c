/* conv2d, conv1d and conv2d_transpose: forward against plain loops in double, gradients against
 * finite differences over many geometries, results independent of the batch and the thread
 * count, the build messages, and a small CNN through the model. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm_packed.h"
#include "core/layer.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* One geometry: a layer line, its per-sample input (H, W, C) ((T, F) for conv1d: H = 1) and
 * the padding the layer must resolve to, computed here independently of core/window.c. */
typedef struct conv_case {
    const char *line;
    int H, W, C; /* input; conv1d: H = 1, W = T, C = F */
    int F;       /* filters */
    int kh, kw, sh, sw, dh, dw;
    int pad; /* -1 valid, -2 same, else explicit on both axes */
    bool bias;
} conv_case;

static const conv_case CONV2D[] = {
    {"conv2d filters=3 kernel_size=3 strides=2", 7, 7, 2, 3, 3, 3, 2, 2, 1, 1, -1, true},
    {"conv2d filters=2 kernel_size=[2,3] padding=same", 5, 6, 3, 2, 2, 3, 1, 1, 1, 1, -2, true},
    {"conv2d filters=2 kernel_size=3 padding=same strides=2", 6, 5, 2, 2, 3, 3, 2, 2, 1, 1, -2,
     true},
    {"conv2d filters=2 kernel_size=3 dilation_rate=2 padding=same", 6, 6, 1, 2, 3, 3, 1, 1, 2, 2,
     -2, true},
    {"conv2d filters=2 kernel_size=3 padding=1 strides=[2,1]", 5, 5, 2, 2, 3, 3, 2, 1, 1, 1, 1,
     true},
    {"conv2d filters=4 kernel_size=1", 3, 4, 3, 4, 1, 1, 1, 1, 1, 1, -1, true},
    {"conv2d filters=2 kernel_size=1 strides=2", 5, 5, 2, 2, 1, 1, 2, 2, 1, 1, -1, true},
    {"conv2d filters=2 kernel_size=3 use_bias=false", 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, -1, false},
    {"conv2d filters=3 kernel_size=[3,1] strides=[1,2] dilation_rate=[2,1] padding=same", 6, 5, 2,
     3, 3, 1, 1, 2, 2, 1, -2, true},
};

static const conv_case CONV1D[] = {
    {"conv1d filters=3 kernel_size=3 padding=same", 1, 8, 2, 3, 1, 3, 1, 1, 1, 1, -2, true},
    {"conv1d filters=2 kernel_size=2 strides=2 dilation_rate=2", 1, 9, 3, 2, 1, 2, 1, 2, 1, 2, -1,
     true},
    {"conv1d filters=2 kernel_size=3 padding=1 use_bias=false", 1, 5, 1, 2, 1, 3, 1, 1, 1, 1, 1,
     false},
    {"conv1d filters=2 kernel_size=1", 1, 4, 3, 2, 1, 1, 1, 1, 1, 1, -1, true},
};

static const conv_case CONVT[] = {
    {"conv2d_transpose filters=2 kernel_size=3 strides=2", 3, 3, 2, 2, 3, 3, 2, 2, 1, 1, -1, true},
    {"conv2d_transpose filters=3 kernel_size=3 strides=2 padding=same", 3, 4, 2, 3, 3, 3, 2, 2, 1,
     1, -2, true},
    {"conv2d_transpose filters=2 kernel_size=[2,3] strides=[2,1] padding=same", 3, 3, 3, 2, 2, 3, 2,
     1, 1, 1, -2, true},
    {"conv2d_transpose filters=2 kernel_size=4 strides=2 padding=1", 3, 2, 2, 2, 4, 4, 2, 2, 1, 1,
     1, true},
    {"conv2d_transpose filters=2 kernel_size=1 strides=3 padding=same use_bias=false", 2, 3, 2, 2,
     1, 1, 3, 3, 1, 1, -2, false},
    {"conv2d_transpose filters=3 kernel_size=1", 3, 2, 4, 3, 1, 1, 1, 1, 1, 1, -1, true},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Output size and padding before, per axis, as Keras / PyTorch define them. */
static void conv_axis(int in, int k, int s, int d, int pad, int *out, int *before) {
    int span = (k - 1) * d + 1;
    if (pad == -2) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + span - in;
        *before = total > 0 ? total / 2 : 0;
    } else {
        int p = pad == -1 ? 0 : pad;
        *out = (in + 2 * p - span) / s + 1;
        *before = p;
    }
}

static void convt_axis(int in, int k, int s, int pad, int *out, int *before) {
    if (pad == -2) {
        *out = in * s;
        *before = k > s ? (k - s) / 2 : 0;
    } else {
        int p = pad == -1 ? 0 : pad;
        *out = (in - 1) * s + k - 2 * p;
        *before = p;
    }
}

static bool is_1d(const conv_case *c) {
    return strncmp(c->line, "conv1d", 6) == 0;
}

static bool is_transpose(const conv_case *c) {
    return strncmp(c->line, "conv2d_transpose", 16) == 0;
}

static dpt_shape in_shape(const conv_case *c) {
    return is_1d(c) ? dpt_shape_2d(c->W, c->C) : dpt_shape_3d(c->H, c->W, c->C);
}

/* A built layer with its own buffers for B samples, random parameters and input. */
typedef struct fixture {
    dpt_layer l;
    int B;
    size_t nin, nout; /* floats per sample */
    float *x, *y, *r, *dx;
} fixture;

static void fixture_make(fixture *f, const conv_case *c, int B, int index) {
    memset(f, 0, sizeof *f);
    dpt_layer_spec s = harness_spec(c->line);
    dpt_shape in = in_shape(c);
    char err[512] = "";
    if (harness_build_shape(&f->l, &s, &in, index, err, sizeof err)) fail_msg("%s", err);
    dpt_layer *l = &f->l;
    size_t off = 0;
    for (int t = 0; t < l->ntensors; t++) {
        l->tensors[t].offset = off;
        off += l->tensors[t].size;
    }
    l->nparams = off;
    DPT_ASSERT(off > 0); /* every case has weights (tells the analyzer params is not NULL) */
    l->params = dpt_alloc_floats(off);
    l->grads = dpt_alloc_floats(off);
    l->cache = dpt_alloc_floats(l->cache_fixed + (size_t)B * l->cache_per_sample);
    f->B = B;
    f->nin = dpt_shape_size(&in);
    f->nout = dpt_shape_size(&l->out_shape);
    f->x = dpt_alloc_floats((size_t)B * f->nin);
    f->dx = dpt_alloc_floats((size_t)B * f->nin);
    f->y = dpt_alloc_floats((size_t)B * f->nout);
    f->r = dpt_alloc_floats((size_t)B * f->nout);
    fill_uniform(l->params, off, -1.0f, 1.0f, 1);
    fill_uniform(f->x, (size_t)B * f->nin, -1.0f, 1.0f, 2);
    fill_uniform(f->r, (size_t)B * f->nout, -1.0f, 1.0f, 3);
}

static void fixture_free(fixture *f) {
    harness_free(&f->l);
    free(f->x);
    free(f->y);
    free(f->r);
    free(f->dx);
}

/* ---- forward against loops in double ---- */

/* y (B, Ho, Wo, F) of a convolution, W (F, kh, kw, C). */
static void ref_conv(const conv_case *c, int B, int Ho, int Wo, int pt, int pl, const float *x,
                     const float *W, const float *b, double *y) {
    for (int n = 0; n < B; n++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int f = 0; f < c->F; f++) {
                    double s = b ? (double)b[f] : 0.0;
                    for (int ki = 0; ki < c->kh; ki++)
                        for (int kj = 0; kj < c->kw; kj++) {
                            int ih = oh * c->sh - pt + ki * c->dh,
                                iw = ow * c->sw - pl + kj * c->dw;
                            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                            for (int ch = 0; ch < c->C; ch++)
                                s += (double)W[((f * c->kh + ki) * c->kw + kj) * c->C + ch] *
                                     (double)x[((n * c->H + ih) * c->W + iw) * c->C + ch];
                        }
                    y[((n * Ho + oh) * Wo + ow) * c->F + f] = s;
                }
}

/* y (B, Ho, Wo, F) of a transposed convolution, W (C, kh, kw, F): every input position spreads
 * its kernel over the output. */
static void ref_convt(const conv_case *c, int B, int Ho, int Wo, int pt, int pl, const float *x,
                      const float *W, const float *b, double *y) {
    for (int n = 0; n < B; n++)
        for (int o = 0; o < Ho * Wo; o++)
            for (int f = 0; f < c->F; f++) y[(n * Ho * Wo + o) * c->F + f] = b ? (double)b[f] : 0.0;
    for (int n = 0; n < B; n++)
        for (int ih = 0; ih < c->H; ih++)
            for (int iw = 0; iw < c->W; iw++)
                for (int ki = 0; ki < c->kh; ki++)
                    for (int kj = 0; kj < c->kw; kj++) {
                        int oh = ih * c->sh - pt + ki, ow = iw * c->sw - pl + kj;
                        if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                        for (int ch = 0; ch < c->C; ch++)
                            for (int f = 0; f < c->F; f++)
                                y[((n * Ho + oh) * Wo + ow) * c->F + f] +=
                                    (double)x[((n * c->H + ih) * c->W + iw) * c->C + ch] *
                                    (double)W[((ch * c->kh + ki) * c->kw + kj) * c->F + f];
                    }
}

static void check_forward(const conv_case *c) {
    enum { B = 3 };
    fixture f;
    fixture_make(&f, c, B, 1);
    int Ho, Wo, pt, pl;
    if (is_transpose(c)) {
        convt_axis(c->H, c->kh, c->sh, c->pad, &Ho, &pt);
        convt_axis(c->W, c->kw, c->sw, c->pad, &Wo, &pl);
    } else {
        conv_axis(c->H, c->kh, c->sh, c->dh, is_1d(c) ? 0 : c->pad, &Ho, &pt);
        conv_axis(c->W, c->kw, c->sw, c->dw, c->pad, &Wo, &pl);
    }
    dpt_shape want = is_1d(c) ? dpt_shape_2d(Wo, c->F) : dpt_shape_3d(Ho, Wo, c->F);
    char a[64], e[64];
    if (!dpt_shape_equal(&f.l.out_shape, &want))
        fail_msg("%s: output %s, expected %s", c->line, dpt_shape_str(&f.l.out_shape, a, sizeof a),
                 dpt_shape_str(&want, e, sizeof e));
    const float *W = f.l.params;
    float bias[16] = {0}; /* a copy, so that "no bias" is a NULL of its own */
    assert_true(c->F <= 16);
    if (c->bias) memcpy(bias, W + f.l.tensors[0].size, (size_t)c->F * sizeof *bias);
    assert_int_equal(f.l.ntensors, c->bias ? 2 : 1);
    double *ref = calloc((size_t)B * f.nout, sizeof *ref);
    assert_non_null(ref);
    (is_transpose(c) ? ref_convt : ref_conv)(c, B, Ho, Wo, pt, pl, f.x, W, c->bias ? bias : NULL,
                                             ref);
    f.l.type->forward(&f.l, f.x, f.y, B, NULL);
    /* Sums of at most 27 products of values in [-1, 1]: float32 rounding stays below ~1e-6. */
    for (size_t i = 0; i < (size_t)B * f.nout; i++) assert_close(f.y[i], ref[i], 1e-5, 1e-5);
    free(ref);
    fixture_free(&f);
}

static void test_conv2d_forward_matches_direct_loops(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONV2D); i++) check_forward(&CONV2D[i]);
}

static void test_conv1d_forward_matches_direct_loops(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONV1D); i++) check_forward(&CONV1D[i]);
}

static void test_conv2d_transpose_forward_matches_direct_loops(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONVT); i++) check_forward(&CONVT[i]);
}

/* ---- gradients against finite differences ----
 * Each layer is linear in x, in W and in b, so central differences have no truncation error and
 * the step can be large (h = 0.1): what remains is the float32 rounding of the outputs that a
 * perturbation changes (all B * Ho * Wo outputs of a filter for a weight, each off by ~1e-6),
 * ~1e-5 in the objective, ~1e-4 after dividing by 2h.  Bugs (a wrong tap, padding or stride)
 * are off by O(0.1). */
#define FD_H    0.1f
#define FD_RTOL 1e-3
#define FD_ATOL 1e-3

static double objective(fixture *f) {
    f->l.type->forward(&f->l, f->x, f->y, f->B, NULL);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)f->B * f->nout; i++) s += (double)f->r[i] * f->y[i];
    return s;
}

static double numeric(fixture *f, float *v) {
    float v0 = *v, up = v0 + FD_H, down = v0 - FD_H;
    *v = up;
    double fp = objective(f);
    *v = down;
    double fm = objective(f);
    *v = v0;
    return (fp - fm) / ((double)up - (double)down);
}

static void check_gradients(const conv_case *c) {
    enum { B = 2 };
    fixture f;
    fixture_make(&f, c, B, 1);
    const float g0 = 0.5f; /* backward adds to the parameter gradients */
    for (size_t k = 0; k < f.l.nparams; k++) f.l.grads[k] = g0;
    for (size_t k = 0; k < (size_t)B * f.nin; k++) f.dx[k] = NAN; /* and overwrites dx */
    objective(&f);
    f.l.type->backward(&f.l, f.x, f.y, f.r, f.dx, B, NULL);
    for (size_t k = 0; k < f.l.nparams; k++)
        assert_close((double)f.l.grads[k] - g0, numeric(&f, &f.l.params[k]), FD_RTOL, FD_ATOL);
    for (size_t k = 0; k < (size_t)B * f.nin; k++)
        assert_close(f.dx[k], numeric(&f, &f.x[k]), FD_RTOL, FD_ATOL);
    fixture_free(&f);
}

static void test_conv2d_gradients_match_finite_differences(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONV2D); i++) check_gradients(&CONV2D[i]);
}

static void test_conv1d_gradients_match_finite_differences(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONV1D); i++) check_gradients(&CONV1D[i]);
}

static void test_conv2d_transpose_gradients_match_finite_differences(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONVT); i++) check_gradients(&CONVT[i]);
}

/* The packed kernels' path for CPUs without AVX-512, on any CPU. */
static void test_conv_layers_are_right_without_avx512_too(void **state) {
    (void)state;
    dpt_packed_allow_avx512(false);
    check_forward(&CONV2D[1]);
    check_gradients(&CONV2D[2]);
    check_forward(&CONV1D[0]);
    check_gradients(&CONVT[1]);
    check_forward(&CONVT[3]);
    dpt_packed_allow_avx512(true);
}

/* ---- independence of the batch and of the thread count ---- */

/* Sample 0 alone and inside a batch of 9: the same bits forward and in dx. */
static void check_batch_independence(const conv_case *c) {
    enum { B = 9 };
    fixture f;
    fixture_make(&f, c, B, 1);
    float *y1 = dpt_alloc_floats(f.nout), *dx1 = dpt_alloc_floats(f.nin);
    f.l.type->forward(&f.l, f.x, y1, 1, NULL);
    f.l.type->backward(&f.l, f.x, y1, f.r, dx1, 1, NULL);
    f.l.type->forward(&f.l, f.x, f.y, B, NULL);
    f.l.type->backward(&f.l, f.x, f.y, f.r, f.dx, B, NULL);
    assert_memory_equal(y1, f.y, f.nout * sizeof(float));
    assert_memory_equal(dx1, f.dx, f.nin * sizeof(float));
    free(y1);
    free(dx1);
    fixture_free(&f);
}

static void test_a_samples_results_do_not_depend_on_the_rest_of_the_batch(void **state) {
    (void)state;
    for (size_t i = 0; i < N_OF(CONV2D); i++) check_batch_independence(&CONV2D[i]);
    for (size_t i = 0; i < N_OF(CONV1D); i++) check_batch_independence(&CONV1D[i]);
    for (size_t i = 0; i < N_OF(CONVT); i++) check_batch_independence(&CONVT[i]);
}

/* Large enough for the OpenMP loops of im2col / col2im / bias to run in parallel. */
static void test_results_do_not_depend_on_the_thread_count(void **state) {
    (void)state;
    const conv_case big[] = {
        {"conv2d filters=8 kernel_size=3 padding=same", 12, 12, 8, 8, 3, 3, 1, 1, 1, 1, -2, true},
        {"conv2d_transpose filters=8 kernel_size=3 strides=2 padding=same", 8, 8, 8, 8, 3, 3, 2, 2,
         1, 1, -2, true}};
    enum { B = 16 };
    for (size_t i = 0; i < N_OF(big); i++) {
        fixture f;
        fixture_make(&f, &big[i], B, 1);
        size_t ny = (size_t)B * f.nout, nx = (size_t)B * f.nin;
        float *y1 = dpt_alloc_floats(ny), *dx1 = dpt_alloc_floats(nx);
        float *g1 = dpt_alloc_floats(f.l.nparams);
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        f.l.type->forward(&f.l, f.x, y1, B, NULL);
        f.l.type->backward(&f.l, f.x, y1, f.r, dx1, B, NULL);
        memcpy(g1, f.l.grads, f.l.nparams * sizeof(float));
        memset(f.l.grads, 0, f.l.nparams * sizeof(float));
        omp_set_num_threads(4);
        f.l.type->forward(&f.l, f.x, f.y, B, NULL);
        f.l.type->backward(&f.l, f.x, f.y, f.r, f.dx, B, NULL);
        omp_set_num_threads(threads);
        assert_memory_equal(y1, f.y, ny * sizeof(float));
        assert_memory_equal(dx1, f.dx, nx * sizeof(float));
        /* the weight and bias gradients' chunks of rows are fixed, whatever the threads */
        assert_memory_equal(g1, f.l.grads, f.l.nparams * sizeof(float));
        free(y1);
        free(dx1);
        free(g1);
        fixture_free(&f);
    }
}

/* ---- build: layouts, products, messages ---- */

static int build_err(const char *line, dpt_shape in, char *err, size_t n) {
    dpt_layer l;
    dpt_layer_spec s = harness_spec(line);
    return harness_build_shape(&l, &s, &in, 1, err, n);
}

static void expect_build_error(const char *line, dpt_shape in, const char *msg) {
    char err[512] = "";
    assert_int_equal(build_err(line, in, err, sizeof err), -1);
    assert_string_equal(err, msg);
}

static void test_conv_refuses_inputs_it_cannot_take_and_names_the_shapes(void **state) {
    (void)state;
    expect_build_error("conv2d filters=4 kernel_size=3", dpt_shape_1d(784),
                       "conv2d needs (H, W, C) input, got (784) float32: store X as (N, H, W, C) "
                       "or put a reshape layer before it");
    expect_build_error("conv2d filters=4 kernel_size=3", dpt_shape_2d(28, 28),
                       "conv2d needs (H, W, C) input, got (28, 28) float32: store X as "
                       "(N, H, W, C) or put a reshape layer before it");
    expect_build_error("conv1d filters=4 kernel_size=3", dpt_shape_3d(28, 28, 1),
                       "conv1d needs (T, F) input, got (28, 28, 1) float32: store X as (N, T, F) "
                       "or put a reshape layer before it");
    expect_build_error("conv2d_transpose filters=4 kernel_size=3", dpt_shape_1d(10),
                       "conv2d_transpose needs (H, W, C) input, got (10) float32: store X as "
                       "(N, H, W, C) or put a reshape layer before it");
    expect_build_error("conv2d filters=4 kernel_size=5", dpt_shape_3d(4, 4, 3),
                       "conv2d needs a kernel that fits the padded input, got (4, 4, 3) float32: "
                       "kernel 5x5 is larger than the input 4x4 padded by 0x0");
    expect_build_error("conv2d filters=4 kernel_size=[3,7] padding=1", dpt_shape_3d(4, 4, 3),
                       "conv2d needs a kernel that fits the padded input, got (4, 4, 3) float32: "
                       "kernel 3x7 is larger than the input 4x4 padded by 1x1");
    expect_build_error("conv1d filters=2 kernel_size=3 dilation_rate=3", dpt_shape_2d(6, 2),
                       "conv1d needs a kernel that fits the padded input, got (6, 2) float32: "
                       "kernel 3 (dilated: 7) is larger than the input 6 padded by 0");
    expect_build_error("conv2d_transpose filters=2 kernel_size=3 padding=2", dpt_shape_3d(1, 1, 2),
                       "conv2d_transpose needs an output of at least 1x1, got (1, 1, 2) float32: "
                       "kernel 3x3, strides 1x1 and padding 2x2 leave -1x-1");
    expect_build_error("conv2d filters=4", dpt_shape_3d(4, 4, 3),
                       "kernel_size is required (an integer >= 1 or a list of 2)");
    expect_build_error("conv1d filters=4", dpt_shape_2d(4, 3),
                       "kernel_size is required (an integer >= 1)");
}

static void expect_key_error(const char *line, const char *msg) {
    dpt_layer_spec s;
    char err[512] = "";
    assert_int_equal(dpt_layer_spec_parse(&s, line, err, sizeof err), -1);
    assert_string_equal(err, msg);
}

static void test_conv_keys_take_pairs_names_and_refuse_bad_values(void **state) {
    (void)state;
    dpt_layer_spec s = harness_spec("conv2d filters=8 kernel_size=[3,5] strides=2 padding=same");
    assert_string_equal(harness_value(&s, "kernel_size"), "[3, 5]");
    assert_string_equal(harness_value(&s, "strides"), "2");
    assert_string_equal(harness_value(&s, "padding"), "same");
    assert_string_equal(harness_value(&s, "dilation_rate"), "1");
    s = harness_spec("conv1d filters=8 kernel_size=5");
    assert_string_equal(harness_value(&s, "kernel_size"), "5");
    assert_string_equal(harness_value(&s, "padding"), "valid");
    expect_key_error("conv2d filters=0", "filters: expected an integer >= 1, got '0'");
    expect_key_error("conv2d kernel_size=[3,3,3]",
                     "kernel_size: expected an integer >= 1 or a list of 2, got '[3,3,3]'");
    expect_key_error("conv2d padding=full", "padding: expected an integer >= 0 or a list of 2, "
                                            "or one of: valid, same; got 'full'");
    expect_key_error("conv1d kernel_size=[3,3]",
                     "kernel_size: expected an integer >= 1, got '[3,3]'");
    expect_key_error("conv1d padding=causal",
                     "padding: expected valid, same or an integer >= 0, got 'causal'");
}

static void test_weights_have_the_documented_layouts_and_products(void **state) {
    (void)state;
    dpt_layer l;
    dpt_layer_spec s = harness_spec("conv2d filters=8 kernel_size=[3,5] padding=same");
    dpt_shape in = dpt_shape_3d(10, 12, 4);
    assert_int_equal(harness_build_shape(&l, &s, &in, 1, NULL, 0), 0);
    assert_int_equal(l.tensors[0].ndim, 4);
    int wdim[4] = {8, 3, 5, 4};
    assert_memory_equal(l.tensors[0].dim, wdim, sizeof wdim);
    assert_string_equal(l.tensors[0].name, "W");
    assert_string_equal(l.tensors[1].name, "b");
    dpt_gemm_shape g[DPT_LAYER_GEMMS_MAX];
    assert_int_equal(l.type->gemms(&l, 2, g), 3);
    int rows = 2 * 10 * 12, KK = 3 * 5 * 4;
    assert_true(!g[0].ta && g[0].tb && g[0].M == rows && g[0].N == 8 && g[0].K == KK);
    assert_true(g[1].ta && !g[1].tb && g[1].M == KK && g[1].N == 8 && g[1].K == rows);
    assert_true(!g[2].ta && !g[2].tb && g[2].M == rows && g[2].N == KK && g[2].K == 8);

    s = harness_spec("conv1d filters=6 kernel_size=3");
    in = dpt_shape_2d(20, 5);
    assert_int_equal(harness_build_shape(&l, &s, &in, 0, NULL, 0), 0);
    assert_int_equal(l.tensors[0].ndim, 3);
    int w1[3] = {6, 3, 5};
    assert_memory_equal(l.tensors[0].dim, w1, sizeof w1);
    assert_int_equal(l.type->gemms(&l, 2, g), 2); /* the first layer computes no dx */

    s = harness_spec("conv2d_transpose filters=6 kernel_size=3 strides=2 padding=same");
    in = dpt_shape_3d(7, 7, 16);
    assert_int_equal(harness_build_shape(&l, &s, &in, 1, NULL, 0), 0);
    int wt[4] = {16, 3, 3, 6};
    assert_memory_equal(l.tensors[0].dim, wt, sizeof wt);
    dpt_shape out = dpt_shape_3d(14, 14, 6);
    assert_true(dpt_shape_equal(&l.out_shape, &out));
    assert_int_equal(l.type->gemms(&l, 2, g), 3);
    assert_true(!g[0].ta && !g[0].tb && g[0].M == 2 * 49 && g[0].N == 54 && g[0].K == 16);
}

/* ---- a small CNN through the model ---- */

static double model_loss(dpt_model *m, const float *x, const int32_t *lab, int B) {
    const float *out = dpt_model_forward(m, x, B, NULL);
    dpt_target t = {.labels = lab};
    return dpt_loss_find("softmax_ce")->eval(out, t, B, m->out_features, NULL);
}

static void test_cnn_model_gradients_match_finite_differences(void **state) {
    (void)state;
    dpt_layer_spec specs[3] = {
        harness_spec("conv2d filters=3 kernel_size=3 padding=same activation=tanh"),
        harness_spec("conv2d filters=4 kernel_size=5 strides=2 activation=sigmoid"),
        harness_spec("dense units=3")};
    enum { B = 3, H = 6, W = 6, C = 2 };
    dpt_model m;
    char err[512];
    dpt_shape in = dpt_shape_3d(H, W, C);
    if (dpt_model_build(&m, specs, 3, &in, 4, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(m.nlayers, 5);
    /* (6, 6, 2) -> (6, 6, 3) -> (1, 1, 4) -> dense on the last axis: (1, 1, 3) */
    dpt_shape mid = dpt_shape_3d(1, 1, 4);
    assert_true(dpt_shape_equal(&m.layers[2].out_shape, &mid));
    assert_int_equal(m.out_features * m.out_steps, 3);
    dpt_model_init_params(&m, 3);
    float x[B * H * W * C]; /* (B, H, W, C) */
    fill_uniform(x, B * H * W * C, -1.5f, 1.5f, 60);
    int32_t lab[B] = {0, 2, 1};
    const float *out = dpt_model_forward(&m, x, B, NULL);
    float dout[B * 3]; /* (B, K) */
    dpt_target t = {.labels = lab};
    dpt_loss_find("softmax_ce")->eval(out, t, B, 3, dout);
    dpt_model_zero_grads(&m);
    dpt_model_backward(&m, dout, B);
    /* tests/core/test_gradcheck.c's model tolerance: h = 1e-2 on smooth activations. */
    for (size_t k = 0; k < m.nparams; k++) {
        float w0 = m.params[k], up = w0 + 1e-2f, down = w0 - 1e-2f;
        m.params[k] = up;
        double fp = model_loss(&m, x, lab, B);
        m.params[k] = down;
        double fm = model_loss(&m, x, lab, B);
        m.params[k] = w0;
        assert_close(m.grads[k], (fp - fm) / ((double)up - (double)down), 1e-2, 1e-3);
    }
    dpt_model_free(&m);
}

static void test_model_messages_name_the_conv_layer(void **state) {
    (void)state;
    dpt_layer_spec specs[2] = {harness_spec("dense units=8"),
                               harness_spec("conv2d filters=2 kernel_size=3")};
    specs[1].line = 12;
    dpt_model m;
    char err[512];
    dpt_shape in = dpt_shape_1d(784);
    assert_int_equal(dpt_model_build(&m, specs, 2, &in, 4, err, sizeof err), -1);
    assert_string_equal(err, "layer 1 (conv2d, line 12): conv2d needs (H, W, C) input, got (8) "
                             "float32: store X as (N, H, W, C) or put a reshape layer before it");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_forward_matches_direct_loops),
        cmocka_unit_test(test_conv1d_forward_matches_direct_loops),
        cmocka_unit_test(test_conv2d_transpose_forward_matches_direct_loops),
        cmocka_unit_test(test_conv2d_gradients_match_finite_differences),
        cmocka_unit_test(test_conv1d_gradients_match_finite_differences),
        cmocka_unit_test(test_conv2d_transpose_gradients_match_finite_differences),
        cmocka_unit_test(test_conv_layers_are_right_without_avx512_too),
        cmocka_unit_test(test_a_samples_results_do_not_depend_on_the_rest_of_the_batch),
        cmocka_unit_test(test_results_do_not_depend_on_the_thread_count),
        cmocka_unit_test(test_conv_refuses_inputs_it_cannot_take_and_names_the_shapes),
        cmocka_unit_test(test_conv_keys_take_pairs_names_and_refuse_bad_values),
        cmocka_unit_test(test_weights_have_the_documented_layouts_and_products),
        cmocka_unit_test(test_cnn_model_gradients_match_finite_differences),
        cmocka_unit_test(test_model_messages_name_the_conv_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
