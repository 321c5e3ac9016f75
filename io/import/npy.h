/* The NumPy .npy importer and its reader (format versions 1.0, 2.0, 3.0; C order,
 * little-endian).  Conventions: io/import/writer.h. */
#ifndef DPT_IMPORT_NPY_H
#define DPT_IMPORT_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/import/writer.h"

typedef struct dpt_npy {
    FILE *f;
    const char *path;
    int major; /* format version */
    char kind; /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
    int elem;  /* bytes per value */
    int ndim;
    int64_t shape[8];
    int64_t count; /* values */
    int64_t read;  /* values read so far */
} dpt_npy;

/* Parses the header dict text ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")
 * into a's kind, elem, ndim, shape, count. */
int dpt_npy_parse_header(dpt_npy *a, const char *text, char *err, size_t errlen);
/* Opens path, reads and checks the header and that the file holds exactly the data it
 * announces. */
int dpt_npy_open(dpt_npy *a, const char *path, char *err, size_t errlen);
/* The next n values as float32 (finite; float64 within the float32 range); raw is scratch of
 * n x elem bytes. */
int dpt_npy_read_f32(dpt_npy *a, int64_t n, void *raw, float *out, char *err, size_t errlen);
/* The next n values' bytes as they are (n x elem bytes). */
int dpt_npy_read_raw(dpt_npy *a, int64_t n, void *out, char *err, size_t errlen);
/* The next n values as int32 (integer and bool types). */
int dpt_npy_read_i32(dpt_npy *a, int64_t n, void *raw, int32_t *out, char *err, size_t errlen);
void dpt_npy_close(dpt_npy *a);

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
