/* The IDX importer and its reader (LeCun's format: 00 00 type ndim, big-endian sizes; optionally
 * gzip'd).  Conventions: io/import/writer.h. */
#ifndef DPT_IMPORT_IDX_H
#define DPT_IMPORT_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "io/fs.h"
#include "io/import/writer.h"

typedef struct dpt_idx {
    gzFile g;
    char path[DPT_PATH_MAX];
    uint32_t magic;
    int type; /* 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float, 0x0E double */
    int elem; /* bytes per value */
    int ndim;
    int64_t dims[8];
    int64_t row_values; /* values per row: the product of dims[1..] */
    int64_t rows_read;
} dpt_idx;

/* Opens path (gzip'd or not) and reads the header.  expect_magic != 0: that exact magic number
 * is required ("bad magic number M, expected E").  On failure nothing stays open. */
int dpt_idx_open(dpt_idx *f, const char *path, uint32_t expect_magic, char *err, size_t errlen);
/* The next n rows as float32, multiplied by scale, into out (n, row_values); raw is scratch of
 * n x row_values x elem bytes. */
int dpt_idx_read_f32(dpt_idx *f, int64_t n, double scale, void *raw, float *out, char *err,
                     size_t errlen);
/* The next n rows of ubyte values as they are (type 0x08 only) into out (n, row_values). */
int dpt_idx_read_u8(dpt_idx *f, int64_t n, uint8_t *out, char *err, size_t errlen);
/* The next n rows as int32 (integer types only). */
int dpt_idx_read_i32(dpt_idx *f, int64_t n, void *raw, int32_t *out, char *err, size_t errlen);
/* Fails when data follows the announced rows. */
int dpt_idx_check_end(dpt_idx *f, char *err, size_t errlen);
void dpt_idx_close(dpt_idx *f);

typedef struct dpt_idx_opts {
    bool seq;     /* X (N, d1, d2 x ...) instead of (N, d1 x d2 x ...) */
    bool image;   /* X (N, H, W, 1) from (N, H, W), or (N, H, W, C) as it is */
    double scale; /* multiplies the images' values; <= 0 (or NaN): 1/255 for ubyte, else 1 */
} dpt_idx_opts;

/* images (and labels, or NULL) -> out: X float32 (N, F), (N, T, F) or (N, H, W, C) (uint8 with
 * o->x_type DPT_IMPORT_X_U8: ubyte images only, unscaled), y int32 (N) (float32 (N) for float
 * labels). */
int dpt_import_idx(const char *images, const char *labels, const char *out, const dpt_idx_opts *io,
                   const dpt_import_opts *o, dpt_import_summary *s, char *err, size_t errlen);

#endif
