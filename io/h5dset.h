/* HDF5 datasets as the data reader (io/h5data.c) sees them: an open dataset with its shape and
 * type described for messages, row reads (collective through MPI-IO or serial), and the value
 * checks every reader shares.  Internal to io/. */
#ifndef DPT_H5DSET_H
#define DPT_H5DSET_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An open dataset and what inspection learnt about it. */
typedef struct dpt_h5dset {
    hid_t id; /* -1 when not open */
    int ndim;
    hsize_t dims[H5S_MAX_RANK]; /* (ndim) */
    H5T_class_t cls;
    size_t tsize;   /* bytes per element in the file */
    bool unsig;     /* an unsigned integer type */
    char type[32];  /* e.g. "float64", "int32", for messages */
    char shape[96]; /* e.g. "3-D (10, 4, 2)", for messages */
} dpt_h5dset;

void dpt_h5dset_close(dpt_h5dset *d); /* id -1 afterwards; a closed one: nothing */
/* The object `name` of file opened when it is a dataset, else -1. */
hid_t dpt_h5_open_if_dataset(hid_t file, const char *name);
/* Opens dataset `name` (configured by config key `key`, for the message) and records its shape
 * and type.  Returns 0, or -1 with "<path>: no dataset '<name>' (<key>); datasets in the file:
 * ..." in err. */
int dpt_h5dset_open(dpt_h5dset *d, hid_t file, const char *path, const char *name, const char *key,
                    char *err, size_t errlen);
bool dpt_h5dset_is_float(const dpt_h5dset *d);
bool dpt_h5dset_is_int(const dpt_h5dset *d);
/* 8-bit unsigned: pixels (other integers are token ids or labels). */
bool dpt_h5dset_is_u8(const dpt_h5dset *d);
/* Rows of one chunk of a chunked dataset, else 0. */
int64_t dpt_h5dset_chunk_rows(hid_t dataset);
/* Rows [row0, row0 + nrows) of d (all of each row's other dimensions) into buf as memtype;
 * collective through MPI-IO when `collective` (a rank with no rows takes part with empty
 * selections).  0 or -1. */
int dpt_h5dset_read_rows(const dpt_h5dset *d, hid_t memtype, int64_t row0, int64_t nrows, void *buf,
                         bool collective);
/* "NaN", or "Inf (or beyond the float32 range)" with its sign, for messages. */
const char *dpt_h5_nonfinite_name(float a);
/* Whether the n floats are all finite (a vectorised test; callers search for the bad one). */
bool dpt_h5_all_finite(const float *v, int64_t n);

#endif
