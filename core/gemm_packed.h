/* dptrain's own kernels for products against a matrix packed once and used many times, and for
 * weight gradients accumulated over a batch (core/gemm_packed.c): the recurrent layers' products.
 * Row-major float32; single-threaded, so callers split rows of C among their own threads. */
#ifndef DPT_GEMM_PACKED_H
#define DPT_GEMM_PACKED_H

#include <stdbool.h>
#include <stddef.h>

/* The recurrent weights, the same in every time step.  dpt_sgemm_pack writes op(B) (K, N) into
 * dpt_packed_floats(K, N) floats at Bp (panels of 32 columns, zero-padded; the caller owns Bp);
 * dpt_sgemm_packed then computes C = A op(B) + beta * C (beta 0 overwrites), A (M, K) row-major
 * with stride lda.  Each element of C is a float sum over k in increasing order, whatever M is
 * and wherever the row falls. */
size_t dpt_packed_floats(int K, int N);
void dpt_sgemm_pack(bool trans_b, int K, int N, const float *B, int ldb, float *Bp);
void dpt_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *Bp, float beta,
                      float *C, int ldc);

/* C (M, N) += A^T B for A (K, M) and B (K, N) row-major: weight gradients, where K runs over all
 * rows of a batch.  K goes in chunks of kc rows, each chunk of B packed into work
 * (dpt_sgemm_tn_work(N, kc) floats, the caller's: nothing is allocated).  Each element of C is
 * one running float sum, C's value first, then the terms in increasing k: the bits do not depend
 * on kc, M or where the row falls. */
size_t dpt_sgemm_tn_work(int N, int kc);
void dpt_sgemm_tn_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, float *work, int kc);

/* Tests only (not thread-safe): false makes the kernels above take the path of CPUs without
 * AVX-512 on any CPU; true (the default) restores the choice by CPU. */
void dpt_packed_allow_avx512(bool allow);

#endif
