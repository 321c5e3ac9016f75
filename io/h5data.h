/* HDF5 datasets for training and inference: X (N, F) float32/float64 and y (N, K) floats or
 * (N) integer labels.  Every rank opens the file through MPI-IO and reads only its own rows with
 * a hyperslab selection; shapes, types and values are validated before anything else. */
#ifndef DPT_H5DATA_H
#define DPT_H5DATA_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dpt_h5info {
    int64_t n;   /* rows */
    int F;       /* features */
    int K;       /* target columns (1 for labels) */
    bool labels; /* y is 1-D integer */
    bool has_y;
} dpt_h5info;

typedef struct dpt_shard {
    dpt_h5info info;
    int64_t row0;    /* first global row held here */
    int64_t nrows;   /* rows held here */
    float *x;        /* (nrows, F) */
    float *y;        /* (nrows, K) when !labels, else NULL */
    int32_t *labels; /* (nrows) when labels, else NULL */
} dpt_shard;

/* Any rank, not collective: path exists, is readable and is an HDF5 file.  Returns 0, or -1
 * with "<path>: cannot open: <reason>" or "<path>: not an HDF5 file". */
int dpt_h5_check_file(const char *path, char *err, size_t errlen);

/* Collective over comm.  Inspects path: X must be 2-D float32/float64; y (when yname is not
 * NULL) 2-D float or 1-D integer with the same N.  Returns 0 or -1 with a message naming the
 * file, dataset and what was expected. */
int dpt_h5_inspect(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                   MPI_Comm comm, char *err, size_t errlen);

/* Collective over comm.  Reads rows [lo, hi) of the file, split over the ranks of comm by
 * dpt_split_lo; checks X (and float y) for NaN/Inf and labels for range [0, nclasses) when
 * nclasses > 0.  Returns 0 or -1 with a message (the first bad row is named). */
int dpt_h5_read_shard(dpt_shard *s, const char *path, const char *xname, const char *yname,
                      int64_t lo, int64_t hi, int nclasses, MPI_Comm comm, char *err,
                      size_t errlen);
void dpt_shard_free(dpt_shard *s);

/* Rank 0 alone (not collective): writes pred (n, K) as dataset "pred" (plus "labels" (n) when
 * labels != NULL) atomically (temporary name, fsync, rename, directory fsync). */
int dpt_h5_write_predictions(const char *path, const float *pred, int64_t n, int K,
                             const int32_t *labels, char *err, size_t errlen);

#endif
