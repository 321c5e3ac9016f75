/* The NumPy .npy reader (format versions 1.0, 2.0, 3.0; C order, little-endian): the importer
 * (io/import/npy.h) and pre-trained embeddings (io/embed_weights.h) read .npy files with it. */
#ifndef DPT_NPY_H
#define DPT_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

#endif
