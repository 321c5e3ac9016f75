/* Setting up a training run on every rank (threads, data split, model, optimizer, resume, input
 * pipeline, step, output directory) and taking it down; the loop is train/loop.c. */
#include "train/trainer.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/util.h"
#include "io/embed_weights.h"
#include "io/fs.h"
#include "io/h5file.h"
#include "io/modelio.h"
#include "io/vocab.h"
#include "parallel/dist.h"
#include "train/internal.h"

static void resolve(dpt_trainer *t) {
    t->loss = dpt_loss_find(t->cfg.loss);
    if (!t->loss) dpt_fatal("%s: loss: unknown loss '%s'", t->cfg.source, t->cfg.loss);
    t->nmetrics = dpt_resolve_metrics(&t->cfg, t->metrics);
}

static void setup_threads(dpt_trainer *t) {
    t->threads = dpt_dist_pick_threads(t->cfg.threads);
    omp_set_num_threads(t->threads);
    dpt_blas_setup(t->threads);
}

/* Decides which rows train and which validate (Keras: the last fraction, before shuffling). */
static void plan_split(dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    char err[1024];
    dpt_h5names names = dpt_config_h5names(c, true); /* y, or X as the targets */
    names.y_lengths = NULL;
    if (dpt_h5_inspect_ds(&t->info, c->train_file, &names, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    int64_t n = t->info.n;
    t->n_val = (int64_t)floor((double)n * c->val_split);
    t->n_train = n - t->n_val;
    t->val_path = NULL;
    if (t->n_val > 0) {
        t->val_path = c->train_file;
        t->val_lo = t->n_train;
        t->val_hi = n;
    }
    if (t->n_train < dpt_world.size)
        dpt_fatal("%s: %lld training rows for %d ranks; every rank needs at least one row "
                  "(use fewer ranks or more data)",
                  c->train_file, (long long)t->n_train, dpt_world.size);
    dpt_sampler_init(&t->sampler, t->n_train, c->batch_size, dpt_world.rank, dpt_world.size);
}

int dpt_trainer_model_inputs(const dpt_config *c, const dpt_h5info *info, dpt_model_input *out) {
    memset(out, 0, sizeof *out * DPT_MODEL_MAX_INPUTS);
    if (info->ninputs <= 1) {
        snprintf(out[0].name, sizeof out[0].name, "%s", c->ninputs == 1 ? c->inputs[0] : "input");
        out[0].shape = info->x_shape;
        return 1;
    }
    for (int k = 0; k < info->ninputs; k++) {
        snprintf(out[k].name, sizeof out[k].name, "%s", c->inputs[k]);
        out[k].shape = info->in_shapes[k];
    }
    return info->ninputs;
}

void dpt_trainer_build_model(dpt_model *m, const dpt_config *c, const dpt_model_input *in, int nin,
                             int max_batch) {
    char err[1024];
    if (dpt_model_build_inputs(m, c->layers, c->nlayers, in, nin, max_batch, err, sizeof err))
        dpt_fatal("%s: model: %s", c->source, err);
    dpt_model_init_params(m, c->seed);
    dpt_dist_check_model(m);
}

void dpt_trainer_init_optimizer(dpt_optim *o, const dpt_config *c, size_t nparams) {
    char err[1024];
    if (dpt_optim_init(o, &c->optim, nparams, err, sizeof err))
        dpt_fatal("%s: optimizer: %s", c->source, err);
}

/* Before building: X's element type against what the first layer reads (token ids need a layer
 * that takes them), named by file and dataset rather than as a build error of the config. */
static void check_x_dtype(const dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    if (t->info.ninputs > 1) { /* each input's type is checked by the layer that reads it */
        if (c->normalize_x && t->info.x_shape.dtype == DPT_F32)
            dpt_fatal("%s: data.normalize_x: normalising float inputs is not supported with "
                      "several model inputs; set data.normalize_x: false (and normalise the "
                      "float inputs when writing the file)",
                      c->source);
        return;
    }
    const dpt_layer_type *first = c->nlayers > 0 ? dpt_layer_find(c->layers[0].type) : NULL;
    bool reads_ids = dpt_layer_type_has(first, DPT_LAYER_INT_INPUT);
    if (dpt_h5info_x_ids(&t->info) == reads_ids) return;
    char x[96];
    dpt_shape_str(&t->info.x_shape, x, sizeof x);
    dpt_fatal("%s: '%s' holds %s per row, but the model's first layer (%s) reads %s: %s",
              c->train_file, c->x_name, x, c->layers[0].type,
              reads_ids ? "int32 token ids" : "float32 values",
              reads_ids ? "store X as integer token ids"
                        : "store X as float, or start the model with a layer that reads token ids");
}

/* Pre-trained embedding vectors (the layer key `weights`) over the initialised parameters, on a
 * fresh run only (a checkpoint holds the trained table); every rank reads them, and the ranks
 * compare their models again. */
static void load_embeddings(dpt_trainer *t) {
    char err[1024];
    int n = dpt_embedding_load_weights(&t->model, t->cfg.train_file, err, sizeof err);
    if (n < 0) dpt_fatal("%s", err);
    if (n > 0) dpt_dist_check_model(&t->model);
}

/* The training data's vocabulary (text data, docs/text.md) into the config, which model files
 * and checkpoints keep; every rank reads it. */
static void load_vocab(dpt_trainer *t) {
    dpt_config *c = &t->cfg;
    char err[1024];
    hid_t file = dpt_h5r_open(c->train_file, err, sizeof err);
    if (file < 0) dpt_fatal("%s", err);
    if (dpt_vocab_has(file) && !c->vocab) {
        c->vocab = dpt_calloc(1, sizeof *c->vocab);
        if (dpt_vocab_read(c->vocab, file, err, sizeof err)) {
            H5Fclose(file);
            dpt_fatal("%s: %s", c->train_file, err);
        }
    }
    H5Fclose(file);
}

/* Token ids come from the vocabulary: an embedding that reads a model input must have room for
 * all of them. */
static void check_vocab(const dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    const dpt_model *m = &t->model;
    if (!c->vocab) return;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (!dpt_layer_type_has(l->type, DPT_LAYER_INT_INPUT) || m->nodes[i].src[0].layer >= 0 ||
            l->ntensors < 1 || l->tensors[0].dim[0] >= c->vocab->V)
            continue;
        dpt_fatal("%s: model.layers: %s '%s' (line %d) has vocab_size %d, but the vocabulary of "
                  "%s has %d tokens: set vocab_size: %d",
                  c->source, l->type->name, l->name, l->spec.line, l->tensors[0].dim[0],
                  c->train_file, c->vocab->V, c->vocab->V);
    }
}

static void build_model(dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    int per_rank = (c->batch_size + dpt_world.size - 1) / dpt_world.size;
    int max_batch = per_rank > 256 ? per_rank : 256;
    check_x_dtype(t);
    dpt_model_input in[DPT_MODEL_MAX_INPUTS];
    int nin = dpt_trainer_model_inputs(c, &t->info, in);
    dpt_trainer_build_model(&t->model, c, in, nin, max_batch);
    if (!t->resume) load_embeddings(t);
    load_vocab(t);
    check_vocab(t);
    dpt_check_x(&t->info, c->train_file, c->x_name, &t->model, NULL);
    dpt_check_input(&t->info, c->train_file, c->x_name, &t->model);
    dpt_check_targets(&t->info, c->train_file, c->x_name, c->y_name, t->loss, &t->model);
    dpt_check_metrics(&t->info, c->train_file, c->y_name, t->metrics, t->nmetrics);
    t->pred = dpt_alloc_floats((size_t)max_batch * (size_t)t->model.out_steps *
                               (size_t)t->model.out_features);
}

static void init_optimizer(dpt_trainer *t) {
    dpt_trainer_init_optimizer(&t->optim, &t->cfg, t->model.nparams);
    t->state.seed = t->cfg.seed;
}

/* parallel.overlap: one rank has nothing to reduce.  'auto' overlaps only when the rank has a
 * CPU beyond its compute threads: Open MPI's blocking allreduce polls, and on a shared core it
 * slows backward down more than it hides (docs/design.md, measured). */
static bool want_overlap(const dpt_trainer *t) {
    if (dpt_world.size == 1) return false;
    if (t->cfg.overlap >= 0) return t->cfg.overlap;
    return dpt_dist_cpus_per_rank() > t->threads;
}

/* The step, with the trainer's sums reduced alongside the gradients (named slots, so the
 * protocol has no index arithmetic): metric sums, metric rows, stop votes, checkpoint timer. */
static void setup_step(dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    t->sched = c->schedule;
    t->sched.base_lr = c->optim.lr;
    t->sched.steps_per_epoch = t->sampler.steps;
    t->sched.total_steps = t->sampler.steps * c->epochs;
    dpt_step *s = &t->step;
    dpt_step_init(s, &t->model, t->loss, &t->optim, &t->sched);
    t->sums.metrics = dpt_step_add_sums(s, "metric sums", t->nmetrics);
    t->sums.rows = dpt_step_add_sums(s, "metric rows", 1);
    t->sums.stop = dpt_step_add_sums(s, "stop requests", 1);
    t->sums.ckpt = dpt_step_add_sums(s, "checkpoint timer", 1);
    dpt_step_set_overlap(s, want_overlap(t), (size_t)((double)c->bucket_mb * 1048576.0));
    size_t per_step = (size_t)s->nbuckets + 1;
    dpt_step_trace_comm(s, c->trace ? (size_t)t->sampler.steps * per_step + 64 : 0);
    s->trace = &t->trace;
    s->step = t->state.step;
    s->l2 = c->l2;
    s->clip_norm = c->clip_norm;
    s->clip_value = c->clip_value;
    s->seed = c->seed;

    dpt_input_open(&t->in);
    dpt_trace_init(&t->trace, 0, c->trace ? (size_t)t->sampler.steps * 8 + 64 : 0);
}

static void open_outputs(dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    snprintf(t->model_path, sizeof t->model_path, "%s/model.h5", c->output_dir);
    char err[1024], path[DPT_PATH_MAX + 32];
    if (dpt_world.rank == 0 && dpt_mkdirs(c->output_dir, err, sizeof err))
        dpt_fatal("output.dir: %s", err);
    if (c->trace) {
        MPI_Barrier(dpt_world.comm); /* the directory exists for every rank */
        snprintf(path, sizeof path, "%s/trace-rank%d.json", c->output_dir, dpt_world.rank);
        if (dpt_trace_file_open(&t->trace_file, path, dpt_world.rank, t->t_start, err, sizeof err))
            dpt_fatal("output.trace: %s", err);
    }
    t->last_ckpt = dpt_now_s();
}

/* data.val_file: validation rows from their own file, checked against the training data. */
static void check_val_file(dpt_trainer *t) {
    const dpt_config *c = &t->cfg;
    char err[1024];
    dpt_h5info vi;
    dpt_h5names names = dpt_config_h5names(c, true);
    if (dpt_h5_inspect_ds(&vi, c->val_file, &names, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    if (vi.F != t->info.F || vi.T != t->info.T)
        dpt_fatal("%s: '%s' has %d steps x %d features but the training data has %d x %d",
                  c->val_file, c->x_name, vi.T, vi.F, t->info.T, t->info.F);
    dpt_check_x(&vi, c->val_file, c->x_name, &t->model, NULL); /* shape and element type */
    dpt_check_targets(&vi, c->val_file, c->x_name, c->y_name, t->loss, &t->model);
    dpt_check_metrics(&vi, c->val_file, c->y_name, t->metrics, t->nmetrics);
    t->val_path = c->val_file;
    t->val_lo = 0;
    t->val_hi = t->n_val = vi.n;
}

/* The input pipeline gets what it reads of the run once, as pointers into t (train/input.h). */
static void load_input(dpt_trainer *t) {
    if (t->cfg.val_file[0]) check_val_file(t);
    dpt_input_ctx ctx = {
        .cfg = &t->cfg,
        .info = &t->info,
        .model = &t->model,
        .xnorm = &t->xnorm,
        .ynorm = &t->ynorm,
        .sampler = &t->sampler,
        .loss = t->loss,
        .metrics = t->metrics,
        .nmetrics = t->nmetrics,
        .n_train = t->n_train,
        .val_path = t->val_path,
        .val_lo = t->val_lo,
        .val_hi = t->val_hi,
        .pred = t->pred,
        .trace = &t->trace,
        .step = &t->step.step,
        .resumed = t->resume ? &t->state : NULL,
    };
    dpt_input_load(&t->in, &ctx);
}

dpt_trainer *dpt_trainer_create(dpt_config *cfg, const dpt_train_options *o) {
    dpt_trainer *t = dpt_calloc(1, sizeof *t);
    t->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    t->resume = o ? o->resume : NULL;
    t->t_start = o && o->t_start > 0 ? o->t_start : dpt_now_s();
    if (o) t->hooks = o->hooks;
    resolve(t);
    setup_threads(t);
    plan_split(t);
    build_model(t);
    init_optimizer(t);
    if (t->resume) dpt_trainer_resume(t);
    load_input(t);
    setup_step(t);
    open_outputs(t);
    return t;
}

void dpt_trainer_request_stop(dpt_trainer *t) {
    t->stop_requested = true;
}

const char *dpt_trainer_save(dpt_trainer *t, const char *path) {
    if (!path) path = t->model_path;
    if (dpt_world.rank == 0) {
        char err[1024];
        if (dpt_model_save(path, &t->model, &t->cfg, &t->xnorm, &t->ynorm, err, sizeof err))
            dpt_fatal("%s", err);
    }
    MPI_Barrier(dpt_world.comm);
    return path;
}

void dpt_trainer_destroy(dpt_trainer *t) {
    if (!t) return;
    dpt_step_free(&t->step);
    dpt_optim_free(&t->optim);
    dpt_model_free(&t->model);
    dpt_input_free(&t->in);
    dpt_norm_free(&t->xnorm);
    dpt_norm_free(&t->ynorm);
    dpt_trace_free(&t->trace);
    free(t->pred);
    dpt_config_free(&t->cfg);
    free(t);
}

/* ---- trace files (output.trace) ---- */

static void add_stream_events(dpt_trace *tr, void *arg) {
    dpt_trace_file_add(arg, tr);
    dpt_trace_clear_events(tr);
}

void dpt_trainer_write_trace(dpt_trainer *t) {
    if (!t->cfg.trace) return;
    dpt_trace_file_add(&t->trace_file, &t->trace);
    dpt_trace_clear_events(&t->trace);
    dpt_trace_file_add(&t->trace_file, &t->step.comm_trace);
    dpt_trace_clear_events(&t->step.comm_trace);
    if (t->in.stream) dpt_stream_with_trace(t->in.stream, add_stream_events, &t->trace_file);
}

void dpt_trainer_close_trace(dpt_trainer *t) {
    if (!t->cfg.trace) return;
    dpt_trainer_write_trace(t);
    char err[1024];
    if (dpt_trace_file_close(&t->trace_file, err, sizeof err)) dpt_fatal("output.trace: %s", err);
    if (dpt_world.rank == 0) printf("trace written to %s/trace-rank*.json\n", t->cfg.output_dir);
}
