/* The part of the data reader (io/h5data.c) for several named model inputs: each input's
 * dataset is read into its columns of one packed row per sample (input after input, 4 bytes per
 * value), its lengths into column k of (rows, ninputs).  Internal to io/. */
#ifndef DPT_H5INPUTS_H
#define DPT_H5INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/h5data.h"
#include "io/h5dset.h"

/* Rows [row0, row0 + n) of every input (xin (ninputs) open datasets) into x (n, x_width), and
 * of the inputs with lengths (lin[k], in->in_lengths[k]) into raw (ninputs, n) int64.
 * Collective when `collective`.  Returns non-zero when a read failed. */
int dpt_h5in_read(const dpt_h5dset *xin, const dpt_h5dset *lin, const dpt_h5info *in, int64_t row0,
                  int64_t n, float *x, int64_t *raw, bool collective);
/* Scales uint8 inputs (value / 255) and narrows the raw lengths into s->lengths (rows, ninputs),
 * each in [1, the input's steps] (an input without lengths: its steps).  0, or -1 with a message
 * naming path, "<name>_lengths" and the row. */
int dpt_h5in_finish(dpt_shard *s, const int64_t *raw, const char *path,
                    const char (*names)[DPT_H5_NAME_MAX], char *err, size_t errlen);
/* Token ids >= 0 and finite floats, input by input.  0, or -1 with a message naming path, the
 * input, the row and the position. */
int dpt_h5in_check(const dpt_shard *s, const char *path, const char (*names)[DPT_H5_NAME_MAX],
                   char *err, size_t errlen);

#endif
