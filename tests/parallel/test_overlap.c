/* The allreduce overlapped with backward (parallel/comm.h, dpt_step_set_overlap): the bucket
 * plan covers the gradients exactly once in reverse layer order within the size bound; several
 * steps of a dense and of a stacked-LSTM model give the same parameters, counts, losses and
 * statistics with overlap on (one layer per bucket, two layers, one bucket) as with the inline
 * allreduce, including a rank without rows and a non-finite step; the trace shows every bucket
 * reduced between the start of backward and the end of the wait; the thread blocks signals;
 * named sums, also beyond the model's default head room, reduce exactly and change nothing else.
 *
 * Tolerance: at 1 and 2 ranks an allreduce sum is a + b whatever the algorithm, so the results
 * must be bitwise equal.  At 3 and 4 ranks Open MPI may pick another algorithm (another
 * summation order) for a bucket than for the whole buffer: each gradient sum of P terms then
 * differs by at most (P - 1) * 2^-24 * sum |g_r| (about 2.4e-7 for gradients of order 1), which
 * momentum SGD (lr 0.05, mu 0.9: weight at most 1 + 0.9 + ... < 10) turns into parameter
 * differences below 1.2e-6 per step, 6e-6 over the 5 steps; 2e-5 (relative above 1) leaves room
 * for the second-order effect through the changed parameters and is still 500x below what a
 * bucket reduced twice or not at all would give (lr * |g| ~ 1e-2). */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/optim.h"
#include "core/rng.h"
#include "core/util.h"
#include "mpitest.h"
#include "parallel/comm.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"
#include "parallel/step.h"

#define NSTEPS   5
#define MAXB     16
#define NSTATS   2
#define TOL      2e-5
#define NO_NAN   (-1)
#define NAN_STEP 3

/* Global batch of each step: 13 splits unevenly at 2, 3, 4 ranks; 2 leaves ranks without rows. */
static const int global_batch[NSTEPS] = {13, 13, 2, 13, 13};

typedef struct model_case {
    const char *name;
    int nspecs;
    dpt_layer_spec specs[4];
    int T, F, K;
} model_case;

static void spec(dpt_layer_spec *s, const char *type, int units, const char *act, bool seq) {
    char line[128], err[256];
    snprintf(line, sizeof line, "%s units=%d%s%s%s", type, units,
             seq ? " return_sequences=true" : "", act[0] ? " activation=" : "", act);
    if (dpt_layer_spec_parse(s, line, err, sizeof err)) dpt_fatal("%s", err);
}

/* 4 -> dense h0 relu -> dense h1 tanh -> dense 3 (5 layers, 3 with parameters). */
static model_case mlp_case(const char *name, int h0, int h1) {
    model_case c = {.name = name, .nspecs = 3, .T = 1, .F = 4, .K = 3};
    spec(&c.specs[0], "dense", h0, "relu", false);
    spec(&c.specs[1], "dense", h1, "tanh", false);
    spec(&c.specs[2], "dense", 3, "", false);
    return c;
}

static model_case dense_case(void) {
    return mlp_case("dense", 6, 5);
}

/* The middle layer's 160,400 gradients are reported final in 4 pieces of 100 rows
 * (core/layer_dense.c), which buckets follow. */
static model_case wide_case(void) {
    return mlp_case("wide", 400, 400);
}

/* (5 steps x 3) -> lstm 6 (sequences) -> lstm 4 (last step) -> dense 2. */
static model_case lstm_case(void) {
    model_case c = {.name = "lstm", .nspecs = 3, .T = 5, .F = 3, .K = 2};
    spec(&c.specs[0], "lstm", 6, "", true);
    spec(&c.specs[1], "lstm", 4, "", false);
    spec(&c.specs[2], "dense", 2, "", false);
    return c;
}

static void build(const model_case *c, dpt_model *m) {
    char err[512];
    dpt_shape in = dpt_shape_from_steps(c->T, c->F);
    int rc = dpt_model_build(m, c->specs, c->nspecs, &in, MAXB, err, sizeof err);
    CHECK_MSG(rc == 0, err);
    dpt_model_init_params(m, 3);
}

/* ---- the bucket plan ---- */

/* Whether off (into the model's gradients) is where one of layer l's pieces starts or ends;
 * *piece = that piece's index (grad_pieces for its end). */
static bool piece_boundary(const dpt_layer *l, size_t off, int *piece) {
    size_t lo = l->tensors[0].offset;
    int np = l->grad_pieces > 1 ? l->grad_pieces : 1;
    for (int p = 0; p <= np; p++)
        if (off >= lo && off - lo == dpt_layer_piece_start(l, p)) return *piece = p, true;
    return false;
}

/* Buckets go down from the end without gaps, start and end where pieces that backward
 * reports do (whole layers or a cut layer's pieces), and hold at most bytes unless they are
 * a single piece. */
static void check_plan(const dpt_model *m, size_t bytes, const dpt_bucket *b, int nb) {
    size_t expect_off = m->nparams;
    int prev_first = m->nlayers;
    for (int k = 0; k < nb; k++) {
        const dpt_layer *first = &m->layers[b[k].first_layer], *last = &m->layers[b[k].last_layer];
        CHECK(b[k].len > 0 && b[k].off + b[k].len == expect_off);
        expect_off = b[k].off;
        CHECK(first->nparams > 0 && last->nparams > 0);
        /* the same layer as the previous bucket only when that layer comes in pieces */
        CHECK(b[k].first_layer <= b[k].last_layer && b[k].last_layer <= prev_first);
        CHECK(b[k].last_layer < prev_first || last->grad_pieces > 1);
        prev_first = b[k].first_layer;
        int p0, p1;
        CHECK(piece_boundary(first, b[k].off, &p0) &&
              piece_boundary(last, b[k].off + b[k].len, &p1));
        bool one_piece = b[k].first_layer == b[k].last_layer && p1 == p0 + 1;
        CHECK(b[k].len * sizeof(float) <= bytes || one_piece);
    }
    CHECK(expect_off == 0); /* covered [0, nparams) exactly once */
}

static int param_layers(const dpt_model *m) {
    int n = 0;
    for (int i = 0; i < m->nlayers; i++) n += m->layers[i].nparams > 0;
    return n;
}

static void plan_covers_the_gradients_once_in_reverse_layer_order(void) {
    model_case cases[3] = {dense_case(), lstm_case(), wide_case()};
    for (int c = 0; c < 3; c++) {
        dpt_model m;
        build(&cases[c], &m);
        dpt_bucket b[16];
        size_t bytes[6] = {
            1, 4 * m.layers[m.nlayers - 1].nparams, 400, 4000, 400000, (size_t)1 << 30};
        for (int i = 0; i < 6; i++) {
            int nb = dpt_bucket_plan(&m, bytes[i], NULL);
            CHECK(nb <= 16 && dpt_bucket_plan(&m, bytes[i], b) == nb);
            check_plan(&m, bytes[i], b, nb);
            /* one bucket per layer, but dense_1 of the wide model in its 4 pieces */
            if (i == 0) CHECK(nb == param_layers(&m) + (c == 2 ? 3 : 0));
            if (i == 5) CHECK(nb == 1); /* everything in one */
        }
        dpt_model_free(&m);
    }
    /* The dense model by hand: dense_0 (0, 30), dense_1 (30, 35), dense_2 (65, 18); layer
     * indices 0, 2, 4 (the activations are layers 1 and 3). */
    dpt_model m;
    model_case dc = dense_case();
    build(&dc, &m);
    dpt_bucket b[8];
    CHECK(m.nparams == 83);
    CHECK(dpt_bucket_plan(&m, 1, b) == 3);
    CHECK(b[0].off == 65 && b[0].len == 18 && b[0].first_layer == 4 && b[0].last_layer == 4);
    CHECK(b[1].off == 30 && b[1].len == 35 && b[1].first_layer == 2);
    CHECK(b[2].off == 0 && b[2].len == 30 && b[2].first_layer == 0);
    CHECK(dpt_bucket_plan(&m, 53 * sizeof(float), b) == 2); /* dense_2 + dense_1 fit */
    CHECK(b[0].off == 30 && b[0].len == 53 && b[0].first_layer == 2 && b[0].last_layer == 4);
    CHECK(b[1].off == 0 && b[1].len == 30);
    CHECK(dpt_bucket_plan(&m, 52 * sizeof(float), b) == 3);    /* one float short */
    CHECK(dpt_bucket_plan(&m, 52 * sizeof(float), NULL) == 3); /* counting only */
    dpt_model_free(&m);
}

/* ---- the backward hook ---- */

typedef struct hook_log {
    const float *grads;
    int n;
    size_t from[32]; /* offsets into the gradients */
} hook_log;

static void record_from(void *arg, const float *from) {
    hook_log *h = arg;
    CHECK(h->n < 32);
    h->from[h->n++] = (size_t)(from - h->grads);
}

/* The offsets reported by one backward: never going up, each layer's first gradient among
 * them, ending at 0; n_expected calls (-1: any number). */
static void check_reports(const dpt_model *m, const hook_log *h, int n_expected) {
    CHECK(n_expected < 0 || h->n == n_expected);
    CHECK(h->n > 0 && h->from[h->n - 1] == 0);
    for (int i = 1; i < h->n; i++) CHECK(h->from[i] <= h->from[i - 1]);
    for (int i = 0; i < m->nlayers; i++) {
        if (m->layers[i].nparams == 0) continue;
        bool seen = false;
        for (int k = 0; k < h->n; k++) seen |= h->from[k] == m->layers[i].tensors[0].offset;
        CHECK(seen);
    }
}

static void backward_reports_every_layer_last_first_even_without_rows(void) {
    model_case c = dense_case();
    dpt_model m;
    build(&c, &m);
    hook_log h = {.grads = m.grads};
    m.grads_ready = record_from;
    m.grads_ready_arg = &h;
    float x[2 * 4] = {0.1f, 0.2f, 0.3f, 0.4f, -1, 0, 1, 2}, dout[2 * 3] = {1, 0, 0, 0, 1, 0};
    for (int B = 2; B >= 0; B -= 2) {
        h.n = 0;
        dpt_model_forward(&m, x, B, NULL);
        dpt_model_backward(&m, dout, B);
        /* one call per layer; with rows each dense layer also reports its bias and then its
         * weights from inside (before computing dx) */
        check_reports(&m, &h, B > 0 ? m.nlayers + 6 : m.nlayers);
    }
    dpt_model_free(&m);
    /* the wide model's middle layer reports its weight gradient in 4 pieces, last rows first */
    c = wide_case();
    build(&c, &m);
    h = (hook_log){.grads = m.grads};
    m.grads_ready = record_from;
    m.grads_ready_arg = &h;
    dpt_model_forward(&m, x, 2, NULL);
    dpt_model_backward(&m, dout, 2);
    check_reports(&m, &h, m.nlayers + 3 + 1 + 4 + 1);
    size_t w1 = m.layers[2].tensors[0].offset; /* dense_1's W: rows of 400 */
    for (int p = 3; p >= 1; p--) {
        bool seen = false;
        for (int k = 0; k < h.n; k++) seen |= h.from[k] == w1 + (size_t)(100 * p) * 400;
        CHECK(seen);
    }
    dpt_model_free(&m);
}

/* ---- equivalence of the two paths ---- */

typedef struct run_out {
    size_t n;
    float *params; /* (n) after the last step */
    double count[NSTEPS], loss[NSTEPS], stats[NSTEPS][NSTATS];
    dpt_step_status status[NSTEPS];
    char bad[NSTEPS][DPT_NAME_MAX]; /* first non-finite layer, "" = none */
    int nbuckets;
} run_out;

/* This rank's rows of step k: the global rows are a function of (k, row) only. */
static int make_batch(const model_case *c, int k, int nan_step, float *x, float *y) {
    int P = dpt_world.size, r = dpt_world.rank, G = global_batch[k];
    int lo = (int)dpt_split_lo(G, P, r), hi = (int)dpt_split_lo(G, P, r + 1);
    int xw = c->T * c->F;
    for (int i = lo; i < hi; i++) {
        dpt_rng rng;
        dpt_rng_seed(&rng, 100 + (uint64_t)k, (uint64_t)i);
        for (int j = 0; j < xw; j++) x[(i - lo) * xw + j] = dpt_rng_normal(&rng);
        for (int j = 0; j < c->K; j++) y[(i - lo) * c->K + j] = 0.5f * dpt_rng_normal(&rng);
    }
    /* The poisoned target is global row 0's: on rank 0, which always has rows.  (A NaN in x
     * would do as well, but the recurrent cells' exp_approx then shifts a negative int, which
     * UBSan stops on: reported, not this test's subject.) */
    if (k == nan_step && lo == 0 && hi > 0) y[0] = NAN;
    return hi - lo;
}

static void run(const model_case *c, bool overlap, size_t bucket_bytes, int nan_step, run_out *o) {
    dpt_model m;
    build(c, &m);
    dpt_optim_spec spec;
    dpt_optim_spec_defaults(&spec, "momentum");
    spec.lr = 0.05f;
    dpt_optim opt;
    char err[256];
    CHECK_MSG(dpt_optim_init(&opt, &spec, m.nparams, err, sizeof err) == 0, err);
    dpt_step s;
    dpt_step_init(&s, &m, dpt_loss_find("mse"), &opt, NULL);
    int stats = dpt_step_add_sums(&s, "test stats", NSTATS);
    s.l2 = 1e-3f;
    CHECK(dpt_step_set_overlap(&s, overlap, bucket_bytes) == overlap);
    o->nbuckets = s.nbuckets;
    float x[MAXB * 15], y[MAXB * 3]; /* (B, T, F), (B, K) */
    for (int k = 0; k < NSTEPS; k++) {
        int B = make_batch(c, k, nan_step, x, y);
        const float *out = dpt_step_compute(&s, x, (dpt_target){y, NULL}, B, NULL, NULL);
        float *st = dpt_step_sums(&s, stats);
        st[0] = 0.25f * (float)B + (float)dpt_world.rank;
        st[1] = B > 0 ? out[0] : 0.0f;
        const char *bad = NULL;
        o->status[k] = dpt_step_update(&s, &bad);
        snprintf(o->bad[k], sizeof o->bad[k], "%s", bad ? bad : "");
        o->count[k] = s.count;
        o->loss[k] = s.loss_sum;
        for (int i = 0; i < NSTATS; i++) o->stats[k][i] = s.sums.total[stats + i];
    }
    dpt_dist_check_model(&m); /* every rank holds the same parameters */
    o->n = m.nparams;
    o->params = dpt_alloc_floats(m.nparams);
    memcpy(o->params, m.params, m.nparams * sizeof(float));
    dpt_step_free(&s);
    dpt_optim_free(&opt);
    dpt_model_free(&m);
}

static bool same(double a, double b, bool exact) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return exact ? a == b : fabs(a - b) <= TOL * fmax(1.0, fabs(a));
}

static void compare(const run_out *ref, const run_out *got) {
    bool exact = dpt_world.size <= 2;
    CHECK(ref->n == got->n);
    for (int k = 0; k < NSTEPS; k++) {
        CHECK(ref->status[k] == got->status[k]);
        CHECK(strcmp(ref->bad[k], got->bad[k]) == 0);
        CHECK(ref->count[k] == got->count[k] && ref->count[k] == global_batch[k]);
        CHECK(same(ref->loss[k], got->loss[k], exact));
        for (int i = 0; i < NSTATS; i++) CHECK(same(ref->stats[k][i], got->stats[k][i], exact));
    }
    double worst = 0;
    for (size_t i = 0; i < ref->n; i++) {
        CHECK(same(ref->params[i], got->params[i], exact));
        worst = fmax(worst, fabs((double)ref->params[i] - got->params[i]));
    }
    if (dpt_world.rank == 0 && worst > 0) printf("  largest parameter difference %.3g\n", worst);
}

/* Bucket bounds: one layer each, the last two layers together, everything in one. */
static void check_case(const model_case *c, int nan_step) {
    dpt_model m;
    build(c, &m);
    size_t two = 0;
    for (int i = m.nlayers - 1, seen = 0; i >= 0 && seen < 2; i--)
        if (m.layers[i].nparams > 0) two += m.layers[i].nparams, seen++;
    size_t bounds[3] = {1, two * sizeof(float), (size_t)1 << 30};
    int expect_nb[3];
    for (int i = 0; i < 3; i++) expect_nb[i] = dpt_bucket_plan(&m, bounds[i], NULL);
    dpt_model_free(&m);
    run_out ref;
    run(c, false, 0, nan_step, &ref);
    CHECK(ref.nbuckets == 0);
    for (int i = 0; i < 3; i++) {
        run_out got;
        run(c, true, bounds[i], nan_step, &got);
        CHECK(got.nbuckets == expect_nb[i]);
        compare(&ref, &got);
        free(got.params);
    }
    if (nan_step != NO_NAN) {
        CHECK(ref.status[nan_step] == DPT_STEP_NONFINITE);
        CHECK(strcmp(ref.bad[nan_step], c->specs[0].type[0] == 'l' ? "lstm_0" : "dense_0") == 0);
        CHECK(ref.status[nan_step + 1] == DPT_STEP_OK); /* and training goes on */
    }
    free(ref.params);
}

static void dense_overlapped_equals_inline(void) {
    model_case c = dense_case();
    check_case(&c, NO_NAN);
}

static void wide_overlapped_in_pieces_equals_inline(void) {
    model_case c = wide_case();
    check_case(&c, NO_NAN);
}

static void lstm_overlapped_equals_inline(void) {
    model_case c = lstm_case();
    check_case(&c, NO_NAN);
}

static void nonfinite_step_is_refused_alike_on_both_paths(void) {
    model_case c = dense_case();
    check_case(&c, NAN_STEP);
    c = lstm_case();
    check_case(&c, NAN_STEP);
}

/* ---- trace, fallback, signals ---- */

static int count_phase(const dpt_trace *t, dpt_phase p) {
    int n = 0;
    for (size_t i = 0; i < t->n; i++) n += t->ev[i].phase == (uint32_t)p;
    return n;
}

/* Two steps with `extra` more sums than the step's own (beyond the model's default head room
 * when large: the gradient buffer grows at set-up); every sum reduces exactly on both paths.
 * Returns the parameters. */
static float *steps_with_sums(const model_case *c, bool overlap, int extra) {
    dpt_model m;
    build(c, &m);
    dpt_optim_spec spec;
    dpt_optim_spec_defaults(&spec, "sgd");
    dpt_optim opt;
    char err[256];
    CHECK_MSG(dpt_optim_init(&opt, &spec, m.nparams, err, sizeof err) == 0, err);
    dpt_step s;
    dpt_step_init(&s, &m, dpt_loss_find("mse"), &opt, NULL);
    int a = dpt_step_add_sums(&s, "a", 3), b = dpt_step_add_sums(&s, "b", extra - 3);
    CHECK(a == 2 && b == 5 && s.sums.n == 2 + extra && m.grad_head >= (size_t)s.sums.n);
    for (int i = 0; i < m.nlayers; i++) /* the layers' views follow a grown buffer */
        if (m.layers[i].nparams)
            CHECK(m.layers[i].grads == m.grads + m.layers[i].tensors[0].offset);
    CHECK(dpt_step_set_overlap(&s, overlap, 1) == overlap);
    float x[MAXB * 15], y[MAXB * 3];
    double P = dpt_world.size, r = dpt_world.rank;
    for (int k = 0; k < 2; k++) {
        int B = make_batch(c, k, NO_NAN, x, y);
        dpt_step_compute(&s, x, (dpt_target){y, NULL}, B, NULL, NULL);
        for (int i = 0; i < 3; i++) dpt_step_sums(&s, a)[i] = (float)(r + i);
        for (int i = 0; i < extra - 3; i++) dpt_step_sums(&s, b)[i] = (float)(2 * r - i);
        CHECK(dpt_step_update(&s, NULL) == DPT_STEP_OK);
        for (int i = 0; i < 3; i++) CHECK(s.sums.total[a + i] == P * (P - 1) / 2 + P * i);
        for (int i = 0; i < extra - 3; i++) CHECK(s.sums.total[b + i] == P * (P - 1) - P * i);
    }
    float *params = dpt_alloc_floats(m.nparams);
    memcpy(params, m.params, m.nparams * sizeof(float));
    dpt_step_free(&s);
    dpt_optim_free(&opt);
    dpt_model_free(&m);
    return params;
}

/* Named sums ride the gradient allreduce without changing it: the parameters after two steps
 * with 25 extra sums (beyond the default head room, which grows) equal those with 3, inline or
 * overlapped; bitwise up to 2 ranks (tolerance: see the top). */
static void named_sums_ride_the_reduce_without_changing_it(void) {
    model_case c = dense_case();
    dpt_model m;
    build(&c, &m);
    size_t n = m.nparams;
    dpt_model_free(&m);
    float *ref = steps_with_sums(&c, false, 3);
    const bool overlap[3] = {false, true, true};
    const int extra[3] = {25, 3, 25};
    for (int k = 0; k < 3; k++) {
        float *got = steps_with_sums(&c, overlap[k], extra[k]);
        for (size_t i = 0; i < n; i++) CHECK(same(ref[i], got[i], dpt_world.size <= 2));
        free(got);
    }
    free(ref);
}

/* Every bucket's allreduce lies between the start of backward and the end of the main thread's
 * wait: causal order, not timing. */
static void trace_shows_each_bucket_inside_the_step(void) {
    model_case c = dense_case();
    dpt_model m;
    build(&c, &m);
    dpt_optim_spec spec;
    dpt_optim_spec_defaults(&spec, "sgd");
    dpt_optim opt;
    char err[256];
    CHECK_MSG(dpt_optim_init(&opt, &spec, m.nparams, err, sizeof err) == 0, err);
    dpt_step s;
    dpt_step_init(&s, &m, dpt_loss_find("mse"), &opt, NULL);
    dpt_trace tr;
    dpt_trace_init(&tr, 0, 64);
    s.trace = &tr;
    float x[MAXB * 4], y[MAXB * 3];
    for (int on = 0; on <= 1; on++) {
        CHECK(dpt_step_set_overlap(&s, on, 1) == on);
        dpt_step_trace_comm(&s, 64);
        dpt_trace_clear_events(&tr);
        int nb = on ? s.nbuckets : 1, first = (int)s.step;
        for (int k = 0; k < 2; k++) {
            int B = make_batch(&c, k, NO_NAN, x, y);
            dpt_step_compute(&s, x, (dpt_target){y, NULL}, B, NULL, NULL);
            CHECK(dpt_step_update(&s, NULL) == DPT_STEP_OK);
        }
        CHECK(tr.n == 8 && s.comm_trace.n == (size_t)(2 * nb) && s.comm_trace.dropped == 0);
        CHECK(count_phase(&tr, DPT_PH_FORWARD) == 2 && count_phase(&tr, DPT_PH_BACKWARD) == 2);
        CHECK(count_phase(&tr, DPT_PH_COMM_WAIT) == 2 && count_phase(&tr, DPT_PH_UPDATE) == 2);
        for (int k = 0; k < 2; k++) {
            const dpt_trace_event *bw = &tr.ev[4 * k + 1], *wait = &tr.ev[4 * k + 2];
            CHECK(bw->phase == DPT_PH_BACKWARD && wait->phase == DPT_PH_COMM_WAIT);
            CHECK(bw->step == first + k && wait->step == first + k);
            for (int j = 0; j < nb; j++) {
                const dpt_trace_event *e = &s.comm_trace.ev[k * nb + j];
                CHECK(e->phase == DPT_PH_ALLREDUCE && e->arg == (uint32_t)j);
                CHECK(e->step == first + k);
                CHECK(e->t0 >= bw->t0 && e->t1 <= wait->t1 && e->t0 <= e->t1);
            }
        }
        CHECK(s.comm_trace.tid == 1 && s.comm_trace.total[DPT_PH_ALLREDUCE] >= 0);
    }
    dpt_step_free(&s);
    dpt_trace_free(&tr);
    dpt_optim_free(&opt);
    dpt_model_free(&m);
}

static void below_serialized_the_step_stays_inline(void) {
    model_case c = dense_case();
    dpt_model m;
    build(&c, &m);
    dpt_step s;
    dpt_step_init(&s, &m, dpt_loss_find("mse"), NULL, NULL);
    int level = dpt_world.thread_level;
    dpt_world.thread_level = MPI_THREAD_FUNNELED;
    CHECK(!dpt_step_set_overlap(&s, true, 0));
    CHECK(!s.overlap && s.comm == NULL && m.grads_ready == NULL);
    dpt_world.thread_level = level;
    CHECK(dpt_step_set_overlap(&s, true, 0) && s.overlap && m.grads_ready != NULL);
    CHECK(s.bucket_bytes == DPT_STEP_BUCKET_BYTES_DEFAULT);
    dpt_step_free(&s);
    dpt_model_free(&m);
}

/* Threads of this process that block SIGTERM, SIGUSR1 and SIGINT (from /proc). */
/* Threads of this process named DPT_COMM_THREAD_NAME; *blocking counts those that block
 * SIGTERM, SIGUSR1 and SIGINT.  By name, because Open MPI starts and ends threads of its own
 * (which block every signal) whenever it likes: counting all blocking threads was flaky. */
static int comm_threads(int *blocking) {
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    unsigned long long want =
        (1ull << (SIGTERM - 1)) | (1ull << (SIGUSR1 - 1)) | (1ull << (SIGINT - 1));
    int n = 0;
    *blocking = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread ended meanwhile */
        bool named = fgets(line, sizeof line, f) && !strcmp(line, DPT_COMM_THREAD_NAME "\n");
        fclose(f);
        if (!named) continue;
        n++;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "SigBlk:", 7) == 0)
                *blocking += (strtoull(line + 7, NULL, 16) & want) == want;
        if (f) fclose(f);
    }
    closedir(d);
    return n;
}

static void communication_thread_blocks_stop_signals(void) {
    model_case c = dense_case();
    dpt_model m;
    build(&c, &m);
    dpt_step s;
    dpt_step_init(&s, &m, dpt_loss_find("mse"), NULL, NULL);
    int blocking;
    CHECK(comm_threads(&blocking) == 0);
    CHECK(dpt_step_set_overlap(&s, true, 1));
    /* the thread names itself when it starts: give it a moment */
    for (int i = 0; i < 1000 && comm_threads(&blocking) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    CHECK(comm_threads(&blocking) == 1 && blocking == 1);
    sigset_t mine;
    pthread_sigmask(SIG_BLOCK, NULL, &mine); /* the main thread's mask is unchanged */
    CHECK(!sigismember(&mine, SIGTERM) && !sigismember(&mine, SIGUSR1));
    dpt_step_free(&s); /* joins it */
    CHECK(comm_threads(&blocking) == 0);
    dpt_model_free(&m);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    CHECK(dpt_world.thread_level >= MPI_THREAD_SERIALIZED);
    RUN(plan_covers_the_gradients_once_in_reverse_layer_order);
    RUN(backward_reports_every_layer_last_first_even_without_rows);
    RUN(dense_overlapped_equals_inline);
    RUN(wide_overlapped_in_pieces_equals_inline);
    RUN(lstm_overlapped_equals_inline);
    RUN(nonfinite_step_is_refused_alike_on_both_paths);
    RUN(named_sums_ride_the_reduce_without_changing_it);
    RUN(trace_shows_each_bucket_inside_the_step);
    RUN(below_serialized_the_step_stays_inline);
    RUN(communication_thread_blocks_stop_signals);
    dpt_dist_finalize();
    return 0;
}
