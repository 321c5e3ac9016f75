/* BLIS set-up (kernel selection, thread count) and the GEMM entry points the layers call.
 * dpt_sgemm routes small products to dptrain's own kernels (core/gemm_small.h), the rest to BLIS.
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

/* Plain triple-loop reference, used by tests to check the BLIS path. */
void dpt_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
