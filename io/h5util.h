/* Private to io/: the HDF5 helpers shared by model files, prediction files and checkpoints
 * (modelio.c, checkpoint.c).  A writer creates its file under a temporary name and only
 * dpt_h5w_finish puts it under the real one; the model file's contents (root attributes, /config,
 * /params, /norm) are written and read here so a checkpoint holds exactly what a model file
 * holds.  Layout: docs/checkpoint.md.  Functions set no HDF5 error printing of their own: the
 * error stack is silenced by dpt_h5w_begin and dpt_h5r_open. */
#ifndef DPT_H5UTIL_H
#define DPT_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

#include "core/model.h"
#include "core/norm.h"
#include "io/config.h"

/* ---- writing ---- */

/* One HDF5 file being written; the first failure is recorded (message in err) and later calls
 * do nothing, so writers read as a straight sequence. */
typedef struct dpt_h5w {
    const char *path; /* the real name, for messages */
    char tmp[DPT_PATH_MAX + 32];
    hid_t file;
    int failed;
    char *err;
    size_t errlen;
} dpt_h5w;

/* Creates <path>.tmp.<pid>.  Returns 0, or -1 with a message (nothing left behind). */
int dpt_h5w_begin(dpt_h5w *w, const char *path, char *err, size_t errlen);
/* Records "<path>: cannot write <what>" unless a failure is already recorded. */
void dpt_h5w_fail(dpt_h5w *w, const char *what);
/* Closes, fsyncs, renames to the real name and fsyncs the directory; on any failure (recorded
 * earlier or now) removes the temporary.  Returns 0 or -1. */
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

/* Everything a model file holds: root attributes format, format_version, dptrain_version,
 * nparams, checksum, in_features, in_steps, out_features; /config, /config_overrides,
 * /params/<layer>/<tensor>, /norm/... (norms may be NULL or disabled). */
void dpt_h5w_model(dpt_h5w *w, const char *format, int version, const dpt_model *m,
                   const dpt_config *c, const dpt_norm *xnorm, const dpt_norm *ynorm);
/* buf (m->nparams floats, laid out like m->params) as group `name` in loc with one float32
 * dataset per parameter tensor: <name>/<layer>/<tensor>, shaped like the tensor. */
void dpt_h5w_tensors(dpt_h5w *w, hid_t loc, const char *name, const dpt_model *m, const float *buf);

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
/* The tensors written by dpt_h5w_tensors under group `prefix` ("/params", "/optimizer/m") into
 * buf (m->nparams), every shape checked against m. */
int dpt_h5r_tensors(hid_t file, const char *path, const char *prefix, const dpt_model *m,
                    float *buf, char *err, size_t errlen);
/* The stored config text with its overrides, parsed (named "<path>:/config" in messages). */
int dpt_h5r_config(hid_t file, const char *path, dpt_config *c, char *err, size_t errlen);
/* /norm/x_* (in_features) and /norm/y_* (out_features) of m, allocated when present and
 * disabled (zeroed) when absent; on failure neither stays allocated. */
int dpt_h5r_norms(hid_t file, const char *path, const dpt_model *m, dpt_norm *xnorm,
                  dpt_norm *ynorm, char *err, size_t errlen);

#endif
