/* Finite-difference checks of every backward pass: each layer type, every activation, every
 * loss, and a whole model through dpt_model_forward/backward.  Central differences, perturbed
 * objectives accumulated in double, divided by the step actually taken in float. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/activation.h"
#include "core/layer.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* Layer checks use h = 1e-2 and |num - ana| <= 1e-3 + 1e-2 |ana|.  Why this is enough and still
 * sharp: a perturbation changes at most one row or column of y (<= 9 values of magnitude <= ~20);
 * other entries are recomputed bit-identically and cancel.  Each changed float32 value carries
 * a rounding error of a few ulp (<= ~1e-6 for a 9-term dot product), so the difference quotient
 * is off by at most ~9 * 1e-6 / 2e-2 ~ 5e-4; the truncation error h^2 f'''/6 is ~2e-5 for the
 * smooth activations and zero for the linear layers.  Real bugs (missing factor, transposed W,
 * wrong derivative) are off by O(0.1 - 1). */
#define LAYER_H    1e-2f
#define LAYER_RTOL 1e-2
#define LAYER_ATOL 1e-3
/* Inputs are kept at least this far from 0, where relu/leaky_relu/elu have kinks (> LAYER_H). */
#define KINK_GAP 0.2f

static const int SIZES_B[] = {1, 3, 7};
static const int SIZES_W[] = {1, 4, 9};

typedef struct layer_case {
    dpt_layer l;
    int B;
    float *x;  /* (B, in) */
    float *y;  /* (B, out) */
    float *r;  /* (B, out) weights of the objective sum r * y; it is also dy */
    float *dx; /* (B, in) */
} layer_case;

static void push_from_zero(float *v, size_t n, float gap) {
    for (size_t i = 0; i < n; i++) v[i] += v[i] >= 0.0f ? gap : -gap;
}

static void case_build(layer_case *c, const dpt_layer_spec *s, int in, int B, int index) {
    memset(c, 0, sizeof *c);
    dpt_layer *l = &c->l;
    harness_make(l, s, in, 1, index, B);
    size_t off = l->nparams;
    c->B = B;
    c->x = dpt_alloc_floats((size_t)B * in);
    c->y = dpt_alloc_floats((size_t)B * l->out);
    c->r = dpt_alloc_floats((size_t)B * l->out);
    c->dx = dpt_alloc_floats((size_t)B * in);
    fill_uniform(l->params, off, -1.0f, 1.0f, 1);
    fill_uniform(c->x, (size_t)B * in, -2.0f, 2.0f, 2);
    push_from_zero(c->x, (size_t)B * in, KINK_GAP);
    fill_uniform(c->r, (size_t)B * l->out, -1.0f, 1.0f, 3);
}

static void case_free(layer_case *c) {
    harness_free(&c->l);
    free(c->x);
    free(c->y);
    free(c->r);
    free(c->dx);
}

static double objective(layer_case *c, const dpt_step_ctx *ctx) {
    c->l.type->forward(&c->l, c->x, c->y, c->B, ctx);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)c->B * c->l.out; i++) s += (double)c->r[i] * c->y[i];
    return s;
}

/* d objective / d *v by central differences over the float step actually taken. */
static double numeric(layer_case *c, float *v, const dpt_step_ctx *ctx) {
    float v0 = *v;
    float up = v0 + LAYER_H, down = v0 - LAYER_H;
    *v = up;
    double fp = objective(c, ctx);
    *v = down;
    double fm = objective(c, ctx);
    *v = v0;
    return (fp - fm) / ((double)up - (double)down);
}

/* Checks parameter gradients (accumulated onto a non-zero start, since backward must add) and
 * dx (written over NaN, since backward must overwrite it). */
static void check_layer(const dpt_layer_spec *s, int in, int B, const dpt_step_ctx *ctx) {
    layer_case c;
    case_build(&c, s, in, B, 2);
    const float g0 = 0.5f;
    for (size_t k = 0; k < c.l.nparams; k++) c.l.grads[k] = g0;
    for (size_t k = 0; k < (size_t)B * in; k++) c.dx[k] = NAN;
    objective(&c, ctx);
    c.l.type->backward(&c.l, c.x, c.y, c.r, c.dx, B, NULL);
    for (size_t k = 0; k < c.l.nparams; k++) {
        double ana = (double)c.l.grads[k] - g0;
        assert_close(ana, numeric(&c, &c.l.params[k], ctx), LAYER_RTOL, LAYER_ATOL);
    }
    for (size_t k = 0; k < (size_t)B * in; k++)
        assert_close(c.dx[k], numeric(&c, &c.x[k], ctx), LAYER_RTOL, LAYER_ATOL);
    case_free(&c);
}

static dpt_layer_spec dense_spec(int units, bool bias) {
    char line[64];
    snprintf(line, sizeof line, "dense units=%d use_bias=%s", units, bias ? "true" : "false");
    return harness_spec(line);
}

static void dense_grads_match_finite_differences(bool bias) {
    for (size_t b = 0; b < 3; b++)
        for (size_t i = 0; i < 3; i++)
            for (size_t o = 0; o < 3; o++) {
                dpt_layer_spec s = dense_spec(SIZES_W[o], bias);
                check_layer(&s, SIZES_W[i], SIZES_B[b], NULL);
            }
}

static void test_dense_with_bias_gradients_match_finite_differences(void **state) {
    (void)state;
    dense_grads_match_finite_differences(true);
}

static void test_dense_without_bias_gradients_match_finite_differences(void **state) {
    (void)state;
    dense_grads_match_finite_differences(false);
}

static void check_activation(const char *name, float alpha) {
    dpt_layer_spec s = harness_spec("activation");
    harness_set(&s, "activation", name);
    if (!isnan(alpha)) {
        char text[32];
        snprintf(text, sizeof text, "%.9g", (double)alpha);
        harness_set(&s, "alpha", text);
    }
    for (size_t b = 0; b < 3; b++)
        for (size_t i = 0; i < 3; i++) check_layer(&s, SIZES_W[i], SIZES_B[b], NULL);
}

static void test_every_activation_derivative_matches_finite_differences(void **state) {
    (void)state;
    const char *const *names = dpt_activation_names();
    int n = 0;
    for (; names[n]; n++) check_activation(names[n], NAN);
    assert_int_equal(n, 9);
    /* Non-default slopes: a derivative that ignored alpha would pass with the defaults only. */
    check_activation("leaky_relu", 0.2f);
    check_activation("elu", 0.7f);
}

static dpt_layer_spec dropout_spec(const char *rate) {
    dpt_layer_spec s = harness_spec("dropout");
    harness_set(&s, "rate", rate);
    return s;
}

static void test_dropout_gradients_match_finite_differences_in_training(void **state) {
    (void)state;
    /* The same ctx for every evaluation keeps the mask fixed, so y is linear in x. */
    int64_t ids[7] = {40, 3, 17, 99, 5, 61, 8};
    dpt_step_ctx ctx = {.training = true, .seed = 7, .step = 11, .sample_ids = ids};
    dpt_layer_spec s = dropout_spec("0.4");
    for (size_t b = 0; b < 3; b++)
        for (size_t i = 0; i < 3; i++) check_layer(&s, SIZES_W[i], SIZES_B[b], &ctx);
}

static void test_dropout_gradients_match_finite_differences_in_evaluation(void **state) {
    (void)state;
    dpt_step_ctx eval = {.training = false, .seed = 7, .step = 11};
    dpt_layer_spec s = dropout_spec("0.4");
    for (size_t b = 0; b < 3; b++)
        for (size_t i = 0; i < 3; i++) {
            check_layer(&s, SIZES_W[i], SIZES_B[b], NULL);
            check_layer(&s, SIZES_W[i], SIZES_B[b], &eval);
        }
}

/* ---- losses ----
 * The loss is evaluated in double from float predictions and the step is the float step
 * actually taken, so the only errors are the float32 rounding of the analytic gradient
 * (~1e-7 relative) and the truncation h^2 f'''/6 (< 1e-5 relative at h = 1e-3 for inputs kept
 * away from kinks).  Hence the tighter tolerance 1e-3 relative + 1e-5 absolute. */
#define LOSS_H    1e-3f
#define LOSS_RTOL 1e-3
#define LOSS_ATOL 1e-5

typedef struct loss_case {
    const dpt_loss *loss;
    int B, K;
    float *pred;  /* (B, K) */
    float *tv;    /* (B, K) target values, or NULL */
    int32_t *lab; /* (B) labels, or NULL */
} loss_case;

static double loss_value(const loss_case *c) {
    dpt_target t = {.values = c->tv, .labels = c->lab};
    return c->loss->eval(c->pred, t, c->B, c->K, NULL);
}

static void check_loss(const loss_case *c) {
    size_t n = (size_t)c->B * c->K;
    float *grad = dpt_alloc_floats(n);            /* (B, K) */
    for (size_t i = 0; i < n; i++) grad[i] = NAN; /* eval must overwrite */
    dpt_target t = {.values = c->tv, .labels = c->lab};
    double v = c->loss->eval(c->pred, t, c->B, c->K, grad);
    assert_true(isfinite(v));
    assert_near(v, loss_value(c), 0.0); /* passing grad does not change the value */
    for (size_t i = 0; i < n; i++) {
        float p0 = c->pred[i], up = p0 + LOSS_H, down = p0 - LOSS_H;
        c->pred[i] = up;
        double fp = loss_value(c);
        c->pred[i] = down;
        double fm = loss_value(c);
        c->pred[i] = p0;
        assert_close(grad[i], (fp - fm) / ((double)up - (double)down), LOSS_RTOL, LOSS_ATOL);
    }
    free(grad);
}

/* Moves p away from the kinks of mae/smape: |p - t| >= gap and |p| >= gap. */
static void avoid_kinks(float *p, const float *t, size_t n, float gap) {
    for (size_t i = 0; i < n; i++) {
        if (fabsf(p[i]) < gap) p[i] += p[i] >= 0.0f ? gap : -gap;
        if (fabsf(p[i] - t[i]) < gap) p[i] = t[i] + (p[i] >= t[i] ? gap : -gap);
        if (fabsf(p[i]) < gap) p[i] = t[i] + (t[i] >= 0.0f ? 2.0f * gap : -2.0f * gap);
    }
}

static void check_value_loss(const char *name, float tlo, float thi, bool kinks) {
    for (size_t b = 0; b < 3; b++)
        for (size_t k = 0; k < 3; k++) {
            loss_case c = {.loss = dpt_loss_find(name), .B = SIZES_B[b], .K = SIZES_W[k]};
            assert_non_null(c.loss);
            size_t n = (size_t)c.B * c.K;
            c.pred = dpt_alloc_floats(n);
            c.tv = dpt_alloc_floats(n);
            fill_uniform(c.pred, n, -3.0f, 3.0f, 10 + b * 3 + k);
            fill_uniform(c.tv, n, tlo, thi, 20 + b * 3 + k);
            if (kinks) avoid_kinks(c.pred, c.tv, n, 0.05f);
            check_loss(&c);
            free(c.pred);
            free(c.tv);
        }
}

static void test_mse_gradient_matches_finite_differences(void **state) {
    (void)state;
    check_value_loss("mse", -2.0f, 2.0f, false);
}

static void test_mae_gradient_matches_finite_differences_away_from_kinks(void **state) {
    (void)state;
    check_value_loss("mae", -2.0f, 2.0f, true);
}

static void test_bce_gradient_matches_finite_differences(void **state) {
    (void)state;
    check_value_loss("bce", 0.0f, 1.0f, false);
}

static void test_smape_gradient_matches_finite_differences_away_from_kinks(void **state) {
    (void)state;
    check_value_loss("smape", -2.0f, 2.0f, true);
}

static void test_softmax_ce_gradient_with_labels_matches_finite_differences(void **state) {
    (void)state;
    for (size_t b = 0; b < 3; b++)
        for (size_t k = 0; k < 3; k++) {
            loss_case c = {.loss = dpt_loss_find("softmax_ce"), .B = SIZES_B[b], .K = SIZES_W[k]};
            c.pred = dpt_alloc_floats((size_t)c.B * c.K);
            c.lab = dpt_calloc((size_t)c.B, sizeof *c.lab);
            fill_uniform(c.pred, (size_t)c.B * c.K, -3.0f, 3.0f, 30 + b * 3 + k);
            for (int i = 0; i < c.B; i++) c.lab[i] = (i * 5 + 2) % c.K;
            check_loss(&c);
            free(c.pred);
            free(c.lab);
        }
}

/* Rows of positive weights summing to `total` (1 for probabilities; < 1 exercises the
 * softmax * sum(t) term of the gradient). */
static void probability_rows(float *t, int B, int K, float total, uint64_t stream) {
    fill_uniform(t, (size_t)B * K, 0.05f, 1.0f, stream);
    for (int b = 0; b < B; b++) {
        float *row = t + (size_t)b * K, s = 0.0f;
        for (int k = 0; k < K; k++) s += row[k];
        for (int k = 0; k < K; k++) row[k] *= total / s;
    }
}

static void
test_softmax_ce_gradient_with_probability_targets_matches_finite_differences(void **state) {
    (void)state;
    const float totals[] = {1.0f, 0.8f};
    for (size_t s = 0; s < 2; s++)
        for (size_t b = 0; b < 3; b++)
            for (size_t k = 0; k < 3; k++) {
                loss_case c = {
                    .loss = dpt_loss_find("softmax_ce"), .B = SIZES_B[b], .K = SIZES_W[k]};
                size_t n = (size_t)c.B * c.K;
                c.pred = dpt_alloc_floats(n);
                c.tv = dpt_alloc_floats(n);
                fill_uniform(c.pred, n, -3.0f, 3.0f, 40 + b * 3 + k);
                probability_rows(c.tv, c.B, c.K, totals[s], 50 + b * 3 + k);
                check_loss(&c);
                free(c.pred);
                free(c.tv);
            }
}

/* ---- whole model ---- */

static double model_loss(dpt_model *m, const float *x, const int32_t *lab, int B,
                         const dpt_step_ctx *ctx) {
    const float *out = dpt_model_forward(m, x, B, ctx);
    dpt_target t = {.labels = lab};
    return dpt_loss_find("softmax_ce")->eval(out, t, B, m->out_features, NULL);
}

static void test_model_gradients_match_finite_differences_for_every_parameter(void **state) {
    (void)state;
    /* dense-tanh, dense-sigmoid, dropout, dense; softmax_ce on labels. */
    dpt_layer_spec specs[4] = {harness_spec("dense units=7 activation=tanh"),
                               harness_spec("dense units=6 activation=sigmoid"),
                               harness_spec("dropout rate=0.3"), harness_spec("dense units=3")};
    enum { B = 5, F = 5 };
    dpt_model m;
    char err[512];
    assert_int_equal(dpt_model_build(&m, specs, 4, harness_steps(1, F), 8, err, sizeof err), 0);
    assert_int_equal(m.nlayers, 6);
    dpt_model_init_params(&m, 3);
    float x[B * F]; /* (B, F) */
    fill_uniform(x, B * F, -1.5f, 1.5f, 60);
    int32_t lab[B] = {0, 2, 1, 1, 0};
    int64_t ids[B] = {10, 11, 12, 13, 14};
    dpt_step_ctx ctx = {.training = true, .seed = 5, .step = 2, .sample_ids = ids};

    const float *out = dpt_model_forward(&m, x, B, &ctx);
    float dout[B * 3]; /* (B, K) */
    dpt_target t = {.labels = lab};
    dpt_loss_find("softmax_ce")->eval(out, t, B, 3, dout);
    dpt_model_zero_grads(&m);
    dpt_model_backward(&m, dout, B);

    /* Same tolerance argument as the layer checks: the loss is a double sum over 15 logits whose
     * float32 error (a few ulp through four layers) stays far below 1e-3 * 2h. */
    for (size_t k = 0; k < m.nparams; k++) {
        float w0 = m.params[k], up = w0 + LAYER_H, down = w0 - LAYER_H;
        m.params[k] = up;
        double fp = model_loss(&m, x, lab, B, &ctx);
        m.params[k] = down;
        double fm = model_loss(&m, x, lab, B, &ctx);
        m.params[k] = w0;
        assert_close(m.grads[k], (fp - fm) / ((double)up - (double)down), LAYER_RTOL, LAYER_ATOL);
    }
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_with_bias_gradients_match_finite_differences),
        cmocka_unit_test(test_dense_without_bias_gradients_match_finite_differences),
        cmocka_unit_test(test_every_activation_derivative_matches_finite_differences),
        cmocka_unit_test(test_dropout_gradients_match_finite_differences_in_training),
        cmocka_unit_test(test_dropout_gradients_match_finite_differences_in_evaluation),
        cmocka_unit_test(test_mse_gradient_matches_finite_differences),
        cmocka_unit_test(test_mae_gradient_matches_finite_differences_away_from_kinks),
        cmocka_unit_test(test_bce_gradient_matches_finite_differences),
        cmocka_unit_test(test_smape_gradient_matches_finite_differences_away_from_kinks),
        cmocka_unit_test(test_softmax_ce_gradient_with_labels_matches_finite_differences),
        cmocka_unit_test(
            test_softmax_ce_gradient_with_probability_targets_matches_finite_differences),
        cmocka_unit_test(test_model_gradients_match_finite_differences_for_every_parameter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
