/* The kernels of the convolution layers besides the packed products they call
 * (core/layer_conv.c, core/layer_conv_transpose.c): im2col lays each sliding window
 * (core/window.h) of a sample out as one row of a matrix, so that a convolution is a matrix
 * product; col2im is its adjoint; the bias of rows of channels forward and backward; and the
 * weight gradient summed over a batch's rows.  Channels last, row-major float32. */
#ifndef DPT_CONV_H
#define DPT_CONV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/window.h"

/* A 1x1 window with stride 1 and no padding: the input (in_h * in_w, C) already is the column
 * matrix, and im2col / col2im are not needed. */
bool dpt_conv_pointwise(const dpt_window *w);

/* Floats of one sample's column matrix: (out_h * out_w, k_h * k_w * C). */
size_t dpt_conv_col_floats(const dpt_window *w, int C);

/* Samples per product so that a product has at least a few dozen rows (rows_per_sample =
 * out_h * out_w): the layers run their per-sample work in groups of this many samples. */
int dpt_conv_group(int rows_per_sample);

/* One sample: col (out_h * out_w, k_h * k_w * C) from x (in_h, in_w, C): row (oh, ow) holds
 * the window at that output position in (ki, kj, c) order, zeros where it covers padding. */
void dpt_conv_im2col(const dpt_window *w, int C, const float *x, float *col);

/* One sample: x (in_h, in_w, C) = the sum of the windows of col (out_h * out_w,
 * k_h * k_w * C) at their positions (overwrites x; padding is dropped): the adjoint of
 * dpt_conv_im2col, summed in a fixed order (windows, taps, channels). */
void dpt_conv_col2im(const dpt_window *w, int C, const float *col, float *x);

/* y (rows, F) += b (F) on every row; on the calling thread. */
void dpt_conv_add_bias(int rows, int F, const float *b, float *y);

/* Fixed chunks of rows the batch sums below are split into (their bits depend on the rows,
 * never on the thread count). */
#define DPT_CONV_CHUNKS 8

/* db (F) += the sum of the rows of dy (rows, F) (a bias gradient): DPT_CONV_CHUNKS chunks of
 * rows summed in parallel, then added in chunk order.  work: DPT_CONV_CHUNKS * F floats. */
void dpt_conv_bias_grad(int rows, int F, const float *dy, float *db, float *work);

/* G (N, M) += B^T A over rows, for A (rows, M) and B (rows, N) (conv2d: dW (filters, KK) +=
 * dy^T col with A = col, B = dy).  Computed as A^T B, which the weight-gradient kernel
 * (dpt_sgemm_tn_acc) runs fastest with the narrow B, in DPT_CONV_CHUNKS chunks of rows in
 * parallel, each into its own (M, N) partial; the partials are added into G in chunk order.
 * work: dpt_conv_wgrad_floats(M, N) floats. */
size_t dpt_conv_wgrad_floats(int M, int N);
void dpt_conv_wgrad(int rows, int M, int N, const float *A, const float *B, float *G, float *work);

#endif
