/* batch_norm across ranks: P ranks over uneven slices of a batch (the last rank with no rows)
 * give the outputs, input gradients, reduced gamma/beta gradients and moving statistics of one
 * process over the whole batch; synchronized: false normalises with each rank's own statistics
 * and still keeps the moving statistics equal on every rank; whole training steps (dense ->
 * batch_norm -> dense through dpt_step) match one process's; overlap stays off for the model.
 *
 * Tolerance 1e-6 relative (+1e-6 absolute): the sums are in double and differ only in order
 * (~1e-16 relative); what is left is the float32 rounding of each output (6e-8) and of the
 * float gradient sums of the step's allreduce (P terms, ~P x 6e-8); over 3 SGD steps with lr 0.1
 * parameters move by ~1e-7.  A lost rank or a missing reduce changes results by > 1e-2. */
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/util.h"
#include "mpitest.h"
#include "parallel/dist.h"
#include "parallel/step.h"

#define N   11 /* samples of the global batch */
#define TOL 1e-6

/* Whether n bytes at a and b are the same bits (floats compared bit for bit on purpose). */
static bool same_bits(const void *a, const void *b, size_t n) {
    return memcmp(a, b, n) == 0;
}

static int rank_, size_;

/* This rank's rows [lo, hi) of n: the last rank of several gets none, the others uneven. */
static void slice(int n, int *lo, int *hi) {
    int parts = size_ > 1 ? size_ - 1 : 1;
    if (rank_ >= parts) {
        *lo = *hi = n;
        return;
    }
    *lo = (int)((int64_t)n * rank_ * rank_ / ((int64_t)parts * parts)); /* uneven on purpose */
    *hi = (int)((int64_t)n * (rank_ + 1) * (rank_ + 1) / ((int64_t)parts * parts));
}

static void fill(float *v, size_t n, float lo, float hi, uint64_t stream) {
    dpt_rng rng;
    dpt_rng_seed(&rng, 99, stream);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * dpt_rng_uniform(&rng);
}

static void close_to(double a, double b, const char *what) {
    if (fabs(a - b) <= TOL + TOL * fabs(b)) return;
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %.9g vs one process %.9g", what, a, b);
    mpitest_fail(__FILE__, __LINE__, "close to the one-process value", msg);
}

static void reduce_hook(void *arg, double *buf, int n) {
    (void)arg;
    dpt_allreduce_sum_f64(buf, (size_t)n);
}

/* ---- the layer alone ---- */

typedef struct bn {
    dpt_layer l;
    float *buf; /* params, grads, cache, state in one block */
} bn;

static void bn_make(bn *b, const char *line, const dpt_shape *in, int B) {
    char err[256];
    dpt_layer_spec s;
    memset(b, 0, sizeof *b);
    CHECK_MSG(dpt_layer_spec_parse(&s, line, err, sizeof err) == 0, err);
    b->l.type = dpt_layer_find(s.type);
    b->l.spec = s;
    b->l.index = 1;
    CHECK_MSG(dpt_layer_build(&b->l, in, err, sizeof err) == 0, err);
    size_t np = 0, ns = 0, nc = b->l.cache_fixed + (size_t)B * b->l.cache_per_sample;
    for (int t = 0; t < b->l.ntensors; t++) b->l.tensors[t].offset = np, np += b->l.tensors[t].size;
    for (int t = 0; t < b->l.nstates; t++) b->l.states[t].offset = ns, ns += b->l.states[t].size;
    b->l.nparams = np;
    b->l.nstate = ns;
    b->buf = dpt_alloc_floats(nc + 2 * np + ns + 16);
    b->l.cache = b->buf; /* first: 64-byte aligned, holds doubles */
    b->l.params = b->buf + nc;
    b->l.grads = b->l.params + np;
    b->l.state = b->l.grads + np;
    dpt_rng rng;
    dpt_rng_seed(&rng, 1, 1);
    b->l.type->init(&b->l, &rng);
    fill(b->l.params, np, 0.5f, 1.5f, 7); /* the same on every rank */
}

/* Two training passes (the moving statistics go through two updates), then the last pass's
 * y and dx (B rows of w values) and gradients. */
static void bn_run(bn *b, const float *x, const float *dy, float *y, float *dx, int B,
                   const dpt_step_ctx *ctx) {
    for (int pass = 0; pass < 2; pass++) {
        memset(b->l.grads, 0, b->l.nparams * sizeof(float));
        b->l.type->forward(&b->l, x, y, B, ctx);
        b->l.type->backward(&b->l, x, y, dy, dx, B, ctx);
    }
}

static void test_layer_matches_one_process(const dpt_shape *in, const char *line) {
    size_t w = dpt_shape_size(in);
    float *x = dpt_alloc_floats(N * w), *dy = dpt_alloc_floats(N * w);
    float *y1 = dpt_alloc_floats(N * w), *dx1 = dpt_alloc_floats(N * w);
    float *y = dpt_alloc_floats(N * w), *dx = dpt_alloc_floats(N * w);
    fill(x, N * w, -2.0f, 3.0f, 1);
    fill(dy, N * w, -1.0f, 1.0f, 2);
    bn one, mine;
    bn_make(&one, line, in, N);
    bn_make(&mine, line, in, N);
    dpt_step_ctx solo = {.training = true}, all = {.training = true, .reduce = reduce_hook};
    bn_run(&one, x, dy, y1, dx1, N, &solo);
    int lo, hi;
    slice(N, &lo, &hi);
    size_t o = (size_t)lo * w;
    bn_run(&mine, x + o, dy + o, y + o, dx + o, hi - lo, &all);
    for (size_t i = o; i < (size_t)hi * w; i++) {
        close_to(y[i], y1[i], "y");
        close_to(dx[i], dx1[i], "dx");
    }
    dpt_allreduce_sum_f32(mine.l.grads, mine.l.nparams); /* what the step's allreduce does */
    for (size_t i = 0; i < mine.l.nparams; i++) close_to(mine.l.grads[i], one.l.grads[i], "grad");
    for (size_t i = 0; i < mine.l.nstate; i++) close_to(mine.l.state[i], one.l.state[i], "state");
    free(one.buf), free(mine.buf), free(x), free(dy), free(y1), free(dx1), free(y), free(dx);
}

/* Per-rank statistics: a rank's rows normalised as one process would normalise them alone
 * (differing from the global batch's), while the moving statistics stay equal on all ranks. */
static void test_unsynchronized_uses_each_ranks_statistics(void) {
    dpt_shape in = dpt_shape_1d(3);
    float x[N * 3], dy[N * 3], y[N * 3], dx[N * 3], yl[N * 3], dxl[N * 3], yg[N * 3], dxg[N * 3];
    fill(x, N * 3, -2.0f, 3.0f, 3);
    fill(dy, N * 3, -1.0f, 1.0f, 4);
    int lo, hi;
    slice(N, &lo, &hi);
    size_t o = (size_t)lo * 3, n = (size_t)(hi - lo) * 3;
    bn mine, alone, global;
    bn_make(&mine, "batch_norm synchronized=false", &in, N);
    bn_make(&alone, "batch_norm synchronized=false", &in, N);
    bn_make(&global, "batch_norm", &in, N);
    dpt_step_ctx solo = {.training = true}, all = {.training = true, .reduce = reduce_hook};
    bn_run(&mine, x + o, dy + o, y, dx, hi - lo, &all);
    bn_run(&alone, x + o, dy + o, yl, dxl, hi - lo, &solo);
    bn_run(&global, x, dy, yg, dxg, N, &solo);
    double off = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(y[i] == yl[i] && dx[i] == dxl[i]); /* no reduce touched the normalisation */
        off = fmax(off, fabs((double)y[i] - (double)yg[o + i]));
    }
    if (n > 0 && hi - lo < N) CHECK(off > 1e-2); /* the global batch's statistics differ */
    float st[6], lowest[6], highest[6];
    memcpy(st, mine.l.state, sizeof st);
    MPI_Allreduce(st, lowest, 6, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(st, highest, 6, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(same_bits(lowest, highest, sizeof st));
    for (int c = 0; c < 3; c++) /* pooled means are the global batch's mean */
        close_to(st[c], global.l.state[c], "pooled moving_mean");
    free(mine.buf), free(alone.buf), free(global.buf);
}

/* ---- whole steps ---- */

static void build(dpt_model *m) {
    const char *lines[] = {"dense units=4", "batch_norm momentum=0.8", "dense units=2"};
    dpt_layer_spec specs[3];
    char err[512];
    for (int i = 0; i < 3; i++)
        CHECK_MSG(dpt_layer_spec_parse(&specs[i], lines[i], err, sizeof err) == 0, err);
    dpt_shape in = dpt_shape_1d(3);
    CHECK_MSG(dpt_model_build(m, specs, 3, &in, N, err, sizeof err) == 0, err);
    dpt_model_init_params(m, 5);
}

static void test_steps_match_one_process(void) {
    float x[N * 3], yt[N * 2], dout[N * 2];
    fill(x, N * 3, -1.0f, 2.0f, 5);
    fill(yt, N * 2, -1.0f, 1.0f, 6);
    dpt_model one, m;
    build(&one);
    build(&m);
    dpt_optim_spec spec;
    dpt_optim_spec_defaults(&spec, "sgd");
    spec.lr = 0.1f;
    dpt_optim o1, o;
    char err[256];
    CHECK(dpt_optim_init(&o1, &spec, one.nparams, err, sizeof err) == 0);
    CHECK(dpt_optim_init(&o, &spec, m.nparams, err, sizeof err) == 0);
    const dpt_loss *mse = dpt_loss_find("mse");
    dpt_step s;
    dpt_step_init(&s, &m, mse, &o, NULL);
    CHECK(!dpt_step_set_overlap(&s, true, 0)); /* backward reduces: no overlap */
    int lo, hi;
    slice(N, &lo, &hi);
    for (int k = 0; k < 3; k++) {
        dpt_model_zero_grads(&one);
        dpt_step_ctx ctx = {.training = true};
        const float *out = dpt_model_forward(&one, x, N, &ctx);
        mse->eval(out, (dpt_target){yt, NULL}, N, 2, dout);
        dpt_model_backward(&one, dout, N);
        dpt_optim_step_scaled(&o1, one.params, one.grads, 1.0f / N, spec.lr);
        dpt_step_compute(&s, x + lo * 3, (dpt_target){yt + lo * 2, NULL}, hi - lo, NULL, NULL);
        CHECK(dpt_step_update(&s, NULL) == DPT_STEP_OK);
        CHECK(s.count == N);
    }
    for (size_t i = 0; i < m.nparams; i++) close_to(m.params[i], one.params[i], "param");
    for (size_t i = 0; i < m.nstate; i++) close_to(m.state[i], one.state[i], "state");
    dpt_step_free(&s);
    dpt_optim_free(&o1);
    dpt_optim_free(&o);
    dpt_model_free(&one);
    dpt_model_free(&m);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    rank_ = dpt_world.rank;
    size_ = dpt_world.size;
    dpt_shape f = dpt_shape_1d(5), tf = dpt_shape_2d(3, 4), hwc = dpt_shape_3d(2, 3, 4);
    test_layer_matches_one_process(&f, "batch_norm");
    test_layer_matches_one_process(&tf, "batch_norm momentum=0.5");
    test_layer_matches_one_process(&hwc, "batch_norm center=false");
    test_layer_matches_one_process(&hwc, "batch_norm scale=false epsilon=0.1");
    test_unsynchronized_uses_each_ranks_statistics();
    test_steps_match_one_process();
    if (rank_ == 0) printf("batch_norm at %d ranks: ok\n", size_);
    dpt_dist_finalize();
    return 0;
}
