/* Generic HDF5 files for the writers and readers in io/ (model files, checkpoints, predictions,
 * imported data).  A writer creates its file through the atomic writer (io/fs.h): the file
 * appears under its real name only when dpt_h5w_finish succeeds.  Functions set no HDF5 error
 * printing of their own: the error stack is silenced by dpt_h5w_begin and dpt_h5r_open. */
#ifndef DPT_H5FILE_H
#define DPT_H5FILE_H

#include <hdf5.h>
#include <stddef.h>

#include "io/fs.h"

/* Any rank, not collective: path exists, is readable and is an HDF5 file.  Returns 0, or -1
 * with "<path>: cannot open: <reason>" or "<path>: not an HDF5 file". */
int dpt_h5_check_file(const char *path, char *err, size_t errlen);

/* ---- writing ---- */

/* One HDF5 file being written; the first failure is recorded (message in err) and later calls
 * do nothing, so writers read as a straight sequence. */
typedef struct dpt_h5w {
    dpt_atomic out; /* out.path: the real name, for messages; out.tmp: the file being written */
    hid_t file;
    int failed;
    char *err;
    size_t errlen;
} dpt_h5w;

/* Creates <path>.tmp.<pid> as an HDF5 file.  Returns 0, or -1 with a message (nothing left
 * behind). */
int dpt_h5w_begin(dpt_h5w *w, const char *path, char *err, size_t errlen);
/* Records "<path>: cannot write <what>" unless a failure is already recorded. */
void dpt_h5w_fail(dpt_h5w *w, const char *what);
/* Closes the file and commits it (dpt_atomic_commit); on any failure (recorded earlier or now)
 * removes the temporary.  Returns 0 or -1. */
int dpt_h5w_finish(dpt_h5w *w);

/* Dataset of ndim dims (ndim 0: scalar), data in mtype. */
void dpt_h5w_array(dpt_h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim,
                   const hsize_t *dims, const void *data);
/* Scalar attribute. */
void dpt_h5w_attr(dpt_h5w *w, hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                  const void *value);
/* Variable-length UTF-8 string (h5py reads it as str), as an attribute or a scalar dataset. */
void dpt_h5w_string(dpt_h5w *w, hid_t loc, const char *name, const char *s, int as_attr);
/* A new group (close with H5Gclose when >= 0); -1 after a failure. */
hid_t dpt_h5w_group(dpt_h5w *w, hid_t loc, const char *name);

/* ---- reading ---- */

/* Opens path read-only.  Returns the file, or -1 with "<path>: cannot open: <errno text>",
 * "<path>: not an HDF5 file" or "<path>: cannot read: not a complete HDF5 file (truncated or
 * damaged)". */
hid_t dpt_h5r_open(const char *path, char *err, size_t errlen);
/* Link `name` (an absolute path) exists; false also when a parent group is missing. */
int dpt_h5r_exists(hid_t file, const char *name);
/* Root string attribute / scalar string dataset, fixed or variable length; NULL when absent or
 * not a string.  malloc'd. */
char *dpt_h5r_string_attr(hid_t file, const char *name);
char *dpt_h5r_string_dataset(hid_t file, const char *name);
/* Scalar numeric root attribute converted to mtype; -1 with a message naming path and name. */
int dpt_h5r_num_attr(hid_t file, const char *path, const char *name, hid_t mtype, void *out,
                     char *err, size_t errlen);
/* Dataset `name` must be float data of exactly dims (ndim); read as float32 into out. */
int dpt_h5r_f32(hid_t file, const char *path, const char *name, int ndim, const hsize_t *dims,
                float *out, char *err, size_t errlen);
#endif
