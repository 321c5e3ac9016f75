/* Training throughput on synthetic in-memory data with the trainer's own model, optimizer
 * (train/trainer.h, from a config written for the workload) and step (parallel/step.h):
 * samples/s, ms/step, and the GEMM GFLOP/s of the step as a fraction of the sgemm peak measured
 * on exactly the same GEMM shapes, thread count and ranks; per step also compute, allreduce and
 * exposed communication time, with the allreduce inline or overlapped with backward (--overlap,
 * --bucket-mb).  Usage in docs/performance.md and docs/design.md. */
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/blas.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/util.h"
#include "parallel/dist.h"
#include "parallel/sampler.h"
#include "parallel/step.h"
#include "train/trainer.h"

#define MAX_WIDTHS 6
#define MAX_GEMMS  64
#define SQUARE     2048
#define NBLOCKS    5 /* timings are medians over this many blocks */

typedef struct workload {
    const char *name;
    int batch;              /* global B */
    int nwidths;            /* layers + 1 */
    int widths[MAX_WIDTHS]; /* F, hidden..., K; ReLU after every hidden layer */
    const char *loss;
    const char *optim; /* with dpt_optim_spec_defaults */
    bool labels;       /* integer class labels instead of values */
    const char *cell;  /* rnn, lstm, gru: widths are F, H, K and x is (B, steps, F); NULL: MLP */
    int steps;         /* time steps of a recurrent workload */
    /* A model that is no chain of widths: its model.layers as YAML (widths then give only the
     * input size and K) and the per-sample input (H, W, C); NULL / rank 0 otherwise. */
    const char *layers;
    int in_rank, in_dims[3];
    /* > 0: a language model: x is (steps) int32 token ids in [0, vocab) and the labels are one
     * class id in [0, K) per step; 0: float32 x */
    int vocab;
} workload;

/* configs/fashion-mnist-cnn.yaml's model. */
#define FMNIST_CNN_LAYERS                                                                          \
    "    - {type: conv2d, filters: 32, kernel_size: 3, padding: same, activation: relu}\n"         \
    "    - {type: max_pool2d, pool_size: 2}\n"                                                     \
    "    - {type: conv2d, filters: 64, kernel_size: 3, padding: same, activation: relu}\n"         \
    "    - {type: max_pool2d, pool_size: 2}\n"                                                     \
    "    - {type: flatten}\n"                                                                      \
    "    - {type: dense, units: 128, activation: relu}\n"                                          \
    "    - {type: dense, units: 10}\n"

/* configs/fortunes-char-lm.yaml's model: 115 characters, embedding 48, two LSTMs of 192. */
#define CHARLM_LAYERS                                                                              \
    "    - {type: embedding, vocab_size: 115, dim: 48, padding_id: 0}\n"                           \
    "    - {type: lstm, units: 192, return_sequences: true}\n"                                     \
    "    - {type: lstm, units: 192, return_sequences: true}\n"                                     \
    "    - {type: dense, units: 115}\n"

/* One row per workload.  CHAIN: a chain of widths (no layers text, the input from the widths). */
/* clang-format off */
#define CHAIN NULL, 0, {0}, 0
/* boston: rmsprop defaults are lr 1e-3, rho 0.9, eps 1e-7; wide: momentum 0.9, lr 0.01. */
static const workload workloads[] = {
    {"boston-mlp-16", 16, 5, {13, 128, 128, 64, 1}, "mse", "rmsprop", false, NULL, 1, CHAIN},
    {"boston-mlp-256", 256, 5, {13, 128, 128, 64, 1}, "mse", "rmsprop", false, NULL, 1, CHAIN},
    {"wide-mlp-256", 256, 4, {784, 1024, 1024, 10}, "softmax_ce", "momentum", true, NULL, 1, CHAIN},
    /* Fashion-MNIST read row by row: 28 steps of 28 features, last state -> dense 10, Adam. */
    {"lstm-rows", 128, 3, {28, 128, 10}, "softmax_ce", "adam", true, "lstm", 28, CHAIN},
    {"gru-rows", 128, 3, {28, 128, 10}, "softmax_ce", "adam", true, "gru", 28, CHAIN},
    {"rnn-rows", 128, 3, {28, 128, 10}, "softmax_ce", "adam", true, "rnn", 28, CHAIN},
    /* Fashion-MNIST images (28, 28, 1) through configs/fashion-mnist-cnn.yaml's model, Adam. */
    {"fmnist-cnn-128", 128, 2, {784, 10}, "softmax_ce", "adam", true, NULL, 1, FMNIST_CNN_LAYERS,
     3, {28, 28, 1}, 0},
    /* Character-level language model: windows of 100 token ids, the next id at every step. */
    {"charlm-64", 64, 2, {100, 115}, "softmax_ce", "adam", true, NULL, 100, CHARLM_LAYERS, 1,
     {100}, 115},
};
/* clang-format on */
#define NWORKLOADS (int)(sizeof workloads / sizeof workloads[0])

typedef struct options {
    const char *workload; /* a name above or "all" */
    int threads;          /* per rank; 0 = dpt_dist_pick_threads */
    int steps;            /* timed steps; 0 = as many as fit in about one second */
    int warmup;
    bool overlap;     /* allreduce buckets on the communication thread during backward */
    double bucket_mb; /* bucket bound in MiB; 0 = the step's default */
} options;

/* One GEMM of the step, with the transposes and beta the layer uses, run reps times (the
 * per-time-step products of a recurrent layer): what the layer types declare. */
typedef dpt_gemm_shape gemm_shape;

typedef struct result {
    double step_s;    /* seconds per step, median over NBLOCKS blocks */
    double gemm_flop; /* GEMM flops of one step, summed over ranks */
    double gemm_peak; /* GFLOP/s of sgemm alone on the same shapes, summed over ranks */
    double loss_first, loss_last;
    int steps;
    /* per step, mean over ranks, in the median block (core/trace.h phases): */
    double compute_s;   /* forward + loss + backward */
    double allreduce_s; /* gradient allreduces (on the communication thread when overlapped) */
    double exposed_s;   /* the main thread waited for them */
    double update_s;    /* averaging, clipping, optimizer */
    int nbuckets;       /* 0 = not overlapped */
    double bucket_mb;   /* the bound the buckets were planned with */
    double base_mib, peak_mib, acc_mib; /* RSS before the model, peak RSS, accounted (max/rank) */
} result;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_train [--workload all|");
    for (int i = 0; i < NWORKLOADS; i++) fprintf(stderr, "%s%s", i ? "|" : "", workloads[i].name);
    fprintf(stderr,
            "] [--threads N] [--steps N] [--warmup N] [--overlap on|off] [--bucket-mb X]\n");
}

static int parse_int(const char *s, int lo) {
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end != '\0' || v < lo || v > 100000000) {
        usage();
        dpt_fatal("bad number '%s' (expected an integer >= %d)", s ? s : "", lo);
    }
    return (int)v;
}

static bool parse_on_off(const char *s) {
    if (s && strcmp(s, "on") == 0) return true;
    if (s && strcmp(s, "off") == 0) return false;
    usage();
    dpt_fatal("--overlap '%s': expected on or off", s ? s : "");
}

static double parse_mb(const char *s) {
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    if (!s || *end != '\0' || !(v > 0 && v <= 4096)) {
        usage();
        dpt_fatal("--bucket-mb '%s': expected a number of MiB in (0, 4096]", s ? s : "");
    }
    return v;
}

static options parse_args(int argc, char **argv) {
    options o = {.workload = "all", .threads = 0, .steps = 0, .warmup = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--workload") == 0 && v)
            o.workload = v;
        else if (strcmp(a, "--threads") == 0)
            o.threads = parse_int(v, 1);
        else if (strcmp(a, "--steps") == 0)
            o.steps = parse_int(v, 1);
        else if (strcmp(a, "--warmup") == 0)
            o.warmup = parse_int(v, 0);
        else if (strcmp(a, "--overlap") == 0)
            o.overlap = parse_on_off(v);
        else if (strcmp(a, "--bucket-mb") == 0)
            o.bucket_mb = parse_mb(v);
        else {
            usage();
            dpt_fatal("unknown argument '%s'", a);
        }
        i++;
    }
    return o;
}

/* ---- model and data ---- */

/* The workload as a training config, so the model and optimizer are built by the trainer
 * library exactly as `dptrain train` builds them (data.train is never read: the batches are
 * synthetic). */
static void workload_config(const workload *w, dpt_config *c) {
    char yaml[2048], err[1024];
    int n = snprintf(yaml, sizeof yaml, "model:\n  layers:\n%s", w->layers ? w->layers : "");
    int nl = w->layers ? 0 : w->nwidths - 1;
    for (int i = 0; i < nl; i++) {
        const char *type = i == 0 && w->cell ? w->cell : "dense";
        bool relu = i + 1 < nl && !w->cell;
        n += snprintf(yaml + n, sizeof yaml - (size_t)n, "    - {type: %s, units: %d%s}\n", type,
                      w->widths[i + 1], relu ? ", activation: relu" : "");
    }
    snprintf(yaml + n, sizeof yaml - (size_t)n,
             "loss: %s\noptimizer: %s\ndata: {train: synthetic.h5}\n"
             "training: {seed: 42, batch_size: %d}\n",
             w->loss, w->optim, w->batch);
    if (dpt_config_load_text(c, yaml, w->name, NULL, 0, err, sizeof err)) dpt_fatal("%s", err);
}

/* This rank's rows: x ~ N(0, 1); regression targets a fixed linear function of x plus noise, so
 * the loss has something to learn; class labels uniform. */
typedef struct batch_data {
    float *x;     /* (b, F) */
    float *y;     /* (b, K) or NULL */
    int32_t *lab; /* (b) or NULL */
} batch_data;

/* Per-sample input of the workload. */
static dpt_shape workload_in_shape(const workload *w) {
    if (w->vocab) {
        dpt_shape ids = dpt_shape_1d(w->steps);
        ids.dtype = DPT_I32;
        return ids;
    }
    if (w->in_rank == 3) return dpt_shape_3d(w->in_dims[0], w->in_dims[1], w->in_dims[2]);
    return dpt_shape_from_steps(w->cell ? w->steps : 1, w->widths[0]);
}

static batch_data make_data(const workload *w, int b) {
    dpt_shape in = workload_in_shape(w);
    int F = (int)dpt_shape_size(&in), K = w->widths[w->nwidths - 1];
    size_t rows = b > 0 ? (size_t)b : 1;
    batch_data d = {dpt_alloc_floats(rows * (size_t)F), NULL, NULL};
    dpt_rng rng;
    dpt_rng_seed(&rng, 7, (uint64_t)dpt_world.rank);
    if (w->vocab) { /* x holds int32 ids (the model reads 4-byte elements of either type) */
        int32_t *ids = (int32_t *)(void *)d.x; /* (b, T) */
        size_t n = (size_t)b * (size_t)w->steps;
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)w->vocab);
        d.lab = dpt_calloc(rows * (size_t)w->steps, sizeof *d.lab); /* (b, T) */
        for (size_t i = 0; i < n; i++) d.lab[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)K);
        return d;
    }
    for (size_t i = 0; i < (size_t)b * (size_t)F; i++) d.x[i] = dpt_rng_normal(&rng);
    if (w->labels) {
        d.lab = dpt_calloc(rows, sizeof *d.lab);
        for (int i = 0; i < b; i++) d.lab[i] = (int32_t)dpt_rng_below(&rng, (uint64_t)K);
        return d;
    }
    d.y = dpt_alloc_floats(rows * (size_t)K);
    for (int i = 0; i < b; i++)
        for (int k = 0; k < K; k++)
            d.y[(size_t)i * K + k] = d.x[(size_t)i * F] - 0.5f * d.x[(size_t)i * F + F - 1] +
                                     0.1f * dpt_rng_normal(&rng);
    return d;
}

static void free_data(batch_data *d) {
    free(d->x);
    free(d->y);
    free(d->lab);
}

/* ---- GEMM shapes and the sgemm peak ---- */

/* The GEMMs of one step on b rows, as each layer type declares them (dense, recurrent). */
static int step_gemms(const dpt_model *m, int b, gemm_shape *g /* (MAX_GEMMS) */) {
    int n = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (!l->type->gemms) continue;
        DPT_ASSERT(n + DPT_LAYER_GEMMS_MAX <= MAX_GEMMS);
        n += l->type->gemms(l, b, g + n);
    }
    return n;
}

static double gemm_flop(const gemm_shape *g, int n) {
    double f = 0;
    for (int i = 0; i < n; i++) f += 2.0 * g[i].M * g[i].N * g[i].K * g[i].reps;
    return f;
}

static void run_gemms(const gemm_shape *g, int n, const float *a, const float *b, float *c) {
    for (int i = 0; i < n; i++) {
        int lda = g[i].ta ? g[i].M : g[i].K, ldb = g[i].tb ? g[i].K : g[i].N;
        for (int r = 0; r < g[i].reps; r++)
            dpt_sgemm(g[i].ta, g[i].tb, g[i].M, g[i].N, g[i].K, 1.0f, a, lda, b, ldb, g[i].beta, c,
                      g[i].N);
    }
}

static double median(double *v /* (n) */, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n is NBLOCKS */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* sgemm alone on a list of shapes, with operands allocated and warmed up once. */
typedef struct gemm_bench {
    const gemm_shape *g;
    int n;
    float *a, *b, *c;
} gemm_bench;

static gemm_bench gemm_bench_init(const gemm_shape *g, int n) {
    size_t sa = 1, sb = 1, sc = 1;
    for (int i = 0; i < n; i++) {
        size_t M = (size_t)g[i].M, N = (size_t)g[i].N, K = (size_t)g[i].K;
        sa = M * K > sa ? M * K : sa;
        sb = K * N > sb ? K * N : sb;
        sc = M * N > sc ? M * N : sc;
    }
    gemm_bench gb = {g, n, dpt_alloc_floats(sa), dpt_alloc_floats(sb), dpt_alloc_floats(sc)};
    for (size_t i = 0; i < sa; i++) gb.a[i] = 0.001f * (float)(i % 97);
    for (size_t i = 0; i < sb; i++) gb.b[i] = 0.001f * (float)(i % 89);
    run_gemms(g, n, gb.a, gb.b, gb.c); /* warm-up: packing buffers, thread start */
    return gb;
}

static void gemm_bench_free(gemm_bench *gb) {
    free(gb->a);
    free(gb->b);
    free(gb->c);
}

/* GFLOP/s of one block of at least `seconds` of sgemm on all the shapes (this rank).  Operands
 * are reused across calls, as the weights are across training steps. */
static double gemm_block(const gemm_bench *gb, double seconds) {
    if (gb->n == 0) return 0.0;
    int reps = 0;
    double t0 = now(), t;
    do {
        run_gemms(gb->g, gb->n, gb->a, gb->b, gb->c);
        reps++;
        t = now() - t0;
    } while (t < seconds);
    return gemm_flop(gb->g, gb->n) * reps / t * 1e-9;
}

/* GFLOP/s of sgemm alone on the shapes g: the median of NBLOCKS blocks of about
 * seconds / NBLOCKS each, so a burst of other load on the machine does not set the result. */
static double sgemm_gflops(const gemm_shape *g, int n, double seconds) {
    gemm_bench gb = gemm_bench_init(g, n);
    double rate[NBLOCKS]; /* (NBLOCKS) GFLOP/s per block */
    for (int k = 0; k < NBLOCKS; k++) rate[k] = gemm_block(&gb, seconds / NBLOCKS);
    gemm_bench_free(&gb);
    return median(rate, NBLOCKS);
}

/* All ranks measure at the same time, so they compete for the cores as in training; the sum
 * over ranks is the machine's rate in this configuration. */
static double sgemm_gflops_all_ranks(const gemm_shape *g, int n, double seconds) {
    MPI_Barrier(dpt_world.comm);
    double r = n > 0 ? sgemm_gflops(g, n, seconds) : 0.0;
    dpt_allreduce_sum_f64(&r, 1);
    return r;
}

/* A line of /proc/self/status in KiB ("VmRSS", "VmHWM"), 0 when unavailable. */
static double status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = atof(line + n + 1);
    if (f) fclose(f);
    return v;
}

/* ---- timing the training step ---- */

static void one_step(dpt_step *s, const batch_data *d, int b) {
    dpt_target t = {d->y, d->lab};
    dpt_step_compute(s, d->x, t, b, NULL, NULL);
    if (dpt_step_update(s, NULL) != DPT_STEP_OK) dpt_fatal("non-finite gradient in the benchmark");
}

/* Steps to time: as given, or enough for about one second judging by the warm-up (agreed over
 * ranks, since every rank must run the same number of collective steps). */
static int pick_steps(int requested, double warm_per_step) {
    if (requested > 0) return requested;
    double per = warm_per_step > 1e-7 ? warm_per_step : 1e-7;
    int n = (int)fmin(fmax(1.0 / per, 10.0), 1e6);
    return dpt_allreduce_max_int(n);
}

/* Per-step phase times of the steps since the traces' totals were reset, averaged over ranks:
 * compute (forward + loss + backward), allreduce, exposed communication (comm_wait), update. */
static void phase_times(double ph[4], int steps, const dpt_trace *main_trace,
                        const dpt_trace *comm_trace) {
    ph[0] = main_trace->total[DPT_PH_FORWARD] + main_trace->total[DPT_PH_BACKWARD];
    ph[1] = comm_trace->total[DPT_PH_ALLREDUCE];
    ph[2] = main_trace->total[DPT_PH_COMM_WAIT];
    ph[3] = main_trace->total[DPT_PH_UPDATE];
    dpt_allreduce_sum_f64(ph, 4);
    for (int i = 0; i < 4; i++) ph[i] /= (double)steps * dpt_world.size;
}

/* Seconds per step: the median over NBLOCKS blocks of steps (see sgemm_gflops); the phase
 * times are those of the same (median) block, so a burst of other load on the machine sets
 * neither.  Ranks run the steps in lock-step (each has an allreduce), so rank 0's clock times
 * them all.  After each block, a block of sgemm alone on the step's shapes, as long, on all
 * ranks at once: the sgemm peak is their median, measured in the same minutes as the steps
 * (this VM's speed drifts by 10-25 % from one minute to the next). */
static void time_blocks(dpt_step *s, const batch_data *d, int b, int steps, const gemm_bench *gb,
                        result *r) {
    double per[NBLOCKS], sorted[NBLOCKS]; /* (NBLOCKS) seconds per step in each block */
    double ph[NBLOCKS][4];                /* (NBLOCKS, 4) phase times per step, see above */
    double peak[NBLOCKS];                 /* (NBLOCKS) sgemm GFLOP/s summed over ranks */
    int each = (steps + NBLOCKS - 1) / NBLOCKS;
    for (int k = 0; k < NBLOCKS; k++) {
        dpt_trace_reset_totals(s->trace);
        dpt_trace_reset_totals(&s->comm_trace);
        MPI_Barrier(dpt_world.comm);
        double t0 = now();
        for (int i = 0; i < each; i++) one_step(s, d, b);
        MPI_Barrier(dpt_world.comm);
        per[k] = sorted[k] = (now() - t0) / each;
        phase_times(ph[k], each, s->trace, &s->comm_trace);
        MPI_Barrier(dpt_world.comm);
        peak[k] = gemm_block(gb, fmin(fmax(per[k] * each, 0.05), 1.0));
        dpt_allreduce_sum_f64(&peak[k], 1);
    }
    r->gemm_peak = median(peak, NBLOCKS);
    r->step_s = median(sorted, NBLOCKS);
    int k = 0;
    _Static_assert(NBLOCKS % 2 == 1, "the median must be one of the blocks");
    while (per[k] != r->step_s) k++;
    r->compute_s = ph[k][0];
    r->allreduce_s = ph[k][1];
    r->exposed_s = ph[k][2];
    r->update_s = ph[k][3];
}

/* Warm-up, then the timed blocks; the peak RSS is read after the warm-up, before the sgemm
 * operands exist (a step allocates nothing, so it cannot grow later). */
static result time_training(const dpt_config *c, const options *o, dpt_model *m,
                            const batch_data *d, int b) {
    dpt_optim opt;
    dpt_trainer_init_optimizer(&opt, c, m->nparams);
    dpt_step s;
    dpt_step_init(&s, m, dpt_loss_find(c->loss), &opt, NULL);
    dpt_trace main_trace;
    dpt_trace_init(&main_trace, 0, 0);
    s.trace = &main_trace;
    result r = {0};
    if (dpt_step_set_overlap(&s, o->overlap, (size_t)(o->bucket_mb * 1048576.0)))
        r.nbuckets = s.nbuckets, r.bucket_mb = (double)s.bucket_bytes / 1048576.0;
    MPI_Barrier(dpt_world.comm);
    double t0 = now();
    for (int i = 0; i < o->warmup; i++) one_step(&s, d, b);
    r.loss_first = s.loss_sum / fmax(s.count, 1);
    r.steps = pick_steps(o->steps, o->warmup > 0 ? (now() - t0) / o->warmup : 0);
    r.peak_mib = status_kib("VmHWM") / 1024.0;
    gemm_shape g[MAX_GEMMS]; /* (n) */
    int n = b > 0 ? step_gemms(m, b, g) : 0;
    r.gemm_flop = gemm_flop(g, n);
    dpt_allreduce_sum_f64(&r.gemm_flop, 1);
    gemm_bench gb = gemm_bench_init(g, n);
    time_blocks(&s, d, b, r.steps, &gb, &r);
    gemm_bench_free(&gb);
    r.steps = (r.steps + NBLOCKS - 1) / NBLOCKS * NBLOCKS;
    r.loss_last = s.loss_sum / fmax(s.count, 1);
    dpt_dist_check_model(m); /* the step really kept every rank's parameters identical */
    dpt_step_free(&s);
    dpt_trace_free(&main_trace);
    dpt_optim_free(&opt);
    return r;
}

/* ---- memory ---- */

/* Starts a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM). */
static void reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

/* Bytes the training needs by construction: parameters, gradient (reduce) buffer, optimizer
 * state, activation arena, d(loss)/d(output), this rank's batch. */
static double accounted_bytes(const workload *w, const dpt_model *m, int b) {
    double n = (double)m->nparams, state = 0;
    if (!strcmp(w->optim, "adam")) state = 2 * n;
    if (!strcmp(w->optim, "rmsprop") || !strcmp(w->optim, "momentum")) state = n;
    dpt_shape in = workload_in_shape(w);
    double labels = w->vocab ? w->steps : 1; /* per sample */
    double per_row = (double)dpt_shape_size(&in) + (w->labels ? labels : w->widths[w->nwidths - 1]);
    double dout = (double)m->max_batch * m->out_steps * m->out_features;
    return 4.0 * (2 * n + state + (double)m->arena_floats + dout + per_row * b);
}

/* ---- one workload ---- */

static void report(const workload *w, int threads, const result *r, double square) {
    double gemm = r->gemm_flop / r->step_s * 1e-9;
    int P = dpt_world.size;
    dpt_log0("%s: %d rank(s) x %d thread(s), BLIS '%s' (%s), global batch %d, %d steps\n", w->name,
             P, threads, dpt_blas_arch(), dpt_blas_arch_reason(), w->batch, r->steps);
    dpt_log0("  %.0f samples/s, %.4f ms/step, loss %.4g -> %.4g\n", w->batch / r->step_s,
             r->step_s * 1e3, r->loss_first, r->loss_last);
    dpt_log0("  GEMM in the step %.2f GFLOP/s = %.1f%% of sgemm alone on the same shapes "
             "(%.2f GFLOP/s); sgemm %d^3: %.1f GFLOP/s\n",
             gemm, 100.0 * gemm / r->gemm_peak, r->gemm_peak, SQUARE, square);
    dpt_log0("  per step: compute %.3f ms, allreduce %.3f ms (%s), exposed communication %.3f ms "
             "(%.0f%% of the allreduce), update %.3f ms\n",
             r->compute_s * 1e3, r->allreduce_s * 1e3, r->nbuckets ? "overlapped" : "inline",
             r->exposed_s * 1e3, 100.0 * r->exposed_s / fmax(r->allreduce_s, 1e-12),
             r->update_s * 1e3);
    dpt_log0("  memory per rank (largest): peak RSS %.1f MiB = %.1f MiB before the model (MPI, "
             "BLIS, libraries) + %.1f MiB for training; accounted (parameters, gradients, "
             "optimizer state, activations, batch) %.1f MiB: %.2fx\n",
             r->peak_mib, r->base_mib, r->peak_mib - r->base_mib, r->acc_mib,
             (r->peak_mib - r->base_mib) / fmax(r->acc_mib, 1e-9));
    char ovl[32];
    if (r->nbuckets)
        snprintf(ovl, sizeof ovl, "%.3g MiB: %d bucket%s", r->bucket_mb, r->nbuckets,
                 r->nbuckets > 1 ? "s" : "");
    else
        snprintf(ovl, sizeof ovl, "off");
    dpt_log0("| %s | %d | %d | %s | %.0f | %.3f | %.1f | %.1f | %.0f%% | %.1f | %s | %.3f | %.3f | "
             "%.3f |\n",
             w->name, P, threads, dpt_blas_arch(), w->batch / r->step_s, r->step_s * 1e3, gemm,
             r->gemm_peak, 100.0 * gemm / r->gemm_peak, square, ovl, r->compute_s * 1e3,
             r->allreduce_s * 1e3, r->exposed_s * 1e3);
}

static void run_workload(const workload *w, const options *o, int threads, double square) {
    int P = dpt_world.size, rank = dpt_world.rank;
    int lo = (int)dpt_split_lo(w->batch, P, rank), hi = (int)dpt_split_lo(w->batch, P, rank + 1);
    int b = hi - lo, max_b = (int)dpt_split_lo(w->batch, P, 1); /* rank 0 has the most rows */
    reset_peak();
    double base = status_kib("VmRSS") / 1024.0;
    dpt_config c;
    workload_config(w, &c);
    dpt_model m;
    dpt_shape in = workload_in_shape(w);
    dpt_model_input one = {.name = "input", .shape = in};
    dpt_trainer_build_model(&m, &c, &one, 1, max_b > 0 ? max_b : 1);
    batch_data d = make_data(w, b);
    result r = time_training(&c, o, &m, &d, b);
    double mem[3] = {base, r.peak_mib, accounted_bytes(w, &m, b) / 1048576.0};
    MPI_Allreduce(MPI_IN_PLACE, mem, 3, MPI_DOUBLE, MPI_MAX, dpt_world.comm);
    r.base_mib = mem[0], r.peak_mib = mem[1], r.acc_mib = mem[2];
    report(w, threads, &r, square);
    free_data(&d);
    dpt_model_free(&m);
    dpt_config_free(&c);
}

int main(int argc, char **argv) {
    dpt_dist_init(&argc, &argv);
    options o = parse_args(argc, argv);
    int threads = dpt_dist_pick_threads(o.threads);
    omp_set_num_threads(threads);
    dpt_blas_setup(threads);
    bool all = strcmp(o.workload, "all") == 0, found = all;
    for (int i = 0; i < NWORKLOADS; i++) found |= strcmp(o.workload, workloads[i].name) == 0;
    if (!found) {
        usage();
        dpt_fatal("unknown workload '%s'", o.workload);
    }
    gemm_shape sq = {false, false, SQUARE, SQUARE, SQUARE, 0.0f, 1};
    double square = sgemm_gflops_all_ranks(&sq, 1, 1.0);
    for (int i = 0; i < NWORKLOADS; i++)
        if (all || strcmp(o.workload, workloads[i].name) == 0)
            run_workload(&workloads[i], &o, threads, square);
    dpt_dist_finalize();
    return 0;
}
