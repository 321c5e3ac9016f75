/* The batch kernels of the convolution layers besides their GEMMs (core/layer_conv.c,
 * core/layer_conv_transpose.c): im2col lays each sliding window (core/window.h) of a sample out
 * as one row of a matrix, so that a convolution is one product; col2im is its adjoint; and the
 * bias of rows of channels, forward and backward.  Channels last, row-major float32. */
#ifndef DPT_IM2COL_H
#define DPT_IM2COL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/window.h"

/* A 1x1 window with stride 1 and no padding: the input (in_h * in_w, C) already is the column
 * matrix, and im2col / col2im are not needed. */
bool dpt_window_pointwise(const dpt_window *w);

/* Floats of one sample's column matrix: (out_h * out_w, k_h * k_w * C). */
size_t dpt_im2col_floats(const dpt_window *w, int C);

/* col (B, out_h * out_w, k_h * k_w * C) from x (B, in_h, in_w, C): row (oh, ow) holds the
 * window at that output position in (ki, kj, c) order, zeros where it covers padding.  Samples
 * are split over OpenMP threads. */
void dpt_im2col(const dpt_window *w, int C, int B, const float *x, float *col);

/* x (B, in_h, in_w, C) = the sum of the windows of col (B, out_h * out_w, k_h * k_w * C) at
 * their positions (overwrites x; padding is dropped): the adjoint of dpt_im2col.  Each sample
 * is summed by one thread in a fixed order, so the bits do not depend on the thread count. */
void dpt_col2im(const dpt_window *w, int C, int B, const float *col, float *x);

/* y (rows, F) += b (F) on every row. */
void dpt_rows_add_bias(int rows, int F, const float *b, float *y);

/* Chunks of rows dpt_rows_sum adds up separately (a fixed number: the bits do not depend on the
 * thread count); its work buffer holds DPT_ROWS_SUM_CHUNKS * F floats. */
#define DPT_ROWS_SUM_CHUNKS 8

/* db (F) += the sum of the rows of dy (rows, F) (a bias gradient), in DPT_ROWS_SUM_CHUNKS fixed
 * chunks of rows summed in parallel, then added in chunk order.  work: the caller's. */
void dpt_rows_sum(int rows, int F, const float *dy, float *db, float *work);

#endif
