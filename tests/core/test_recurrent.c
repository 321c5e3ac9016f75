/* The recurrent layers (rnn, lstm, gru) one layer at a time: gradients against finite
 * differences of the float layer and of a plain double reference written from the equations
 * (which also gives the truncated-BPTT gradient), padded steps, PyTorch's gate order on hand-set
 * weights, parameter layout, initialisation, build errors, and results that do not depend on
 * the thread count. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm_packed.h"
#include "core/layer.h"
#include "core/model.h"
#include "core/util.h"
#include "core_check.h"
#include "layer_harness.h"

enum { NB = 3, NT = 5, NF = 3, NH = 4, HMAX = 8 };
/* Lengths as the brief suggests: full, one step, T - 2. */
static const int32_t LENGTHS[NB] = {NT, 1, NT - 2};

typedef enum { K_TANH, K_RELU, K_LSTM, K_GRU } kind;

typedef struct rcfg {
    kind k;
    bool bidir, seq, lens;
    int bptt;
} rcfg;

/* One layer with its own parameter, gradient and cache buffers (offsets start at 0). */
typedef struct rcase {
    rcfg cfg;
    dpt_layer l;
    int B, T, F, H, D, To;
    float *x;        /* (B, T, F) */
    float *y;        /* (B, To, D H) */
    float *r;        /* (B, To, D H) weights of the objective sum r * y; also dy */
    float *dx;       /* (B, T, F) */
    int32_t len[NB]; /* (B) used when cfg.lens */
    dpt_step_ctx ctx;
} rcase;

static const char *type_of(kind k) {
    return k == K_LSTM ? "lstm" : k == K_GRU ? "gru" : "rnn";
}

static int gates_of(kind k) {
    return k == K_LSTM ? 4 : k == K_GRU ? 3 : 1;
}

static const char *yes(bool b) {
    return b ? "true" : "false";
}

static dpt_layer_spec spec_of(const rcfg *f, int H) {
    char line[160];
    snprintf(line, sizeof line, "%s units=%d bidirectional=%s return_sequences=%s bptt_steps=%d%s",
             type_of(f->k), H, yes(f->bidir), yes(f->seq), f->bptt,
             f->k == K_RELU ? " activation=relu" : "");
    return harness_spec(line);
}

static void build_layer(dpt_layer *l, const dpt_layer_spec *s, int F, int T, int B) {
    harness_make(l, s, F, T, 1, B);
}

static void case_build(rcase *c, const rcfg *f, int B, int T, int F, int H, uint64_t stream) {
    memset(c, 0, sizeof *c);
    c->cfg = *f;
    dpt_layer_spec s = spec_of(f, H);
    build_layer(&c->l, &s, F, T, B);
    c->B = B, c->T = T, c->F = F, c->H = H, c->D = f->bidir ? 2 : 1;
    c->To = f->seq ? T : 1;
    assert_int_equal(c->l.out, c->D * H);
    assert_int_equal(c->l.steps_out, c->To);
    size_t ny = (size_t)B * c->To * c->l.out, nx = (size_t)B * T * F;
    c->x = dpt_alloc_floats(nx);
    c->y = dpt_alloc_floats(ny);
    c->r = dpt_alloc_floats(ny);
    c->dx = dpt_alloc_floats(nx);
    fill_uniform(c->l.params, c->l.nparams, -0.8f, 0.8f, stream);
    fill_uniform(c->x, nx, -1.0f, 1.0f, stream + 1);
    fill_uniform(c->r, ny, -1.0f, 1.0f, stream + 2);
    memcpy(c->len, LENGTHS, sizeof c->len); /* read only when cfg.lens (B = NB, T = NT) */
}

static void case_free(rcase *c) {
    harness_free(&c->l);
    free(c->x);
    free(c->y);
    free(c->r);
    free(c->dx);
}

static const dpt_step_ctx *ctx_of(rcase *c) {
    c->ctx = (dpt_step_ctx){.lengths = c->cfg.lens ? c->len : NULL};
    return &c->ctx;
}

static double objective(rcase *c) {
    c->l.type->forward(&c->l, c->x, c->y, c->B, ctx_of(c));
    double s = 0.0;
    for (size_t i = 0; i < (size_t)c->B * c->To * c->l.out; i++) s += (double)c->r[i] * c->y[i];
    return s;
}

/* Analytic gradients of the objective into g (nparams) and gx (B T F).  Gradients start at 0.5
 * and dx at NaN: backward must add to the first and overwrite the second. */
static void analytic(rcase *c, double *g, double *gx) {
    const float g0 = 0.5f;
    for (size_t k = 0; k < c->l.nparams; k++) c->l.grads[k] = g0;
    size_t nx = (size_t)c->B * c->T * c->F;
    for (size_t i = 0; i < nx; i++) c->dx[i] = NAN;
    objective(c);
    c->l.type->backward(&c->l, c->x, c->y, c->r, c->dx, c->B, ctx_of(c));
    for (size_t k = 0; k < c->l.nparams; k++) g[k] = (double)c->l.grads[k] - g0;
    for (size_t i = 0; i < nx; i++) gx[i] = c->dx[i];
}

/* ---------------------------------------------------------------------------------------------
 * Double reference: the equations of docs/recurrent.md in plain loops, one sample and one
 * direction at a time, with no code shared with the layer.  Truncated BPTT is expressed as
 * what it means: at a chunk start the state entering the step is a constant (the value recorded
 * in an unperturbed run), so finite differences of this function are the truncated gradient. */

typedef struct ref_io {
    const double *p;        /* (nparams) the layer's layout */
    const double *x;        /* (B, T, F) */
    const double *frozen_h; /* (D, B, T, H) states entering chunk starts, or NULL */
    const double *frozen_c;
    double *rec_h, *rec_c; /* (D, B, T, H) record of the states entering each step, or NULL */
    double *y;             /* (B, To, D H) outputs */
    double min_pre;        /* smallest |pre-activation| of a relu cell */
    uint64_t signs;        /* hash of the relu pre-activation signs */
} ref_io;

static double dot(const double *a, const double *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double sig(double v) {
    return 1.0 / (1.0 + exp(-v));
}

/* Pre-activation of gate row q of W_ih x + b_ih (xi) and W_hh h + b_hh (hi). */
static void ref_pre(const rcase *c, const double *P[4], int q, const double *x, const double *h,
                    double *xi, double *hi) {
    *xi = dot(P[0] + (size_t)q * c->F, x, c->F) + (P[2] ? P[2][q] : 0.0);
    *hi = dot(P[1] + (size_t)q * c->H, h, c->H) + (P[3] ? P[3][q] : 0.0);
}

/* One step: h, cs (H) are updated in place. */
static void ref_cell(const rcase *c, const double *P[4], const double *x, double *h, double *cs,
                     ref_io *io) {
    int H = c->H;
    double hn[HMAX], xi[4 * HMAX] = {0}, hi[4 * HMAX] = {0}; /* rows gates_of(k) * H used */
    for (int q = 0; q < gates_of(c->cfg.k) * H; q++) ref_pre(c, P, q, x, h, &xi[q], &hi[q]);
    for (int j = 0; j < H; j++) {
        if (c->cfg.k == K_TANH) hn[j] = tanh(xi[j] + hi[j]);
        if (c->cfg.k == K_RELU) {
            double pre = xi[j] + hi[j];
            hn[j] = pre > 0.0 ? pre : 0.0;
            io->min_pre = fmin(io->min_pre, fabs(pre));
            io->signs = io->signs * 1099511628211ULL + (pre > 0.0) + 1;
        }
        if (c->cfg.k == K_LSTM) {
            double i = sig(xi[j] + hi[j]), f = sig(xi[H + j] + hi[H + j]);
            double g = tanh(xi[2 * H + j] + hi[2 * H + j]), o = sig(xi[3 * H + j] + hi[3 * H + j]);
            cs[j] = f * cs[j] + i * g;
            hn[j] = o * tanh(cs[j]);
        }
        if (c->cfg.k == K_GRU) {
            double r = sig(xi[j] + hi[j]), z = sig(xi[H + j] + hi[H + j]);
            double n = tanh(xi[2 * H + j] + r * hi[2 * H + j]);
            hn[j] = (1.0 - z) * n + z * h[j];
        }
    }
    memcpy(h, hn, (size_t)H * sizeof *h);
}

static void ref_params(const rcase *c, const double *p, int d, const double *P[4]) {
    int nq = strcmp(harness_value(&c->l.spec, "use_bias"), "true") == 0 ? 4 : 2;
    for (int q = 0; q < 4; q++) P[q] = q < nq ? p + c->l.tensors[d * nq + q].offset : NULL;
}

static void ref_sequence(const rcase *c, ref_io *io, int b, int d) {
    int T = c->T, H = c->H, len = c->cfg.lens ? c->len[b] : T, k = c->cfg.bptt;
    double h[HMAX] = {0}, cs[HMAX] = {0};
    const double *P[4];
    ref_params(c, io->p, d, P);
    for (int s = 0, i = 0; i < T; i++) {
        int t = d ? T - 1 - i : i;
        double *yt = io->y + ((size_t)b * c->To + (c->To > 1 ? t : 0)) * c->D * H + d * H;
        if (t >= len) { /* padding: state carried, output 0 */
            if (c->To > 1) memset(yt, 0, (size_t)H * sizeof *yt);
            continue;
        }
        size_t at = (((size_t)d * c->B + b) * T + t) * H;
        if (io->frozen_h && k > 0 && s > 0 && s % k == 0) {
            memcpy(h, io->frozen_h + at, (size_t)H * sizeof *h);
            memcpy(cs, io->frozen_c + at, (size_t)H * sizeof *cs);
        }
        if (io->rec_h) memcpy(io->rec_h + at, h, (size_t)H * sizeof *h);
        if (io->rec_c) memcpy(io->rec_c + at, cs, (size_t)H * sizeof *cs);
        ref_cell(c, P, io->x + ((size_t)b * T + t) * c->F, h, cs, io);
        if (c->To > 1) memcpy(yt, h, (size_t)H * sizeof *yt);
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): ref_free frees all; only if calloc fails */
        s++;
    }
    if (c->To == 1) memcpy(io->y + (size_t)b * c->D * H + d * H, h, (size_t)H * sizeof *h);
}

static double ref_objective(const rcase *c, ref_io *io) {
    io->min_pre = INFINITY;
    io->signs = 0;
    for (int b = 0; b < c->B; b++)
        for (int d = 0; d < c->D; d++) ref_sequence(c, io, b, d);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)c->B * c->To * c->l.out; i++) s += (double)c->r[i] * io->y[i];
    return s;
}

/* The reference's buffers for one case, in double. */
typedef struct ref_case {
    ref_io io;
    double *p, *x, *y, *fh, *fc; /* (nparams), (B T F), (B To D H), 2 x (D B T H) */
} ref_case;

static void ref_build(ref_case *rc, const rcase *c) {
    size_t np = c->l.nparams, nx = (size_t)c->B * c->T * c->F;
    size_t ns = (size_t)c->D * c->B * c->T * c->H;
    rc->p = calloc(np, sizeof *rc->p);
    rc->x = calloc(nx, sizeof *rc->x);
    rc->y = calloc((size_t)c->B * c->To * c->l.out, sizeof *rc->y);
    rc->fh = calloc(ns, sizeof *rc->fh);
    rc->fc = calloc(ns, sizeof *rc->fc);
    for (size_t k = 0; k < np; k++) rc->p[k] = c->l.params[k];
    for (size_t i = 0; i < nx; i++) rc->x[i] = c->x[i];
    /* Record the unperturbed states; later runs hold chunk-start states at these values. */
    rc->io = (ref_io){.p = rc->p, .x = rc->x, .rec_h = rc->fh, .rec_c = rc->fc, .y = rc->y};
    ref_objective(c, &rc->io);
    rc->io.rec_h = rc->io.rec_c = NULL;
    rc->io.frozen_h = rc->fh, rc->io.frozen_c = rc->fc;
}

static void ref_free(ref_case *rc) {
    free(rc->p);
    free(rc->x);
    free(rc->y);
    free(rc->fh);
    free(rc->fc);
}

/* Central difference of the reference objective in *v, in double. */
static double ref_numeric(const rcase *c, ref_case *rc, double *v, double h) {
    double v0 = *v;
    *v = v0 + h;
    double fp = ref_objective(c, &rc->io);
    *v = v0 - h;
    double fm = ref_objective(c, &rc->io);
    *v = v0;
    return (fp - fm) / (2.0 * h);
}

/* ---------------------------------------------------------------------------------------------
 * (A) Finite differences of the float layer itself, as test_gradcheck.c: h = 1e-2, perturbed
 * objectives summed in double, |num - ana| <= 1e-3 + 1e-2 |ana|.  Why that is sharp enough and
 * safe: a perturbation changes up to B To D H = 120 outputs of magnitude <= 1, each recomputed
 * in float32 with an error of a few ulp (~3e-7); random in sign, they move the quotient by about
 * sqrt(120) * 3e-7 / 2e-2 ~ 2e-4.  The truncation error h^2 f'''/6 is ~1e-4 for these smooth
 * cells over 5 steps.  Measured: the worst coordinate uses 12% of its tolerance (rnn tanh, 4%
 * lstm, 1% gru and relu; printed by the test).  Wrong gate orders, missing terms or transposes
 * are off by O(0.1). */
#define FD_H    1e-2f
#define FD_RTOL 1e-2
#define FD_ATOL 1e-3

/* relu: a difference quotient across a kink is meaningless.  The reference says (sign pattern of
 * all pre-activations) whether a perturbation crosses one; those coordinates are skipped, and a
 * check skipping more than a quarter of them would be too weak, so it fails. */
static bool crosses_kink(const rcase *c, ref_case *rc, double *v, float lo, float hi) {
    if (c->cfg.k != K_RELU) return false;
    double v0 = *v;
    rc->io.frozen_h = NULL;
    ref_objective(c, &rc->io);
    uint64_t base = rc->io.signs;
    *v = lo;
    ref_objective(c, &rc->io);
    bool cross = rc->io.signs != base;
    *v = hi;
    ref_objective(c, &rc->io);
    cross = cross || rc->io.signs != base;
    *v = v0;
    rc->io.frozen_h = rc->fh;
    return cross;
}

static double float_numeric(rcase *c, float *v) {
    float v0 = *v, up = v0 + FD_H, down = v0 - FD_H;
    *v = up;
    double fp = objective(c);
    *v = down;
    double fm = objective(c);
    *v = v0;
    return (fp - fm) / ((double)up - (double)down);
}

typedef struct fd_stats {
    int checked, skipped;
    double worst; /* largest |num - ana| / (FD_ATOL + FD_RTOL |ana|), the share of the tolerance
                     used */
} fd_stats;

static void check_float_coordinate(rcase *c, ref_case *rc, float *v, double *vd, double ana,
                                   fd_stats *st) {
    if (crosses_kink(c, rc, vd, *v - FD_H, *v + FD_H)) {
        st->skipped++;
        return;
    }
    double num = float_numeric(c, v);
    assert_close(ana, num, FD_RTOL, FD_ATOL);
    st->checked++;
    st->worst = fmax(st->worst, fabs(ana - num) / (FD_ATOL + FD_RTOL * fabs(ana)));
}

static void check_float_fd(const rcfg *f, fd_stats *st) {
    rcase c;
    case_build(&c, f, NB, NT, NF, NH, 100 + f->k);
    size_t np = c.l.nparams, nx = (size_t)NB * NT * NF;
    double *g = calloc(np, sizeof *g), *gx = calloc(nx, sizeof *gx);
    analytic(&c, g, gx);
    ref_case rc;
    ref_build(&rc, &c);
    for (size_t k = 0; k < np; k++)
        check_float_coordinate(&c, &rc, &c.l.params[k], &rc.p[k], g[k], st);
    for (size_t i = 0; i < nx; i++) check_float_coordinate(&c, &rc, &c.x[i], &rc.x[i], gx[i], st);
    ref_free(&rc);
    free(g);
    free(gx);
    case_free(&c);
}

static const char *name_of(kind k) {
    return k == K_RELU ? "rnn relu" : k == K_TANH ? "rnn tanh" : type_of(k);
}

/* Every direction count, output mode and length setting of one cell. */
static void float_fd_all_modes(kind k) {
    fd_stats st = {0};
    for (int m = 0; m < 8; m++) {
        rcfg f = {.k = k, .bidir = m & 1, .seq = (m >> 1) & 1, .lens = (m >> 2) & 1};
        check_float_fd(&f, &st);
    }
    print_message(
        "%s: %d coordinates, worst error %.0f%% of the tolerance, %d skipped at relu kinks\n",
        name_of(k), st.checked, 100.0 * st.worst, st.skipped);
    assert_true(st.skipped <= (st.checked + st.skipped) / 4);
}

static void test_rnn_tanh_gradients_match_finite_differences(void **state) {
    (void)state;
    float_fd_all_modes(K_TANH);
}

static void test_rnn_relu_gradients_match_finite_differences_away_from_kinks(void **state) {
    (void)state;
    float_fd_all_modes(K_RELU);
}

static void test_lstm_gradients_match_finite_differences(void **state) {
    (void)state;
    float_fd_all_modes(K_LSTM);
}

static void test_gru_gradients_match_finite_differences(void **state) {
    (void)state;
    float_fd_all_modes(K_GRU);
}

/* ---------------------------------------------------------------------------------------------
 * (B) Against the double reference: outputs, and gradients against central differences of the
 * reference (h = 1e-5 in double: truncation ~1e-10 f''', rounding ~1e-16 / 1e-5, both far below
 * the float32 error of the layer).  The layer's gradients are float32 sums over B T = 15 rows
 * of O(1) terms propagated through at most 5 steps: measured worst |ana - ref| is 7e-7, so
 * 2e-5 + 1e-4 |ref| leaves margin while a truncation cut one step off, or a gradient leaking
 * into one padded step, changes entries by > 1e-3.  Outputs are O(1) float32 values after 5
 * steps: 2e-6. */
#define REF_H    1e-5
#define REF_RTOL 1e-4
#define REF_ATOL 2e-5
#define OUT_TOL  2e-6
/* relu: pre-activations at least this far from 0, so a 1e-5 step never crosses the kink. */
#define REF_KINK_GAP 1e-3

/* Returns the largest |ana - ref| over all coordinates. */
static double check_against_reference(const rcfg *f, double *max_trunc_effect) {
    rcase c;
    case_build(&c, f, NB, NT, NF, NH, 200 + f->k);
    size_t np = c.l.nparams, nx = (size_t)NB * NT * NF, ny = (size_t)NB * c.To * c.l.out;
    double *g = calloc(np, sizeof *g), *gx = calloc(nx, sizeof *gx);
    analytic(&c, g, gx);
    ref_case rc;
    ref_build(&rc, &c);
    for (size_t i = 0; i < ny; i++) assert_near(c.y[i], rc.y[i], OUT_TOL);
    if (f->k == K_RELU) assert_true(rc.io.min_pre > REF_KINK_GAP);
    double worst = 0.0;
    for (size_t k = 0; k < np + nx; k++) {
        double *v = k < np ? &rc.p[k] : &rc.x[k - np], ana = k < np ? g[k] : gx[k - np];
        double ref = ref_numeric(&c, &rc, v, REF_H);
        assert_close(ana, ref, REF_RTOL, REF_ATOL);
        worst = fmax(worst, fabs(ana - ref));
        if (f->bptt) { /* how much truncation changes this coordinate */
            rc.io.frozen_h = NULL;
            double full = ref_numeric(&c, &rc, v, REF_H);
            rc.io.frozen_h = rc.fh;
            *max_trunc_effect = fmax(*max_trunc_effect, fabs(full - ref));
        }
    }
    ref_free(&rc);
    free(g);
    free(gx);
    case_free(&c);
    return worst;
}

static void reference_all_modes(kind k) {
    double worst = 0.0, trunc_effect = 0.0;
    /* Chunks of 2 and 3 < T = 5: with lengths {5, 1, 3} a reverse chunk grid counted from T
     * instead of from the length differs from the right one only for k = 3. */
    const int bptt[3] = {0, 2, 3};
    for (int m = 0; m < 24; m++) {
        rcfg f = {.k = k, .bidir = m & 1, .seq = (m >> 1) & 1, .lens = (m >> 2) & 1};
        f.bptt = bptt[m >> 3];
        worst = fmax(worst, check_against_reference(&f, &trunc_effect));
    }
    print_message("%s: worst |ana - ref| %.2e; truncation changes gradients by up to %.2e\n",
                  name_of(k), worst, trunc_effect);
    /* The truncated checks are only meaningful if truncation changes the gradient. */
    assert_true(trunc_effect > 1e-2);
}

static void test_rnn_tanh_matches_double_reference_with_and_without_truncation(void **state) {
    (void)state;
    reference_all_modes(K_TANH);
}

static void test_rnn_relu_matches_double_reference_with_and_without_truncation(void **state) {
    (void)state;
    reference_all_modes(K_RELU);
}

static void test_lstm_matches_double_reference_with_and_without_truncation(void **state) {
    (void)state;
    reference_all_modes(K_LSTM);
}

static void test_gru_matches_double_reference_with_and_without_truncation(void **state) {
    (void)state;
    reference_all_modes(K_GRU);
}

/* bptt_steps >= T cuts only where the state is the initial constant: bit-identical gradients. */
static void test_bptt_steps_of_at_least_T_give_exactly_the_untruncated_gradients(void **state) {
    (void)state;
    for (int m = 0; m < 32; m++) {
        rcfg f = {
            .k = (kind)(m & 3), .bidir = (m >> 2) & 1, .seq = (m >> 3) & 1, .lens = (m >> 4) & 1};
        rcase c[3];
        const int bptt[3] = {0, NT, NT + 3};
        double *g[3], *gx[3];
        for (int i = 0; i < 3; i++) {
            f.bptt = bptt[i];
            case_build(&c[i], &f, NB, NT, NF, NH, 300);
            g[i] = calloc(c[i].l.nparams, sizeof *g[i]);
            gx[i] = calloc((size_t)NB * NT * NF, sizeof *gx[i]);
            analytic(&c[i], g[i], gx[i]);
        }
        for (int i = 1; i < 3; i++) {
            assert_memory_equal(g[i], g[0], c[0].l.nparams * sizeof *g[0]);
            assert_memory_equal(gx[i], gx[0], (size_t)NB * NT * NF * sizeof *gx[0]);
        }
        for (int i = 0; i < 3; i++) {
            free(g[i]);
            free(gx[i]);
            case_free(&c[i]);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Padding: a sample of length L in a batch padded to T behaves exactly as the sample alone with
 * T = L.  Float32 products over the same terms in the same order: the only differences allowed
 * are BLIS choosing a different kernel for 1 row than for 3 (~1e-7 on O(1) values). */
#define ALONE_TOL 1e-6

static void check_alone(rcase *batch, int b, const double *g, const double *gx) {
    rcfg f = batch->cfg;
    f.lens = false;
    int L = batch->len[b], DH = batch->l.out;
    rcase a;
    case_build(&a, &f, 1, L, NF, NH, 400);
    memcpy(a.l.params, batch->l.params, a.l.nparams * sizeof *a.l.params);
    memcpy(a.x, batch->x + (size_t)b * NT * NF, (size_t)L * NF * sizeof *a.x);
    const float *rb = batch->r + (size_t)b * batch->To * DH; /* (To, D H) */
    for (int t = 0; t < a.To; t++)
        for (int j = 0; j < DH; j++) a.r[t * DH + j] = rb[t * DH + j];
    double *ga = calloc(a.l.nparams, sizeof *ga), *gxa = calloc((size_t)L * NF, sizeof *gxa);
    analytic(&a, ga, gxa);
    const float *yb = batch->y + (size_t)b * batch->To * DH;
    for (int i = 0; i < a.To * DH; i++) assert_near(yb[i], a.y[i], ALONE_TOL);
    for (size_t k = 0; k < a.l.nparams; k++) assert_close(g[k], ga[k], ALONE_TOL, ALONE_TOL);
    for (int i = 0; i < NT * NF; i++) {
        double want = i < L * NF ? gxa[i] : 0.0; /* padded inputs get exactly 0 */
        if (i < L * NF)
            assert_close(gx[(size_t)b * NT * NF + i], want, ALONE_TOL, ALONE_TOL);
        else
            assert_true(gx[(size_t)b * NT * NF + i] == 0.0);
    }
    free(ga);
    free(gxa);
    case_free(&a);
}

/* Only sample b carries loss weight; its padded outputs are 0 and everything else is as if it
 * ran alone. */
static void check_padding(const rcfg *f, int b) {
    rcase c;
    case_build(&c, f, NB, NT, NF, NH, 400);
    int DH = c.l.out;
    for (int i = 0; i < NB * c.To * DH; i++)
        if (i / (c.To * DH) != b) c.r[i] = 0.0f;
    double *g = calloc(c.l.nparams, sizeof *g), *gx = calloc((size_t)NB * NT * NF, sizeof *gx);
    analytic(&c, g, gx);
    if (f->seq)
        for (int t = c.len[b]; t < NT; t++)
            for (int j = 0; j < DH; j++) assert_true(c.y[((size_t)b * NT + t) * DH + j] == 0.0f);
    check_alone(&c, b, g, gx);
    free(g);
    free(gx);
    case_free(&c);
}

static void test_padded_steps_output_zero_and_act_as_if_the_sample_ran_alone(void **state) {
    (void)state;
    const kind kinds[3] = {K_TANH, K_LSTM, K_GRU};
    for (int m = 0; m < 12; m++) {
        rcfg f = {.k = kinds[m % 3], .bidir = (m / 3) & 1, .seq = (m / 6) & 1, .lens = true};
        for (int b = 0; b < NB; b++) check_padding(&f, b);
    }
}

/* Padded input values never reach an output, and backward multiplies them by an exact 0: large
 * values there change neither outputs nor gradients (bit for bit). */
static void test_padded_inputs_change_nothing(void **state) {
    (void)state;
    rcfg f = {.k = K_LSTM, .bidir = true, .seq = true, .lens = true};
    rcase c;
    case_build(&c, &f, NB, NT, NF, NH, 500);
    size_t ny = (size_t)NB * NT * c.l.out, np = c.l.nparams, nx = (size_t)NB * NT * NF;
    double *g[2] = {calloc(np, sizeof(double)), calloc(np, sizeof(double))};
    double *gx[2] = {calloc(nx, sizeof(double)), calloc(nx, sizeof(double))};
    float *y0 = malloc(ny * sizeof *y0);
    analytic(&c, g[0], gx[0]);
    memcpy(y0, c.y, ny * sizeof *y0);
    for (int b = 0; b < NB; b++)
        for (int t = c.len[b]; t < NT; t++)
            for (int j = 0; j < NF; j++) c.x[((size_t)b * NT + t) * NF + j] = 1e3f;
    analytic(&c, g[1], gx[1]);
    assert_memory_equal(c.y, y0, ny * sizeof *y0);
    assert_memory_equal(g[1], g[0], np * sizeof(double));
    assert_memory_equal(gx[1], gx[0], nx * sizeof(double));
    for (int i = 0; i < 2; i++) free(g[i]), free(gx[i]);
    free(y0);
    case_free(&c);
}

/* ---------------------------------------------------------------------------------------------
 * Hand-computed values that pin down the conventions. */

static dpt_layer make_layer(const char *type, const char *act, int F, int H, int T, bool bidir,
                            bool seq) {
    char line[160];
    snprintf(line, sizeof line, "%s units=%d bidirectional=%s return_sequences=%s%s%s", type, H,
             yes(bidir), yes(seq), act[0] ? " activation=" : "", act);
    dpt_layer_spec s = harness_spec(line);
    dpt_layer l;
    build_layer(&l, &s, F, T, 1);
    return l;
}

static void free_layer(dpt_layer *l) {
    harness_free(l);
}

/* relu rnn, H = F = 1, W_ih = 1, W_hh = 0.5, x = (1, 2, 3): every value positive, so relu is
 * the identity.  Forward h = 1, 2.5, 4.25; reverse (from t = 2) h_2 = 3, h_1 = 3.5, h_0 = 2.75.
 * With length 2 the reverse direction starts at t = 1: h_1 = 2, h_0 = 2. */
static void test_bidirectional_rnn_outputs_match_hand_computed_values(void **state) {
    (void)state;
    const float x[3] = {1, 2, 3}, w[8] = {1, 0.5f, 0, 0, 1, 0.5f, 0, 0};
    const float seq_full[6] = {1, 2.75f, 2.5f, 3.5f, 4.25f, 3}, last_full[2] = {4.25f, 2.75f};
    const float seq_len2[6] = {1, 2, 2.5f, 2, 0, 0}, last_len2[2] = {2.5f, 2};
    const int32_t len2 = 2;
    dpt_step_ctx ctx = {.lengths = &len2};
    for (int seq = 0; seq < 2; seq++) {
        dpt_layer l = make_layer("rnn", "relu", 1, 1, 3, true, seq);
        memcpy(l.params, w, sizeof w); /* W_ih, W_hh, b_ih, b_hh, then _reverse */
        float y[6];
        const float *want[2] = {seq ? seq_full : last_full, seq ? seq_len2 : last_len2};
        for (int v = 0; v < 2; v++) {
            l.type->forward(&l, x, y, 1, v ? &ctx : NULL);
            for (int i = 0; i < (seq ? 6 : 2); i++) assert_near(y[i], want[v][i], 1e-6);
        }
        free_layer(&l);
    }
}

/* LSTM, H = F = 1, x = (1, 0, 0).  Only g reads the input (W_ih row 2 = 1); biases i 0, f 20,
 * g 0, o 1 (b_hh 0, W_hh 0).  Step 0: i = 0.5, g = tanh 1, c = 0.5 tanh 1 = 0.3807971,
 * o = sigmoid 1 = 0.7310586, h = o tanh c = 0.2656663.  Then g = tanh 0 = 0 and f = 1 - 2e-9:
 * c and h stay.  Any other gate order changes these numbers: with f and i swapped c would be
 * tanh 1 and halve each step; with o and g swapped h_0 would be 0.5 tanh(0.5 tanh(1)).  With a
 * forget bias of -20 the cell forgets: h_1 = o tanh(0) = 0. */
static void test_lstm_gate_order_is_i_f_g_o_and_a_large_forget_bias_carries_the_cell(void **st) {
    (void)st;
    const float x[3] = {1, 0, 0};
    for (int v = 0; v < 2; v++) {
        dpt_layer l = make_layer("lstm", "", 1, 1, 3, false, true);
        float *W_ih = l.params, *W_hh = W_ih + 4, *b_ih = W_hh + 4; /* (4, 1), (4, 1), (4) */
        memset(l.params, 0, l.nparams * sizeof *l.params);
        W_ih[2] = 1.0f;
        b_ih[1] = v ? -20.0f : 20.0f;
        b_ih[3] = 1.0f;
        float y[3];
        l.type->forward(&l, x, y, 1, NULL);
        assert_near(y[0], 0.2656663, 1e-6);
        assert_near(y[1], v ? 0.0 : 0.2656663, 1e-6);
        assert_near(y[2], v ? 0.0 : 0.2656663, 1e-6);
        free_layer(&l);
    }
}

/* GRU, H = F = 1, x = (1, 0, 0).  z reads the input: W_iz = -40, b_iz = 20, so z = 0 at step 0
 * and z = 1 - 2e-9 after.  r = sigmoid(0) = 0.5, W_in = 1, b_hn = 0.5: PyTorch's
 * n = tanh(W_in x + b_in + r (W_hn h + b_hn)) = tanh(1 + 0.25) = 0.8482836 = h_0, and z ~ 1
 * keeps it.  Keras's reset_after=False form tanh(W_in x + W_hn (r h) + b_hn) would give
 * tanh(1.5) = 0.9051483; swapped r and z blocks would not keep the state. */
static void test_gru_gate_order_is_r_z_n_with_reset_applied_to_W_hn_h_plus_b_hn(void **state) {
    (void)state;
    dpt_layer l = make_layer("gru", "", 1, 1, 3, false, true);
    float *W_ih = l.params, *W_hh = W_ih + 3, *b_ih = W_hh + 3, *b_hh = b_ih + 3; /* (3) each */
    memset(l.params, 0, l.nparams * sizeof *l.params);
    W_ih[1] = -40.0f, b_ih[1] = 20.0f;
    W_ih[2] = 1.0f, b_hh[2] = 0.5f;
    const float x[3] = {1, 0, 0};
    float y[3];
    l.type->forward(&l, x, y, 1, NULL);
    for (int t = 0; t < 3; t++) assert_near(y[t], 0.8482836, 1e-6);
    free_layer(&l);
}

/* ---------------------------------------------------------------------------------------------
 * Parameters, initialisation, errors. */

static void test_tensors_follow_pytorch_names_shapes_and_order(void **state) {
    (void)state;
    const char *names[8] = {"W_ih",         "W_hh",         "b_ih",         "b_hh",
                            "W_ih_reverse", "W_hh_reverse", "b_ih_reverse", "b_hh_reverse"};
    const char *types[3] = {"rnn", "lstm", "gru"};
    for (int k = 0; k < 3; k++) {
        int G = k == 0 ? 1 : k == 1 ? 4 : 3;
        dpt_layer l = make_layer(types[k], "", 5, 6, 2, true, false);
        assert_int_equal(l.ntensors, 8);
        for (int i = 0; i < 8; i++) {
            const dpt_param_tensor *t = &l.tensors[i];
            bool w = i % 4 < 2;
            assert_string_equal(t->name, names[i]);
            assert_int_equal(t->ndim, w ? 2 : 1);
            assert_int_equal(t->dim[0], G * 6);
            if (w) assert_int_equal(t->dim[1], i % 4 == 0 ? 5 : 6);
            assert_int_equal(t->size, (size_t)G * 6 * (w ? (i % 4 == 0 ? 5 : 6) : 1));
            assert_int_equal(t->decay, w);
        }
        assert_int_equal(l.out, 12);
        assert_int_equal(l.steps_out, 1);
        free_layer(&l);
    }
}

static void test_without_bias_only_the_matrices_remain(void **state) {
    (void)state;
    dpt_layer_spec s = harness_spec("gru units=2 use_bias=false bidirectional=true");
    dpt_layer l;
    build_layer(&l, &s, 3, 4, 1);
    assert_int_equal(l.ntensors, 4);
    assert_string_equal(l.tensors[2].name, "W_ih_reverse");
    assert_int_equal(l.nparams, 2 * (6 * 3 + 6 * 2));
    free_layer(&l);
}

/* PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)) for every tensor.  With 2 x 4 x 16 x 25 draws the
 * largest |w| comes within 1% of the bound with probability 1 - 0.99^3200 ~ 1. */
static void test_default_init_is_uniform_within_one_over_sqrt_H(void **state) {
    (void)state;
    dpt_layer l = make_layer("lstm", "", 9, 16, 2, true, false);
    dpt_rng rng;
    dpt_rng_seed(&rng, 1, 2);
    l.type->init(&l, &rng);
    float lim = 0.25f, mx = 0.0f;
    double mean = 0.0;
    for (size_t k = 0; k < l.nparams; k++) {
        assert_true(fabsf(l.params[k]) <= lim);
        mx = fmaxf(mx, fabsf(l.params[k]));
        mean += l.params[k];
    }
    assert_true(mx > 0.99f * lim);
    /* mean of n uniforms has stddev lim / sqrt(3 n) ~ 0.0017 for n = 7232; 5 sigma */
    assert_near(mean / (double)l.nparams, 0.0, 0.009);
    free_layer(&l);
}

static void test_named_initialisers_replace_the_default(void **state) {
    (void)state;
    dpt_layer_spec s = harness_spec("rnn units=3 kernel_init=ones bias_init=zeros");
    dpt_layer l;
    build_layer(&l, &s, 2, 2, 1);
    dpt_rng rng;
    dpt_rng_seed(&rng, 1, 2);
    l.type->init(&l, &rng);
    for (size_t k = 0; k < l.nparams; k++) assert_true(l.params[k] == (k < 15 ? 1.0f : 0.0f));
    free_layer(&l);
}

static void expect_build_error(dpt_layer_spec s, int steps, const char *msg) {
    dpt_model m;
    char err[512];
    s.line = 7;
    assert_int_equal(dpt_model_build(&m, &s, 1, harness_steps(steps, 3), 4, err, sizeof err), -1);
    if (!strstr(err, msg) || !strstr(err, "layer 0") || !strstr(err, "line 7")) {
        print_error("message '%s' lacks '%s'\n", err, msg);
        fail();
    }
}

/* Forward output, parameter gradients and dx of one pass on nt threads, copied into out. */
static void pass_on_threads(rcase *c, const dpt_step_ctx *ctx, int nt, float *out) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(nt);
    size_t ny = (size_t)c->B * c->To * c->l.out, nx = (size_t)c->B * c->T * c->F;
    memset(c->l.grads, 0, c->l.nparams * sizeof *c->l.grads);
    c->l.type->forward(&c->l, c->x, c->y, c->B, ctx);
    c->l.type->backward(&c->l, c->x, c->y, c->r, c->dx, c->B, ctx);
    omp_set_num_threads(saved);
    memcpy(out, c->y, ny * sizeof *out);
    memcpy(out + ny, c->l.grads, c->l.nparams * sizeof *out);
    memcpy(out + ny + c->l.nparams, c->dx, nx * sizeof *out);
}

/* The time loop splits rows among threads (8-row tiles and remainder rows, one block per
 * direction's thread): every output and gradient must be the same bits on 1 to 4 threads, with
 * variable lengths, truncation, both directions and per-step outputs.  H = 40 leaves partial
 * 32-column panels in both per-step products. */
static void test_results_are_the_same_bits_on_any_thread_count(void **state) {
    (void)state;
    enum { B = 21, T = 6, F = 5, H = 40 };
    const rcfg cfgs[] = {{K_LSTM, false, false, true, 0},
                         {K_GRU, true, true, true, 2},
                         {K_TANH, false, true, false, 4},
                         {K_LSTM, true, false, true, 3}};
    int32_t len[B];
    for (int b = 0; b < B; b++) len[b] = 1 + (b * 7) % T;
    /* k >= 4: the same cases on the packed kernels' path for CPUs without AVX-512 */
    for (size_t k = 0; k < 2 * sizeof cfgs / sizeof cfgs[0]; k++) {
        dpt_packed_allow_avx512(k < sizeof cfgs / sizeof cfgs[0]);
        rcase c;
        const rcfg *f = &cfgs[k % (sizeof cfgs / sizeof cfgs[0])];
        case_build(&c, f, B, T, F, H, 40 + 3 * k);
        dpt_step_ctx ctx = {.lengths = f->lens ? len : NULL};
        size_t n = (size_t)B * c.To * c.l.out + c.l.nparams + (size_t)B * T * F;
        float *one = dpt_alloc_floats(n), *many = dpt_alloc_floats(n);
        pass_on_threads(&c, &ctx, 1, one);
        for (int nt = 2; nt <= 4; nt++) {
            pass_on_threads(&c, &ctx, nt, many);
            assert_memory_equal(one, many, n * sizeof *one);
        }
        free(one);
        free(many);
        case_free(&c);
    }
    dpt_packed_allow_avx512(true);
}

/* Values out of a key's range are refused when the key is set (as the config reads it); a
 * spec without its required units is refused when the model is built. */
static void expect_set_error(dpt_layer_spec *s, const char *key, const char *value,
                             const char *msg) {
    char err[512] = "";
    assert_int_equal(dpt_layer_spec_set(s, key, value, err, sizeof err), -1);
    if (!strstr(err, msg)) {
        print_error("message '%s' lacks '%s'\n", err, msg);
        fail();
    }
}

static void test_bad_specs_are_rejected_with_a_message(void **state) {
    (void)state;
    dpt_layer_spec s = harness_spec("lstm");
    expect_build_error(s, 4, "units must be a positive integer (got 0)");
    expect_set_error(&s, "units", "0", "units: expected an integer >= 1, got '0'");
    expect_set_error(&s, "bptt_steps", "-1", "bptt_steps: expected an integer >= 0, got '-1'");
    expect_set_error(&s, "kernel_init", "orthogonal",
                     "kernel_init: expected one of: zeros, ones, uniform, normal, glorot_uniform");
    expect_set_error(&s, "activation", "sigmoid", "activation: unknown key for a lstm layer");
    s = harness_spec("rnn units=2");
    assert_string_equal(harness_value(&s, "activation"), "tanh"); /* the default, written in */
    expect_set_error(&s, "activation", "sigmoid",
                     "activation: expected one of: tanh, relu; got 'sigmoid'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rnn_tanh_gradients_match_finite_differences),
        cmocka_unit_test(test_rnn_relu_gradients_match_finite_differences_away_from_kinks),
        cmocka_unit_test(test_lstm_gradients_match_finite_differences),
        cmocka_unit_test(test_gru_gradients_match_finite_differences),
        cmocka_unit_test(test_rnn_tanh_matches_double_reference_with_and_without_truncation),
        cmocka_unit_test(test_rnn_relu_matches_double_reference_with_and_without_truncation),
        cmocka_unit_test(test_lstm_matches_double_reference_with_and_without_truncation),
        cmocka_unit_test(test_gru_matches_double_reference_with_and_without_truncation),
        cmocka_unit_test(test_bptt_steps_of_at_least_T_give_exactly_the_untruncated_gradients),
        cmocka_unit_test(test_padded_steps_output_zero_and_act_as_if_the_sample_ran_alone),
        cmocka_unit_test(test_padded_inputs_change_nothing),
        cmocka_unit_test(test_bidirectional_rnn_outputs_match_hand_computed_values),
        cmocka_unit_test(test_lstm_gate_order_is_i_f_g_o_and_a_large_forget_bias_carries_the_cell),
        cmocka_unit_test(test_gru_gate_order_is_r_z_n_with_reset_applied_to_W_hn_h_plus_b_hn),
        cmocka_unit_test(test_tensors_follow_pytorch_names_shapes_and_order),
        cmocka_unit_test(test_without_bias_only_the_matrices_remain),
        cmocka_unit_test(test_default_init_is_uniform_within_one_over_sqrt_H),
        cmocka_unit_test(test_named_initialisers_replace_the_default),
        cmocka_unit_test(test_bad_specs_are_rejected_with_a_message),
        cmocka_unit_test(test_results_are_the_same_bits_on_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
