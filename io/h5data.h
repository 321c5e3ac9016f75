/* HDF5 datasets for training and inference: X of rank 2-4 ((N, F), sequences (N, T, F), images
 * (N, H, W, C)) as float32/float64 (read as float32), uint8 pixels (read as float32 value / 255)
 * or other integer token ids (read as int32); y (N, K) / (N, T_out, K) / (N, H, W, K) floats or
 * (N) / (N, T_out) integer labels, T_out free, or none with X as the targets (data.target:
 * input); optional lengths of X's sequences and of y's (N).  Every rank opens the file through
 * MPI-IO and reads only its own rows with a hyperslab selection; shapes, types and values are
 * validated before anything else.  Layout: docs/data.md. */
#ifndef DPT_H5DATA_H
#define DPT_H5DATA_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/shape.h"
#include "io/h5inputs.h" /* DPT_H5_MAX_INPUTS, DPT_H5_NAME_MAX */

#define DPT_H5_MAX_INPUTS 8  /* = DPT_MODEL_MAX_INPUTS */
#define DPT_H5_NAME_MAX   64 /* = DPT_NAME_MAX: an input's name */

typedef struct dpt_h5info {
    int64_t n;         /* rows (samples) */
    dpt_shape x_shape; /* one row of X: (F), (T, F) or (H, W, C) float32; int32 X (N, T) is (T)
                          int32 (token ids), (N, T, F) (T, F) int32 */
    dpt_shape y_shape; /* one row of y: (K), (T_out, K) or (H, W, K) float32; labels (1) or
                          (T_out, 1) int32 (one class per output row); rank 0 without y */
    /* Derived from the shapes, for the code that still thinks in steps x features: */
    int T;       /* rows of X's sample before its last axis: 1 for (F), T for (T, F), H x W for
                    (H, W, C); int32 (T) ids: T */
    int F;       /* X's last axis (features, channels); 1 for int32 (T) ids */
    int K;       /* y's last axis (1 for labels) */
    int y_steps; /* y's time steps: 1 (one target per sample) or T_out (may differ from T);
                    H x W for image targets (H, W, K) */
    bool labels; /* y is integer: (N) or (N, T_out) */
    bool has_y;
    bool has_lengths;     /* a lengths dataset (N) of X's steps is read */
    bool has_y_lengths;   /* a lengths dataset (N) of y's steps is read */
    int64_t x_chunk_rows; /* rows per HDF5 chunk of X, 0 when X is stored contiguously */
    bool x_u8;            /* X is stored as uint8 (pixels): read as float32 value / 255 */
    bool y_is_x;          /* data.target: input: the targets are X itself (no y dataset, has_y
                             false); y_shape = x_shape, y_steps = T, K = F */
    /* Several named inputs (dpt_h5names.inputs): each its own dataset, read into one packed row
     * (the model's layout, core/model.h dpt_model_input): x_shape is then (x_width) of 4-byte
     * elements, int32 when every input is, else float32 with input k's own element type in its
     * part; T = 1, F = the width; lengths are (N, ninputs), input k's in column k (its first
     * dimension for an input without a lengths dataset).  0 = one input, X. */
    int ninputs;
    dpt_shape in_shapes[DPT_H5_MAX_INPUTS]; /* each input's per-sample shape and element type */
    bool in_lengths[DPT_H5_MAX_INPUTS];     /* input k has a "<name>_lengths" dataset */
    bool in_u8[DPT_H5_MAX_INPUTS];          /* input k is uint8 (read as value / 255) */
} dpt_h5info;

/* The datasets to read: X, y (NULL = none), X's lengths and y's lengths (NULL or "" = the
 * dataset "lengths" / "y_lengths" when the file has one and X / y has a time axis; any other
 * name must exist). */
typedef struct dpt_h5names {
    const char *x, *y, *lengths, *y_lengths;
    bool y_is_x; /* data.target: input (y should be NULL): info.y_is_x, targets read from X */
    /* Several named inputs instead of x and lengths (model.inputs): the datasets of these names,
     * each with its lengths in "<name>_lengths" when the file has that dataset.  0 = x. */
    int ninputs;
    const char (*inputs)[DPT_H5_NAME_MAX]; /* (ninputs) */
} dpt_h5names;

/* Lengths per row: ninputs with several inputs, else 1. */
static inline int dpt_h5info_len_width(const dpt_h5info *in) {
    return in->ninputs > 1 ? in->ninputs : 1;
}

/* Whether X holds int32 token ids (s->x then holds int32 values: dpt_shard_x_ids). */
static inline bool dpt_h5info_x_ids(const dpt_h5info *in) {
    return in->x_shape.dtype == DPT_I32;
}

typedef struct dpt_shard {
    dpt_h5info info;
    int64_t row0;       /* first global row held here */
    int64_t nrows;      /* rows held here */
    float *x;           /* (nrows, x_shape...) float32; for int32 X the same 4-byte elements hold
                           int32 token ids (read them through dpt_shard_x_ids) */
    float *y;           /* (nrows, y_steps, K) when !labels, else NULL */
    int32_t *labels;    /* (nrows, y_steps) when labels, else NULL; 0 at padded steps */
    int32_t *lengths;   /* (nrows) valid steps of X's rows, in [1, T]; NULL without lengths;
                           (nrows, ninputs) with several inputs (dpt_h5info_len_width) */
    int32_t *y_lengths; /* (nrows) valid steps of y's rows, in [1, y_steps]; NULL without */
} dpt_shard;

/* X's int32 token ids (the buffer x, typed), or NULL when X is float. */
static inline int32_t *dpt_shard_x_ids(const dpt_shard *s) {
    return dpt_h5info_x_ids(&s->info) ? (int32_t *)(void *)s->x : NULL;
}
/* Which of y's steps are valid (rows [0, nrows)): y's own lengths, else X's when y is per step
 * on X's time axis (the same T), else NULL (every step). */
const int32_t *dpt_shard_y_step_lengths(const dpt_shard *s);
/* Elements of X per row (4 bytes each, float32 or int32). */
static inline size_t dpt_h5info_x_width(const dpt_h5info *in) {
    return (size_t)in->T * (size_t)in->F;
}

/* Data ready for the model: x normalised, y kept in the user's units (shard.y) and as the loss
 * sees it (y_norm, normalised for regression, or NULL). */
typedef struct dpt_data {
    dpt_shard shard;
    float *y_norm; /* (nrows, y_steps, K) normalised targets, or NULL */
} dpt_data;

/* Collective over comm.  Inspects path: X must be (N, F), (N, T, F) or (N, H, W, C),
 * float32/float64 or integer; y (when names->y is not NULL) (N) or (N, K) float, (N) integer, or
 * per step (N, T_out, K) float or (N, T_out) integer, with the same N as X (T_out may differ
 * from X's T).  Lengths (N) are integer (values checked when read); X's need X with a time axis
 * (float (N, T, F), integer (N, T) or (N, T, F)), y's need per-step y.  Returns 0 or -1 with a
 * message naming the file, dataset and what was expected. */
int dpt_h5_inspect_ds(dpt_h5info *info, const char *path, const dpt_h5names *names, MPI_Comm comm,
                      char *err, size_t errlen);
/* dpt_h5_inspect_ds with X, y, X's lengths lname and y's lengths automatic. */
int dpt_h5_inspect_seq(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                       const char *lname, MPI_Comm comm, char *err, size_t errlen);
/* dpt_h5_inspect_seq with lname NULL. */
int dpt_h5_inspect(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                   MPI_Comm comm, char *err, size_t errlen);

/* Collective over comm.  Reads rows [lo, hi) of the file, split over the ranks of comm by
 * dpt_split_lo; checks float X and float y for NaN/Inf (padded steps too), token ids for >= 0,
 * lengths for range [1, T] (y's: [1, T_out]) and labels for range [0, nclasses) when
 * nclasses > 0 (else >= 0), except labels at padded steps (t >= y's length, or X's length when
 * y is per step on X's time axis), which are not checked and read as 0.  Returns 0 or -1 with a
 * message (the first bad row, step and column of this rank are named; other ranks may
 * succeed). */
int dpt_h5_read_shard_ds(dpt_shard *s, const char *path, const dpt_h5names *names, int64_t lo,
                         int64_t hi, int nclasses, MPI_Comm comm, char *err, size_t errlen);
/* dpt_h5_read_shard_ds with X, y, X's lengths lname and y's lengths automatic. */
int dpt_h5_read_shard_seq(dpt_shard *s, const char *path, const char *xname, const char *yname,
                          const char *lname, int64_t lo, int64_t hi, int nclasses, MPI_Comm comm,
                          char *err, size_t errlen);
/* dpt_h5_read_shard_seq with lname NULL. */
int dpt_h5_read_shard(dpt_shard *s, const char *path, const char *xname, const char *yname,
                      int64_t lo, int64_t hi, int nclasses, MPI_Comm comm, char *err,
                      size_t errlen);
void dpt_shard_free(dpt_shard *s); /* frees x, y, labels, lengths, y_lengths; zeroes s */

/* Rows of one file read by one thread, without MPI (streaming, docs/data.md): the file is opened
 * with HDF5's default driver.  HDF5 is not thread-safe: callers hold dpt_h5_lock() (io/h5lock.h)
 * around every call when another thread may use HDF5. */
typedef struct dpt_h5rows dpt_h5rows;
/* Opens and inspects path like dpt_h5_inspect_ds; reads of up to max_rows rows follow.
 * Returns 0, or -1 with a message. */
int dpt_h5rows_open_ds(dpt_h5rows **r, const char *path, const dpt_h5names *names, int nclasses,
                       int64_t max_rows, char *err, size_t errlen);
/* dpt_h5rows_open_ds with X, y, X's lengths lname and y's lengths automatic. */
int dpt_h5rows_open(dpt_h5rows **r, const char *path, const char *xname, const char *yname,
                    const char *lname, int nclasses, int64_t max_rows, char *err, size_t errlen);
const dpt_h5info *dpt_h5rows_info(const dpt_h5rows *r);
/* Reads rows [row0, row0 + n) into s's buffers (x, and y or labels, and lengths as the data
 * has them (dpt_data_alloc); each sized for n rows) and sets s->info, row0, nrows; checks values
 * like dpt_h5_read_shard_seq.  Returns 0, or -1 with a message naming file, dataset and row. */
int dpt_h5rows_read(dpt_h5rows *r, int64_t row0, int64_t n, dpt_shard *s, char *err, size_t errlen);
void dpt_h5rows_close(dpt_h5rows *r);

#endif
