/* Per-sample tensor shapes: what a layer reads and writes, what a data file's X and y hold per
 * row, what model files record.  The batch axis is never part of a shape: (F), (T, F),
 * (H, W, C) describe one sample; buffers are (B, shape...) row-major, the last axis fastest. */
#ifndef DPT_SHAPE_H
#define DPT_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DPT_SHAPE_MAX_RANK 3 /* (H, W, C); a data file's X adds the row axis: rank <= 4 */

/* Element type.  Activations and parameters are float32; int32 holds token ids (an embedding
 * layer's input) and class labels. */
typedef enum dpt_dtype { DPT_F32 = 0, DPT_I32 = 1 } dpt_dtype;

typedef struct dpt_shape {
    int rank;                    /* 1..DPT_SHAPE_MAX_RANK; 0 = unset */
    int dim[DPT_SHAPE_MAX_RANK]; /* each >= 1 */
    dpt_dtype dtype;
} dpt_shape;

/* (d0), (d0, d1), (d0, d1, d2) float32. */
dpt_shape dpt_shape_1d(int d0);
dpt_shape dpt_shape_2d(int d0, int d1);
dpt_shape dpt_shape_3d(int d0, int d1, int d2);
/* Elements per sample (product of the dimensions); 0 for an unset shape. */
size_t dpt_shape_size(const dpt_shape *s);
/* The last axis (features / channels) and the product of the others (time steps, or H x W):
 * what layers that act on the last axis (dense, activations) see as rows x width. */
int dpt_shape_last(const dpt_shape *s);
int64_t dpt_shape_outer(const dpt_shape *s);
bool dpt_shape_equal(const dpt_shape *a, const dpt_shape *b);
/* What (T, F) meant before shapes (files without shapes, callers that count steps): (F) for
 * T == 1, else (T, F); float32. */
dpt_shape dpt_shape_from_steps(int T, int F);
/* s with its last dimension set to n, float32: the output of a layer acting on the last axis. */
dpt_shape dpt_shape_with_last(const dpt_shape *s, int n);
/* Same rank and the same dimensions before the last: a layer from a to b keeps every leading
 * axis (the time axis of a sequence), row for row.  The dtype does not matter, except that int32
 * token ids are one per step: (T) int32 ids to (T, D) keeps the time axis too (an embedding). */
bool dpt_shape_same_rows(const dpt_shape *a, const dpt_shape *b);
/* A sequence on a time axis: (T, F) with T > 1.  Sequence lengths describe its first axis. */
bool dpt_shape_is_sequence(const dpt_shape *s);
/* "(28, 28, 1) float32" style text for messages and model files; returns buf. */
const char *dpt_shape_str(const dpt_shape *s, char *buf, size_t n);
const char *dpt_dtype_name(dpt_dtype t); /* "float32", "int32" */
/* Checks rank and dimensions: 0, or -1 with "expected ..." in err. */
int dpt_shape_check(const dpt_shape *s, char *err, size_t errlen);

#endif
