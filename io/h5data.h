/* HDF5 datasets for training and inference: X (N, F) or sequences (N, T, F), float32/float64;
 * y (N, K) / (N, T, K) floats or (N) / (N, T) integer labels; optional sequence lengths (N).
 * Every rank opens the file through MPI-IO and reads only its own rows with a hyperslab
 * selection; shapes, types and values are validated before anything else.  Layout: docs/data.md. */
#ifndef DPT_H5DATA_H
#define DPT_H5DATA_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dpt_h5info {
    int64_t n;   /* rows (samples) */
    int T;       /* time steps of X: 1 for 2-D X */
    int F;       /* features (per time step) */
    int K;       /* target columns (1 for labels) */
    int y_steps; /* 1: one target per sample; T: one per time step */
    bool labels; /* y is integer: (N) or (N, T) */
    bool has_y;
    bool has_lengths;     /* a lengths dataset (N) is read */
    int64_t x_chunk_rows; /* rows per HDF5 chunk of X, 0 when X is stored contiguously */
} dpt_h5info;

typedef struct dpt_shard {
    dpt_h5info info;
    int64_t row0;     /* first global row held here */
    int64_t nrows;    /* rows held here */
    float *x;         /* (nrows, T, F) */
    float *y;         /* (nrows, y_steps, K) when !labels, else NULL */
    int32_t *labels;  /* (nrows, y_steps) when labels, else NULL; 0 at padded steps */
    int32_t *lengths; /* (nrows) valid steps of each row, in [1, T]; NULL without lengths */
} dpt_shard;

/* Data ready for the model: x normalised, y kept in the user's units (shard.y) and as the loss
 * sees it (y_norm, normalised for regression, or NULL). */
typedef struct dpt_data {
    dpt_shard shard;
    float *y_norm; /* (nrows, y_steps, K) normalised targets, or NULL */
} dpt_data;

/* Collective over comm.  Inspects path: X must be 2-D (N, F) or 3-D (N, T, F) float32/float64;
 * y (when yname is not NULL) (N) or (N, K) float, (N) integer, or per step (N, T, K) float or
 * (N, T) integer, with the same N (and T) as X.  lname names the lengths dataset (N) (integer,
 * values checked when read); NULL or "" means the dataset "lengths" if the file has one and X
 * is 3-D, any other name must exist.  Returns 0 or -1 with a message naming the file, dataset
 * and what was expected. */
int dpt_h5_inspect_seq(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                       const char *lname, MPI_Comm comm, char *err, size_t errlen);
/* dpt_h5_inspect_seq with lname NULL. */
int dpt_h5_inspect(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                   MPI_Comm comm, char *err, size_t errlen);

/* Collective over comm.  Reads rows [lo, hi) of the file, split over the ranks of comm by
 * dpt_split_lo; checks X and float y for NaN/Inf (padded steps too), lengths for range [1, T]
 * and labels for range [0, nclasses) when nclasses > 0 (else >= 0), except labels at padded
 * steps (t >= length), which are not checked and read as 0.  Returns 0 or -1 with a message
 * (the first bad row, step and column of this rank are named; other ranks may succeed). */
int dpt_h5_read_shard_seq(dpt_shard *s, const char *path, const char *xname, const char *yname,
                          const char *lname, int64_t lo, int64_t hi, int nclasses, MPI_Comm comm,
                          char *err, size_t errlen);
/* dpt_h5_read_shard_seq with lname NULL. */
int dpt_h5_read_shard(dpt_shard *s, const char *path, const char *xname, const char *yname,
                      int64_t lo, int64_t hi, int nclasses, MPI_Comm comm, char *err,
                      size_t errlen);
void dpt_shard_free(dpt_shard *s); /* frees x, y, labels, lengths; zeroes s */

/* Rows of one file read by one thread, without MPI (streaming, docs/data.md): the file is opened
 * with HDF5's default driver.  HDF5 is not thread-safe: callers hold dpt_h5_lock() (io/h5lock.h)
 * around every call when another thread may use HDF5. */
typedef struct dpt_h5rows dpt_h5rows;
/* Opens and inspects path like dpt_h5_inspect_seq; reads of up to max_rows rows follow.
 * Returns 0, or -1 with a message. */
int dpt_h5rows_open(dpt_h5rows **r, const char *path, const char *xname, const char *yname,
                    const char *lname, int nclasses, int64_t max_rows, char *err, size_t errlen);
const dpt_h5info *dpt_h5rows_info(const dpt_h5rows *r);
/* Reads rows [row0, row0 + n) into s's buffers (x, and y or labels, and lengths as the data
 * has them; each sized for n rows) and sets s->info, row0, nrows; checks values like
 * dpt_h5_read_shard_seq.  Returns 0, or -1 with a message naming file, dataset and row. */
int dpt_h5rows_read(dpt_h5rows *r, int64_t row0, int64_t n, dpt_shard *s, char *err, size_t errlen);
void dpt_h5rows_close(dpt_h5rows *r);

#endif
