/* `dptrain train CONFIG [--set k=v]...`: loads config and data, builds the same model on every
 * rank, trains with the data-parallel step, reports per epoch and writes the model atomically. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/train.h"
#include "core/blas.h"
#include "core/rng.h"
#include "core/trace.h"
#include "core/util.h"
#include "io/fs.h"
#include "io/metrics_log.h"
#include "io/modelio.h"
#include "parallel/dist.h"
#include "parallel/exchange.h"
#include "parallel/sampler.h"
#include "parallel/signals.h"
#include "parallel/step.h"

/* ---- set-up ---- */

static int parse_args(int argc, char **argv, const char **config, const char **sets, int *nsets,
                      const char **resume) {
    *config = NULL;
    *nsets = 0;
    *resume = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (!strcmp(a, "--set") && i + 1 < argc)
            v = argv[++i];
        else if (!strncmp(a, "--set=", 6))
            v = a + 6;
        else if (!strcmp(a, "--resume") && i + 1 < argc)
            *resume = argv[++i];
        else if (!strncmp(a, "--resume=", 9))
            *resume = a + 9;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 1;
        else if (a[0] == '-' || *config) {
            if (dpt_world.rank == 0) fprintf(stderr, "dptrain train: unexpected '%s'\n", a);
            return -1;
        } else
            *config = a;
        if (v) {
            if (*nsets == DPT_MAX_OVERRIDES) return -1;
            sets[(*nsets)++] = v;
        }
    }
    return *config ? 0 : -1;
}

static void load_config(train_run *r, const char *path, const char *const *sets, int nsets) {
    char err[1024];
    if (dpt_config_load(&r->cfg, path, sets, nsets, err, sizeof err)) dpt_fatal("%s", err);
    r->loss = dpt_loss_find(r->cfg.loss);
    if (!r->loss) dpt_fatal("%s: loss: unknown loss '%s'", path, r->cfg.loss);
    r->nmetrics = dpt_resolve_metrics(&r->cfg, r->metrics);
}

static void setup_threads(train_run *r) {
    r->threads = dpt_dist_pick_threads(r->cfg.threads);
    omp_set_num_threads(r->threads);
    dpt_blas_setup(r->threads);
}

/* Decides which rows train and which validate (Keras: the last fraction, before shuffling). */
static void plan_split(train_run *r) {
    const dpt_config *c = &r->cfg;
    char err[1024];
    if (dpt_h5_inspect_seq(&r->info, c->train_file, c->x_name, c->y_name, c->lengths_name,
                           dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    int64_t n = r->info.n;
    r->n_val = (int64_t)floor((double)n * c->val_split);
    r->n_train = n - r->n_val;
    r->val_path = NULL;
    if (r->n_val > 0) {
        r->val_path = c->train_file;
        r->val_lo = r->n_train;
        r->val_hi = n;
    }
    if (r->n_train < dpt_world.size)
        dpt_fatal("%s: %lld training rows for %d ranks; every rank needs at least one row "
                  "(use fewer ranks or more data)",
                  c->train_file, (long long)r->n_train, dpt_world.size);
    dpt_sampler_init(&r->sampler, r->n_train, c->batch_size, dpt_world.rank, dpt_world.size);
}

static void build_model(train_run *r) {
    const dpt_config *c = &r->cfg;
    char err[1024];
    int per_rank = (c->batch_size + dpt_world.size - 1) / dpt_world.size;
    int max_batch = per_rank > 256 ? per_rank : 256;
    if (dpt_model_build_seq(&r->model, c->layers, c->nlayers, r->info.T, r->info.F, max_batch, err,
                            sizeof err))
        dpt_fatal("%s: model: %s", c->source, err);
    dpt_model_init_params(&r->model, c->seed);
    dpt_dist_check_model(&r->model);
    dpt_check_input(&r->info, c->train_file, c->x_name, &r->model);
    dpt_check_targets(&r->info, c->train_file, c->x_name, c->y_name, r->loss, &r->model);
    r->pred = dpt_alloc_floats((size_t)max_batch * (size_t)r->model.out_steps *
                               (size_t)r->model.out_features);
}

static void init_optimizer(train_run *r) {
    char err[1024];
    if (dpt_optim_init(&r->optim, &r->cfg.optim, r->model.nparams, err, sizeof err))
        dpt_fatal("%s: optimizer: %s", r->cfg.source, err);
    r->state.seed = r->cfg.seed;
}

/* parallel.overlap: one rank has nothing to reduce.  'auto' overlaps only when the rank has a
 * CPU beyond its compute threads: Open MPI's blocking allreduce polls, and on a shared core it
 * slows backward down more than it hides (docs/design.md, measured). */
static bool want_overlap(const train_run *r) {
    if (dpt_world.size == 1) return false;
    if (r->cfg.overlap >= 0) return r->cfg.overlap;
    return dpt_dist_cpus_per_rank() > r->threads;
}

static void setup_training(train_run *r) {
    const dpt_config *c = &r->cfg;
    r->sched = c->schedule;
    r->sched.base_lr = c->optim.lr;
    r->sched.steps_per_epoch = r->sampler.steps;
    r->sched.total_steps = r->sampler.steps * c->epochs;
    /* statistics reduced with the gradients: the metric sums, then STAT_* */
    dpt_step_init(&r->step, &r->model, r->loss, &r->optim, &r->sched, r->nmetrics + STAT_EXTRA);
    dpt_step_set_overlap(&r->step, want_overlap(r), (size_t)((double)c->bucket_mb * 1048576.0));
    size_t per_step = (size_t)r->step.nbuckets + 1;
    dpt_step_trace_comm(&r->step, c->trace ? (size_t)r->sampler.steps * per_step + 64 : 0);
    r->step.trace = &r->trace;
    r->step.step = r->state.step;
    r->step.l2 = c->l2;
    r->step.clip_norm = c->clip_norm;
    r->step.clip_value = c->clip_value;
    r->step.seed = c->seed;

    dpt_train_setup_data(r);
    dpt_trace_init(&r->trace, 0, c->trace ? (size_t)r->sampler.steps * 8 + 64 : 0);
}

/* A progress bar needs a terminal.  Under mpirun a rank's stdout is a pseudo-terminal even when
 * mpirun's own output goes to a file (Slurm logs), so launched runs print epoch lines only;
 * DPT_PROGRESS=1 or 0 forces the choice. */
static bool want_progress_bar(void) {
    const char *force = getenv("DPT_PROGRESS");
    if (force && *force) return strcmp(force, "0") != 0;
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("SLURM_JOB_ID"))
        return false;
    return isatty(STDOUT_FILENO);
}

static void open_outputs(train_run *r) {
    const dpt_config *c = &r->cfg;
    snprintf(r->model_path, sizeof r->model_path, "%s/model.h5", c->output_dir);
    r->tty = dpt_world.rank == 0 && want_progress_bar();
    char err[1024], path[DPT_PATH_MAX + 32];
    if (dpt_world.rank == 0 && dpt_mkdirs(c->output_dir, err, sizeof err))
        dpt_fatal("output.dir: %s", err);
    if (c->trace) {
        MPI_Barrier(dpt_world.comm); /* the directory exists for every rank */
        snprintf(path, sizeof path, "%s/trace-rank%d.json", c->output_dir, dpt_world.rank);
        if (dpt_trace_file_open(&r->trace_file, path, dpt_world.rank, r->t_start, err, sizeof err))
            dpt_fatal("output.trace: %s", err);
    }
    if (dpt_world.rank != 0) return;
    snprintf(path, sizeof path, "%s/metrics.jsonl", c->output_dir);
    if (dpt_metrics_log_open(&r->log, path, r->resume != NULL, err, sizeof err))
        dpt_fatal("%s", err);
    r->last_ckpt = dpt_now_s();
}

/* ---- reporting ---- */

static void report_start(const train_run *r) {
    const dpt_config *c = &r->cfg;
    const dpt_model *m = &r->model;
    dpt_log0("dptrain %s: %d rank%s x %d thread%s, BLIS kernels '%s' (%s)\n", DPT_VERSION,
             dpt_world.size, dpt_world.size > 1 ? "s" : "", r->threads, r->threads > 1 ? "s" : "",
             dpt_blas_arch(), dpt_blas_arch_reason());
    dpt_log0("model: %d inputs", m->in_features);
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        dpt_log0(" -> %s(%d)", l->name, l->out);
    }
    dpt_log0("; %zu parameters (checksum %016llx, same on all ranks)\n", m->nparams,
             (unsigned long long)dpt_model_checksum(m));
    const dpt_h5info *in = &r->info;
    if (in->T > 1)
        dpt_log0("data: %s: %lld sequences x %d steps x %d features%s, y %s%s", c->train_file,
                 (long long)in->n, in->T, in->F, in->has_lengths ? " (variable lengths)" : "",
                 in->y_steps > 1 ? "per-step " : "", in->labels ? "class labels" : "float targets");
    else
        dpt_log0("data: %s: %lld rows x %d features, y %s%s", c->train_file, (long long)in->n,
                 in->F, in->y_steps > 1 ? "per-step " : "",
                 in->labels ? "class labels" : "float targets");
    dpt_log0("; %lld train, %lld validation%s%s\n", (long long)r->n_train, (long long)r->n_val,
             r->val_path ? " from " : "", r->val_path ? r->val_path : "");
    dpt_log0("training: loss %s, optimizer %s (lr %g), schedule %s, global batch %d (%d per "
             "rank), %lld steps/epoch, %d epochs, seed %llu\n",
             c->loss, c->optim.name, (double)c->optim.lr, c->schedule.name, c->batch_size,
             (c->batch_size + dpt_world.size - 1) / dpt_world.size, (long long)r->sampler.steps,
             c->epochs, (unsigned long long)c->seed);
    if (c->streaming)
        dpt_log0("input: streaming, blocks of %lld rows, shuffle buffer %lld rows, %d batch%s "
                 "read ahead\n",
                 (long long)r->sopts.block_rows, (long long)(c->shuffle ? r->sopts.buffer_rows : 0),
                 c->prefetch, c->prefetch > 1 ? "es" : "");
    else
        dpt_log0("input: in memory, rows exchanged between ranks before each epoch\n");
    if (r->step.overlap)
        dpt_log0("allreduce: overlapped with backward, %d bucket%s of up to %.3g MiB\n",
                 r->step.nbuckets, r->step.nbuckets > 1 ? "s" : "",
                 (double)r->step.bucket_bytes / 1048576.0);
    else
        dpt_log0("allreduce: one per step, after backward%s\n",
                 dpt_world.size > 1 && c->overlap < 0
                     ? " (parallel.overlap auto: no CPU to spare for a communication thread)"
                     : "");
}

static void progress(train_run *r, int epoch, int64_t s, double loss, double t0) {
    double t = dpt_now_s();
    if (!r->tty || (t - r->last_progress < 0.1 && s + 1 < r->sampler.steps)) return;
    r->last_progress = t;
    int width = 30, done = (int)((s + 1) * width / r->sampler.steps);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
    bar[width] = 0;
    double sps = (double)(s + 1) * r->cfg.batch_size / (t - t0 > 1e-9 ? t - t0 : 1e-9);
    printf("\repoch %d/%d [%s] loss %.6f  %.0f samples/s ", epoch + 1, r->cfg.epochs, bar, loss,
           sps);
    fflush(stdout);
}

/* ---- the loop ---- */

/* Metric sums of this step's outputs (user's units) and the number of rows they cover, into
 * the statistics slots reduced with the gradients. */
static void step_metrics(train_run *r, const float *out, const train_batch *b) {
    float *stats = dpt_step_stats(&r->step);
    int K = r->model.out_features, T = r->model.out_steps, M = r->nmetrics, B = b->B;
    const int32_t *masked = dpt_model_output_lengths(&r->model, dpt_data_lengths(b->data, b->row));
    stats[M + STAT_ROWS] = (float)dpt_valid_steps(B, T, masked);
    if (M == 0 || B == 0) return;
    memcpy(r->pred, out, sizeof(float) * (size_t)B * (size_t)T * (size_t)K);
    dpt_outputs_to_predictions(r->loss, &r->ynorm, r->pred, (int64_t)B * T, K);
    dpt_target t = dpt_data_target(b->data, b->row, false);
    for (int i = 0; i < M; i++)
        stats[i] = (float)dpt_metric_sum_steps(r->metrics[i], r->pred, t, B, T, K, masked);
}

/* The stop and checkpoint requests travel with the step's gradients (one allreduce, summed), so
 * every rank takes the same decision after the same step: a signal on any rank stops all;
 * rank 0's clock decides a timed checkpoint. */
static void step_requests(train_run *r) {
    float *stats = dpt_step_stats(&r->step) + r->nmetrics;
    stats[STAT_STOP] = dpt_signal_pending() ? 1.0f : 0.0f;
    double every = r->cfg.ckpt_every_seconds;
    bool due = dpt_world.rank == 0 && every > 0 && dpt_now_s() - r->last_ckpt >= every;
    stats[STAT_CKPT] = due ? 1.0f : 0.0f;
}

/* A step whose loss or gradient is not finite updated nothing (dpt_step_update): abort, or skip
 * it and abort after training.max_nonfinite_skips in a row.  Every rank sees the same reduced
 * numbers, so every rank decides alike. */
static void nonfinite(train_run *r, int epoch, const char *bad) {
    const char *where = bad ? bad : "(none: the loss)";
    if (!r->cfg.nonfinite_skip)
        dpt_fatal("non-finite loss or gradient at step %lld (epoch %d): first non-finite "
                  "gradient in layer %s; lower optimizer.lr or set clip.norm",
                  (long long)r->step.step, epoch + 1, where);
    if (++r->state.nonfinite_skips > r->cfg.max_nonfinite_skips)
        dpt_fatal("non-finite loss or gradient in %d consecutive steps (last at step %lld, epoch "
                  "%d, first non-finite gradient in layer %s): giving up "
                  "(training.max_nonfinite_skips)",
                  r->state.nonfinite_skips, (long long)r->step.step, epoch + 1, where);
    dpt_log0("warning: step %lld (epoch %d) skipped: non-finite loss or gradient (layer %s)\n",
             (long long)r->step.step, epoch + 1, where);
}

/* Row of this rank's epoch buffer where step s0 starts (the rows of the steps before it). */
static int64_t first_row(const train_run *r, int64_t s0) {
    int64_t row = 0, pos;
    int B, global;
    for (int64_t s = 0; s < s0; s++) {
        dpt_sampler_slice(&r->sampler, s, &pos, &B, &global);
        row += B;
    }
    return row;
}

/* After step s of epoch e: the state, and a checkpoint when one is due.  True to stop. */
static bool after_step(train_run *r, int epoch, int64_t s) {
    const double *stats = r->step.stats + r->nmetrics;
    r->state.step = r->step.step;
    r->state.epoch = epoch;
    r->state.epoch_step = s + 1;
    if (stats[STAT_STOP] > 0) return true;
    int every = r->cfg.ckpt_every_steps;
    bool by_steps = every > 0 && r->step.step % every == 0;
    if (by_steps || stats[STAT_CKPT] > 0) dpt_train_checkpoint(r, by_steps ? "steps" : "timer");
    return false;
}

/* Runs epoch `epoch` from step s0; sums laid out as dpt_eval_sums: loss, metrics, samples,
 * metric rows.  Returns true when a stop request ended it early. */
static bool train_epoch(train_run *r, int epoch, int64_t s0, double *sums) {
    size_t xw = (size_t)r->info.T * (size_t)r->info.F;
    int64_t row = first_row(r, s0);
    int M = r->nmetrics;
    double t0 = dpt_now_s();
    memset(sums, 0, sizeof(double) * (size_t)(M + 3));
    for (int64_t s = s0; s < r->sampler.steps; s++) {
        train_batch b;
        dpt_train_batch(r, s, row, &b);
        const dpt_data *d = b.data;
        const float *out = dpt_step_compute(&r->step, d->shard.x + (size_t)b.row * xw,
                                            dpt_data_target(d, b.row, true), b.B, b.ids,
                                            dpt_data_lengths(d, b.row));
        double t1 = dpt_now_s();
        step_metrics(r, out, &b);
        dpt_train_batch_done(r);
        step_requests(r);
        dpt_trace_add(&r->trace, DPT_PH_OTHER, t1, dpt_now_s(), r->step.step, 0);
        const char *bad = NULL;
        if (dpt_step_update(&r->step, &bad) != DPT_STEP_OK)
            nonfinite(r, epoch, bad);
        else
            r->state.nonfinite_skips = 0;
        sums[0] += r->step.loss_sum;
        for (int i = 0; i < M; i++) sums[1 + i] += r->step.stats[i];
        sums[1 + M] += r->step.count;
        sums[2 + M] += r->step.stats[M + STAT_ROWS];
        progress(r, epoch, s, sums[0] / sums[1 + M], t0);
        row += b.B;
        if (after_step(r, epoch, s)) return true;
    }
    return false;
}

/* Names and per-sample / per-row averages of one set of sums (prefix "" or "val_"). */
static int averages(const train_run *r, const double *sums, const char *prefix, char (*names)[48],
                    double *vals) {
    int M = r->nmetrics, n = 0;
    double samples = sums[1 + M] > 0 ? sums[1 + M] : 1, rows = sums[2 + M] > 0 ? sums[2 + M] : 1;
    snprintf(names[n], 48, "%sloss", prefix);
    vals[n++] = sums[0] / samples;
    for (int i = 0; i < M; i++) {
        snprintf(names[n], 48, "%s%s", prefix, r->metrics[i]->name);
        vals[n++] = sums[1 + i] / rows;
    }
    return n;
}

/* Where the epoch's time went, the largest value over the ranks: compute (forward, backward,
 * update, metrics), exposed communication (the step waited for allreduces, including for slower
 * ranks), data wait, all allreduce time (overlapped or not), and the epoch's time itself.
 * Collective. */
enum { BRK_COMPUTE, BRK_COMM, BRK_DATA, BRK_ALLREDUCE, BRK_TIME, BRK_N };

static void breakdown(train_run *r, double dt, double *out) {
    const double *t = r->trace.total;
    out[BRK_TIME] = dt;
    out[BRK_COMPUTE] = t[DPT_PH_FORWARD] + t[DPT_PH_BACKWARD] + t[DPT_PH_UPDATE] + t[DPT_PH_OTHER];
    out[BRK_COMM] = t[DPT_PH_COMM_WAIT];
    out[BRK_DATA] = t[DPT_PH_DATA_WAIT];
    out[BRK_ALLREDUCE] = r->step.comm_trace.total[DPT_PH_ALLREDUCE];
    MPI_Allreduce(MPI_IN_PLACE, out, BRK_N, MPI_DOUBLE, MPI_MAX, dpt_world.comm);
}

#define REPORT_MAX (2 * DPT_MAX_METRICS + 10)

static void report_epoch(train_run *r, int epoch, const double *tr, const double *va, double dt) {
    char buf[REPORT_MAX][48];
    const char *names[REPORT_MAX];
    double vals[REPORT_MAX], brk[BRK_N];
    breakdown(r, dt, brk);
    dt = brk[BRK_TIME];
    int n = averages(r, tr, "", buf, vals);
    if (va) n += averages(r, va, "val_", buf + n, vals + n);
    int shown = n;
    double samples = tr[1 + r->nmetrics];
    static const char *const brk_names[BRK_TIME] = {"compute_s", "comm_exposed_s", "data_wait_s",
                                                    "allreduce_s"};
    snprintf(buf[n], 48, "lr"), vals[n++] = r->step.lr;
    snprintf(buf[n], 48, "samples_per_s"), vals[n++] = samples / dt;
    snprintf(buf[n], 48, "time_s"), vals[n++] = dt;
    for (int i = 0; i < BRK_TIME; i++) snprintf(buf[n], 48, "%s", brk_names[i]), vals[n++] = brk[i];
    for (int i = 0; i < n; i++) names[i] = buf[i];
    if (dpt_world.rank != 0) return;
    if (r->tty) printf("\r\033[K");
    printf("epoch %d/%d", epoch + 1, r->cfg.epochs);
    for (int i = 0; i < shown; i++) printf("  %s %.6g", names[i], vals[i]);
    printf("  %.0f samples/s  %.2f s (compute %.2f, comm %.2f, data wait %.2f)\n", samples / dt, dt,
           brk[BRK_COMPUTE], brk[BRK_COMM], brk[BRK_DATA]);
    fflush(stdout);
    char err[1024];
    if (dpt_metrics_log_write(&r->log, epoch + 1, names, vals, n, err, sizeof err))
        dpt_fatal("%s", err);
}

static void save_model(train_run *r) {
    if (dpt_world.rank == 0) {
        char err[1024];
        if (dpt_model_save(r->model_path, &r->model, &r->cfg, &r->xnorm, &r->ynorm, err,
                           sizeof err))
            dpt_fatal("%s", err);
        printf("model written to %s\n", r->model_path);
        fflush(stdout);
    }
    MPI_Barrier(dpt_world.comm);
}

static void free_run(train_run *r) {
    dpt_metrics_log_close(&r->log);
    dpt_step_free(&r->step);
    dpt_optim_free(&r->optim);
    dpt_model_free(&r->model);
    dpt_train_free_data(r);
    dpt_norm_free(&r->xnorm);
    dpt_norm_free(&r->ynorm);
    dpt_trace_free(&r->trace);
    free(r->pred);
    dpt_config_free(&r->cfg);
}

static void add_stream_events(dpt_trace *t, void *arg) {
    dpt_trace_file_add(arg, t);
    dpt_trace_clear_events(t);
}

/* Appends the events recorded since the last call to this rank's trace file. */
static void write_trace(train_run *r) {
    if (!r->cfg.trace) return;
    dpt_trace_file_add(&r->trace_file, &r->trace);
    dpt_trace_clear_events(&r->trace);
    dpt_trace_file_add(&r->trace_file, &r->step.comm_trace);
    dpt_trace_clear_events(&r->step.comm_trace);
    if (r->stream) dpt_stream_with_trace(r->stream, add_stream_events, &r->trace_file);
}

static void close_trace(train_run *r) {
    if (!r->cfg.trace) return;
    write_trace(r);
    char err[1024];
    if (dpt_trace_file_close(&r->trace_file, err, sizeof err)) dpt_fatal("output.trace: %s", err);
    if (dpt_world.rank == 0) printf("trace written to %s/trace-rank*.json\n", r->cfg.output_dir);
}

/* Stopped by a signal: checkpoint, wait for rank 0 to finish writing it, exit code 3. */
static int stop(train_run *r) {
    int sig = dpt_signal_pending();
    dpt_log0("stop requested%s%s: checkpointing at step %lld (epoch %d) and exiting; continue "
             "with --resume latest\n",
             sig ? " by " : "", sig ? strsignal(sig) : " on another rank", (long long)r->state.step,
             r->state.epoch + 1);
    dpt_train_checkpoint(r, "stop signal");
    MPI_Barrier(dpt_world.comm);
    close_trace(r);
    return DPT_EXIT_STOPPED;
}

/* The epochs from where the state stands; DPT_EXIT_OK or DPT_EXIT_STOPPED. */
static int train_epochs(train_run *r) {
    double tr[DPT_MAX_METRICS + 3], va[DPT_MAX_METRICS + 3];
    int every = r->cfg.ckpt_every_epochs;
    for (int e = r->state.epoch; e < r->cfg.epochs; e++) {
        int64_t s0 = e == r->state.epoch ? r->state.epoch_step : 0;
        double t0 = dpt_now_s();
        dpt_trace_reset_totals(&r->trace);
        dpt_trace_reset_totals(&r->step.comm_trace);
        dpt_train_epoch_begin(r, e, s0);
        if (s0 < r->sampler.steps && train_epoch(r, e, s0, tr)) return stop(r);
        double dt = dpt_now_s() - t0;
        r->state.epoch = e + 1; /* this epoch is complete */
        r->state.epoch_step = 0;
        if (s0 >= r->sampler.steps) continue; /* resumed at the very end of an epoch */
        if (r->val_path) dpt_train_validate(r, va);
        report_epoch(r, e, tr, r->val_path ? va : NULL, dt);
        write_trace(r);
        if (every > 0 && (e + 1) % every == 0 && e + 1 < r->cfg.epochs)
            dpt_train_checkpoint(r, "epoch");
    }
    dpt_train_checkpoint(r, "end");
    close_trace(r);
    return DPT_EXIT_OK;
}

int dpt_cmd_train(int argc, char **argv) {
    const char *config, *sets[DPT_MAX_OVERRIDES], *resume;
    int nsets, rc = parse_args(argc, argv, &config, sets, &nsets, &resume);
    if (rc != 0) {
        if (dpt_world.rank == 0)
            fprintf(rc > 0 ? stdout : stderr, "usage: dptrain train CONFIG [--set key.path=value]"
                                              "... [--resume PATH|latest]\n");
        return rc > 0 ? DPT_EXIT_OK : DPT_EXIT_USAGE;
    }
    dpt_signals_install();
    train_run *r = dpt_calloc(1, sizeof *r);
    r->resume = resume;
    r->t_start = dpt_now_s();
    load_config(r, config, sets, nsets);
    setup_threads(r);
    plan_split(r);
    build_model(r);
    init_optimizer(r);
    if (r->resume) dpt_train_resume(r);
    dpt_train_load_data(r);
    setup_training(r);
    open_outputs(r);
    report_start(r);
    rc = train_epochs(r);
    dpt_train_free_data(r); /* ends the streaming thread: HDF5 is the main thread's again */
    if (rc == DPT_EXIT_OK) save_model(r);
    free_run(r);
    free(r);
    return rc;
}
