/* Unit tests of core/optim: the first steps of every update rule against values worked out by
 * hand, clipping, the non-finite check, learning-rate schedules and spec validation.
 * Tolerances: float32 has a relative precision of 6e-8; one update is a handful of roundings,
 * so 1e-6 relative (about 8 ulp) bounds the float error while still catching a wrong formula. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/optim.h"

#define REL 1e-6

static void near_at(double got, double want, double tol, const char *file, int line) {
    if (fabs(got - want) <= tol) return;
    print_error("%s:%d: got %.9g, expected %.9g (tolerance %.3g)\n", file, line, got, want, tol);
    _fail(file, line);
}
/* |got - want| <= rel * max(|want|, floor): relative, with an absolute floor for values near 0. */
#define assert_near(got, want, rel, floor)                                                         \
    near_at((got), (want), (rel)*fmax(fabs(want), (floor)), __FILE__, __LINE__)

/* An optimizer of the given name with defaults, optionally overriding lr and momentum. */
static dpt_optim make(const char *name, float lr, size_t n) {
    dpt_optim_spec s;
    dpt_optim_spec_defaults(&s, name);
    if (lr > 0) s.lr = lr;
    dpt_optim o;
    char err[256];
    assert_int_equal(dpt_optim_init(&o, &s, n, err, sizeof err), 0);
    return o;
}

/* ---- defaults ---- */

static void defaults_follow_the_documented_values(void **state) {
    (void)state;
    dpt_optim_spec s;
    dpt_optim_spec_defaults(&s, "sgd");
    assert_near(s.lr, 0.01, REL, 0);
    assert_true(s.momentum == 0.0f && !s.nesterov);
    dpt_optim_spec_defaults(&s, "momentum");
    assert_near(s.lr, 0.01, REL, 0);
    assert_near(s.momentum, 0.9, REL, 0);
    assert_false(s.nesterov);
    dpt_optim_spec_defaults(&s, "nesterov");
    assert_near(s.momentum, 0.9, REL, 0);
    assert_true(s.nesterov);
    dpt_optim_spec_defaults(&s, "rmsprop");
    assert_near(s.lr, 1e-3, REL, 0);
    assert_near(s.rho, 0.9, REL, 0);
    assert_near(s.eps, 1e-7, REL, 0);
    dpt_optim_spec_defaults(&s, "adam");
    assert_near(s.beta1, 0.9, REL, 0);
    assert_near(s.beta2, 0.999, REL, 0);
    assert_near(s.eps, 1e-7, REL, 0);
    assert_true(s.weight_decay == 0.0f);
    dpt_optim_spec_defaults(&s, "adamw");
    assert_near(s.lr, 1e-3, REL, 0);
    assert_near(s.weight_decay, 0.01, REL, 0);
}

static void names_list_all_six_optimizers_and_three_schedules(void **state) {
    (void)state;
    const char *const *o = dpt_optim_names();
    const char *want[] = {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"};
    for (int i = 0; i < 6; i++) assert_string_equal(o[i], want[i]);
    assert_null(o[6]);
    const char *const *s = dpt_schedule_names();
    assert_string_equal(s[0], "constant");
    assert_string_equal(s[1], "step");
    assert_string_equal(s[2], "cosine");
    assert_null(s[3]);
}

/* ---- update rules ---- */

static void sgd_moves_each_weight_by_lr_times_gradient(void **state) {
    (void)state;
    dpt_optim o = make("sgd", 0.1f, 3);
    assert_null(o.m);               /* plain sgd keeps no state */
    float w[3] = {1, -2, 3};        /* (3) */
    float g[3] = {0.5f, -1, 2};     /* (3) */
    dpt_optim_step(&o, w, g, 0.1f); /* w - 0.1 g = (0.95, -1.9, 2.8) */
    assert_near(w[0], 0.95, REL, 1);
    assert_near(w[1], -1.9, REL, 1);
    assert_near(w[2], 2.8, REL, 1);
    dpt_optim_step(&o, w, g, 0.1f); /* (0.9, -1.8, 2.6) */
    assert_near(w[0], 0.9, REL, 1);
    assert_near(w[1], -1.8, REL, 1);
    assert_near(w[2], 2.6, REL, 1);
    assert_int_equal(o.t, 2);
    dpt_optim_free(&o);
}

/* Constant g = 1, lr 0.1, mu 0.9 from w = 1:
 *   momentum: v = 1, 1.9, 2.71;        w = 0.9, 0.71, 0.439
 *   nesterov: step = g + mu v = 1.9, 2.71, 3.439;  w = 0.81, 0.539, 0.1951 */
static void momentum_accumulates_velocity_pytorch_form(void **state) {
    (void)state;
    dpt_optim o = make("momentum", 0.1f, 1);
    float w[1] = {1}, g[1] = {1}; /* (1) */
    const double want[3] = {0.9, 0.71, 0.439};
    for (int k = 0; k < 3; k++) {
        dpt_optim_step(&o, w, g, 0.1f);
        assert_near(w[0], want[k], REL, 1);
    }
    assert_near(o.m[0], 2.71, REL, 1);
    dpt_optim_free(&o);
}

static void nesterov_steps_further_than_momentum_by_mu_times_velocity(void **state) {
    (void)state;
    dpt_optim o = make("nesterov", 0.1f, 1);
    float w[1] = {1}, g[1] = {1}; /* (1) */
    const double want[3] = {0.81, 0.539, 0.1951};
    for (int k = 0; k < 3; k++) {
        dpt_optim_step(&o, w, g, 0.1f);
        assert_near(w[0], want[k], REL, 1);
    }
    /* Per step nesterov moves (g + mu v_k) - v_k = mu (v_k - v_{k-1}) further than momentum, so
     * after 3 steps it is lr mu v_3 = 0.1 * 0.9 * 2.71 = 0.2439 ahead (0.439 vs 0.1951). */
    assert_near(0.439 - w[0], 0.1 * 0.9 * 2.71, REL, 1);
    dpt_optim_free(&o);
}

static void sgd_with_momentum_set_behaves_like_momentum(void **state) {
    (void)state;
    dpt_optim_spec s;
    dpt_optim_spec_defaults(&s, "sgd");
    s.lr = 0.1f;
    s.momentum = 0.9f;
    dpt_optim o;
    char err[256];
    assert_int_equal(dpt_optim_init(&o, &s, 1, err, sizeof err), 0);
    assert_non_null(o.m);
    float w[1] = {1}, g[1] = {1}; /* (1) */
    dpt_optim_step(&o, w, g, 0.1f);
    dpt_optim_step(&o, w, g, 0.1f);
    assert_near(w[0], 0.71, REL, 1); /* the momentum sequence above, not sgd's 0.8 */
    dpt_optim_free(&o);
}

/* Keras defaults rho 0.9, eps 1e-7, lr 1e-3, from w = 0:
 *   g = 1:    s = 0.1, 0.19;  w = -lr/(sqrt(0.1)+eps) = -3.16227666e-3,
 *             then -lr/sqrt(0.19) more: -5.45643347e-3
 *   g = 1e-7: sqrt(s) = 3.162e-8 is smaller than eps, so eps dominates:
 *             w = -1e-10 / (3.16228e-8 + 1e-7) = -7.59746927e-4, then -1.45617916e-3.
 *   With eps inside the square root the second element would move only ~3e-7. */
static void rmsprop_keras_defaults_put_eps_outside_the_sqrt(void **state) {
    (void)state;
    dpt_optim o = make("rmsprop", 0, 2);
    float w[2] = {0, 0};        /* (2) */
    float g[2] = {1.0f, 1e-7f}; /* (2) */
    dpt_optim_step(&o, w, g, 1e-3f);
    assert_near(w[0], -3.16227666e-3, REL, 0);
    assert_near(w[1], -7.59746927e-4, 1e-5, 0); /* 1e-7f itself is off by 1e-8 relative;
                                                   the ratio of small numbers loses a bit more */
    dpt_optim_step(&o, w, g, 1e-3f);
    assert_near(w[0], -5.45643347e-3, REL, 0);
    assert_near(w[1], -1.45617916e-3, 1e-5, 0);
    dpt_optim_free(&o);
}

/* Adam lr 1e-3 from w = 0.  Step 1: m^ = g and v^ = g^2 exactly, so every weight moves by
 * lr g/(|g| + eps) ~ lr sign(g), whatever |g|.
 *   weight 0, g = 1 then -1: m = 0.1, -0.01; v = 0.001, 0.001999; m^ = -0.01/0.19 = -0.0526316,
 *     v^ = 1, so step 2 moves back by 5.26316e-5: w = -9.99999900e-4, -9.47368326e-4.
 *   weight 1, g = 2, 0, 0: m = 0.2, 0.18, 0.162; v = 0.004, 0.003996, 0.003992004;
 *     m^ = 0.947368, 0.597786; v^ = 1.998999, 1.332000:
 *     w = -9.99999950e-4, -1.67005816e-3, -2.18801508e-3. */
static void adam_first_step_moves_every_weight_by_lr_sign_g(void **state) {
    (void)state;
    dpt_optim o = make("adam", 0, 3);
    float w[3] = {0, 0, 0};      /* (3) */
    float g[3] = {1, 2, -1e-3f}; /* (3) */
    dpt_optim_step(&o, w, g, 1e-3f);
    assert_near(w[0], -9.99999900e-4, REL, 0);
    assert_near(w[1], -9.99999950e-4, REL, 0);
    assert_near(w[2], 1e-3 * 1e-3 / (1e-3 + 1e-7), REL, 0); /* also ~ lr sign(g) */
    g[0] = -1, g[1] = 0;
    dpt_optim_step(&o, w, g, 1e-3f);
    assert_near(w[0], -9.47368326e-4, REL, 0);
    assert_near(w[1], -1.67005816e-3, REL, 0);
    dpt_optim_step(&o, w, g, 1e-3f);
    assert_near(w[1], -2.18801508e-3, REL, 0);
    dpt_optim_free(&o);
}

/* With zero gradients the adam part is 0 / (0 + eps) = 0, leaving only the decoupled decay:
 * w *= (1 - lr wd) = 1 - 1e-5 per step; plain adam leaves w unchanged. */
static void adamw_decays_weights_by_lr_times_weight_decay(void **state) {
    (void)state;
    dpt_optim aw = make("adamw", 0, 2), a = make("adam", 0, 2);
    float w[2] = {1, -2}, u[2] = {1, -2}; /* (2) each */
    float g[2] = {0, 0};                  /* (2) */
    for (int k = 0; k < 2; k++) {
        dpt_optim_step(&aw, w, g, 1e-3f);
        dpt_optim_step(&a, u, g, 1e-3f);
    }
    assert_near(w[0], 0.99998000010, REL, 1);
    assert_near(w[1], -1.9999600002, REL, 1);
    assert_true(u[0] == 1.0f && u[1] == -2.0f);
    /* With a gradient, adamw = decay then the adam step: w = 1 - 1e-5 - ~1e-3. */
    float x[1] = {1}, gx[1] = {1}; /* (1) */
    dpt_optim aw1 = make("adamw", 0, 1);
    dpt_optim_step(&aw1, x, gx, 1e-3f);
    assert_near(x[0], 1.0 - 1e-5 - 9.999999e-4, REL, 1);
    dpt_optim_free(&aw);
    dpt_optim_free(&a);
    dpt_optim_free(&aw1);
}

/* Above the threshold the loop runs on several threads; every element must still follow the
 * scalar rule (momentum, lr 0.1, g = 1: w = 1 - 0.1 - 0.19 = 0.71 after 2 steps). */
static void threaded_step_on_a_large_buffer_matches_the_scalar_rule(void **state) {
    (void)state;
    size_t n = 200000;
    float *w = malloc(n * sizeof *w); /* (n) */
    float *g = malloc(n * sizeof *g); /* (n) */
    for (size_t i = 0; i < n; i++) w[i] = 1, g[i] = 1;
    omp_set_num_threads(2);
    dpt_optim o = make("momentum", 0.1f, n);
    dpt_optim_step(&o, w, g, 0.1f);
    dpt_optim_step(&o, w, g, 0.1f);
    for (size_t i = 0; i < n; i += 997) assert_near(w[i], 0.71, REL, 1);
    assert_near(w[n - 1], 0.71, REL, 1);
    dpt_optim_free(&o);
    free(w);
    free(g);
}

/* The training step folds 1/batch into the update (dpt_optim_step_scaled) instead of scaling
 * the gradient first: every rule must give the same bits as the update on the pre-scaled
 * gradient, over several steps (the state carries the scaled gradient too). */
static void scaled_step_equals_the_step_on_the_prescaled_gradient(void **state) {
    (void)state;
    const char *names[] = {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"};
    enum { N = 37 };
    const float gs = 1.0f / 48.0f; /* not a power of two: the product rounds */
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        dpt_optim a = make(names[k], 0.01f, N), b = make(names[k], 0.01f, N);
        float wa[N], wb[N], g[N], gb[N]; /* (N) */
        for (int i = 0; i < N; i++) wa[i] = wb[i] = 0.1f * (float)(i % 7) - 0.3f;
        for (int t = 0; t < 3; t++) {
            for (int i = 0; i < N; i++) {
                g[i] = (float)((i * 31 + t * 17) % 23) - 11.0f;
                gb[i] = g[i] * gs;
            }
            dpt_optim_step_scaled(&a, wa, g, gs, 0.01f);
            dpt_optim_step(&b, wb, gb, 0.01f);
        }
        /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison): bitwise on purpose */
        if (memcmp(wa, wb, sizeof wa) != 0) fail_msg("%s: scaled step differs", names[k]);
        dpt_optim_free(&a);
        dpt_optim_free(&b);
    }
}

/* A parameter whose gradient becomes 0 (a dead ReLU unit): its state decays by rho (0.9) or
 * beta2 (0.999) per step.  Without flushing it would stop in the subnormal range, where
 * 0.9 * 4 ulp rounds back to 4 ulp, and make every later step slow; it must reach exactly 0.
 * 1000 steps take 0.1 * 0.9^k below FLT_MIN (k ~ 820); adam's v needs ~90000 (0.999^k). */
static void decaying_optimizer_state_reaches_zero_not_a_subnormal(void **state) {
    (void)state;
    const char *names[3] = {"momentum", "rmsprop", "adam"};
    const int steps[3] = {1000, 1000, 100000};
    for (int k = 0; k < 3; k++) {
        dpt_optim o = make(names[k], 1e-3f, 1);
        float w[1] = {0}, g[1] = {1}; /* (1) */
        dpt_optim_step(&o, w, g, 1e-3f);
        g[0] = 0;
        for (int i = 0; i < steps[k]; i++) dpt_optim_step(&o, w, g, 1e-3f);
        if (o.m[0] != 0.0f) fail_msg("%s: state m = %g, expected 0", names[k], (double)o.m[0]);
        if (o.v && o.v[0] != 0.0f)
            fail_msg("%s: state v = %g, expected 0", names[k], (double)o.v[0]);
        dpt_optim_free(&o);
    }
}

/* ---- clipping, norm, non-finite ---- */

static void clip_by_norm_scales_a_norm_5_vector_to_norm_1(void **state) {
    (void)state;
    float g[2] = {3, 4}; /* (2) */
    double norm = dpt_grad_norm(g, 2);
    assert_near(norm, 5.0, 1e-12, 1); /* 9 + 16 in double is exact */
    dpt_clip_by_norm(g, 2, norm, 1.0f);
    assert_near(g[0], 0.6, REL, 1);
    assert_near(g[1], 0.8, REL, 1);
    assert_near(dpt_grad_norm(g, 2), 1.0, REL, 1);
    float h[2] = {0.3f, 0.4f}; /* (2) norm 0.5 < 1: untouched */
    dpt_clip_by_norm(h, 2, dpt_grad_norm(h, 2), 1.0f);
    assert_true(h[0] == 0.3f && h[1] == 0.4f);
}

/* 1.1 M elements of 0.1f: the sum of squares is n * 0.1f^2.  A float accumulator would drift by
 * ~1e-4 relative here; double accumulation stays within 1e-10.  The norm must also be
 * bit-identical with 1 and 2 threads so ranks with different thread counts agree on clipping. */
static void grad_norm_accumulates_in_double_independent_of_threads(void **state) {
    (void)state;
    size_t n = 1100000;
    float *g = malloc(n * sizeof *g); /* (n) */
    for (size_t i = 0; i < n; i++) g[i] = 0.1f;
    double want = sqrt((double)n * (double)0.1f * (double)0.1f);
    omp_set_num_threads(1);
    double one = dpt_grad_norm(g, n);
    omp_set_num_threads(2);
    double two = dpt_grad_norm(g, n);
    assert_near(one, want, 1e-10, 0);
    assert_true(one == two);
    free(g);
}

static void clip_by_value_clamps_and_keeps_nan_visible(void **state) {
    (void)state;
    float g[5] = {-3, 0.5f, 2, -0.25f, NAN}; /* (5) */
    dpt_clip_by_value(g, 5, 1.0f);
    assert_true(g[0] == -1.0f && g[1] == 0.5f && g[2] == 1.0f && g[3] == -0.25f);
    assert_true(isnan(g[4])); /* a clamped NaN would hide a diverged step from the check */
}

static void first_nonfinite_finds_the_first_nan_or_inf(void **state) {
    (void)state;
    float a[4] = {1, 2, NAN, INFINITY}; /* (4) */
    assert_int_equal(dpt_first_nonfinite(a, 4), 2);
    float b[3] = {1, -INFINITY, 0}; /* (3) */
    assert_int_equal(dpt_first_nonfinite(b, 3), 1);
    float c[3] = {1, 3.4e38f, -1e-45f}; /* (3) largest and smallest finite magnitudes */
    assert_int_equal(dpt_first_nonfinite(c, 3), -1);
    size_t n = 10000;                /* beyond the first scan chunk */
    float *d = calloc(n, sizeof *d); /* (n) */
    assert_int_equal(dpt_first_nonfinite(d, n), -1);
    d[9000] = INFINITY;
    d[5000] = NAN;
    assert_int_equal(dpt_first_nonfinite(d, n), 5000);
    free(d);
}

/* ---- schedules ---- */

static dpt_schedule sched(const char *name, float base) {
    dpt_schedule s;
    memset(&s, 0, sizeof s);
    strcpy(s.name, name);
    s.base_lr = base;
    s.gamma = 0.1f;
    s.steps_per_epoch = 10;
    return s;
}

static void constant_schedule_keeps_base_lr(void **state) {
    (void)state;
    dpt_schedule s = sched("constant", 0.1f);
    assert_near(dpt_schedule_lr(&s, 0), 0.1, REL, 0);
    assert_near(dpt_schedule_lr(&s, 123456), 0.1, REL, 0);
}

/* 4 warm-up steps: lr = base (k + 1) / 4 = 0.025, 0.05, 0.075, 0.1, then base. */
static void warmup_ramps_linearly_to_base_lr(void **state) {
    (void)state;
    dpt_schedule s = sched("constant", 0.1f);
    s.warmup_steps = 4;
    const double want[6] = {0.025, 0.05, 0.075, 0.1, 0.1, 0.1};
    for (int k = 0; k < 6; k++) assert_near(dpt_schedule_lr(&s, k), want[k], REL, 0);
}

/* 10 steps per epoch, x0.1 every 2 epochs: epochs 0-1 -> 0.1, 2-3 -> 0.01, 4 -> 0.001. */
static void step_schedule_multiplies_by_gamma_every_step_epochs(void **state) {
    (void)state;
    dpt_schedule s = sched("step", 0.1f);
    s.step_epochs = 2;
    assert_near(dpt_schedule_lr(&s, 0), 0.1, REL, 0);
    assert_near(dpt_schedule_lr(&s, 19), 0.1, REL, 0);
    assert_near(dpt_schedule_lr(&s, 20), 0.01, REL, 0);
    assert_near(dpt_schedule_lr(&s, 39), 0.01, REL, 0);
    assert_near(dpt_schedule_lr(&s, 40), 0.001, REL, 0);
}

/* base 0.1, min 0.001, 100 steps: lr = 0.001 + 0.099 * 0.5 (1 + cos(pi k / 100)):
 * k = 0 -> 0.1, 25 -> 0.0855017857, 50 -> 0.0505, 100 and beyond -> 0.001. */
static void cosine_schedule_decays_from_base_to_min_lr(void **state) {
    (void)state;
    dpt_schedule s = sched("cosine", 0.1f);
    s.min_lr = 0.001f;
    s.total_steps = 100;
    assert_near(dpt_schedule_lr(&s, 0), 0.1, REL, 0);
    assert_near(dpt_schedule_lr(&s, 25), 0.0855017857, REL, 0);
    assert_near(dpt_schedule_lr(&s, 50), 0.0505, REL, 0);
    assert_near(dpt_schedule_lr(&s, 100), 0.001, REL, 0);
    assert_near(dpt_schedule_lr(&s, 250), 0.001, REL, 0);
    s.warmup_steps = 10; /* warm-up first: step 4 -> 0.1 * 5/10 */
    assert_near(dpt_schedule_lr(&s, 4), 0.05, REL, 0);
    assert_near(dpt_schedule_lr(&s, 50), 0.0505, REL, 0);
}

/* ---- validation ---- */

/* Sets one field of a default spec, expects init to fail with a message naming `key`. */
static void expect_rejected(const char *name, const char *key, float value) {
    dpt_optim_spec s;
    dpt_optim_spec_defaults(&s, name);
    if (strcmp(key, "lr") == 0) s.lr = value;
    if (strcmp(key, "momentum") == 0) s.momentum = value;
    if (strcmp(key, "rho") == 0) s.rho = value;
    if (strcmp(key, "beta1") == 0) s.beta1 = value;
    if (strcmp(key, "beta2") == 0) s.beta2 = value;
    if (strcmp(key, "eps") == 0) s.eps = value;
    if (strcmp(key, "weight_decay") == 0) s.weight_decay = value;
    dpt_optim o;
    char err[256] = "";
    assert_int_equal(dpt_optim_init(&o, &s, 4, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "optimizer.%s:", key);
    if (!strstr(err, want)) fail_msg("'%s' does not name %s", err, want);
    assert_non_null(strstr(err, "expected"));
    assert_null(o.m);
    assert_null(o.v);
}

static void invalid_specs_are_rejected_with_a_message_naming_the_key(void **state) {
    (void)state;
    expect_rejected("sgd", "lr", 0.0f);
    expect_rejected("adam", "lr", -1e-3f);
    expect_rejected("adam", "lr", NAN);
    expect_rejected("momentum", "momentum", 1.0f);
    expect_rejected("nesterov", "momentum", -0.1f);
    expect_rejected("rmsprop", "rho", 1.0f);
    expect_rejected("rmsprop", "eps", 0.0f);
    expect_rejected("adam", "beta1", -0.5f);
    expect_rejected("adamw", "beta2", 1.0f);
    expect_rejected("adam", "eps", -1e-7f);
    expect_rejected("adamw", "weight_decay", -0.01f);
    dpt_optim_spec s;
    dpt_optim_spec_defaults(&s, "adagrad");
    dpt_optim o;
    char err[256] = "";
    assert_int_equal(dpt_optim_init(&o, &s, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "optimizer.name:"));
    assert_non_null(strstr(err, "adagrad"));
    assert_non_null(strstr(err, "rmsprop")); /* lists what is accepted */
}

static void range_message_states_the_expected_interval(void **state) {
    (void)state;
    dpt_optim_spec s;
    dpt_optim_spec_defaults(&s, "momentum");
    s.momentum = 1.5f;
    dpt_optim o;
    char err[256] = "";
    assert_int_equal(dpt_optim_init(&o, &s, 1, err, sizeof err), -1);
    assert_string_equal(err, "optimizer.momentum: expected a number in [0, 1), got 1.5");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_follow_the_documented_values),
        cmocka_unit_test(names_list_all_six_optimizers_and_three_schedules),
        cmocka_unit_test(sgd_moves_each_weight_by_lr_times_gradient),
        cmocka_unit_test(momentum_accumulates_velocity_pytorch_form),
        cmocka_unit_test(nesterov_steps_further_than_momentum_by_mu_times_velocity),
        cmocka_unit_test(sgd_with_momentum_set_behaves_like_momentum),
        cmocka_unit_test(rmsprop_keras_defaults_put_eps_outside_the_sqrt),
        cmocka_unit_test(adam_first_step_moves_every_weight_by_lr_sign_g),
        cmocka_unit_test(adamw_decays_weights_by_lr_times_weight_decay),
        cmocka_unit_test(threaded_step_on_a_large_buffer_matches_the_scalar_rule),
        cmocka_unit_test(decaying_optimizer_state_reaches_zero_not_a_subnormal),
        cmocka_unit_test(scaled_step_equals_the_step_on_the_prescaled_gradient),
        cmocka_unit_test(clip_by_norm_scales_a_norm_5_vector_to_norm_1),
        cmocka_unit_test(grad_norm_accumulates_in_double_independent_of_threads),
        cmocka_unit_test(clip_by_value_clamps_and_keeps_nan_visible),
        cmocka_unit_test(first_nonfinite_finds_the_first_nan_or_inf),
        cmocka_unit_test(constant_schedule_keeps_base_lr),
        cmocka_unit_test(warmup_ramps_linearly_to_base_lr),
        cmocka_unit_test(step_schedule_multiplies_by_gamma_every_step_epochs),
        cmocka_unit_test(cosine_schedule_decays_from_base_to_min_lr),
        cmocka_unit_test(invalid_specs_are_rejected_with_a_message_naming_the_key),
        cmocka_unit_test(range_message_states_the_expected_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
