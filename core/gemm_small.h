/* dptrain's own kernels for small matrix products (core/gemm_small.c), where BLIS's per-call
 * work costs more than the arithmetic.  dpt_sgemm (core/blas.h) calls them for products up to
 * DPT_GEMM_SMALL_MAX; row-major float32, BLAS dimension names (C(M,N) = op(A)(M,K) op(B)(K,N)). */
#ifndef DPT_GEMM_SMALL_H
#define DPT_GEMM_SMALL_H

#include <stdbool.h>

/* C = alpha * op(A) op(B) + beta * C (beta 0 overwrites), single-threaded, for op(A) B with
 * N >= 16 and A B^T with K >= 16 on CPUs with AVX-512; other cases return false and do nothing.
 * Each element of C is a float sum over k in increasing order, whatever M and N are. */
bool dpt_sgemm_small(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
