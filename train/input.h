/* The trainer's input pipeline behind one interface (docs/data.md): data.mode in_memory (each
 * rank reads its shard once; before every epoch the rows it will consume are exchanged between
 * ranks) or streaming (an I/O thread per rank reads, shuffles and prepares batches ahead of the
 * step; statistics and validation are streamed too).  The trainer calls the same functions in
 * either mode. */
#ifndef DPT_TRAIN_INPUT_H
#define DPT_TRAIN_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/trace.h"
#include "io/checkpoint.h"
#include "io/augment.h"
#include "io/config.h"
#include "io/h5data.h"
#include "io/stream.h"
#include "parallel/exchange.h"
#include "parallel/sampler.h"
#include "train/eval.h"

/* What the pipeline reads of the run, handed over once by the trainer (dpt_input_load): the
 * pointers are the trainer's and must outlive the pipeline.  The pipeline does not include the
 * trainer (no include cycle between train/input and train/trainer). */
typedef struct dpt_input_ctx {
    const dpt_config *cfg;
    const dpt_h5info *info;  /* of the training file */
    dpt_model *model;        /* its max_batch and out_features; validation runs it */
    dpt_norm *xnorm, *ynorm; /* fitted by dpt_input_load unless resumed */
    const dpt_sampler *sampler;
    const dpt_loss *loss;
    const dpt_metric *const *metrics; /* (nmetrics) */
    int nmetrics;
    int64_t n_train;
    const char *val_path;           /* NULL when there is no validation data */
    int64_t val_lo, val_hi;         /* rows of val_path used for validation */
    float *pred;                    /* (max_batch, out_steps, K) scratch for validation metrics */
    dpt_trace *trace;               /* data-wait phases go here */
    const int64_t *step;            /* the optimizer step counter, for the trace */
    const dpt_train_state *resumed; /* the checkpoint's state, or NULL when not resuming */
} dpt_input_ctx;

/* The pipeline's state (in dpt_trainer.in). */
typedef struct dpt_input {
    dpt_data train, val; /* in_memory: this rank's shards */
    dpt_data epoch;      /* in_memory: this epoch's rows, in consumption order (views below) */
    dpt_exchange xch;
    int64_t *perm;         /* (n_train) epoch order of global training rows */
    int64_t *need;         /* (epoch_count) global rows this rank consumes, in order */
    float *ex_x;           /* (epoch_count, x_shape...) float32, or int32 ids */
    float *ex_y;           /* (epoch_count, y_steps, K) user's units, or NULL for labels */
    float *ex_yn;          /* (epoch_count, y_steps, K) normalised, or NULL */
    int32_t *ex_labels;    /* (epoch_count, y_steps) or NULL */
    int32_t *ex_lengths;   /* (epoch_count) valid steps, or NULL */
    int32_t *ex_y_lengths; /* (epoch_count) valid target steps, or NULL */
    dpt_stream *stream;    /* streaming: the I/O thread, else NULL */
    dpt_stream_opts sopts; /* streaming: what the stream and the streamed statistics read */
    dpt_h5rows *val_rows;  /* streaming: this rank's validation rows, read in chunks */
    dpt_data val_chunk;    /* streaming: (max_batch) rows of validation data */
    bool stream_started;
    dpt_augment aug;   /* data.augment: applied to training batches only */
    bool augmenting;   /* data.augment asks for something */
    int aug_epoch;     /* in_memory: the epoch being consumed (augmentation keys) */
    dpt_input_ctx ctx; /* set by dpt_input_load */
} dpt_input;

/* This rank's rows of one step, wherever they live. */
typedef struct dpt_input_batch {
    const dpt_data *data; /* rows [row, row + B) of data */
    int64_t row;
    int B;
    const int64_t *ids; /* (B) dataset rows (dropout keys) */
} dpt_input_batch;

/* Collective.  Keeps *ctx.  The normalisation statistics (unless resumed: the
 * checkpoint's), shards or streamed statistics, validation data. */
void dpt_input_load(dpt_input *in, const dpt_input_ctx *ctx);
/* Epoch buffers (in_memory) or the I/O thread (streaming). */
void dpt_input_open(dpt_input *in);
/* Collective (in_memory).  Before step s0 of epoch `epoch`. */
void dpt_input_epoch_begin(dpt_input *in, int epoch, int64_t s0);
/* Step s's rows; row is where the step starts in this rank's epoch order. */
void dpt_input_batch_get(dpt_input *in, int64_t s, int64_t row, dpt_input_batch *b);
/* The step is done with its rows. */
void dpt_input_batch_done(dpt_input *in);
/* Collective: the validation totals over all ranks. */
void dpt_input_validate(dpt_input *in, dpt_totals *out);
/* Ends the I/O thread and frees the buffers (twice is harmless). */
void dpt_input_free(dpt_input *in);

#endif
