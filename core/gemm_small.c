/* Small matrix products without BLIS.  A training step of a small model (boston-mlp at batch 16:
 * products of 16 x 128 x 128) spends more in BLIS's per-call work (object set-up, packing, its
 * memory pool) than in arithmetic; BLIS's skx kernels reached 14-18 GFLOP/s on those shapes.
 * Here each element of C is a sum over k in increasing order, kept in registers: 4 rows x 16
 * columns of C per block when B's rows are contiguous in j (NN, TN), 4 x 4 dot products over k
 * in vectors of 16 when they are not (NT).  The result of an element does not depend on M or on
 * the block it falls in.  AVX-512 CPUs only (compiled for x86-64-v4, checked at run time):
 * elsewhere dpt_sgemm_small declines and BLIS does the product. */
#pragma GCC optimize("fp-contract=fast") /* a * b + c as one FMA where the CPU has it */
/* The 64-byte vectors pass between static functions of this file only (all inlined): the
 * note that their ABI differs without AVX-512 concerns no caller outside it. */
#pragma GCC diagnostic ignored "-Wpsabi"

#include "core/gemm_small.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/cpu.h"

typedef float v16 __attribute__((vector_size(64)));

/* Helpers are macros: a static function compiled for the baseline target is not inlined into
 * the AVX-512 functions below (measured: a call per vector load, 1 GFLOP/s). */
#define CLONES       __attribute__((target("arch=x86-64-v4")))
#define LOAD16(v, p) memcpy(&(v), (p), sizeof(v16))
#define A_AT(i, k)   (ta ? A[(size_t)(k)*lda + (i)] : A[(size_t)(i)*lda + (k)])
/* C element = alpha * acc + beta * C element (beta 0 overwrites, as BLAS) */
#define STORE1(c, acc) (*(c) = beta == 0.0f ? alpha * (acc) : alpha * (acc) + beta * *(c))

/* One element of C = op(A) op(B) as a float sum over k in increasing order: the remainders. */
#define ELEMENT(i, j, expr_b)                                                                      \
    do {                                                                                           \
        float s_ = 0.0f;                                                                           \
        for (int k = 0; k < K; k++) s_ += A_AT(i, k) * (expr_b);                                   \
        STORE1(C + (size_t)(i)*ldc + (j), s_);                                                     \
    } while (0)

/* C = op(A) B with B (K, N) row-major: tiles of 4 rows x 16 columns of C in registers (the
 * constant trip counts, unrolled, keep them there). */
CLONES static void small_nx(bool ta, int M, int N, int K, float alpha, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C, int ldc) {
    int M4 = M / 4 * 4, N16 = N / 16 * 16;
    for (int i = 0; i < M4; i += 4)
        for (int j = 0; j < N16; j += 16) {
            v16 acc[4] = {{0}, {0}, {0}, {0}}, b, c;
            for (int k = 0; k < K; k++) {
                LOAD16(b, B + (size_t)k * ldb + j);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) acc[r] += A_AT(i + r, k) * b;
            }
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                float *cp = C + (size_t)(i + r) * ldc + j;
                v16 out = acc[r] * alpha;
                if (beta != 0.0f) {
                    LOAD16(c, cp);
                    out += c * beta;
                }
                memcpy(cp, &out, sizeof out);
            }
        }
    for (int i = 0; i < M; i++) /* the last M % 4 rows, the last N % 16 columns */
        for (int j = i < M4 ? N16 : 0; j < N; j++) ELEMENT(i, j, B[(size_t)k * ldb + j]);
}

/* C = A B^T: A (M, K), B (N, K), both row-major: 4 x 4 dot products of rows at a time, over k
 * in vectors of 16, the lanes summed in a fixed order, then the last K % 16 terms. */
CLONES static void small_nt(int M, int N, int K, float alpha, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C, int ldc) {
    const bool ta = false; /* for A_AT */
    int M4 = M / 4 * 4, N4 = N / 4 * 4, K16 = K / 16 * 16;
    for (int i = 0; i < M4; i += 4)
        for (int j = 0; j < N4; j += 4) {
            v16 acc[4][4] = {{{0}}}, a[4], b[4];
            for (int k = 0; k < K16; k += 16) {
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    LOAD16(a[r], A + (size_t)(i + r) * lda + k);
                    LOAD16(b[r], B + (size_t)(j + r) * ldb + k);
                }
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++) acc[r][q] += a[r] * b[q];
            }
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    const float *ar = A + (size_t)(i + r) * lda, *bq = B + (size_t)(j + q) * ldb;
                    float t = 0.0f;
                    for (int l = 0; l < 16; l++) t += acc[r][q][l];
                    for (int k = K16; k < K; k++) t += ar[k] * bq[k];
                    STORE1(C + (size_t)(i + r) * ldc + j + q, t);
                }
        }
    for (int i = 0; i < M; i++) /* the last M % 4 rows, the last N % 4 columns */
        for (int j = i < M4 ? N4 : 0; j < N; j++) {
            const float *ar = A + (size_t)i * lda, *bj = B + (size_t)j * ldb;
            v16 acc = {0}, a, b;
            for (int k = 0; k < K16; k += 16) {
                LOAD16(a, ar + k);
                LOAD16(b, bj + k);
                acc += a * b;
            }
            float t = 0.0f;
            for (int l = 0; l < 16; l++) t += acc[l];
            for (int k = K16; k < K; k++) t += ar[k] * bj[k];
            STORE1(C + (size_t)i * ldc + j, t);
        }
    (void)ta;
}

bool dpt_sgemm_small(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    /* AVX-512 only: GCC lowers these 64-byte vectors through the stack on AVX2 (measured 2.9
     * against 23.7 GFLOP/s on 16 x 128 x 128); BLIS's haswell kernels do better there. */
    if (!dpt_cpu_avx512()) return false;
    /* Both transposed does not occur in dptrain; fewer than 16 columns (NN, TN) or terms (NT)
     * leave the vectors mostly empty, and BLIS does those better. */
    if ((trans_a && trans_b) || (trans_b ? K : N) < 16) return false;
    if (trans_b)
        small_nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        small_nx(trans_a, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return true;
}
