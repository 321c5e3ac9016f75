/* Prediction files (HDF5): "pred" (N, K), (N, T, K) or (N, H, W, K) float32 (the model's output
 * shape per row, or a named layer's) and, for classifiers, "labels" (N), (N, T) or (N, H, W)
 * int32 (or decoded token sequences), written by rank 0 alone (not collective) through the atomic
 * writer: temporary name, fsync, rename, directory fsync.  Layout: docs/running.md. */
#ifndef DPT_PREDICTIONS_H
#define DPT_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/shape.h"

/* pred (n, K) as dataset "pred" (plus "labels" (n) when labels != NULL). */
int dpt_h5_write_predictions(const char *path, const float *pred, int64_t n, int K,
                             const int32_t *labels, char *err, size_t errlen);
/* Same for per-step outputs: pred (n, T, K) and labels (n, T); T = 1 writes (n, K) and (n). */
int dpt_h5_write_predictions_seq(const char *path, const float *pred, int64_t n, int T, int K,
                                 const int32_t *labels, char *err, size_t errlen);
/* Same for any per-row shape: pred (n, shape...) and labels (n, shape without its last axis;
 * (n) for a rank-1 shape).  A rank-1 or rank-2 shape writes what the two above write. */
int dpt_h5_write_predictions_shape(const char *path, const float *pred, int64_t n,
                                   const dpt_shape *shape, const int32_t *labels, char *err,
                                   size_t errlen);

/* Decoded sequences (`dptrain predict --decode`): "tokens" (n, T) int32 (0 after a row's end),
 * "lengths" (n) int32 (tokens emitted, the end token included) and, with a vocabulary, "text"
 * (n) variable-length UTF-8 strings (texts may be NULL). */
int dpt_h5_write_decoded(const char *path, const int32_t *tokens, const int32_t *lens, int64_t n,
                         int T, const char *const *texts, char *err, size_t errlen);

#endif
