/* Feature standardisation: x' = (x - mean) / std with training-set statistics, and the inverse
 * used to report predictions in the user's units. */
#include "core/norm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void dpt_norm_alloc(dpt_norm *n, int F) {
    DPT_ASSERT(F > 0);
    n->enabled = false;
    n->F = F;
    n->mean = dpt_alloc_floats((size_t)F);
    n->std = dpt_alloc_floats((size_t)F);
    /* mean 0 / std 1 is the identity until statistics are set. */
    for (int f = 0; f < F; f++) n->std[f] = 1.0f;
}

void dpt_norm_free(dpt_norm *n) {
    if (!n) return;
    free(n->mean);
    free(n->std);
    memset(n, 0, sizeof *n);
}

void dpt_norm_set(dpt_norm *n, const double *mean, const double *sq_dev, int64_t count) {
    DPT_ASSERT(count > 0);
    for (int f = 0; f < n->F; f++) {
        double s = sqrt(sq_dev[f] / (double)count);
        n->mean[f] = (float)mean[f];
        /* A constant feature (std 0) passes through shifted instead of dividing by zero. */
        n->std[f] = s > 0.0 ? (float)s : 1.0f;
    }
    n->enabled = true;
}

void dpt_norm_apply(const dpt_norm *n, float *x, int64_t rows) {
    if (!n->enabled) return;
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * n->F; /* (F) */
#pragma omp simd
        for (int f = 0; f < n->F; f++) xr[f] = (xr[f] - n->mean[f]) / n->std[f];
    }
}

void dpt_norm_invert(const dpt_norm *n, float *x, int64_t rows) {
    if (!n->enabled) return;
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * n->F; /* (F) */
        for (int f = 0; f < n->F; f++) xr[f] = xr[f] * n->std[f] + n->mean[f];
    }
}
