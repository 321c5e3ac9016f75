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

static void read_data(dpt_data *d, const train_run *r, const char *path, int64_t lo, int64_t hi) {
    const dpt_config *c = &r->cfg;
    char err[1024];
    int nclasses = r->info.labels ? r->model.out_features : 0;
    if (dpt_h5_read_shard_seq(&d->shard, path, c->x_name, c->y_name, c->lengths_name, lo, hi,
                              nclasses, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
}

/* Standardisation statistics per feature over the valid steps of every training sample
 * (padding left out: it is zeros, not data).  Collective. */
static void fit_valid(dpt_norm *n, const float *v, int64_t rows, int steps, int W,
                      const int32_t *lengths) {
    if (!lengths || steps == 1) {
        dpt_norm_fit(n, v, rows * steps, W, dpt_world.comm);
        return;
    }
    int64_t valid = dpt_valid_steps((int)rows, steps, lengths);
    float *buf = dpt_alloc_floats((size_t)(valid > 0 ? valid : 1) * (size_t)W); /* (valid, W) */
    float *p = buf;
    for (int64_t b = 0; b < rows; b++) {
        size_t len = (size_t)lengths[b] * (size_t)W;
        memcpy(p, v + (size_t)b * steps * W, len * sizeof(float));
        p += len;
    }
    dpt_norm_fit(n, buf, valid, W, dpt_world.comm);
    free(buf);
}

static void load_data(train_run *r) {
    const dpt_config *c = &r->cfg;
    read_data(&r->train, r, c->train_file, 0, r->n_train);
    if (c->val_file[0]) {
        char err[1024];
        dpt_h5info vi;
        if (dpt_h5_inspect_seq(&vi, c->val_file, c->x_name, c->y_name, c->lengths_name,
                               dpt_world.comm, err, sizeof err))
            dpt_fatal("%s", err);
        if (vi.F != r->info.F || vi.T != r->info.T)
            dpt_fatal("%s: '%s' has %d steps x %d features but the training data has %d x %d",
                      c->val_file, c->x_name, vi.T, vi.F, r->info.T, r->info.F);
        dpt_check_targets(&vi, c->val_file, c->x_name, c->y_name, r->loss, &r->model);
        r->val_path = c->val_file;
        r->val_lo = 0;
        r->val_hi = r->n_val = vi.n;
    }
    if (r->val_path) read_data(&r->val, r, r->val_path, r->val_lo, r->val_hi);

    int F = r->info.F, K = r->info.K;
    const dpt_shard *tr = &r->train.shard;
    bool ny = c->normalize_y < 0 ? (r->loss->regression && !r->info.labels) : c->normalize_y;
    if (ny && r->info.labels)
        dpt_fatal("%s: data.normalize_y is on but y holds class labels", c->source);
    /* A resumed run keeps the statistics stored in its checkpoint (exactly the same numbers,
     * whatever the number of ranks now). */
    if (!r->resume) {
        r->xnorm.enabled = false;
        r->ynorm.enabled = false;
        if (c->normalize_x) fit_valid(&r->xnorm, tr->x, tr->nrows, r->info.T, F, tr->lengths);
        if (ny) fit_valid(&r->ynorm, tr->y, tr->nrows, r->info.y_steps, K, tr->lengths);
    }
    dpt_data_normalise(&r->train, &r->xnorm, &r->ynorm);
    if (r->val_path) dpt_data_normalise(&r->val, &r->xnorm, &r->ynorm);
}

static void init_optimizer(train_run *r) {
    char err[1024];
    if (dpt_optim_init(&r->optim, &r->cfg.optim, r->model.nparams, err, sizeof err))
        dpt_fatal("%s: optimizer: %s", r->cfg.source, err);
    r->state.seed = r->cfg.seed;
}

static void setup_training(train_run *r) {
    const dpt_config *c = &r->cfg;
    dpt_sampler_init(&r->sampler, r->n_train, c->batch_size, dpt_world.rank, dpt_world.size);
    r->sched = c->schedule;
    r->sched.base_lr = c->optim.lr;
    r->sched.steps_per_epoch = r->sampler.steps;
    r->sched.total_steps = r->sampler.steps * c->epochs;
    /* statistics reduced with the gradients: the metric sums, then STAT_* */
    dpt_step_init(&r->step, &r->model, r->loss, &r->optim, &r->sched, r->nmetrics + STAT_EXTRA);
    r->step.step = r->state.step;
    r->step.l2 = c->l2;
    r->step.clip_norm = c->clip_norm;
    r->step.clip_value = c->clip_value;
    r->step.seed = c->seed;

    int64_t cnt = dpt_sampler_epoch_count(&r->sampler);
    size_t rows = (size_t)(cnt > 0 ? cnt : 1);
    size_t xw = (size_t)r->info.T * (size_t)r->info.F;       /* floats of x per sample */
    size_t yw = (size_t)r->info.y_steps * (size_t)r->info.K; /* floats of y per sample */
    r->perm = dpt_calloc((size_t)r->n_train, sizeof(int64_t));
    r->need = dpt_calloc(rows, sizeof(int64_t));
    r->ex_x = dpt_alloc_floats(rows * xw);
    if (r->info.labels)
        r->ex_labels = dpt_calloc(rows * (size_t)r->info.y_steps, sizeof(int32_t));
    else
        r->ex_y = dpt_alloc_floats(rows * yw);
    if (r->ynorm.enabled) r->ex_yn = dpt_alloc_floats(rows * yw);
    if (r->info.has_lengths) r->ex_lengths = dpt_calloc(rows, sizeof(int32_t));
    r->epoch.shard.info = r->train.shard.info;
    r->epoch.shard.nrows = cnt;
    r->epoch.shard.x = r->ex_x;
    r->epoch.shard.y = r->ex_y;
    r->epoch.shard.labels = r->ex_labels;
    r->epoch.shard.lengths = r->ex_lengths;
    r->epoch.y_norm = r->ex_yn;
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
    if (dpt_world.rank != 0) return;
    char err[1024], path[DPT_PATH_MAX + 16];
    if (dpt_mkdirs(c->output_dir, err, sizeof err)) dpt_fatal("output.dir: %s", err);
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

/* Fetches this rank's rows of the epoch (r->need) of one per-sample array from their owners. */
static void exchange(train_run *r, const void *local, size_t row_bytes, int64_t k, void *out) {
    const dpt_shard *sh = &r->train.shard;
    dpt_exchange_rows(&r->xch, local, sh->row0, sh->nrows, row_bytes, r->n_train, r->need, k, out,
                      dpt_world.comm);
}

/* Builds this epoch's consumption order and fetches those rows from their owners. */
static void prepare_epoch(train_run *r, int epoch) {
    const dpt_config *c = &r->cfg;
    if (c->shuffle)
        dpt_permutation(r->perm, r->n_train, c->seed, (uint64_t)epoch);
    else
        for (int64_t i = 0; i < r->n_train; i++) r->perm[i] = i;
    int64_t k = 0;
    for (int64_t s = 0; s < r->sampler.steps; s++) {
        int64_t pos;
        int count, global;
        dpt_sampler_slice(&r->sampler, s, &pos, &count, &global);
        for (int i = 0; i < count; i++) r->need[k++] = r->perm[pos + i];
    }
    const dpt_shard *sh = &r->train.shard;
    size_t xw = (size_t)sh->info.T * sh->info.F, ys = (size_t)sh->info.y_steps;
    size_t yw = ys * (size_t)sh->info.K;
    exchange(r, sh->x, sizeof(float) * xw, k, r->ex_x);
    if (sh->labels)
        exchange(r, sh->labels, sizeof(int32_t) * ys, k, r->ex_labels);
    else
        exchange(r, sh->y, sizeof(float) * yw, k, r->ex_y);
    if (sh->lengths) exchange(r, sh->lengths, sizeof(int32_t), k, r->ex_lengths);
    if (r->ex_yn) {
        memcpy(r->ex_yn, r->ex_y, sizeof(float) * (size_t)k * yw);
        dpt_norm_apply(&r->ynorm, r->ex_yn, k * (int64_t)ys);
    }
}

/* Metric sums of this step's outputs (user's units) and the number of rows they cover, into
 * the statistics slots reduced with the gradients. */
static void step_metrics(train_run *r, const float *out, int64_t row, int B) {
    float *stats = dpt_step_stats(&r->step);
    int K = r->model.out_features, T = r->model.out_steps, M = r->nmetrics;
    const int32_t *masked = dpt_model_output_lengths(&r->model, dpt_data_lengths(&r->epoch, row));
    stats[M + STAT_ROWS] = (float)dpt_valid_steps(B, T, masked);
    if (M == 0 || B == 0) return;
    memcpy(r->pred, out, sizeof(float) * (size_t)B * (size_t)T * (size_t)K);
    dpt_outputs_to_predictions(r->loss, &r->ynorm, r->pred, (int64_t)B * T, K);
    dpt_target t = dpt_data_target(&r->epoch, row, false);
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
        int64_t pos;
        int B, global;
        dpt_sampler_slice(&r->sampler, s, &pos, &B, &global);
        const float *out = dpt_step_compute(&r->step, r->ex_x + (size_t)row * xw,
                                            dpt_data_target(&r->epoch, row, true), B, r->need + row,
                                            dpt_data_lengths(&r->epoch, row));
        step_metrics(r, out, row, B);
        step_requests(r);
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
        row += B;
        if (after_step(r, epoch, s)) return true;
    }
    return false;
}

/* Validation sums over all ranks, laid out as dpt_eval_sums. */
static void validate(train_run *r, double *out) {
    dpt_eval e = {r->loss, r->metrics, r->nmetrics, &r->ynorm};
    dpt_eval_sums(&r->model, &e, &r->val, r->pred, out);
    dpt_allreduce_sum_f64(out, (size_t)r->nmetrics + 3);
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

static void report_epoch(train_run *r, int epoch, const double *tr, const double *va, double dt) {
    char buf[2 * DPT_MAX_METRICS + 6][48];
    const char *names[2 * DPT_MAX_METRICS + 6];
    double vals[2 * DPT_MAX_METRICS + 6];
    int n = averages(r, tr, "", buf, vals);
    if (va) n += averages(r, va, "val_", buf + n, vals + n);
    double samples = tr[1 + r->nmetrics];
    snprintf(buf[n], 48, "lr"), vals[n++] = r->step.lr;
    snprintf(buf[n], 48, "samples_per_s"), vals[n++] = samples / dt;
    snprintf(buf[n], 48, "time_s"), vals[n++] = dt;
    for (int i = 0; i < n; i++) names[i] = buf[i];
    if (dpt_world.rank != 0) return;
    if (r->tty) printf("\r\033[K");
    printf("epoch %d/%d", epoch + 1, r->cfg.epochs);
    for (int i = 0; i < n - 3; i++) printf("  %s %.6g", names[i], vals[i]);
    printf("  %.0f samples/s  %.2f s\n", samples / dt, dt);
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
    dpt_shard_free(&r->train.shard);
    dpt_shard_free(&r->val.shard);
    free(r->train.y_norm);
    free(r->val.y_norm);
    dpt_norm_free(&r->xnorm);
    dpt_norm_free(&r->ynorm);
    dpt_exchange_free(&r->xch);
    free(r->perm);
    free(r->need);
    free(r->ex_x);
    free(r->ex_y);
    free(r->ex_yn);
    free(r->ex_labels);
    free(r->ex_lengths);
    free(r->pred);
    dpt_config_free(&r->cfg);
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
    return DPT_EXIT_STOPPED;
}

/* The epochs from where the state stands; DPT_EXIT_OK or DPT_EXIT_STOPPED. */
static int train_epochs(train_run *r) {
    double tr[DPT_MAX_METRICS + 3], va[DPT_MAX_METRICS + 3];
    int every = r->cfg.ckpt_every_epochs;
    for (int e = r->state.epoch; e < r->cfg.epochs; e++) {
        int64_t s0 = e == r->state.epoch ? r->state.epoch_step : 0;
        double t0 = dpt_now_s();
        prepare_epoch(r, e);
        if (s0 < r->sampler.steps && train_epoch(r, e, s0, tr)) return stop(r);
        double dt = dpt_now_s() - t0;
        r->state.epoch = e + 1; /* this epoch is complete */
        r->state.epoch_step = 0;
        if (s0 >= r->sampler.steps) continue; /* resumed at the very end of an epoch */
        if (r->val_path) validate(r, va);
        report_epoch(r, e, tr, r->val_path ? va : NULL, dt);
        if (every > 0 && (e + 1) % every == 0 && e + 1 < r->cfg.epochs)
            dpt_train_checkpoint(r, "epoch");
    }
    dpt_train_checkpoint(r, "end");
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
    load_config(r, config, sets, nsets);
    setup_threads(r);
    plan_split(r);
    build_model(r);
    init_optimizer(r);
    if (r->resume) dpt_train_resume(r);
    load_data(r);
    setup_training(r);
    open_outputs(r);
    report_start(r);
    rc = train_epochs(r);
    if (rc == DPT_EXIT_OK) save_model(r);
    free_run(r);
    free(r);
    return rc;
}
