/* Trained-model files (HDF5), written by rank 0 atomically: temporary name, fsync, rename,
 * directory fsync.  Layout (docs/checkpoint.md):
 *   /                     attrs: format="dptrain-model", format_version=1, dptrain_version,
 *                                nparams, checksum (FNV-1a of the parameters), in_features,
 *                                out_features
 *   /config               string dataset: the YAML text;  /config_overrides: string dataset,
 *                         one "key=value" per line
 *   /params/<layer>/<tensor>   float32, e.g. /params/dense_0/W (out, in), /params/dense_0/b (out)
 *   /norm/x_mean, /norm/x_std (F); /norm/y_mean, /norm/y_std (K)   when normalisation is on */
#ifndef DPT_MODELIO_H
#define DPT_MODELIO_H

#include <stddef.h>

#include "core/model.h"
#include "core/norm.h"
#include "io/config.h"

int dpt_model_save(const char *path, const dpt_model *m, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *err, size_t errlen);

/* Any rank (independent, read-only open).  Parses the stored config, builds the model for
 * batches up to max_batch, loads parameters and checks the checksum; fills the norms (disabled
 * when absent).  Returns 0 or -1 with a message naming the file and what is wrong. */
int dpt_model_load(const char *path, dpt_config *c, dpt_model *m, int max_batch, dpt_norm *xnorm,
                   dpt_norm *ynorm, char *err, size_t errlen);

/* Shared atomic-write helpers (also for metrics and checkpoints later). */
int dpt_fsync_path(const char *path, char *err, size_t errlen);
int dpt_fsync_dir_of(const char *path, char *err, size_t errlen);
/* mkdir -p */
int dpt_mkdirs(const char *dir, char *err, size_t errlen);

#endif
