/* The trainer library: a training run from a validated config (DESIGN.md §2, docs/design.md "The
 * trainer library").  dpt_trainer_create sets everything up on every rank (data, model,
 * optimizer, step, resume), dpt_trainer_run trains the epochs, dpt_trainer_save writes the model,
 * dpt_trainer_destroy frees it.  What a run reports goes through hooks, so the command line's
 * progress bar, epoch lines and metrics.jsonl are its own business.
 *
 * Collective: every rank makes the same calls in the same order.  Bad input after MPI_Init is
 * fatal (dpt_fatal: a message naming the file/key, then MPI_Abort), as everywhere in dptrain. */
#ifndef DPT_TRAIN_TRAINER_H
#define DPT_TRAIN_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/optim.h"
#include "core/trace.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/trace_file.h"
#include "parallel/sampler.h"
#include "parallel/step.h"
#include "train/eval.h"
#include "train/input.h"

typedef struct dpt_trainer dpt_trainer;

/* After every step, on every rank (the same numbers everywhere). */
typedef struct dpt_train_step_report {
    int epoch;          /* 0-based */
    int64_t epoch_step; /* steps of this epoch done, this one included */
    int64_t steps;      /* steps per epoch */
    int64_t step;       /* optimizer steps taken in the run (a skipped step takes none) */
    double loss;        /* mean loss per sample over the epoch's steps so far */
    double epoch_t0;    /* dpt_now_s() when the epoch started */
    bool skipped;       /* the step was not finite and skipped (training.on_nonfinite: skip) */
} dpt_train_step_report;

/* After every epoch, on every rank (collective numbers). */
typedef struct dpt_train_epoch_report {
    int epoch;                             /* 0-based, just completed */
    int n;                                 /* values: */
    const char *const *names;              /* (n) loss, metrics, val_loss, val_ metrics, then lr,
                                              samples_per_s, time_s, compute_s, comm_exposed_s,
                                              data_wait_s, allreduce_s (the metrics.jsonl record) */
    const double *values;                  /* (n) */
    int shown;                             /* the first `shown` are the losses and metrics */
    double samples, time_s;                /* of the epoch */
    double compute_s, comm_s, data_wait_s; /* largest over the ranks */
} dpt_train_epoch_report;

/* After a checkpoint was written, on rank 0 (the writer) only. */
typedef struct dpt_train_ckpt_report {
    const char *why;  /* "steps", "timer", "epoch", "end", "stop signal" */
    const char *path; /* the file written */
    int64_t step;
    double seconds; /* writing it took */
} dpt_train_ckpt_report;

typedef struct dpt_train_hooks {
    void *arg; /* passed to every hook */
    /* Returns true to request a stop, like a stop signal: the request travels with the next
     * step's gradients, so every rank stops after that same step.  NULL = none. */
    bool (*on_step)(void *arg, const dpt_trainer *t, const dpt_train_step_report *r);
    void (*on_epoch)(void *arg, const dpt_trainer *t, const dpt_train_epoch_report *r);
    void (*on_checkpoint)(void *arg, const dpt_trainer *t, const dpt_train_ckpt_report *r);
} dpt_train_hooks;

typedef struct dpt_train_options {
    const char *resume;    /* checkpoint to continue from (a path or "latest"), or NULL */
    double t_start;        /* time 0 of the trace (dpt_now_s()); 0 = when create starts */
    dpt_train_hooks hooks; /* all NULL = silent */
} dpt_train_options;

/* The run.  Read-only outside train/ (the command line's start-up report reads it, tests compare
 * parameters and optimizer state). */
struct dpt_trainer {
    dpt_config cfg;
    const dpt_loss *loss;
    const dpt_metric *metrics[DPT_MAX_METRICS];
    int nmetrics;
    int threads;
    dpt_h5info info; /* of the training file */
    int64_t n_train, n_val;
    const char *val_path;   /* NULL when there is no validation data */
    int64_t val_lo, val_hi; /* rows of val_path used for validation */
    dpt_norm xnorm, ynorm;
    dpt_model model;
    dpt_optim optim;
    dpt_schedule sched;
    dpt_step step;
    struct { /* the trainer's sums reduced with every step's gradients (dpt_step_add_sums) */
        int metrics; /* (nmetrics) metric sums of the step's outputs (user's units) */
        int rows;    /* output rows the metric sums cover */
        int stop;    /* number of ranks asking to stop (signal or request) */
        int ckpt;    /* 1 when rank 0's clock says a timed checkpoint is due */
    } sums;
    dpt_sampler sampler;
    dpt_input in;    /* the input pipeline (train/input.h) */
    dpt_trace trace; /* main thread's phase timing (and events with output.trace) */
    dpt_trace_file trace_file;
    double t_start;        /* time 0 of the trace */
    float *pred;           /* (max_batch, out_steps, K) scratch for metrics */
    dpt_train_state state; /* where training stands: step, epoch, step in epoch */
    const char *resume;    /* options.resume */
    double last_ckpt;      /* rank 0: time of the last checkpoint (checkpoint.every_seconds) */
    bool stop_requested;   /* this rank asks to stop (hook or dpt_trainer_request_stop) */
    dpt_train_hooks hooks;
    char model_path[DPT_PATH_MAX + 16]; /* <output.dir>/model.h5 */
};

/* Collective.  Takes over *cfg (loaded and validated by io/config.h; left zeroed).  Sets up the
 * threads, data split, model, optimizer, resume (options->resume), input pipeline, step and the
 * output directory (created; trace files opened with output.trace). */
dpt_trainer *dpt_trainer_create(dpt_config *cfg, const dpt_train_options *options);
/* Collective.  Trains the remaining epochs, checkpointing as configured; DPT_EXIT_OK when all
 * are done (final checkpoint written), DPT_EXIT_STOPPED when a stop request (a signal or a
 * request on any rank) ended it after a checkpoint of the step it stopped at.  Ends the input
 * pipeline: call once. */
int dpt_trainer_run(dpt_trainer *t);
/* Any time, on any rank: ask every rank to stop after the next step (as a stop signal does). */
void dpt_trainer_request_stop(dpt_trainer *t);
/* Collective.  Rank 0 writes the model file (path NULL = <output.dir>/model.h5); returns the
 * path written. */
const char *dpt_trainer_save(dpt_trainer *t, const char *path);
/* Collective (ends the step's communication thread). */
void dpt_trainer_destroy(dpt_trainer *t);

/* Pieces of dpt_trainer_create for callers that bring their own batches (bench/bench_train.c),
 * so they build what training builds.  Collective: the model of c's layers for inputs of
 * per-sample shape in (a data file's x_shape: (F), (T, F), (H, W, C), float32 or int32) and
 * batches up to max_batch, parameters from training.seed, checked to be identical on every rank.
 * Fatal on error, naming c's file. */
void dpt_trainer_build_model(dpt_model *m, const dpt_config *c, const dpt_model_input *in, int nin,
                             int max_batch);
/* The model's named inputs for the data the file holds (info): one ("input", or the one name of
 * model.inputs) or model.inputs with each dataset's shape; returns how many (out has room for
 * DPT_MODEL_MAX_INPUTS). */
int dpt_trainer_model_inputs(const dpt_config *c, const dpt_h5info *info, dpt_model_input *out);
/* c's optimizer for nparams parameters; fatal on error. */
void dpt_trainer_init_optimizer(dpt_optim *o, const dpt_config *c, size_t nparams);

#endif
