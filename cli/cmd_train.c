/* `dptrain train CONFIG [--set k=v]... [--resume PATH|latest]`: argv -> config -> hooks ->
 * trainer (train/trainer.h) -> exit code.  The hooks are this command's output: the start-up
 * report, a progress bar on a terminal, one line per epoch, metrics.jsonl and checkpoint lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/blas.h"
#include "core/util.h"
#include "io/metrics_log.h"
#include "parallel/dist.h"
#include "parallel/signals.h"
#include "train/trainer.h"

/* What the hooks write to. */
typedef struct train_output {
    bool tty;             /* rank 0 writes to a terminal: progress bar */
    double last_progress; /* time of the last progress bar update */
    dpt_metrics_log log;  /* rank 0 only */
} train_output;

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

static void open_log(train_output *out, const dpt_trainer *t, bool resumed) {
    out->tty = dpt_world.rank == 0 && want_progress_bar();
    if (dpt_world.rank != 0) return;
    char err[1024], path[DPT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->cfg.output_dir);
    if (dpt_metrics_log_open(&out->log, path, resumed, err, sizeof err)) dpt_fatal("%s", err);
}

/* ---- reporting ---- */

/* "(28, 28, 32)": a shape's dimensions without its element type. */
static const char *dims_text(const dpt_shape *s, char *buf, size_t n) {
    size_t len = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < s->rank && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%d", d ? ", " : "", s->dim[d]);
    if (len < n) snprintf(buf + len, n - len, ")");
    return buf;
}

/* " [a, b, state of c]" after a layer that does not simply read the one before it. */
static void report_sources(const dpt_model *m, int i) {
    const dpt_graph_node *nd = &m->nodes[i];
    bool chain = nd->nsrc == 1 && !nd->src[0].state &&
                 (i == 0 ? nd->src[0].layer < 0 && m->ninputs == 1 : nd->src[0].layer == i - 1);
    if (chain) return;
    for (int k = 0; k < nd->nsrc; k++) {
        const dpt_graph_src *src = &nd->src[k];
        const char *name = src->layer < 0 ? m->inputs[src->input].name : m->layers[src->layer].name;
        dpt_log0("%s%s%s", k ? ", " : " [", src->state ? "state of " : "", name);
    }
    dpt_log0("]");
}

static void report_model(const dpt_trainer *t) {
    const dpt_model *m = &t->model;
    dpt_log0("dptrain %s: %d rank%s x %d thread%s, BLIS kernels '%s' (%s)\n", DPT_VERSION,
             dpt_world.size, dpt_world.size > 1 ? "s" : "", t->threads, t->threads > 1 ? "s" : "",
             dpt_blas_arch(), dpt_blas_arch_reason());
    char sh[96];
    bool named = m->ninputs > 1 || strcmp(m->inputs[0].name, "input") != 0;
    if (named)
        for (int k = 0; k < m->ninputs; k++)
            dpt_log0("%s%s%s", k ? " + " : "model: ", m->inputs[k].name,
                     dims_text(&m->inputs[k].shape, sh, sizeof sh));
    else if (m->in_shape.rank <= 1)
        dpt_log0("model: %d inputs", m->in_features);
    else
        dpt_log0("model: %s inputs", dims_text(&m->in_shape, sh, sizeof sh));
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        dpt_log0(" -> %s%s", l->name, dims_text(&l->out_shape, sh, sizeof sh));
        report_sources(m, i);
    }
    /* The arena holds every activation, layer cache and backward delta for max_batch rows:
     * what the model needs besides parameters, gradients and optimizer state. */
    double kib = (double)m->arena_floats * sizeof(float) / 1024.0;
    if (m->nstate) /* batch_norm's moving statistics: saved and checksummed, not trained */
        dpt_log0("; %zu parameters + %zu state values", m->nparams, m->nstate);
    else
        dpt_log0("; %zu parameters", m->nparams);
    dpt_log0(" (checksum %016llx, same on all ranks); activations %.1f %s per rank for %d rows\n",
             (unsigned long long)dpt_model_checksum(m), kib < 1024 ? kib : kib / 1024,
             kib < 1024 ? "KiB" : "MiB", m->max_batch);
}

/* Data that steps x features describe as before: float X (F) or (T, F), y per sample, per step
 * of X, or (plain X) per output step, without y lengths. */
static bool steps_by_features(const dpt_h5info *in) {
    bool y_ok = in->y_steps == 1 || in->T == 1 || in->y_steps == in->T;
    return in->x_shape.dtype == DPT_F32 && in->x_shape.rank <= 2 && y_ok && !in->has_y_lengths;
}

/* Other data: the per-sample shapes. */
static void report_shapes(const dpt_h5info *in, const char *path,
                          const char (*c_inputs)[DPT_NAME_MAX]) {
    char x[96], y[96];
    dpt_shape_str(&in->x_shape, x, sizeof x);
    if (in->labels && in->y_steps > 1)
        snprintf(y, sizeof y, "class labels (%d)", in->y_steps);
    else if (in->labels)
        snprintf(y, sizeof y, "class labels");
    else
        dpt_shape_str(&in->y_shape, y, sizeof y);
    if (in->ninputs > 1) {
        dpt_log0("data: %s: %lld rows of", path, (long long)in->n);
        for (int k = 0; k < in->ninputs; k++)
            dpt_log0("%s %s %s%s", k ? "," : "", c_inputs[k],
                     dpt_shape_str(&in->in_shapes[k], x, sizeof x),
                     in->in_lengths[k] ? " (variable lengths)" : "");
        dpt_log0(", y %s%s", y, in->has_y_lengths ? " (variable lengths)" : "");
        return;
    }
    dpt_log0("data: %s: %lld rows of %s %s%s, y %s%s", path, (long long)in->n,
             in->ninputs == 1 ? c_inputs[0] : "X", x, in->has_lengths ? " (variable lengths)" : "",
             y, in->has_y_lengths ? " (variable lengths)" : "");
}

static void report_data(const dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    const dpt_h5info *in = &t->info;
    if (!steps_by_features(in))
        report_shapes(in, c->train_file, c->inputs);
    else if (in->T > 1)
        dpt_log0("data: %s: %lld sequences x %d steps x %d features%s, y %s%s", c->train_file,
                 (long long)in->n, in->T, in->F, in->has_lengths ? " (variable lengths)" : "",
                 in->y_steps > 1 ? "per-step " : "", in->labels ? "class labels" : "float targets");
    else
        dpt_log0("data: %s: %lld rows x %d features, y %s%s", c->train_file, (long long)in->n,
                 in->F, in->y_steps > 1 ? "per-step " : "",
                 in->labels ? "class labels" : "float targets");
    dpt_log0("; %lld train, %lld validation%s%s\n", (long long)t->n_train, (long long)t->n_val,
             t->val_path ? " from " : "", t->val_path ? t->val_path : "");
}

static void report_start(const dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    report_model(t);
    report_data(t);
    dpt_log0("training: loss %s, optimizer %s (lr %g), schedule %s, global batch %d (%d per "
             "rank), %lld steps/epoch, %d epochs, seed %llu\n",
             c->loss, c->optim.name, (double)c->optim.lr, c->schedule.name, c->batch_size,
             (c->batch_size + dpt_world.size - 1) / dpt_world.size, (long long)t->sampler.steps,
             c->epochs, (unsigned long long)c->seed);
    const dpt_stream_opts *so = &t->in.sopts;
    if (c->streaming)
        dpt_log0("input: streaming, blocks of %lld rows, shuffle buffer %lld rows, %d batch%s "
                 "read ahead\n",
                 (long long)so->block_rows, (long long)(c->shuffle ? so->buffer_rows : 0),
                 c->prefetch, c->prefetch > 1 ? "es" : "");
    else
        dpt_log0("input: in memory, rows exchanged between ranks before each epoch\n");
    if (t->step.overlap)
        dpt_log0("allreduce: overlapped with backward, %d bucket%s of up to %.3g MiB\n",
                 t->step.nbuckets, t->step.nbuckets > 1 ? "s" : "",
                 (double)t->step.bucket_bytes / 1048576.0);
    else
        dpt_log0("allreduce: one per step, after backward%s\n",
                 dpt_world.size > 1 && c->overlap < 0
                     ? " (parallel.overlap auto: no CPU to spare for a communication thread)"
                     : "");
}

/* ---- hooks ---- */

static bool progress(void *arg, const dpt_trainer *t, const dpt_train_step_report *r) {
    train_output *out = arg;
    double now = dpt_now_s();
    if (!out->tty || (now - out->last_progress < 0.1 && r->epoch_step < r->steps)) return false;
    out->last_progress = now;
    int width = 30, done = (int)(r->epoch_step * width / r->steps);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
    bar[width] = 0;
    double dt = now - r->epoch_t0;
    double sps = (double)r->epoch_step * t->cfg.batch_size / (dt > 1e-9 ? dt : 1e-9);
    printf("\repoch %d/%d [%s] loss %.6f  %.0f samples/s ", r->epoch + 1, t->cfg.epochs, bar,
           r->loss, sps);
    fflush(stdout);
    return false;
}

static void epoch_line(void *arg, const dpt_trainer *t, const dpt_train_epoch_report *r) {
    train_output *out = arg;
    if (dpt_world.rank != 0) return;
    if (out->tty) printf("\r\033[K");
    printf("epoch %d/%d", r->epoch + 1, t->cfg.epochs);
    for (int i = 0; i < r->shown; i++) printf("  %s %.6g", r->names[i], r->values[i]);
    printf("  %.0f samples/s  %.2f s (compute %.2f, comm %.2f, data wait %.2f)\n",
           r->samples / r->time_s, r->time_s, r->compute_s, r->comm_s, r->data_wait_s);
    fflush(stdout);
    char err[1024];
    if (dpt_metrics_log_write(&out->log, r->epoch + 1, r->names, r->values, r->n, err, sizeof err))
        dpt_fatal("%s", err);
}

/* Per-epoch checkpoints are routine; the others are worth a line in a job's log. */
static void checkpoint_line(void *arg, const dpt_trainer *t, const dpt_train_ckpt_report *r) {
    const train_output *out = arg;
    (void)t;
    if (!out->tty && strcmp(r->why, "epoch") != 0)
        printf("checkpoint (%s): %s, step %lld, %.2f s\n", r->why, r->path, (long long)r->step,
               r->seconds);
    fflush(stdout);
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
    double t_start = dpt_now_s();
    dpt_config cfg;
    char err[1024];
    if (dpt_config_load(&cfg, config, sets, nsets, err, sizeof err)) dpt_fatal("%s", err);
    train_output *out = dpt_calloc(1, sizeof *out);
    dpt_train_options o = {.resume = resume,
                           .t_start = t_start,
                           .hooks = {out, progress, epoch_line, checkpoint_line}};
    dpt_trainer *t = dpt_trainer_create(&cfg, &o);
    open_log(out, t, resume != NULL);
    report_start(t);
    rc = dpt_trainer_run(t);
    if (rc == DPT_EXIT_OK) {
        const char *path = dpt_trainer_save(t, NULL);
        dpt_log0("model written to %s\n", path);
    }
    dpt_metrics_log_close(&out->log);
    dpt_trainer_destroy(t);
    free(out);
    return rc;
}
