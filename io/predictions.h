/* Prediction files (HDF5): "pred" (N, K) or (N, T, K) float32 and, for classifiers, "labels"
 * (N) or (N, T) int32, written by rank 0 alone (not collective) through the atomic writer:
 * temporary name, fsync, rename, directory fsync.  Layout: docs/running.md. */
#ifndef DPT_PREDICTIONS_H
#define DPT_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>

/* pred (n, K) as dataset "pred" (plus "labels" (n) when labels != NULL). */
int dpt_h5_write_predictions(const char *path, const float *pred, int64_t n, int K,
                             const int32_t *labels, char *err, size_t errlen);
/* Same for per-step outputs: pred (n, T, K) and labels (n, T); T = 1 writes (n, K) and (n). */
int dpt_h5_write_predictions_seq(const char *path, const float *pred, int64_t n, int T, int K,
                                 const int32_t *labels, char *err, size_t errlen);

#endif
