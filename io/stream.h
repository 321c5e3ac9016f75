/* Streaming input (data.mode: streaming, docs/data.md): one I/O thread per rank reads the rows
 * this rank needs, in the order of parallel/stream_order.h, through its own HDF5 handle, and
 * assembles normalised batches ahead of the training step into a ring of `depth` buffers
 * (double buffering and more).  The training step takes a batch, computes, gives it back.
 * Memory is bounded by one block, the shuffle buffer and the ring, whatever the file's size. */
#ifndef DPT_STREAM_H
#define DPT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <mpi.h>

#include "core/norm.h"
#include "core/trace.h"
#include "io/augment.h"
#include "io/h5data.h"
#include "parallel/sampler.h"

typedef struct dpt_stream_opts {
    const char *path, *xname, *yname, *lname; /* the training file and its datasets */
    const char *ylname;                       /* y's lengths (NULL or "" = automatic) */
    bool y_is_x;                              /* data.target: input (yname NULL) */
    int ninputs;                              /* model.inputs (dpt_h5names), 0 = xname */
    const char (*inputs)[DPT_H5_NAME_MAX];
    int nclasses;        /* label range check (0: none) */
    int64_t block_rows;  /* rows read at once: the unit of shuffling */
    int64_t buffer_rows; /* shuffle buffer rows */
    bool shuffle;
    uint64_t seed;
    const dpt_sampler *sampler;    /* borrowed: steps and this rank's rows per step */
    int depth;                     /* batches prepared ahead (>= 1) */
    const dpt_norm *xnorm, *ynorm; /* borrowed, applied to each batch */
    const dpt_augment *augment;    /* borrowed, applied to each normalised batch; NULL = none */
    int epochs;                    /* the thread stops after this epoch count */
    size_t trace_cap;              /* read events kept for the Chrome trace (0: totals only) */
} dpt_stream_opts;

/* One prepared batch: rows of this rank for one step, as the model takes them. */
typedef struct dpt_batch {
    dpt_data data; /* data.shard.nrows rows: x normalised, y / labels, lengths, y_norm */
    int64_t *ids;  /* (rows) dataset row of each sample (keys dropout masks) */
    int64_t epoch, step;
} dpt_batch;

typedef struct dpt_stream dpt_stream;

/* Opens the file for the thread and allocates everything; the thread starts with
 * dpt_stream_start.  Returns 0 or -1 with a message. */
int dpt_stream_open(dpt_stream **st, const dpt_stream_opts *o, char *err, size_t errlen);
/* Starts producing batches from step `step` of epoch `epoch` (a resumed run restores the
 * shuffle buffer of that point by replaying the order without data). */
void dpt_stream_start(dpt_stream *st, int epoch, int64_t step);
/* The next batch, waiting for it if needed; NULL after a read error (message in err). */
const dpt_batch *dpt_stream_next(dpt_stream *st, char *err, size_t errlen);
/* Gives the batch returned by dpt_stream_next back for refilling. */
void dpt_stream_release(dpt_stream *st);
/* Calls fn on the I/O thread's timing (DPT_PH_READ totals and events) while the thread cannot
 * touch it. */
void dpt_stream_with_trace(dpt_stream *st, void (*fn)(dpt_trace *t, void *arg), void *arg);
/* Stops and joins the thread, closes the file, frees everything. */
void dpt_stream_close(dpt_stream *st);

#endif

/* Buffers of a dpt_data for cap rows of data shaped like `in` (y_norm too when ynorm). */
void dpt_data_alloc(dpt_data *d, const dpt_h5info *in, int64_t cap, bool ynorm);
void dpt_data_free(dpt_data *d);
/* d->y_norm (allocated, d->shard.nrows rows) = the targets standardised with ynorm; nothing
 * when d has no y_norm. */
void dpt_data_normalise_y(dpt_data *d, const dpt_norm *ynorm);

/* Rows streamed per read: `requested` when > 0, else about 4 MiB of X rounded up to whole HDF5
 * chunks of X (a chunk is read and decompressed whole); between 1 and nrows. */
int64_t dpt_stream_block_rows(const dpt_h5info *in, int64_t requested, int64_t nrows);

/* Collective over comm: standardisation statistics of the rows [lo, hi) of the file, read in
 * blocks of block_rows without holding them (each rank its dpt_split_lo part; valid steps only
 * when the data has lengths).  xnorm / ynorm may be NULL (not wanted).  Returns 0 or -1 with a
 * message (this rank's). */
int dpt_stream_fit_norms(const dpt_stream_opts *o, int64_t lo, int64_t hi, dpt_norm *xnorm,
                         dpt_norm *ynorm, MPI_Comm comm, char *err, size_t errlen);
