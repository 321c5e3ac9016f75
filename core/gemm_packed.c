/* Products against a matrix packed once and used many times: the recurrent weights W_hh of a
 * layer enter every time step of forward and backward with the same values, so they are packed
 * once per pass into panels of 32 columns, row after row (K x 32 floats, contiguous), and each
 * step's product streams its panel from L1/L2 instead of striding through W_hh (whose rows are
 * 512-2048 bytes apart and fall into a few L1 sets) or repacking it as BLIS does on every call.
 * Measured on the products of an LSTM of 128 units (docs/performance.md): 125-130 GFLOP/s on
 * one core, against 55-105 for BLIS's skx kernels on the same shapes.
 *
 * With AVX-512 a tile holds 8 rows x 32 columns of C in 16 vector accumulators of 16 floats.
 * Other CPUs get one row at a time in a plain loop the compiler vectorises (AVX2 clone and
 * baseline): GCC lowers 64-byte vectors on AVX2 through the stack (measured: 1 GFLOP/s), and 32
 * accumulators of 8 floats do not fit 16 registers.  Either way each element is a float sum over
 * k in increasing order (one fused multiply-add per term where the CPU has FMA), the same bits
 * whether the element falls in an 8-row tile or in a remainder row. */
#pragma GCC optimize("fp-contract=fast") /* a * b + c as one FMA where the CPU has it */
/* The 64-byte vectors pass between static functions of this file only. */
#pragma GCC diagnostic ignored "-Wpsabi"

#include "core/gemm_packed.h"

#include <stddef.h>
#include <string.h>

#include "core/cpu.h"
#include "core/util.h"

#define PANEL 32 /* columns of a packed panel: two 16-float vectors */
#define TILE  8  /* rows of C per register tile */

typedef float v16 __attribute__((vector_size(64)));

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define AVX512           __attribute__((target("arch=x86-64-v4")))
#define CLONES           __attribute__((target_clones("arch=x86-64-v3", "default")))
#define HAVE_AVX512_PATH 1
#else
#define AVX512
#define CLONES
#define HAVE_AVX512_PATH 0
#endif

static bool avx512_allowed = true; /* tests turn it off to run the other path */

void dpt_packed_allow_avx512(bool allow) {
    avx512_allowed = allow;
}

/* The AVX-512 tiles need F, VL, BW, DQ, CD (x86-64-v4). */
static bool use_avx512(void) {
    return HAVE_AVX512_PATH && avx512_allowed && dpt_cpu_avx512();
}

#define LOAD16(v, p) memcpy(&(v), (p), sizeof(v16))

typedef float v8 __attribute__((vector_size(32)));

/* One row of a plain tile: acc = C's row (from_c), else 0; past n, 0. */
#define PLAIN_LOAD(acc, c, n)                                                                      \
    do {                                                                                           \
        float t_[PANEL] = {0};                                                                     \
        if (from_c) memcpy(t_, (c), (size_t)(n) * sizeof(float));                                  \
        memcpy((acc), t_, sizeof t_);                                                              \
    } while (0)

/* One row of C from a plain tile: acc (from_c), else acc + beta C (beta 0 overwrites). */
#define PLAIN_STORE(acc, c, n)                                                                     \
    do {                                                                                           \
        float t_[PANEL];                                                                           \
        memcpy(t_, (acc), sizeof t_);                                                              \
        for (int j_ = 0; j_ < (n); j_++)                                                           \
            (c)[j_] = from_c || beta == 0.0f ? t_[j_] : t_[j_] + beta * (c)[j_];                   \
    } while (0)

/* Rows of C's columns [0, n) against one panel for CPUs without AVX-512, two rows of 32
 * columns at a time in 8 vectors of 8 floats (native on AVX2): element (r, k) of A is
 * A[r * ar + k * ak].  from_c: the sums continue from C's values (C += A panel); else
 * C = A panel + beta C.  The last odd row has the same sums. */
CLONES static void rows_plain(int M, int K, const float *A, size_t ar, size_t ak,
                              const float *panel, bool from_c, float beta, float *C, int ldc,
                              int n) {
    int i = 0;
    for (; i + 2 <= M; i += 2) {
        float *c0 = C + (size_t)i * ldc, *c1 = c0 + ldc;
        v8 r0[4], r1[4];
        PLAIN_LOAD(r0, c0, n);
        PLAIN_LOAD(r1, c1, n);
        const float *a0 = A + (size_t)i * ar, *a1 = a0 + ar;
        for (int k = 0; k < K; k++) {
            float x0 = a0[(size_t)k * ak], x1 = a1[(size_t)k * ak];
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                v8 b; /* one vector load each (a copy of all four went through the stack) */
                memcpy(&b, panel + (size_t)k * PANEL + 8 * q, sizeof b);
                r0[q] += x0 * b;
                r1[q] += x1 * b;
            }
        }
        PLAIN_STORE(r0, c0, n);
        PLAIN_STORE(r1, c1, n);
    }
    if (i < M) {
        float *c0 = C + (size_t)i * ldc;
        v8 r0[4];
        PLAIN_LOAD(r0, c0, n);
        const float *a0 = A + (size_t)i * ar;
        for (int k = 0; k < K; k++) {
            float x0 = a0[(size_t)k * ak];
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                v8 b;
                memcpy(&b, panel + (size_t)k * PANEL + 8 * q, sizeof b);
                r0[q] += x0 * b;
            }
        }
        PLAIN_STORE(r0, c0, n);
    }
}

size_t dpt_packed_floats(int K, int N) {
    DPT_ASSERT(K >= 0 && N >= 0);
    return (size_t)K * (size_t)((N + PANEL - 1) / PANEL * PANEL);
}

void dpt_sgemm_pack(bool trans_b, int K, int N, const float *B, int ldb, float *Bp) {
    for (int j0 = 0; j0 < N; j0 += PANEL) {
        float *panel = Bp + (size_t)j0 * K; /* (K, PANEL) */
        int n = N - j0 < PANEL ? N - j0 : PANEL;
        for (int k = 0; k < K; k++) {
            float *row = panel + (size_t)k * PANEL; /* (PANEL) */
            for (int j = 0; j < n; j++)
                row[j] = trans_b ? B[(size_t)(j0 + j) * ldb + k] : B[(size_t)k * ldb + j0 + j];
            for (int j = n; j < PANEL; j++) row[j] = 0.0f;
        }
    }
}

/* Row r of C's tile (n <= 32 columns) = acc + beta * C (beta 0 overwrites, as BLAS). */
#define STORE_ROW(c, acc0, acc1, n)                                                                \
    do {                                                                                           \
        v16 o0_ = (acc0), o1_ = (acc1), c0_, c1_;                                                  \
        if ((n) == PANEL) {                                                                        \
            if (beta != 0.0f) {                                                                    \
                LOAD16(c0_, (c));                                                                  \
                LOAD16(c1_, (c) + 16);                                                             \
                o0_ += beta * c0_;                                                                 \
                o1_ += beta * c1_;                                                                 \
            }                                                                                      \
            memcpy((c), &o0_, sizeof o0_);                                                         \
            memcpy((c) + 16, &o1_, sizeof o1_);                                                    \
        } else {                                                                                   \
            float t_[PANEL];                                                                       \
            memcpy(t_, &o0_, sizeof o0_);                                                          \
            memcpy(t_ + 16, &o1_, sizeof o1_);                                                     \
            for (int j_ = 0; j_ < (n); j_++)                                                       \
                (c)[j_] = beta != 0.0f ? t_[j_] + beta * (c)[j_] : t_[j_];                         \
        }                                                                                          \
    } while (0)

/* C rows [0, 8) x panel columns [0, n) from A (8, K) and one packed panel (K, 32). */
AVX512 static void tile8(int K, const float *A, int lda, const float *panel, float beta, float *C,
                         int ldc, int n) {
    v16 acc[TILE][2];
#pragma GCC unroll 8
    for (int r = 0; r < TILE; r++) acc[r][0] = acc[r][1] = (v16){0};
    for (int k = 0; k < K; k++) {
        v16 b0, b1;
        LOAD16(b0, panel + (size_t)k * PANEL);
        LOAD16(b1, panel + (size_t)k * PANEL + 16);
#pragma GCC unroll 8
        for (int r = 0; r < TILE; r++) {
            float a = A[(size_t)r * lda + k];
            acc[r][0] += a * b0;
            acc[r][1] += a * b1;
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < TILE; r++) STORE_ROW(C + (size_t)r * ldc, acc[r][0], acc[r][1], n);
}

/* One row of C: the remainder rows, with the same sum per element as tile8. */
AVX512 static void tile1(int K, const float *A, const float *panel, float beta, float *C, int n) {
    v16 acc0 = {0}, acc1 = {0};
    for (int k = 0; k < K; k++) {
        v16 b0, b1;
        LOAD16(b0, panel + (size_t)k * PANEL);
        LOAD16(b1, panel + (size_t)k * PANEL + 16);
        acc0 += A[k] * b0;
        acc1 += A[k] * b1;
    }
    STORE_ROW(C, acc0, acc1, n);
}

void dpt_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *Bp, float beta,
                      float *C, int ldc) {
    DPT_ASSERT(M >= 0 && N >= 0 && K >= 0);
    int M8 = M / TILE * TILE;
    bool wide = use_avx512();
    for (int j0 = 0; j0 < N; j0 += PANEL) { /* a panel stays in cache while A streams */
        const float *panel = Bp + (size_t)j0 * K;
        int n = N - j0 < PANEL ? N - j0 : PANEL;
        if (!wide) {
            rows_plain(M, K, A, (size_t)lda, 1, panel, false, beta, C + j0, ldc, n);
            continue;
        }
        for (int i = 0; i < M8; i += TILE)
            tile8(K, A + (size_t)i * lda, lda, panel, beta, C + (size_t)i * ldc + j0, ldc, n);
        for (int i = M8; i < M; i++)
            tile1(K, A + (size_t)i * lda, panel, beta, C + (size_t)i * ldc + j0, n);
    }
}

/* ---- C += A^T B over many rows (weight gradients) ---- */

size_t dpt_sgemm_tn_work(int N, int kc) {
    return dpt_packed_floats(kc, N);
}

/* Loads row r of C's tile (n <= 32 columns) into two accumulators, zeros past n. */
#define LOAD_ROW(c, acc0, acc1, n)                                                                 \
    do {                                                                                           \
        if ((n) == PANEL) {                                                                        \
            LOAD16(acc0, (c));                                                                     \
            LOAD16(acc1, (c) + 16);                                                                \
        } else {                                                                                   \
            float t_[PANEL] = {0};                                                                 \
            memcpy(t_, (c), (size_t)(n) * sizeof(float));                                          \
            LOAD16(acc0, t_);                                                                      \
            LOAD16(acc1, t_ + 16);                                                                 \
        }                                                                                          \
    } while (0)

/* C rows [0, 8) x panel columns [0, n) += A^T panel, A (kc, 8) with row stride lda: the
 * accumulators start from C, so chunk after chunk each element is one running sum over k. */
AVX512 static void tn_tile8(int kc, const float *A, int lda, const float *panel, float *C, int ldc,
                            int n) {
    const float beta = 0.0f; /* STORE_ROW overwrites */
    v16 acc[TILE][2];
#pragma GCC unroll 8
    for (int r = 0; r < TILE; r++) LOAD_ROW(C + (size_t)r * ldc, acc[r][0], acc[r][1], n);
    for (int k = 0; k < kc; k++) {
        v16 b0, b1;
        LOAD16(b0, panel + (size_t)k * PANEL);
        LOAD16(b1, panel + (size_t)k * PANEL + 16);
        const float *a = A + (size_t)k * lda; /* (8) */
#pragma GCC unroll 8
        for (int r = 0; r < TILE; r++) {
            acc[r][0] += a[r] * b0;
            acc[r][1] += a[r] * b1;
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < TILE; r++) STORE_ROW(C + (size_t)r * ldc, acc[r][0], acc[r][1], n);
}

/* One row of C (one column of A): the remainder rows, with the same sums as tn_tile8. */
AVX512 static void tn_tile1(int kc, const float *A, int lda, const float *panel, float *C, int n) {
    const float beta = 0.0f;
    v16 acc0, acc1;
    LOAD_ROW(C, acc0, acc1, n);
    for (int k = 0; k < kc; k++) {
        v16 b0, b1;
        LOAD16(b0, panel + (size_t)k * PANEL);
        LOAD16(b1, panel + (size_t)k * PANEL + 16);
        float a = A[(size_t)k * lda];
        acc0 += a * b0;
        acc1 += a * b1;
    }
    STORE_ROW(C, acc0, acc1, n);
}

void dpt_sgemm_tn_acc(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float *C, int ldc, float *work, int kc) {
    DPT_ASSERT(M >= 0 && N >= 0 && K >= 0 && kc >= 1);
    int M8 = M / TILE * TILE;
    bool wide = use_avx512();
    for (int k0 = 0; k0 < K; k0 += kc) {
        int nk = K - k0 < kc ? K - k0 : kc;
        dpt_sgemm_pack(false, nk, N, B + (size_t)k0 * ldb, ldb, work);
        const float *Ak = A + (size_t)k0 * lda;
        for (int j0 = 0; j0 < N; j0 += PANEL) { /* the panel stays in L1 while A streams */
            const float *panel = work + (size_t)j0 * nk;
            int n = N - j0 < PANEL ? N - j0 : PANEL;
            if (!wide) {
                rows_plain(M, nk, Ak, 1, (size_t)lda, panel, true, 0.0f, C + j0, ldc, n);
                continue;
            }
            for (int i = 0; i < M8; i += TILE)
                tn_tile8(nk, Ak + i, lda, panel, C + (size_t)i * ldc + j0, ldc, n);
            for (int i = M8; i < M; i++)
                tn_tile1(nk, Ak + i, lda, panel, C + (size_t)i * ldc + j0, n);
        }
    }
}
