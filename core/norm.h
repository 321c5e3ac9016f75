/* Feature standardisation with training-set statistics: x' = (x - mean) / std, and its inverse
 * for de-normalising predictions.  Statistics are computed elsewhere (reduced across ranks). */
#ifndef DPT_NORM_H
#define DPT_NORM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dpt_norm {
    bool enabled;
    int F;       /* features */
    float *mean; /* (F) */
    float *std;  /* (F), a zero std is stored as 1 so constant features pass through */
} dpt_norm;

void dpt_norm_alloc(dpt_norm *n, int F);
void dpt_norm_free(dpt_norm *n);
/* From per-feature sum and sum of squared deviations from the mean over count rows
 * (population std, as Keras/scikit-learn StandardScaler). */
void dpt_norm_set(dpt_norm *n, const double *mean, const double *sq_dev, int64_t count);
/* In place on x (rows, F); no-op when disabled. */
void dpt_norm_apply(const dpt_norm *n, float *x, int64_t rows);
void dpt_norm_invert(const dpt_norm *n, float *x, int64_t rows);

#endif
