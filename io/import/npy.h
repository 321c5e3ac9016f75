/* The NumPy .npy importer (the reader is io/npy.h).  Conventions: io/import/writer.h. */
#ifndef DPT_IMPORT_NPY_H
#define DPT_IMPORT_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/import/writer.h"
#include "io/npy.h"

typedef struct dpt_npy_opts {
    const char *y;       /* Y.npy or NULL */
    const char *lengths; /* L.npy or NULL */
    bool float_targets;  /* integer Y -> float32 instead of int32 labels */
} dpt_npy_opts;

/* X.npy (+ Y.npy, L.npy) -> out: X float32 (N, 1) / (N, F) / (N, T, F) / (N, H, W, C) (uint8
 * with o->x_type DPT_IMPORT_X_U8, for |u1 X only); y int32 labels or
 * float32 in Y's shape; lengths int32 (N), each in [1, T]. */
int dpt_import_npy(const char *x, const char *out, const dpt_npy_opts *no, const dpt_import_opts *o,
                   dpt_import_summary *s, char *err, size_t errlen);

#endif
