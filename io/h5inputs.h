/* The part of the data reader (io/h5data.c, which includes this; not the other way round) for
 * several named model inputs: each input's
 * dataset is read into its columns of one packed row per sample (input after input, 4 bytes per
 * value), its lengths into column k of (rows, ninputs).  Internal to io/. */
#ifndef DPT_H5INPUTS_H
#define DPT_H5INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/shape.h"
#include "io/h5dset.h"

#define DPT_H5_MAX_INPUTS 8  /* = DPT_MODEL_MAX_INPUTS */
#define DPT_H5_NAME_MAX   64 /* = DPT_NAME_MAX: an input's name */

/* The inputs as one packed row holds them, input after input (io/h5data.h dpt_h5info). */
typedef struct dpt_h5in_layout {
    int n;                                /* inputs */
    const dpt_shape *shapes;              /* (n) per-sample shape and element type */
    const bool *has_lengths;              /* (n) a "<name>_lengths" dataset is read */
    const bool *u8;                       /* (n) stored as uint8: read as value / 255 */
    const char (*names)[DPT_H5_NAME_MAX]; /* (n) for messages */
    size_t width;                         /* values per packed row */
} dpt_h5in_layout;

/* Rows of a block as read: x (nrows, width) packed, lengths (nrows, n). */
typedef struct dpt_h5in_rows {
    float *x;         /* int32 ids in their inputs' columns */
    int32_t *lengths; /* (nrows, n) */
    int64_t row0, nrows;
} dpt_h5in_rows;

/* Rows [row0, row0 + n) of every input (xin (ninputs) open datasets) into x (n, x_width), and
 * of the inputs with lengths (lin[k], in->in_lengths[k]) into raw (ninputs, n) int64.
 * Collective when `collective`.  Returns non-zero when a read failed. */
int dpt_h5in_read(const dpt_h5dset *xin, const dpt_h5dset *lin, const dpt_h5in_layout *in,
                  int64_t row0, int64_t n, float *x, int64_t *raw, bool collective);
/* Scales uint8 inputs (value / 255) and narrows the raw lengths into s->lengths (rows, n),
 * each in [1, the input's steps] (an input without lengths: its steps).  0, or -1 with a message
 * naming path, "<name>_lengths" and the row. */
int dpt_h5in_finish(const dpt_h5in_layout *in, dpt_h5in_rows *s, const int64_t *raw,
                    const char *path, char *err, size_t errlen);
/* Token ids >= 0 and finite floats, input by input.  0, or -1 with a message naming path, the
 * input, the row and the position. */
int dpt_h5in_check(const dpt_h5in_layout *in, const dpt_h5in_rows *s, const char *path, char *err,
                   size_t errlen);

#endif
