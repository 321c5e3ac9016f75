/* The attention layer (core/layer_attention.c): shapes and the messages of build, values on
 * hand-computed cases (dot, scaled_dot, general, padded keys, causal), every input's and W's
 * gradient against finite differences, masked keys with exactly zero weight and gradient, and
 * the same bits for any thread count. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* Finite differences: h = 1e-2 on inputs in [-1, 1] with at most 4 features, so scores stay
 * within +-4.  One perturbed value changes one sample's whole output, at most Tq Dv = 12 float32
 * values of magnitude <= 1, each off by a few ulp (~1e-7 each after the softmax and a <= 5-term
 * product), ~2e-6 in the objective, ~1e-4 over a step of 2e-2; the truncation error h^2 f'''/6
 * of the softmax-weighted sum is ~2e-5 times third derivatives of O(10) at most here.  So
 * |num - ana| <= 1e-3 + 1e-2 |num| (tests/core/test_gradcheck.c's tolerances) holds with a
 * margin, while a missing scale, transposed product or unmasked key is off by O(0.1). */
#define H_STEP 1e-2f
#define RTOL   1e-2
#define ATOL   1e-3
/* Hand-computed values: a softmax of 2 or 3 terms and a product with <= 3 terms, each a few
 * ulp of values <= 12: 1e-5 absolute. */
#define VALUE_TOL 1e-5

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

static dpt_layer built(const char *line, const dpt_shape *in, int n) {
    dpt_layer l;
    char err[512] = "";
    dpt_layer_spec s = harness_spec(line);
    if (harness_build_n(&l, &s, in, n, 1, err, sizeof err)) fail_msg("%s: %s", line, err);
    return l;
}

static void test_attention_output_is_query_steps_by_value_features(void **state) {
    (void)state;
    dpt_shape qv[] = {dpt_shape_2d(5, 8), dpt_shape_2d(7, 8)};
    dpt_layer l = built("attention", qv, 2);
    assert_string_equal(out_text(&l), "(5, 8) float32");
    assert_int_equal(l.ntensors, 0);
    assert_int_equal(l.cache_per_sample, 2 * 5 * 7); /* weights and backward's dA */
    assert_string_equal(harness_value(&l.spec, "score"), "dot");
    assert_string_equal(harness_value(&l.spec, "causal"), "false");
    dpt_shape qvk[] = {dpt_shape_2d(5, 4), dpt_shape_2d(7, 3), dpt_shape_2d(7, 4)};
    l = built("attention score=scaled_dot", qvk, 3);
    assert_string_equal(out_text(&l), "(5, 3) float32");
    /* general: W (Dq, Dk) maps the key's features to the query's, which may differ */
    dpt_shape gen[] = {dpt_shape_2d(5, 6), dpt_shape_2d(7, 3), dpt_shape_2d(7, 4)};
    l = built("attention score=general", gen, 3);
    assert_string_equal(out_text(&l), "(5, 3) float32");
    assert_int_equal(l.ntensors, 1);
    assert_string_equal(l.tensors[0].name, "W");
    assert_int_equal(l.tensors[0].ndim, 2);
    assert_int_equal(l.tensors[0].dim[0], 6);
    assert_int_equal(l.tensors[0].dim[1], 4);
    assert_true(l.tensors[0].decay);
    assert_int_equal(l.cache_per_sample, 2 * 5 * 7 + 2 * 5 * 4);
    /* one query step as a vector: the output is a vector too */
    dpt_shape one[] = {dpt_shape_1d(8), dpt_shape_2d(7, 3), dpt_shape_2d(7, 8)};
    l = built("attention", one, 3);
    assert_string_equal(out_text(&l), "(3) float32");
    dpt_shape self[] = {dpt_shape_2d(6, 4), dpt_shape_2d(6, 4)};
    l = built("attention causal=true score=scaled_dot", self, 2);
    assert_string_equal(out_text(&l), "(6, 4) float32");
}

static void test_attention_refuses_counts_shapes_and_names_it_cannot_take(void **state) {
    (void)state;
    dpt_shape in[] = {dpt_shape_2d(5, 8), dpt_shape_2d(7, 8), dpt_shape_2d(7, 8),
                      dpt_shape_2d(7, 8)};
    expect_error("attention", in, 1, "attention takes 2 to 3 inputs, got 1");
    expect_error("attention", in, 4, "attention takes 2 to 3 inputs, got 4");
    dpt_shape len[] = {dpt_shape_2d(5, 8), dpt_shape_2d(7, 3), dpt_shape_2d(6, 8)};
    expect_error("attention", len, 3,
                 "attention needs key and value of one length, got (6, 8) and (7, 3)");
    dpt_shape feat[] = {dpt_shape_2d(5, 4), dpt_shape_2d(7, 8)};
    expect_error("attention", feat, 2,
                 "attention score dot needs query and key of one feature size, got (5, 4) and "
                 "(7, 8) (score general takes any)");
    expect_error("attention score=scaled_dot", feat, 2,
                 "attention score scaled_dot needs query and key of one feature size, got (5, 4) "
                 "and (7, 8) (score general takes any)");
    expect_error("attention causal=true", in, 2,
                 "attention causal: true needs as many query steps as key steps, got (5, 8) and "
                 "(7, 8)");
    dpt_shape img[] = {dpt_shape_2d(5, 8), dpt_shape_3d(3, 4, 8)};
    expect_error("attention", img, 2, "attention needs (T, F) inputs, got (3, 4, 8) for the value");
    dpt_shape ids[] = {dpt_shape_2d(5, 8), dpt_shape_2d(7, 8)};
    ids[1].dtype = DPT_I32;
    expect_error("attention", ids, 2,
                 "attention reads float32 input, got int32 token ids (its second or later "
                 "input): put an embedding layer before it");
    dpt_layer_spec s;
    char err[256];
    assert_int_equal(dpt_layer_spec_parse(&s, "attention score=additive", err, sizeof err), -1);
    assert_string_equal(err, "score: expected one of: dot, scaled_dot, general; got 'additive'");
}

/* A layer of `line` on inputs in (n) with buffers for B samples, W set to w when given. */
static void make(dpt_layer *l, const char *line, const dpt_shape *in, int n, int B,
                 const float *w) {
    dpt_layer_spec s = harness_spec(line);
    harness_make_n(l, &s, in, n, 1, B);
    if (w) memcpy(l->params, w, l->nparams * sizeof *w);
}

static void forward(dpt_layer *l, float *const *x, const int32_t *const *lengths, float *y, int B) {
    dpt_layer_io io = harness_io(l, x, lengths);
    dpt_step_ctx ctx = {.lengths = io.lengths[0]};
    l->type->forward_n(l, &io, y, B, &ctx);
}

/* Query rows e0, e1; keys (0, 0), (ln 2, 0), (0, ln 4): scores [0, ln 2, 0] and [0, 0, ln 4],
 * weights [1, 2, 1] / 4 and [1, 1, 4] / 6; values 4, 8, 12 give 8 and 10.  With only 2 valid
 * keys: [1, 2] / 3 and [1, 1] / 2, giving 20/3 and 6. */
static void test_attention_weights_values_by_the_softmax_of_the_scores(void **state) {
    (void)state;
    float q[] = {1, 0, 0, 1}, k[] = {0, 0, logf(2.0f), 0, 0, logf(4.0f)}, v[] = {4, 8, 12};
    float *x[] = {q, v, k}, y[2];
    dpt_shape in[] = {dpt_shape_2d(2, 2), dpt_shape_2d(3, 1), dpt_shape_2d(3, 2)};
    dpt_layer l;
    make(&l, "attention", in, 3, 1, NULL);
    forward(&l, x, NULL, y, 1);
    assert_near(y[0], 8.0, VALUE_TOL);
    assert_near(y[1], 10.0, VALUE_TOL);
    int32_t two[] = {2};
    const int32_t *lengths[] = {NULL, two, NULL};
    forward(&l, x, lengths, y, 1);
    assert_near(y[0], 20.0 / 3.0, VALUE_TOL);
    assert_near(y[1], 6.0, VALUE_TOL);
    /* the cached weights (Tq, Tv): exactly zero for the padded key */
    assert_near(l.cache[0], 1.0 / 3.0, 1e-7);
    assert_true(l.cache[2] == 0.0f && l.cache[5] == 0.0f);
    harness_free(&l);
    /* general with W = I is dot, bit for bit (Q I is exactly Q) */
    float w[] = {1, 0, 0, 1}, yg[2];
    make(&l, "attention score=general", in, 3, 1, w);
    forward(&l, x, lengths, yg, 1);
    assert_memory_equal(y, yg, sizeof y);
    harness_free(&l);
    /* scaled_dot divides by sqrt(4) = 2: q = (2 ln 3, 0, 0, 0) against keys 0 and e0 gives
     * scores [0, ln 3], weights [1, 3] / 4, and values 4, 8 give 7 */
    float qs[] = {2.0f * logf(3.0f), 0, 0, 0}, ks[] = {0, 0, 0, 0, 1, 0, 0, 0}, vs[] = {4, 8};
    float *xs[] = {qs, vs, ks};
    dpt_shape ins[] = {dpt_shape_1d(4), dpt_shape_2d(2, 1), dpt_shape_2d(2, 4)};
    make(&l, "attention score=scaled_dot", ins, 3, 1, NULL);
    forward(&l, xs, NULL, y, 1);
    assert_near(y[0], 7.0, VALUE_TOL);
    harness_free(&l);
}

/* causal: step i averages values 0..i by its scores; step 0 sees only value 0, exactly. */
static void test_causal_attention_sees_only_earlier_steps(void **state) {
    (void)state;
    enum { T = 3 };
    /* queries and keys all zero: equal scores, so step i is the mean of values 0..i */
    float qk[T * 2] = {0}, v[T] = {3, 5, 10}, y[T];
    float *x[] = {qk, v, qk};
    dpt_shape in[] = {dpt_shape_2d(T, 2), dpt_shape_2d(T, 1), dpt_shape_2d(T, 2)};
    dpt_layer l;
    make(&l, "attention causal=true", in, 3, 1, NULL);
    forward(&l, x, NULL, y, 1);
    assert_true(y[0] == 3.0f);
    assert_near(y[1], 4.0, VALUE_TOL);
    assert_near(y[2], 6.0, VALUE_TOL);
    /* with the value padded to 2 steps, step 2 sees keys 0 and 1 only */
    int32_t two[] = {2};
    const int32_t *lengths[] = {NULL, two, NULL};
    forward(&l, x, lengths, y, 1);
    assert_near(y[2], 4.0, VALUE_TOL);
    harness_free(&l);
}

/* Inputs (B samples) of the shapes in (n), filled in [-1, 1]. */
static void fill_inputs(float **x, const dpt_shape *in, int n, int B) {
    for (int k = 0; k < n; k++) {
        size_t m = dpt_shape_size(&in[k]) * (size_t)B;
        x[k] = dpt_alloc_floats(m);
        fill_uniform(x[k], m, -1.0f, 1.0f, (uint64_t)k + 1);
    }
}

/* Finite differences of every input (and W) of `line` on shapes in (n), B samples. */
static void check_gradients(const char *line, const dpt_shape *in, int n, int B,
                            const int32_t *const *lengths) {
    dpt_layer l;
    make(&l, line, in, n, B, NULL);
    fill_uniform(l.params, l.nparams, -1.0f, 1.0f, 50);
    float *x[3];
    fill_inputs(x, in, n, B);
    size_t out_n = dpt_shape_size(&l.out_shape) * (size_t)B;
    float *r = dpt_alloc_floats(out_n);
    fill_uniform(r, out_n, -1.0f, 1.0f, 99);
    harness_check_dx_n(&l, x, lengths, r, B, H_STEP, RTOL, ATOL);
    if (l.nparams) harness_check_dparams_n(&l, x, lengths, r, B, H_STEP, RTOL, ATOL);
    for (int k = 0; k < n; k++) free(x[k]);
    free(r);
    harness_free(&l);
}

static void test_attention_gradients_match_finite_differences(void **state) {
    (void)state;
    enum { B = 3 };
    dpt_shape qv[] = {dpt_shape_2d(4, 3), dpt_shape_2d(5, 3)};
    check_gradients("attention", qv, 2, B, NULL); /* dV carries the key's gradient too */
    check_gradients("attention score=scaled_dot", qv, 2, B, NULL);
    dpt_shape qvk[] = {dpt_shape_2d(4, 3), dpt_shape_2d(5, 2), dpt_shape_2d(5, 3)};
    check_gradients("attention score=scaled_dot", qvk, 3, B, NULL);
    dpt_shape gen[] = {dpt_shape_2d(4, 2), dpt_shape_2d(5, 2), dpt_shape_2d(5, 3)};
    check_gradients("attention score=general", gen, 3, B, NULL);
    dpt_shape gen2[] = {dpt_shape_2d(3, 4), dpt_shape_2d(5, 3)};
    check_gradients("attention score=general", gen2, 2, B, NULL);
    dpt_shape one[] = {dpt_shape_1d(3), dpt_shape_2d(5, 2), dpt_shape_2d(5, 3)};
    check_gradients("attention", one, 3, B, NULL);
    /* padded keys: value lengths 5, 2, 1; the query's lengths change nothing */
    int32_t vlen[B] = {5, 2, 1}, qlen[B] = {4, 1, 3};
    const int32_t *lengths[] = {qlen, vlen, vlen};
    check_gradients("attention", qv, 2, B, lengths);
    check_gradients("attention score=general", gen, 3, B, lengths);
    /* causal self-attention, with and without padding */
    dpt_shape self[] = {dpt_shape_2d(5, 3), dpt_shape_2d(5, 3)};
    check_gradients("attention causal=true", self, 2, B, NULL);
    check_gradients("attention causal=true score=scaled_dot", self, 2, B, lengths);
    dpt_shape self3[] = {dpt_shape_2d(5, 2), dpt_shape_2d(5, 3), dpt_shape_2d(5, 4)};
    check_gradients("attention causal=true score=general", self3, 3, B, lengths);
}

/* Keys past the value's length: exactly zero weight, exactly zero gradient of key and value,
 * and the output does not depend on what they hold (bit for bit). */
static void test_padded_keys_get_zero_weight_and_zero_gradient(void **state) {
    (void)state;
    enum { B = 2, TQ = 3, TV = 4, D = 2, DV = 3, L0 = 2, L1 = 3 };
    dpt_shape in[] = {dpt_shape_2d(TQ, D), dpt_shape_2d(TV, DV), dpt_shape_2d(TV, D)};
    int32_t len[B] = {L0, L1};
    const int32_t *lengths[] = {NULL, len, NULL};
    const char *lines[] = {"attention", "attention score=general", "attention score=scaled_dot"};
    for (size_t t = 0; t < sizeof lines / sizeof lines[0]; t++)
        for (int n = 2; n <= 3; n++) {
            dpt_shape *shapes = in;
            dpt_shape two[] = {dpt_shape_2d(TQ, D), dpt_shape_2d(TV, D)};
            if (n == 2) shapes = two;
            dpt_layer l;
            make(&l, lines[t], shapes, n, B, NULL);
            fill_uniform(l.params, l.nparams, -1.0f, 1.0f, 5);
            float *x[3], y[B * TQ * DV], y2[B * TQ * DV], dy[B * TQ * DV];
            fill_inputs(x, shapes, n, B);
            fill_uniform(dy, B * TQ * DV, -1.0f, 1.0f, 6);
            forward(&l, x, lengths, y, B);
            for (int b = 0; b < B; b++)
                for (int i = 0; i < TQ; i++)
                    for (int j = len[b]; j < TV; j++)
                        assert_true(l.cache[((size_t)b * TQ + i) * TV + j] == 0.0f);
            dpt_layer_io io = harness_io(&l, x, lengths);
            float *dx[3];
            for (int k = 0; k < n; k++) {
                size_t m = dpt_shape_size(&shapes[k]) * B;
                io.dx[k] = dx[k] = dpt_alloc_floats(m);
                for (size_t i = 0; i < m; i++) dx[k][i] = NAN;
            }
            l.type->backward_n(&l, &io, y, dy, B, NULL);
            for (int k = 1; k < n; k++) {
                int F = dpt_shape_last(&shapes[k]);
                for (int b = 0; b < B; b++)
                    for (int j = 0; j < TV; j++)
                        for (int f = 0; f < F; f++) {
                            float g = dx[k][((size_t)b * TV + j) * F + f];
                            if (j >= len[b])
                                assert_true(g == 0.0f);
                            else
                                assert_true(isfinite(g));
                        }
                /* padded steps of key and value hold anything: y is the same */
                for (int b = 0; b < B; b++)
                    for (int j = len[b]; j < TV; j++)
                        for (int f = 0; f < F; f++) x[k][((size_t)b * TV + j) * F + f] = 1e3f;
            }
            forward(&l, x, lengths, y2, B);
            assert_memory_equal(y, y2, dpt_shape_size(&l.out_shape) * B * sizeof *y);
            for (int k = 0; k < n; k++) free(x[k]), free(dx[k]);
            harness_free(&l);
        }
}

/* Gradients nobody wants are not written; general still adds dW without dQ. */
static void test_attention_writes_only_the_wanted_gradients(void **state) {
    (void)state;
    enum { B = 2 };
    dpt_shape in[] = {dpt_shape_2d(3, 2), dpt_shape_2d(4, 3), dpt_shape_2d(4, 2)};
    dpt_layer l;
    make(&l, "attention score=general", in, 3, B, NULL);
    fill_uniform(l.params, l.nparams, -1.0f, 1.0f, 5);
    float *x[3], y[B * 3 * 3], dy[B * 3 * 3], dk[B * 4 * 2];
    fill_inputs(x, in, 3, B);
    fill_uniform(dy, B * 3 * 3, -1.0f, 1.0f, 6);
    forward(&l, x, NULL, y, B);
    dpt_layer_io io = harness_io(&l, x, NULL);
    io.dx[2] = dk;
    memset(l.grads, 0, l.nparams * sizeof *l.grads);
    l.type->backward_n(&l, &io, y, dy, B, NULL);
    for (size_t i = 0; i < l.nparams; i++) assert_true(l.grads[i] != 0.0f);
    /* backward adds into dW: a second call doubles it */
    float once = l.grads[0];
    l.type->backward_n(&l, &io, y, dy, B, NULL);
    assert_true(l.grads[0] == 2.0f * once);
    for (int k = 0; k < 3; k++) free(x[k]);
    harness_free(&l);
}

/* Enough samples for the OpenMP split: 1 and 4 threads give the same bits. */
static void test_attention_gives_the_same_bits_for_any_thread_count(void **state) {
    (void)state;
    enum { B = 32, TQ = 12, TV = 15, D = 16 };
    const char *lines[] = {"attention score=scaled_dot", "attention score=general causal=false"};
    dpt_shape in[] = {dpt_shape_2d(TQ, D), dpt_shape_2d(TV, D)};
    int32_t len[B];
    for (int b = 0; b < B; b++) len[b] = 1 + b % TV;
    const int32_t *lengths[] = {NULL, len};
    int threads = omp_get_max_threads();
    for (size_t t = 0; t < 2; t++) {
        dpt_layer l;
        make(&l, lines[t], in, 2, B, NULL);
        fill_uniform(l.params, l.nparams, -0.5f, 0.5f, 5);
        float *x[2], *y[2], *dq[2], *dv[2], *dw[2];
        fill_inputs(x, in, 2, B);
        size_t ny = (size_t)B * TQ * D, nv = (size_t)B * TV * D;
        float *dy = dpt_alloc_floats(ny);
        fill_uniform(dy, ny, -1.0f, 1.0f, 6);
        for (int run = 0; run < 2; run++) {
            omp_set_num_threads(run == 0 ? 1 : 4);
            y[run] = dpt_alloc_floats(ny), dq[run] = dpt_alloc_floats(ny);
            dv[run] = dpt_alloc_floats(nv), dw[run] = dpt_alloc_floats(l.nparams + 1);
            memset(l.grads, 0, l.nparams * sizeof *l.grads);
            forward(&l, x, lengths, y[run], B);
            dpt_layer_io io = harness_io(&l, x, lengths);
            io.dx[0] = dq[run], io.dx[1] = dv[run];
            l.type->backward_n(&l, &io, y[run], dy, B, NULL);
            memcpy(dw[run], l.grads, l.nparams * sizeof *l.grads);
        }
        omp_set_num_threads(threads);
        assert_memory_equal(y[0], y[1], ny * sizeof(float));
        assert_memory_equal(dq[0], dq[1], ny * sizeof(float));
        assert_memory_equal(dv[0], dv[1], nv * sizeof(float));
        assert_memory_equal(dw[0], dw[1], l.nparams * sizeof(float));
        for (int run = 0; run < 2; run++) free(y[run]), free(dq[run]), free(dv[run]), free(dw[run]);
        free(x[0]), free(x[1]), free(dy);
        harness_free(&l);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_output_is_query_steps_by_value_features),
        cmocka_unit_test(test_attention_refuses_counts_shapes_and_names_it_cannot_take),
        cmocka_unit_test(test_attention_weights_values_by_the_softmax_of_the_scores),
        cmocka_unit_test(test_causal_attention_sees_only_earlier_steps),
        cmocka_unit_test(test_attention_gradients_match_finite_differences),
        cmocka_unit_test(test_padded_keys_get_zero_weight_and_zero_gradient),
        cmocka_unit_test(test_attention_writes_only_the_wanted_gradients),
        cmocka_unit_test(test_attention_gives_the_same_bits_for_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
