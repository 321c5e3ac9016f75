/* GEMM and BLIS set-up for dptrain: kernel selection, thread count, row-major sgemm.
 * All matrices are row-major float32; dimensions follow BLAS naming (C(M,N) = A(M,K) B(K,N)). */
#ifndef DPT_BLAS_H
#define DPT_BLAS_H

#include <stdbool.h>
#include <stddef.h>

/* Chooses BLIS kernels and thread count.  Must run before any other BLIS call.
 * If BLIS_ARCH_TYPE is set in the environment it is left alone (the user's choice wins);
 * otherwise, on a CPU with AVX-512 (F, DQ, BW, VL) the 'skx' kernels are forced, with AVX2+FMA
 * the 'haswell' kernels, so that Debian's BLIS 0.9 never falls back to 'generic' or a weaker
 * configuration on CPUs it does not recognise (Zen 4/5, masked CPUID in VMs).
 * nthreads >= 1 sets BLIS's thread count explicitly (BLIS_NUM_THREADS is also exported so
 * that BLIS's own start-up sees the same value). */
void dpt_blas_setup(int nthreads);

/* The kernel set dpt_blas_setup forces for the given CPU features when BLIS_ARCH_TYPE is unset:
 * "skx" (AVX-512 F/DQ/BW/VL), "haswell" (AVX2 + FMA) or NULL (leave BLIS's own choice).
 * Pure function, exposed so tests can check the selection rule on any machine. */
const char *dpt_blas_choose_arch(bool avx512, bool avx2_fma);

/* Whether this CPU has the AVX-512 subsets of x86-64-v4 (F, DQ, BW, VL, CD): the 'skx' BLIS
 * kernels and dptrain's own 64-byte-vector kernels need them. */
bool dpt_cpu_avx512(void);

/* Name of the kernel set BLIS uses ("skx", "haswell", ...) and how it was chosen
 * ("auto-selected", "BLIS_ARCH_TYPE from environment", "BLIS default"). */
const char *dpt_blas_arch(void);
const char *dpt_blas_arch_reason(void);
int dpt_blas_threads(void);

/* C = alpha * op(A) op(B) + beta * C, row-major; op(X) = X^T when the trans flag is set.
 * op(A) is (M, K), op(B) is (K, N), C is (M, N); lda/ldb/ldc are row strides. */
void dpt_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Same as dpt_sgemm but always through BLIS, whatever the size: for the pieces of a product
 * that must give the bits the whole product gives (BLIS's and the small kernels' roundings
 * need not agree: they do not without optimisation, where GCC fuses no multiply-add). */
void dpt_sgemm_blis(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Same as dpt_sgemm but single-threaded: safe inside an OpenMP parallel region. */
void dpt_sgemm_1t(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Products with M * N * K up to this go to dpt_sgemm_small instead of BLIS (docs/performance.md:
 * BLIS's per-call cost dominates there). */
#define DPT_GEMM_SMALL_MAX (1 << 18)

/* The small-product kernels (core/gemm_small.c), single-threaded, for op(A) B with N >= 16 and
 * A B^T with K >= 16; other cases return false and do nothing.  Each element of C is a float sum
 * over k in increasing order, whatever M and N are. */
bool dpt_sgemm_small(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Products against a matrix packed once and used many times (core/gemm_packed.c): the
 * recurrent weights, the same in every time step.  dpt_sgemm_pack writes op(B) (K, N) into
 * dpt_packed_floats(K, N) floats at Bp (panels of 32 columns, zero-padded); dpt_sgemm_packed
 * then computes C = A op(B) + beta * C (beta 0 overwrites), A (M, K) row-major with stride lda,
 * single-threaded, so callers split rows among their own threads.  Each element of C is a float
 * sum over k in increasing order, whatever M is and wherever the row falls. */
size_t dpt_packed_floats(int K, int N);
void dpt_sgemm_pack(bool trans_b, int K, int N, const float *B, int ldb, float *Bp);
void dpt_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *Bp, float beta,
                      float *C, int ldc);

/* C (M, N) += A^T B for A (K, M) and B (K, N) row-major: weight gradients, where K runs over all
 * rows of a batch.  K goes in chunks of kc rows, each chunk of B packed into work
 * (dpt_sgemm_tn_work(N, kc) floats, the caller's: nothing is allocated).  Single-threaded;
 * callers split the rows of C.  Each element of C is one running float sum, C's value first,
 * then the terms in increasing k: the bits do not depend on kc, M or where the row falls. */
size_t dpt_sgemm_tn_work(int N, int kc);
/* Tests only (not thread-safe): false makes the packed kernels above take the path of CPUs
 * without AVX-512 on any CPU; true (the default) restores the choice by CPU. */
void dpt_packed_allow_avx512(bool allow);
void dpt_sgemm_tn_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, float *work, int kc);

/* Plain triple-loop reference, used by tests to check the BLIS path. */
void dpt_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
