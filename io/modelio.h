/* Trained-model files (HDF5), written by rank 0 atomically (temporary name, fsync, rename,
 * directory fsync) and loaded by any rank.  Contents: the model-file layout (io/modelfile.h,
 * docs/checkpoint.md) with format="dptrain-model", format_version=1. */
#ifndef DPT_MODELIO_H
#define DPT_MODELIO_H

#include <stddef.h>

#include "core/model.h"
#include "core/norm.h"
#include "io/config.h"

/* Rank 0 alone.  Returns 0 or -1 with a message naming the file; on failure no file appears. */
int dpt_model_save(const char *path, const dpt_model *m, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *err, size_t errlen);

/* Any rank (independent, read-only open).  Parses the stored config, builds the model for
 * batches up to max_batch, loads parameters and checks the checksum; fills the norms (disabled
 * when absent).  Returns 0 or -1 with a message naming the file and what is wrong. */
int dpt_model_load(const char *path, dpt_config *c, dpt_model *m, int max_batch, dpt_norm *xnorm,
                   dpt_norm *ynorm, char *err, size_t errlen);

#endif
