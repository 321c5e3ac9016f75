/* Training checkpoints (HDF5), written by rank 0 atomically: the model file's contents (params,
 * norms, config) plus the optimizer state tensors and where training stands, so a run can resume
 * exactly.  Layout: docs/checkpoint.md.  Files are <dir>/ckpt-<step, 10 digits>.h5 and a small
 * text file <dir>/latest naming the newest one, both replaced atomically. */
#ifndef DPT_CHECKPOINT_H
#define DPT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "core/norm.h"
#include "core/optim.h"
#include "io/config.h"

/* Where training stands.  The sampler and dropout are counter-based (seed, epoch, step, sample
 * id), so these numbers are their whole state. */
typedef struct dpt_train_state {
    int64_t step;       /* optimizer steps taken in the whole run */
    int epoch;          /* epoch in progress, 0-based */
    int64_t epoch_step; /* steps of that epoch already taken (0 = at its start) */
    uint64_t seed;      /* training.seed */
    int world_size;     /* ranks and threads per rank the checkpoint was written with */
    int threads;
    int nonfinite_skips; /* consecutive skipped steps (training.on_nonfinite: skip) */
} dpt_train_state;

/* Rank 0.  Writes <dir>/ckpt-<step>.h5 (temporary name, fsync, rename, directory fsync), then
 * <dir>/latest the same way, then removes the oldest ckpt-*.h5 beyond `keep` (keep >= 1).  On
 * any error the previous checkpoint and `latest` are untouched and no partial file is left under
 * a real name.  The written path goes to path (may be NULL).  Returns 0 or -1 with a message. */
int dpt_ckpt_write(const char *dir, int keep, const dpt_model *m, const dpt_optim *o,
                   const dpt_train_state *st, const dpt_config *c, const dpt_norm *xnorm,
                   const dpt_norm *ynorm, char *path, size_t pathlen, char *err, size_t errlen);

/* "latest" -> the file <dir>/latest names; anything else is taken as a path.  Returns 0 or -1
 * ("<dir>/latest: no checkpoint yet" etc.). */
int dpt_ckpt_resolve(const char *arg, const char *dir, char *path, size_t pathlen, char *err,
                     size_t errlen);

/* Any rank.  Reads the config text stored in a checkpoint (for comparing with the current one)
 * into *stored (free with dpt_config_free). */
int dpt_ckpt_read_config(const char *path, dpt_config *stored, char *err, size_t errlen);

/* Any rank.  Loads a checkpoint into a model built from an equal model config and an optimizer
 * initialised for it: parameters (checksum verified), optimizer state (same optimizer name
 * required), norms (allocated as stored; disabled when absent) and the train state.  Corrupt,
 * truncated or foreign files are refused with a message naming the file and the problem. */
int dpt_ckpt_read(const char *path, dpt_model *m, dpt_optim *o, dpt_train_state *st,
                  dpt_norm *xnorm, dpt_norm *ynorm, char *err, size_t errlen);

#endif
