/* The model-file layout, shared by model files (io/modelio.h) and checkpoints
 * (io/checkpoint.h): a checkpoint holds everything a model file holds under the same names, so
 * evaluate and predict accept either.  Layout (docs/checkpoint.md):
 *   /                     attrs: format, format_version, dptrain_version, nparams, checksum
 *                                (FNV-1a of the parameters), in_features, in_steps, out_features,
 *                                input_shape, output_shape (int32 (rank) per-sample dims),
 *                                input_dtype ("float32" / "int32")   [format_version 2 on];
 *                                a model of several inputs also: ninputs, input_shape_<k>,
 *                                input_dtype_<k> (its inputs' names are model.inputs in /config)
 *   /config               string dataset: the YAML text;  /config_overrides: string dataset,
 *                         one "key=value" per line
 *   /params/<layer>/<tensor>   float32, e.g. /params/dense_0/W (out, in), /params/dense_0/b (out);
 *                         also the layers' state tensors (batch_norm's moving_mean,
 *                         moving_variance), which the checksum covers after the parameters
 *   /norm/x_mean, /norm/x_std (F); /norm/y_mean, /norm/y_std (K)   when normalisation is on */
#ifndef DPT_MODELFILE_H
#define DPT_MODELFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/norm.h"
#include "core/shape.h"
#include "io/config.h"
#include "io/h5file.h"

#define DPT_MODELFILE_FORMAT "dptrain-model"      /* the root attribute format of model files */
#define DPT_CKPT_FORMAT      "dptrain-checkpoint" /* ... and of checkpoints */
/* Version 2 added the shape attributes; version 1 files (without them) still load, their shapes
 * derived from in_steps / in_features and the model the stored config builds. */
#define DPT_MODELFILE_VERSION     2 /* model files and checkpoints: the version written */
#define DPT_MODELFILE_VERSION_MIN 1 /* the oldest version read */

/* ---- writing (into a file begun with dpt_h5w_begin) ---- */

/* Everything a model file holds: the root attributes (format and format_version as given),
 * /config, /config_overrides, /params/<layer>/<tensor> (parameters and state tensors),
 * /norm/... (norms may be NULL or disabled). */
void dpt_modelfile_write(dpt_h5w *w, const char *format, int version, const dpt_model *m,
                         const dpt_config *c, const dpt_norm *xnorm, const dpt_norm *ynorm);
/* buf (m->nparams floats, laid out like m->params) as group `name` in loc with one float32
 * dataset per parameter tensor: <name>/<layer>/<tensor>, shaped like the tensor. */
void dpt_modelfile_write_tensors(dpt_h5w *w, hid_t loc, const char *name, const dpt_model *m,
                                 const float *buf);

/* ---- reading (from a file opened with dpt_h5r_open) ---- */

/* The root attributes recorded at save time, to check against what the stored config builds. */
typedef struct dpt_modelfile_header {
    uint64_t nparams, checksum;
    int in_features, out_features;
    int in_steps;        /* absent in files of models without sequence input: 1 */
    bool has_shapes;     /* the file records input_shape, input_dtype, output_shape (version 2) */
    dpt_shape in_shape;  /* recorded, or derived from in_steps x in_features (float32) */
    dpt_shape out_shape; /* recorded, or rank 0 (unknown until the model is built) */
    int ninputs;         /* 1, or the model's named inputs (attribute ninputs) */
    dpt_shape in_shapes[DPT_MODEL_MAX_INPUTS]; /* (ninputs): input_shape_<k>, input_dtype_<k>;
                                                  in_shape for one input */
} dpt_modelfile_header;

/* Reads the header; in_features and in_steps must be >= 1, recorded shapes valid.  Returns 0 or
 * -1 with a message. */
int dpt_modelfile_read_header(hid_t file, const char *path, dpt_modelfile_header *h, char *err,
                              size_t errlen);
/* The header's shapes against the model built from the stored config (m); fills the output shape
 * of files that do not record it.  Returns 0 or -1 with a message naming path and both shapes. */
int dpt_modelfile_check_shapes(dpt_modelfile_header *h, const char *path, const dpt_model *m,
                               char *err, size_t errlen);
/* format_version of a model file or checkpoint, checked to be one this code reads; what names
 * the kind in messages ("model", "checkpoint").  Returns 0 or -1 with a message. */
int dpt_modelfile_read_version(hid_t file, const char *path, const char *what, int *version,
                               char *err, size_t errlen);
/* The tensors written by dpt_modelfile_write_tensors under group `prefix` ("/params",
 * "/optimizer/m") into buf (m->nparams), every shape checked against m. */
int dpt_modelfile_read_tensors(hid_t file, const char *path, const char *prefix, const dpt_model *m,
                               float *buf, char *err, size_t errlen);
/* The layers' state tensors (/params/<layer>/<state>) into state (m->nstate floats, laid out
 * like m->state), every shape checked against m.  Returns 0 or -1 with a message. */
int dpt_modelfile_read_state(hid_t file, const char *path, const dpt_model *m, float *state,
                             char *err, size_t errlen);
/* The stored config text with its overrides, parsed (named "<path>:/config" in messages). */
int dpt_modelfile_read_config(hid_t file, const char *path, dpt_config *c, char *err,
                              size_t errlen);
/* /norm/x_* (in_features) and /norm/y_* (out_features) of m, allocated when present and
 * disabled (zeroed) when absent; on failure neither stays allocated. */
int dpt_modelfile_read_norms(hid_t file, const char *path, const dpt_model *m, dpt_norm *xnorm,
                             dpt_norm *ynorm, char *err, size_t errlen);

#endif
