/* Worked examples from the course notes, reproduced number for number: the 2-2-2 sigmoid network
 * (Mazur's "step by step" example) and the 2-2-1 ReLU network.  They pin down the conventions:
 * W is (out, in) with one row per neuron, the mse is a mean over outputs, gradients are of the
 * summed loss. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/loss.h"
#include "core/model.h"
#include "core_check.h"
#include "layer_harness.h"

/* Outputs and losses come out of float32 arithmetic over a handful of terms (~1e-7 relative);
 * the course values are printed to 8 digits.  2e-7 absolute covers both. */
#define TOL_8_DIGITS 2e-7

static dpt_layer_spec dense(int units, const char *act, bool bias) {
    char line[96];
    snprintf(line, sizeof line, "dense units=%d use_bias=%s%s%s", units, bias ? "true" : "false",
             act[0] ? " activation=" : "", act);
    return harness_spec(line);
}

static void set_floats(float *dst, const float *src, int n) {
    memcpy(dst, src, (size_t)n * sizeof *dst);
}

/* One forward + backward on (x, t); returns the mse (mean over K) of the single sample. */
static double loss_and_grads(dpt_model *m, const float *x, const float *t) {
    const float *out = dpt_model_forward(m, x, 1, NULL);
    float dout[2]; /* (1, K), K <= 2 */
    dpt_target tg = {.values = t};
    double loss = dpt_loss_find("mse")->eval(out, tg, 1, m->out_features, dout);
    dpt_model_zero_grads(m);
    dpt_model_backward(m, dout, 1);
    return loss;
}

static void sgd(dpt_model *m, float lr) {
    for (size_t i = 0; i < m->nparams; i++) m->params[i] -= lr * m->grads[i];
}

/* Builds the 2-2-2 sigmoid net with the course's weights. */
static void build_mazur(dpt_model *m) {
    dpt_layer_spec specs[2] = {dense(2, "sigmoid", true), dense(2, "sigmoid", true)};
    char err[256];
    assert_int_equal(dpt_model_build(m, specs, 2, harness_steps(1, 2), 1, err, sizeof err), 0);
    assert_int_equal(m->nlayers, 4); /* dense, sigmoid, dense, sigmoid */
    const float w1[4] = {0.15f, 0.20f, 0.25f, 0.30f}, b1[2] = {0.35f, 0.35f};
    const float w2[4] = {0.40f, 0.45f, 0.50f, 0.55f}, b2[2] = {0.60f, 0.60f};
    set_floats(m->layers[0].params, w1, 4);
    set_floats(m->layers[0].params + 4, b1, 2);
    set_floats(m->layers[2].params, w2, 4);
    set_floats(m->layers[2].params + 4, b2, 2);
}

/* The course keeps the biases fixed: their gradients are zeroed before each update. */
static void zero_bias_grads(dpt_model *m) {
    m->layers[0].grads[4] = m->layers[0].grads[5] = 0.0f;
    m->layers[2].grads[4] = m->layers[2].grads[5] = 0.0f;
}

static void
test_sigmoid_2_2_2_net_reproduces_the_course_forward_pass_and_first_update(void **state) {
    (void)state;
    dpt_model m;
    build_mazur(&m);
    const float x[2] = {0.05f, 0.10f}, t[2] = {0.01f, 0.99f};
    /* Our mse with K = 2 is mean_k (t - o)^2 = sum_k 1/2 (t - o)^2, the course loss. */
    double loss = loss_and_grads(&m, x, t);
    const float *out = m.acts[m.nlayers];
    assert_near(out[0], 0.75136507, TOL_8_DIGITS);
    assert_near(out[1], 0.77292847, TOL_8_DIGITS);
    assert_near(loss, 0.29837111, TOL_8_DIGITS);
    zero_bias_grads(&m);
    sgd(&m, 0.5f);
    assert_near(m.layers[2].params[0], 0.35891648, TOL_8_DIGITS); /* w5 = W2[0][0] */
    assert_near(m.layers[0].params[0], 0.14978072, TOL_8_DIGITS); /* w1 = W1[0][0] */
    dpt_model_free(&m);
}

static void test_sigmoid_2_2_2_net_reaches_the_course_loss_after_10000_steps(void **state) {
    (void)state;
    dpt_model m;
    build_mazur(&m);
    const float x[2] = {0.05f, 0.10f}, t[2] = {0.01f, 0.99f};
    for (int step = 0; step < 10000; step++) {
        loss_and_grads(&m, x, t);
        zero_bias_grads(&m);
        sgd(&m, 0.5f);
    }
    const float *out = dpt_model_forward(&m, x, 1, NULL);
    dpt_target tg = {.values = t};
    double loss = dpt_loss_find("mse")->eval(out, tg, 1, 2, NULL);
    /* 10,000 float32 updates drift from the course's double run by far less than 1e-3 of the
     * loss: each update rounds at ~1e-7 relative and gradient descent here is contracting. */
    assert_close(loss, 3.5102e-05, 1e-3, 0.0);
    dpt_model_free(&m);
}

/* 2-2-1 ReLU net, no biases, linear output.  The course loss is 1/2 (O - t)^2, half our mse for
 * K = 1: our gradients are twice the course's, so the course's lr 0.1 is our lr 0.05. */
static void test_relu_2_2_1_net_reproduces_the_course_gradients_and_update(void **state) {
    (void)state;
    dpt_layer_spec specs[2] = {dense(2, "relu", false), dense(1, "", false)};
    dpt_model m;
    char err[256];
    assert_int_equal(dpt_model_build(&m, specs, 2, harness_steps(1, 2), 1, err, sizeof err), 0);
    assert_int_equal((int)m.nparams, 6);
    const float w1[4] = {1.0f, 3.0f, -2.0f, 4.0f}, w2[2] = {0.5f, 0.3f};
    set_floats(m.layers[0].params, w1, 4);
    set_floats(m.layers[2].params, w2, 2);
    const float x[2] = {0.5f, 0.7f}, t[1] = {1.0f};

    double loss = loss_and_grads(&m, x, t);
    assert_near(m.acts[m.nlayers][0], 1.84, TOL_8_DIGITS);
    assert_near(loss / 2.0, 0.3528, TOL_8_DIGITS);
    const float *g2 = m.layers[2].grads, *g1 = m.layers[0].grads;
    assert_near(g2[0] / 2.0f, 2.184, 1e-6); /* |g| ~ 2: float32 ulp is ~2.4e-7 */
    assert_near(g2[1] / 2.0f, 1.512, 1e-6);
    const double course_dw1[4] = {0.21, 0.294, 0.126, 0.1764};
    for (int i = 0; i < 4; i++) assert_near(g1[i] / 2.0f, course_dw1[i], TOL_8_DIGITS);

    sgd(&m, 0.05f);
    const float *out = dpt_model_forward(&m, x, 1, NULL);
    assert_near(out[0], 0.98847305, 1e-6);
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_sigmoid_2_2_2_net_reproduces_the_course_forward_pass_and_first_update),
        cmocka_unit_test(test_sigmoid_2_2_2_net_reaches_the_course_loss_after_10000_steps),
        cmocka_unit_test(test_relu_2_2_1_net_reproduces_the_course_gradients_and_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
