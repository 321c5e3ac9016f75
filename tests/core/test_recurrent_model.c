/* Recurrent layers inside models: the course's simple-RNN example number for number, gradient
 * checks of stacked (many-to-one), synchronized many-to-many and one-to-many (repeat) models,
 * the repeat layer itself, and identical results with 1, 2 and 4 threads. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

static dpt_layer_spec spec(const char *type, int units) {
    dpt_layer_spec s = harness_spec(type);
    char text[16];
    snprintf(text, sizeof text, "%d", units);
    if (units) harness_set(&s, "units", text);
    return s;
}

static void build(dpt_model *m, const dpt_layer_spec *s, int n, int T, int F, int B) {
    char err[512];
    if (dpt_model_build(m, s, n, harness_steps(T, F), B, err, sizeof err)) {
        print_error("%s\n", err);
        fail();
    }
}

/* ---------------------------------------------------------------------------------------------
 * The course's simple RNN: U (input weights, W_ih), W (recurrent, W_hh), V (output, dense
 * without bias), zero biases, s0 = 0, x1 = (1, 2), x2 = (2, 1), softmax output.  The course
 * prints 5 significant digits, hence 1e-4 (float32 itself is good to ~1e-6 here). */
#define COURSE_TOL 1e-4

static void build_course(dpt_model *m, const char *act, bool seq) {
    dpt_layer_spec s[2] = {spec("rnn", 2), spec("dense", 2)};
    harness_set(&s[0], "activation", act);
    harness_set(&s[0], "use_bias", "false");
    harness_set(&s[1], "use_bias", "false");
    harness_set(&s[0], "return_sequences", seq ? "true" : "false");
    build(m, s, 2, 2, 2, 1);
    const float U[4] = {0.9f, 0.2f, 0.4f, 0.6f}, W[4] = {0.5f, 0.8f, 0.4f, 0.2f};
    const float V[4] = {0.3f, 0.8f, 0.9f, 0.4f};
    memcpy(m->layers[0].params, U, sizeof U); /* W_ih (H, F), then W_hh (H, H) */
    memcpy(m->layers[0].params + 4, W, sizeof W);
    memcpy(m->layers[1].params, V, sizeof V);
}

/* Forward of the course input; returns softmax of the last step's z into a (2). */
static const float *course_forward(dpt_model *m, float a[2]) {
    const float x[4] = {1, 2, 2, 1}; /* (1, T = 2, F = 2) */
    const float *z = dpt_model_forward(m, x, 1, NULL);
    memcpy(a, z + (m->out_steps - 1) * 2, 2 * sizeof *a);
    dpt_loss_find("softmax_ce")->output(a, 1, 2);
    return z;
}

/* The course uses the identity as the state activation.  relu is the identity on positive
 * inputs, and every pre-activation here is positive (x, U, W >= 0), so the relu rnn computes
 * exactly the course's numbers. */
static void test_course_simple_rnn_with_identity_state_activation(void **state) {
    (void)state;
    for (int seq = 0; seq < 2; seq++) {
        dpt_model m;
        build_course(&m, "relu", seq);
        float a[2];
        const float *z = course_forward(&m, a);
        const float *s = m.acts[1]; /* (1, T or 1, 2) */
        if (seq) {
            assert_near(s[0], 1.3, COURSE_TOL); /* s1 */
            assert_near(s[1], 1.6, COURSE_TOL);
            s += 2, z += 2;
        }
        assert_near(s[0], 3.93, COURSE_TOL); /* s2 */
        assert_near(s[1], 2.24, COURSE_TOL);
        assert_near(z[0], 2.971, COURSE_TOL);
        assert_near(z[1], 4.433, COURSE_TOL);
        assert_near(a[0], 0.18816, COURSE_TOL);
        assert_near(a[1], 0.81184, COURSE_TOL);
        dpt_model_free(&m);
    }
}

static void test_course_simple_rnn_with_tanh(void **state) {
    (void)state;
    dpt_model m;
    build_course(&m, "tanh", false);
    float a[2];
    const float *z = course_forward(&m, a);
    assert_near(m.acts[1][0], 0.99646, COURSE_TOL);
    assert_near(m.acts[1][1], 0.95865, COURSE_TOL);
    assert_near(z[0], 1.06586, COURSE_TOL);
    assert_near(z[1], 1.28028, COURSE_TOL);
    assert_near(a[0], 0.44660, COURSE_TOL);
    assert_near(a[1], 0.55340, COURSE_TOL);
    dpt_model_free(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Whole-model finite differences, as test_gradcheck.c: h = 1e-2, losses in double, the step
 * actually taken in float, |num - ana| <= 1e-3 + 1e-2 |ana|.  The losses below sum at most
 * 40 logits / outputs whose float32 error (a few ulp through three layers and 5 steps) moves the
 * quotient by < 1e-4; truncation h^2 f'''/6 is ~1e-4 for these smooth layers. */
#define FD_H    1e-2f
#define FD_RTOL 1e-2
#define FD_ATOL 1e-3

typedef struct model_case {
    dpt_model m;
    int B;
    const float *x;        /* (B, in_steps, F) */
    const int32_t *labels; /* (B out_steps) per-step class labels, or NULL: loss sum r * out */
    const float *r;        /* (B, out_steps, K) when labels is NULL */
    const int32_t *ylen;   /* (B) target lengths for an output on a new time axis, or NULL */
    dpt_step_ctx ctx;
} model_case;

/* softmax_ce over every valid output step (dpt_model_output_lengths: B * steps rows without
 * lengths), or the generic sum r * out. */
static double case_loss(model_case *c, float *dout) {
    dpt_model *m = &c->m;
    const float *out = dpt_model_forward(m, c->x, c->B, &c->ctx);
    int rows = c->B * m->out_steps, K = m->out_features;
    if (c->labels) {
        dpt_target t = {.labels = c->labels};
        const int32_t *len = dpt_model_output_lengths(m, c->ctx.lengths, c->ylen);
        return dpt_loss_eval_steps(dpt_loss_find("softmax_ce"), out, t, c->B, m->out_steps, K, len,
                                   dout);
    }
    double s = 0.0;
    for (int i = 0; i < rows * K; i++) s += (double)c->r[i] * out[i];
    if (dout) memcpy(dout, c->r, (size_t)rows * K * sizeof *dout);
    return s;
}

static void check_model_gradients(model_case *c) {
    dpt_model *m = &c->m;
    float *dout = dpt_alloc_floats((size_t)c->B * m->out_steps * m->out_features);
    case_loss(c, dout);
    dpt_model_zero_grads(m);
    dpt_model_backward(m, dout, c->B);
    for (size_t k = 0; k < m->nparams; k++) {
        float w0 = m->params[k], up = w0 + FD_H, down = w0 - FD_H;
        m->params[k] = up;
        double fp = case_loss(c, NULL);
        m->params[k] = down;
        double fm = case_loss(c, NULL);
        m->params[k] = w0;
        assert_close(m->grads[k], (fp - fm) / ((double)up - (double)down), FD_RTOL, FD_ATOL);
    }
    free(dout);
}

/* Stacked many-to-one: bidirectional lstm (all steps) -> gru (last valid step) -> dense, softmax
 * cross-entropy on one label per sample, with variable lengths. */
static void test_stacked_lstm_gru_dense_gradients_match_finite_differences(void **state) {
    (void)state;
    enum { B = 3, T = 4, F = 3 };
    dpt_layer_spec s[3] = {spec("lstm", 4), spec("gru", 3), spec("dense", 3)};
    harness_set(&s[0], "return_sequences", "true");
    harness_set(&s[0], "bidirectional", "true");
    model_case c = {.B = B};
    build(&c.m, s, 3, T, F, B);
    assert_int_equal(c.m.out_steps, 1);
    dpt_model_init_params(&c.m, 11);
    float x[B * T * F];
    fill_uniform(x, B * T * F, -1.0f, 1.0f, 70);
    const int32_t labels[B] = {2, 0, 1}, lengths[B] = {T, 2, 3};
    c.x = x, c.labels = labels;
    c.ctx = (dpt_step_ctx){.lengths = lengths};
    check_model_gradients(&c);
    dpt_model_free(&c.m);
}

/* Synchronized many-to-many: rnn (all steps) -> dense applied per step, a label per step. */
static void test_many_to_many_rnn_dense_gradients_match_finite_differences(void **state) {
    (void)state;
    enum { B = 2, T = 5, F = 3, K = 4 };
    dpt_layer_spec s[2] = {spec("rnn", 5), spec("dense", K)};
    harness_set(&s[0], "return_sequences", "true");
    model_case c = {.B = B};
    build(&c.m, s, 2, T, F, B);
    assert_int_equal(c.m.out_steps, T);
    dpt_model_init_params(&c.m, 12);
    float x[B * T * F];
    fill_uniform(x, B * T * F, -1.0f, 1.0f, 71);
    const int32_t labels[B * T] = {0, 3, 1, 1, 2, 3, 0, 2, 1, 0};
    c.x = x, c.labels = labels;
    check_model_gradients(&c);
    dpt_model_free(&c.m);
}

/* One-to-many: dense -> repeat -> gru (all steps) -> dense; generic loss over every step. */
static void test_one_to_many_repeat_gru_gradients_match_finite_differences(void **state) {
    (void)state;
    enum { B = 2, F = 3, T = 4, K = 2 };
    dpt_layer_spec s[4] = {spec("dense", 4), spec("repeat", 0), spec("gru", 3), spec("dense", K)};
    harness_set(&s[1], "steps", "4"); /* T */
    harness_set(&s[2], "return_sequences", "true");
    model_case c = {.B = B};
    build(&c.m, s, 4, 1, F, B);
    assert_int_equal(c.m.out_steps, T);
    assert_int_equal(c.m.layers[2].steps_in, T);
    dpt_model_init_params(&c.m, 13);
    float x[B * F], r[B * T * K];
    fill_uniform(x, B * F, -1.0f, 1.0f, 72);
    fill_uniform(r, B * T * K, -1.0f, 1.0f, 73);
    c.x = x, c.r = r;
    check_model_gradients(&c);
    dpt_model_free(&c.m);
}

/* Encoder-decoder: lstm over 5 input steps (variable lengths) -> its last valid state repeated
 * for 3 output steps -> gru (all steps) -> dense, a label per output step, the loss masked by the
 * targets' own lengths (T_out = 3 != T = 5). */
static void test_encoder_decoder_with_its_own_output_steps_gradients_match(void **state) {
    (void)state;
    enum { B = 3, T = 5, F = 3, TO = 3, K = 3 };
    dpt_layer_spec s[4] = {spec("lstm", 4), spec("repeat", 0), spec("gru", 3), spec("dense", K)};
    harness_set(&s[1], "steps", "3"); /* TO */
    harness_set(&s[2], "return_sequences", "true");
    model_case c = {.B = B};
    build(&c.m, s, 4, T, F, B);
    assert_int_equal(c.m.in_steps, T);
    assert_int_equal(c.m.out_steps, TO);
    dpt_model_init_params(&c.m, 14);
    float x[B * T * F];
    fill_uniform(x, B * T * F, -1.0f, 1.0f, 74);
    const int32_t labels[B * TO] = {2, 0, 1, 1, 0, 0, 2, 2, 1}, xlen[B] = {T, 2, 4},
                             ylen[B] = {TO, 1, 2};
    c.x = x, c.labels = labels, c.ylen = ylen;
    c.ctx = (dpt_step_ctx){.lengths = xlen};
    assert_ptr_equal(dpt_model_output_lengths(&c.m, xlen, ylen), ylen);
    check_model_gradients(&c);
    dpt_model_free(&c.m);
}

/* ---------------------------------------------------------------------------------------------
 * repeat */

static void test_repeat_copies_the_vector_to_every_step_and_sums_gradients_back(void **state) {
    (void)state;
    dpt_layer l;
    dpt_layer_spec s = harness_spec("repeat steps=4");
    char err[256];
    assert_int_equal(harness_build(&l, &s, 3, 1, 0, err, sizeof err), 0);
    assert_int_equal(l.out, 3);
    assert_int_equal(l.steps_out, 4);
    assert_int_equal(l.ntensors, 0);
    const float x[6] = {1, -2, 3, 0.5f, 7, -1}; /* (B = 2, 1, 3) */
    float y[24], dy[24], dx[6];                 /* (2, 4, 3), (2, 1, 3) */
    l.type->forward(&l, x, y, 2, NULL);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < 3; j++) assert_true(y[(b * 4 + t) * 3 + j] == x[b * 3 + j]);
    for (int i = 0; i < 24; i++) dy[i] = (float)(i + 1); /* exact small integers */
    l.type->backward(&l, x, y, dy, dx, 2, NULL);
    /* dx[b][j] = sum_t (12 b + 3 t + j + 1) = 48 b + 18 + 4 j + 4 */
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 3; j++) assert_true(dx[b * 3 + j] == (float)(48 * b + 22 + 4 * j));
}

static void expect_error(const dpt_layer_spec *s, int n, int T, const char *msg) {
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, s, n, harness_steps(T, 3), 2, err, sizeof err), -1);
    if (!strstr(err, msg)) {
        print_error("message '%s' lacks '%s'\n", err, msg);
        fail();
    }
}

static void test_repeat_rejects_sequence_input_and_steps_below_one(void **state) {
    (void)state;
    dpt_layer_spec s[2] = {spec("dense", 4), spec("repeat", 0)};
    s[1].line = 9;
    expect_error(s, 2, 1, "layer 1 (repeat, line 9): steps must be a positive integer (got 0)");
    harness_set(&s[1], "steps", "3");
    expect_error(s, 2, 5, "layer 1 (repeat, line 9): repeat needs a vector input (1 step), got 5");
    /* A recurrent layer returning sequences makes a sequence too. */
    dpt_layer_spec r[2] = {spec("rnn", 2), spec("repeat", 0)};
    harness_set(&r[0], "return_sequences", "true");
    harness_set(&r[1], "steps", "2");
    expect_error(r, 2, 4, "repeat needs a vector input (1 step), got 4 steps");
    harness_set(&r[0], "return_sequences", "false"); /* last step only: a vector, accepted */
    dpt_model m;
    build(&m, r, 2, 4, 3, 2);
    assert_int_equal(m.out_steps, 2);
    dpt_model_free(&m);
}

/* ---------------------------------------------------------------------------------------------
 * Threads: the directions of a bidirectional layer run side by side at 2 OpenMP threads (one
 * thread each, single-threaded GEMMs) and one after the other at 4 (elementwise loops on 4
 * threads, BLIS on 2).  BLIS splits only the M and N loops of a product, never the sums over K,
 * and every elementwise result has one writer, so all runs should agree to the last bit; 1e-6
 * relative is the contract. */
#define THREAD_RTOL 1e-6

enum { TB = 16, TT = 10, TF = 5, TH = 32 };

/* dense (per step) -> bidirectional lstm (all steps), lengths 1..T; fills out and grads. */
static void run_threads(int n, float *out, float *grads, size_t *nparams) {
    omp_set_num_threads(n);
    /* BLIS threads spin at barriers: more of them than cores (2 here) takes seconds. */
    dpt_blas_setup(n < 2 ? n : 2);
    dpt_layer_spec s[2] = {spec("dense", 6), spec("lstm", TH)};
    harness_set(&s[1], "bidirectional", "true");
    harness_set(&s[1], "return_sequences", "true");
    dpt_model m;
    build(&m, s, 2, TT, TF, TB);
    dpt_model_init_params(&m, 21);
    static float x[TB * TT * TF], r[TB * TT * 2 * TH];
    fill_uniform(x, TB * TT * TF, -1.0f, 1.0f, 80);
    fill_uniform(r, TB * TT * 2 * TH, -1.0f, 1.0f, 81);
    int32_t len[TB];
    for (int b = 0; b < TB; b++) len[b] = 1 + (b * 7) % TT;
    dpt_step_ctx ctx = {.lengths = len};
    memcpy(out, dpt_model_forward(&m, x, TB, &ctx), sizeof r);
    dpt_model_zero_grads(&m);
    dpt_model_backward(&m, r, TB);
    memcpy(grads, m.grads, m.nparams * sizeof *grads);
    *nparams = m.nparams;
    dpt_model_free(&m);
}

static void test_bidirectional_lstm_gives_the_same_results_on_1_2_and_4_threads(void **state) {
    (void)state;
    size_t ny = (size_t)TB * TT * 2 * TH, gmax = 1 << 16, np = 0;
    float *y[3], *g[3];
    const int threads[3] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        y[i] = dpt_alloc_floats(ny), g[i] = dpt_alloc_floats(gmax);
        run_threads(threads[i], y[i], g[i], &np);
        assert_true(np <= gmax);
    }
    for (int i = 1; i < 3; i++) {
        for (size_t k = 0; k < ny; k++) assert_close(y[i][k], y[0][k], THREAD_RTOL, 1e-12);
        for (size_t k = 0; k < np; k++) assert_close(g[i][k], g[0][k], THREAD_RTOL, 1e-12);
    }
    for (int i = 0; i < 3; i++) free(y[i]), free(g[i]);
    omp_set_num_threads(1);
    dpt_blas_setup(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_course_simple_rnn_with_identity_state_activation),
        cmocka_unit_test(test_course_simple_rnn_with_tanh),
        cmocka_unit_test(test_stacked_lstm_gru_dense_gradients_match_finite_differences),
        cmocka_unit_test(test_many_to_many_rnn_dense_gradients_match_finite_differences),
        cmocka_unit_test(test_one_to_many_repeat_gru_gradients_match_finite_differences),
        cmocka_unit_test(test_encoder_decoder_with_its_own_output_steps_gradients_match),
        cmocka_unit_test(test_repeat_copies_the_vector_to_every_step_and_sums_gradients_back),
        cmocka_unit_test(test_repeat_rejects_sequence_input_and_steps_below_one),
        cmocka_unit_test(test_bidirectional_lstm_gives_the_same_results_on_1_2_and_4_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
