/* batch_norm in one process: keys and shapes, finite differences of the training objective for
 * (F), (T, F) and (H, W, C) inputs with and without gamma/beta, a reference in double, the
 * moving averages and evaluation, a model that runs the layer with no rows, and the state that
 * neither the optimizer nor L2 touches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/layer.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

/* One layer with its own buffers for B samples of shape *in (harness_make for any shape). */
typedef struct bn_case {
    dpt_layer l;
    int B;
    size_t n;  /* B x in values */
    float *x;  /* (B, in_shape) */
    float *y;  /* (B, in_shape) */
    float *r;  /* (B, in_shape) weights of the objective sum r y; also dy */
    float *dx; /* (B, in_shape) */
} bn_case;

static void case_make(bn_case *c, const char *line, const dpt_shape *in, int B) {
    memset(c, 0, sizeof *c);
    dpt_layer_spec s = harness_spec(line);
    harness_make_shape(&c->l, &s, in, 1, B);
    c->B = B;
    c->n = (size_t)B * dpt_shape_size(in);
    c->x = dpt_alloc_floats(c->n);
    c->y = dpt_alloc_floats(c->n);
    c->r = dpt_alloc_floats(c->n);
    c->dx = dpt_alloc_floats(c->n);
    dpt_rng rng;
    dpt_rng_seed(&rng, 1, 0);
    c->l.type->init(&c->l, &rng);
    fill_uniform(c->l.params, c->l.nparams, 0.5f, 1.5f, 1);
    fill_uniform(c->x, c->n, -2.0f, 2.0f, 2);
    fill_uniform(c->r, c->n, -1.0f, 1.0f, 3);
}

static void case_free(bn_case *c) {
    harness_free(&c->l);
    free(c->x);
    free(c->y);
    free(c->r);
    free(c->dx);
}

static const dpt_step_ctx TRAIN = {.training = true};

static double objective(bn_case *c, const dpt_step_ctx *ctx) {
    c->l.type->forward(&c->l, c->x, c->y, c->B, ctx);
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++) s += (double)c->r[i] * (double)c->y[i];
    return s;
}

/* Central differences with h = 1e-2 against backward, |num - ana| <= 1e-3 + 1e-2 |ana|.  A step
 * in one x moves every y of its channel (through the mean and variance): up to 3 x 4 x 5 = 60
 * float32 values of magnitude <= ~3, each rounded to ~2e-7 relative, so the difference quotient
 * carries <= 60 x 6e-7 / 2e-2 ~ 2e-3 in the worst case and ~2e-4 typically (random signs); the
 * truncation error h^2 f'''/6 of 1/sqrt(var + eps) with var ~ 1 is ~1e-5. */
static void gradcheck_ctx(const char *line, const dpt_shape *in, int B, const dpt_step_ctx *ctx) {
    bn_case c;
    case_make(&c, line, in, B);
    memset(c.l.grads, 0, c.l.nparams * sizeof(float));
    objective(&c, ctx);
    c.l.type->backward(&c.l, c.x, c.y, c.r, c.dx, B, ctx);
    float *vals[2] = {c.x, c.l.params};
    const float *ana[2] = {c.dx, c.l.grads};
    size_t counts[2] = {c.n, c.l.nparams};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < counts[k]; i++) {
            float v0 = vals[k][i], up = v0 + 1e-2f, down = v0 - 1e-2f;
            vals[k][i] = up;
            double fu = objective(&c, ctx);
            vals[k][i] = down;
            double fd = objective(&c, ctx);
            vals[k][i] = v0;
            double num = (fu - fd) / ((double)up - (double)down);
            assert_close(ana[k][i], num, 1e-2, 1e-3);
        }
    case_free(&c);
}

static void gradcheck(const char *line, const dpt_shape *in, int B) {
    gradcheck_ctx(line, in, B, &TRAIN);
}

static void test_gradients_match_finite_differences_for_every_input_rank(void **state) {
    (void)state;
    const char *lines[] = {"batch_norm", "batch_norm center=false", "batch_norm scale=false",
                           "batch_norm center=false scale=false epsilon=0.01"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        dpt_shape f = dpt_shape_1d(4), tf = dpt_shape_2d(3, 4), hwc = dpt_shape_3d(2, 3, 4);
        gradcheck(lines[i], &f, 7);
        gradcheck(lines[i], &tf, 3);
        gradcheck(lines[i], &hwc, 2);
    }
}

/* Padding steps of sequences stay out of the statistics (their outputs still depend on them, so
 * their dy enters the sums): the exact gradient, and the valid rows do not see the padding. */
static void test_sequence_padding_is_left_out_of_the_statistics(void **state) {
    (void)state;
    const int32_t lengths[3] = {4, 2, 3};
    dpt_step_ctx ctx = {.training = true, .lengths = lengths};
    dpt_shape in = dpt_shape_2d(4, 3);
    gradcheck_ctx("batch_norm", &in, 3, &ctx);
    gradcheck_ctx("batch_norm center=false scale=false", &in, 3, &ctx);
    bn_case c;
    case_make(&c, "batch_norm", &in, 3);
    float y0[36], st0[6];
    c.l.type->forward(&c.l, c.x, c.y, 3, &ctx);
    memcpy(y0, c.y, sizeof y0);
    memcpy(st0, c.l.state, sizeof st0);
    case_free(&c);
    case_make(&c, "batch_norm", &in, 3);
    c.x[(1 * 4 + 3) * 3 + 1] = 100.0f; /* sample 1, step 3: padding */
    c.l.type->forward(&c.l, c.x, c.y, 3, &ctx);
    for (int i = 0; i < 36; i++)
        if (i / 3 != 1 * 4 + 3) assert_true(c.y[i] == y0[i]);
    assert_memory_equal(c.l.state, st0, sizeof st0);
    case_free(&c);
}

/* The layer over rows x (R, C) in double, straight from the definition. */
static void reference(const bn_case *c, size_t R, double *y, double *dx, double *dg, double *db,
                      double *mean, double *var) {
    int C = c->l.in;
    double eps = (double)1e-3f;
    for (int j = 0; j < C; j++) {
        double s = 0, q = 0, sdy = 0, sdyx = 0;
        for (size_t r = 0; r < R; r++) s += c->x[r * C + j];
        mean[j] = s / (double)R;
        for (size_t r = 0; r < R; r++) q += pow(c->x[r * C + j] - mean[j], 2);
        var[j] = q / (double)R;
        double inv = 1.0 / sqrt(var[j] + eps), g = c->l.params[j], b = c->l.params[C + j];
        for (size_t r = 0; r < R; r++) {
            double xh = (c->x[r * C + j] - mean[j]) * inv;
            y[r * C + j] = g * xh + b;
            sdy += c->r[r * C + j];
            sdyx += c->r[r * C + j] * xh;
        }
        dg[j] = sdyx;
        db[j] = sdy;
        for (size_t r = 0; r < R; r++) {
            double xh = (c->x[r * C + j] - mean[j]) * inv;
            dx[r * C + j] = g * inv / (double)R * ((double)R * c->r[r * C + j] - sdy - xh * sdyx);
        }
    }
}

/* float32 outputs of double-accumulated sums over 30 rows: a few ulp, <= 1e-5 relative. */
static void test_forward_backward_and_moving_stats_match_a_double_reference(void **state) {
    (void)state;
    dpt_shape in = dpt_shape_2d(3, 5);
    bn_case c;
    case_make(&c, "batch_norm momentum=0.9", &in, 10);
    size_t R = 30, C = 5;
    double *y = calloc(c.n, sizeof *y), *dx = calloc(c.n, sizeof *dx);
    double dg[5] = {0}, db[5] = {0}, mean[5] = {0}, var[5] = {0};
    reference(&c, R, y, dx, dg, db, mean, var);
    memset(c.l.grads, 0, c.l.nparams * sizeof(float));
    c.l.type->forward(&c.l, c.x, c.y, c.B, &TRAIN);
    c.l.type->backward(&c.l, c.x, c.y, c.r, c.dx, c.B, &TRAIN);
    for (size_t i = 0; i < c.n; i++) {
        assert_close(c.y[i], y[i], 1e-5, 1e-6);
        assert_close(c.dx[i], dx[i], 1e-5, 1e-6);
    }
    for (size_t j = 0; j < C; j++) {
        assert_close(c.l.grads[j], dg[j], 1e-5, 1e-6);
        assert_close(c.l.grads[C + j], db[j], 1e-5, 1e-6);
        /* from 0 and 1: moving = 0.9 start + 0.1 batch (biased variance, as Keras) */
        assert_close(c.l.state[j], 0.1 * mean[j], 1e-6, 1e-7);
        assert_close(c.l.state[C + j], 0.9 + 0.1 * var[j], 1e-6, 1e-7);
    }
    /* Evaluation normalises with the moving statistics and leaves them alone. */
    float saved[10];
    memcpy(saved, c.l.state, sizeof saved);
    c.l.type->forward(&c.l, c.x, c.y, c.B, NULL);
    assert_memory_equal(saved, c.l.state, sizeof saved);
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < C; j++) {
            double want =
                (c.x[r * C + j] - saved[j]) / sqrt(saved[C + j] + (double)1e-3f) * c.l.params[j] +
                c.l.params[C + j];
            assert_close(c.y[r * C + j], want, 1e-5, 1e-6);
        }
    free(y);
    free(dx);
    case_free(&c);
}

static void test_keys_default_like_keras_and_state_is_not_a_parameter(void **state) {
    (void)state;
    dpt_layer_spec s = harness_spec("batch_norm");
    assert_string_equal(harness_value(&s, "momentum"), "0.99");
    assert_string_equal(harness_value(&s, "epsilon"), "0.001");
    assert_string_equal(harness_value(&s, "center"), "true");
    assert_string_equal(harness_value(&s, "scale"), "true");
    assert_string_equal(harness_value(&s, "synchronized"), "true");
    char err[256];
    assert_int_equal(dpt_layer_spec_parse(&s, "batch_norm momentum=1.5", err, sizeof err), -1);
    assert_contains(err, "momentum");
    assert_int_equal(dpt_layer_spec_parse(&s, "batch_norm epsilon=0", err, sizeof err), -1);
    assert_contains(err, "epsilon");
    bn_case c;
    dpt_shape in = dpt_shape_3d(2, 2, 3);
    case_make(&c, "batch_norm", &in, 1);
    assert_int_equal(c.l.ntensors, 2);
    assert_string_equal(c.l.tensors[0].name, "gamma");
    assert_string_equal(c.l.tensors[1].name, "beta");
    assert_int_equal(c.l.nstates, 2);
    assert_string_equal(c.l.states[0].name, "moving_mean");
    assert_string_equal(c.l.states[1].name, "moving_variance");
    assert_true(dpt_shape_equal(&c.l.out_shape, &in));
    case_free(&c);
    case_make(&c, "batch_norm center=false scale=false", &in, 1);
    assert_int_equal(c.l.ntensors, 0);
    assert_int_equal(c.l.nstates, 2);
    case_free(&c);
}

/* A reduce hook that counts its calls and sizes (one process: the sums stay as they are). */
typedef struct counter {
    int calls, floats;
} counter;
static void count_reduce(void *arg, double *buf, int n) {
    (void)buf;
    counter *k = arg;
    k->calls++;
    k->floats += n;
}

static void build_model(dpt_model *m, int F, int max_batch) {
    dpt_layer_spec specs[3] = {harness_spec("dense units=3"), harness_spec("batch_norm"),
                               harness_spec("dense units=2")};
    char err[256];
    dpt_shape in = dpt_shape_1d(F);
    assert_int_equal(dpt_model_build(m, specs, 3, &in, max_batch, err, sizeof err), 0);
    dpt_model_init_params(m, 7);
}

/* A rank with no rows in the last batch must join both reductions of forward and the one of
 * backward, in the same order as the others, or the job hangs. */
static void test_a_model_with_no_rows_still_joins_every_reduction(void **state) {
    (void)state;
    dpt_model m;
    build_model(&m, 4, 8);
    assert_int_equal(m.nstate, 6);
    assert_float_equal(m.state[3], 1.0f, 0.0f); /* moving_variance starts at 1 */
    counter k = {0};
    dpt_step_ctx ctx = {.training = true, .reduce = count_reduce, .reduce_arg = &k};
    float x[8 * 4], dout[8 * 2];
    fill_uniform(x, 32, -1, 1, 4);
    fill_uniform(dout, 16, -1, 1, 5);
    for (int B = 0; B <= 8; B += 8) {
        k = (counter){0};
        dpt_model_zero_grads(&m);
        dpt_model_forward(&m, x, B, &ctx);
        assert_int_equal(k.calls, 2);
        assert_int_equal(k.floats, 3 + 1 + 3);
        dpt_model_backward(&m, dout, B);
        assert_int_equal(k.calls, 3);
        assert_int_equal(k.floats, 7 + 6);
    }
    k = (counter){0};
    ctx.training = false; /* evaluation: moving statistics, nothing to reduce */
    dpt_model_forward(&m, x, 8, &ctx);
    assert_int_equal(k.calls, 0);
    dpt_model_free(&m);
}

/* AdamW's decoupled decay and L2 act on parameters only: the moving averages keep their bits. */
static void test_optimizer_and_l2_leave_the_moving_statistics_alone(void **state) {
    (void)state;
    dpt_model m;
    build_model(&m, 4, 8);
    float x[8 * 4], dout[8 * 2];
    fill_uniform(x, 32, -1, 1, 6);
    fill_uniform(dout, 16, -1, 1, 7);
    dpt_step_ctx ctx = {.training = true};
    dpt_model_zero_grads(&m);
    dpt_model_forward(&m, x, 8, &ctx);
    dpt_model_backward(&m, dout, 8);
    float saved[6];
    memcpy(saved, m.state, sizeof saved);
    uint64_t before = dpt_model_checksum(&m);
    dpt_optim_spec spec;
    dpt_optim_spec_defaults(&spec, "adamw");
    spec.weight_decay = 0.5f;
    dpt_optim o;
    char err[128];
    assert_int_equal(dpt_optim_init(&o, &spec, m.nparams, err, sizeof err), 0);
    dpt_model_add_l2(&m, 0.1f);
    dpt_optim_step(&o, m.params, m.grads, 0.01f);
    assert_memory_equal(saved, m.state, sizeof saved);
    assert_true(dpt_model_checksum(&m) != before); /* the parameters moved */
    m.state[0] += 1.0f;                            /* the checksum covers the state too */
    uint64_t moved = dpt_model_checksum(&m);
    m.state[0] = saved[0];
    assert_true(moved != dpt_model_checksum(&m));
    dpt_optim_free(&o);
    dpt_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_match_finite_differences_for_every_input_rank),
        cmocka_unit_test(test_sequence_padding_is_left_out_of_the_statistics),
        cmocka_unit_test(test_forward_backward_and_moving_stats_match_a_double_reference),
        cmocka_unit_test(test_keys_default_like_keras_and_state_is_not_a_parameter),
        cmocka_unit_test(test_a_model_with_no_rows_still_joins_every_reduction),
        cmocka_unit_test(test_optimizer_and_l2_leave_the_moving_statistics_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
