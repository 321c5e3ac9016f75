/* The training run shared by cli/train.c (set-up and the loop) and cli/train_ckpt.c
 * (checkpoints and resume).  Private to cli/. */
#ifndef DPT_CLI_TRAIN_H
#define DPT_CLI_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"
#include "core/optim.h"
#include "core/trace.h"
#include "io/checkpoint.h"
#include "io/metrics_log.h"
#include "io/stream.h"
#include "io/trace_file.h"
#include "parallel/exchange.h"
#include "parallel/sampler.h"
#include "parallel/step.h"

/* Statistics reduced with every step's gradients, after the metric sums (DPT_STEP_MAX_STATS):
 * the metric row count, the OR of the ranks' stop requests, rank 0's checkpoint timer. */
enum { STAT_ROWS = 0, STAT_STOP = 1, STAT_CKPT = 2, STAT_EXTRA = 3 };

typedef struct train_run {
    dpt_config cfg;
    const dpt_loss *loss;
    const dpt_metric *metrics[DPT_MAX_METRICS];
    int nmetrics;
    int threads;
    dpt_h5info info; /* of the training file */
    int64_t n_train, n_val;
    const char *val_path;   /* NULL when there is no validation data */
    int64_t val_lo, val_hi; /* rows of val_path used for validation */
    dpt_data train, val;    /* this rank's shards */
    dpt_data epoch;         /* this epoch's rows, in consumption order (views below) */
    dpt_norm xnorm, ynorm;
    dpt_model model;
    dpt_optim optim;
    dpt_schedule sched;
    dpt_step step;
    dpt_sampler sampler;
    dpt_exchange xch;
    int64_t *perm;         /* (n_train) epoch order of global training rows */
    int64_t *need;         /* (epoch_count) global rows this rank consumes, in order */
    float *ex_x;           /* (epoch_count, T, F) */
    float *ex_y;           /* (epoch_count, y_steps, K) user's units, or NULL for labels */
    float *ex_yn;          /* (epoch_count, y_steps, K) normalised, or NULL */
    int32_t *ex_labels;    /* (epoch_count, y_steps) or NULL */
    int32_t *ex_lengths;   /* (epoch_count) valid steps, or NULL */
    dpt_stream *stream;    /* data.mode streaming: the I/O thread, else NULL */
    dpt_stream_opts sopts; /* what the stream and the streamed statistics read */
    dpt_h5rows *val_rows;  /* streaming: this rank's validation rows, read in chunks */
    dpt_data val_chunk;    /* streaming: (max_batch) rows of validation data */
    dpt_trace trace;       /* main thread's phase timing (and events with output.trace) */
    dpt_trace_file trace_file;
    double t_start; /* time 0 of the trace */
    bool stream_started;
    float *pred;           /* (max_batch, out_steps, K) scratch for metrics */
    dpt_metrics_log log;   /* rank 0 only */
    dpt_train_state state; /* where training stands: step, epoch, step in epoch */
    const char *resume;    /* --resume argument, or NULL */
    double last_ckpt;      /* rank 0: time of the last checkpoint (checkpoint.every_seconds) */
    char model_path[DPT_PATH_MAX + 16];
    bool tty;             /* rank 0 writes to a terminal: progress bar */
    double last_progress; /* time of the last progress bar update */
} train_run;

/* This rank's rows of one step, wherever they live (cli/train_data.c). */
typedef struct train_batch {
    const dpt_data *data; /* rows [row, row + B) of data */
    int64_t row;
    int B;
    const int64_t *ids; /* (B) dataset rows (dropout keys) */
} train_batch;

/* cli/train_data.c: the input pipeline of both data modes (docs/data.md). */
void dpt_train_load_data(train_run *r);  /* shards or streamed statistics; validation data */
void dpt_train_setup_data(train_run *r); /* epoch buffers or the I/O thread */
void dpt_train_epoch_begin(train_run *r, int epoch, int64_t s0);
void dpt_train_batch(train_run *r, int64_t s, int64_t row, train_batch *b);
void dpt_train_batch_done(train_run *r);
void dpt_train_validate(train_run *r, double *out); /* sums over all ranks */
void dpt_train_free_data(train_run *r);

/* cli/train_ckpt.c */
/* --resume: checks the checkpoint's model config against the current one (fatal on a
 * difference, report of changed training keys), then loads parameters, optimizer state, norms
 * and r->state.  Needs the model built and the optimizer initialised. */
void dpt_train_resume(train_run *r);
/* Rank 0 writes a checkpoint of the current state (fatal on failure); why goes to the log. */
void dpt_train_checkpoint(train_run *r, const char *why);

#endif
