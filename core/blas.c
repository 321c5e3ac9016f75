/* BLIS set-up (kernel selection, thread count) and the row-major sgemm wrappers used by the
 * layers.  BLIS reads BLIS_ARCH_TYPE once, when it initialises, so the choice is made here before
 * any other BLIS call; the state below is process-wide because BLIS's own state is. */
#include "core/blas.h"

#include <blis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/cpu.h"
#include "core/gemm_small.h"
#include "core/util.h"

static atomic_bool blas_ready;
static const char *blas_reason = "BLIS default";
static int blas_nthreads = 1;

const char *dpt_blas_choose_arch(bool avx512, bool avx2_fma) {
    if (avx512) return "skx";
    if (avx2_fma) return "haswell";
    return NULL;
}

/* BLIS 0.9 parses BLIS_ARCH_TYPE with strtol, so a name such as "haswell" silently becomes 0
 * (skx, which crashes on CPUs without AVX-512).  Names are translated to their id here; returns
 * false when the value is neither a valid id nor a known name. */
static bool normalise_user_arch(const char *value) {
    char *end = NULL;
    long id = strtol(value, &end, 10);
    if (end != value && *end == '\0') return id >= 0 && id < (long)BLIS_NUM_ARCHS;
    for (int i = 0; i < (int)BLIS_NUM_ARCHS; i++) {
        if (strcasecmp(value, bli_arch_string((arch_t)i)) == 0) {
            char buf[16];
            snprintf(buf, sizeof buf, "%d", i);
            setenv("BLIS_ARCH_TYPE", buf, 1);
            return true;
        }
    }
    return false;
}

static void choose_arch(void) {
    const char *user = getenv("BLIS_ARCH_TYPE");
    if (user && *user) {
        if (normalise_user_arch(user)) {
            blas_reason = "BLIS_ARCH_TYPE from environment";
            return;
        }
        fprintf(stderr,
                "dptrain: warning: ignoring BLIS_ARCH_TYPE='%s' (expected a BLIS "
                "configuration name such as skx, haswell, zen3, generic, or its number)\n",
                user);
        unsetenv("BLIS_ARCH_TYPE");
    }
    const char *name = dpt_blas_choose_arch(dpt_cpu_avx512(), dpt_cpu_avx2_fma());
    if (!name) {
        blas_reason = "BLIS default";
        return;
    }
    char buf[16];
    snprintf(buf, sizeof buf, "%d", strcmp(name, "skx") == 0 ? BLIS_ARCH_SKX : BLIS_ARCH_HASWELL);
    setenv("BLIS_ARCH_TYPE", buf, 1);
    blas_reason = "auto-selected";
}

static void set_threads(int nthreads) {
    if (nthreads < 1) {
        long nt = (long)bli_thread_get_num_threads(); /* -1 when nothing was set */
        blas_nthreads = nt < 1 ? 1 : (int)nt;
        return;
    }
    char buf[16];
    snprintf(buf, sizeof buf, "%d", nthreads);
    setenv("BLIS_NUM_THREADS", buf, 1);
    bli_thread_set_num_threads(nthreads);
    blas_nthreads = nthreads;
}

void dpt_blas_setup(int nthreads) {
#pragma omp critical(dpt_blas_setup)
    {
        if (!atomic_load(&blas_ready)) {
            choose_arch();
            /* bli_init must come before bli_arch_query_id: with BLIS_ARCH_TYPE set, BLIS 0.9
             * aborts with "Accessed uninitialized context in gks" otherwise. */
            bli_init();
        }
        set_threads(nthreads);
        atomic_store(&blas_ready, true);
    }
}

static void ensure_setup(void) {
    if (!atomic_load(&blas_ready)) dpt_blas_setup(1);
}

const char *dpt_blas_arch(void) {
    ensure_setup();
    return bli_arch_string(bli_arch_query_id());
}

const char *dpt_blas_arch_reason(void) {
    ensure_setup();
    return blas_reason;
}

int dpt_blas_threads(void) {
    ensure_setup();
    return blas_nthreads;
}

/* C = beta * C for the degenerate K == 0 product; beta == 0 overwrites (even NaN), as BLAS. */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc; /* (N) */
        for (int j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
}

static void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc, rntm_t *rntm,
                 bool small_ok) {
    DPT_ASSERT(M >= 0 && N >= 0 && K >= 0);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    if (small_ok && (int64_t)M * N * K <= DPT_GEMM_SMALL_MAX &&
        dpt_sgemm_small(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    ensure_setup();
    /* Row-major storage is BLIS's general stride with rs = ld, cs = 1; BLIS never writes A, B. */
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, M, N, K, &alpha, (float *)A, lda, 1,
                 (float *)B, ldb, 1, &beta, C, ldc, 1, NULL, rntm);
}

void dpt_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, true);
}

void dpt_sgemm_blis(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, false);
}

void dpt_sgemm_1t(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    /* A per-call runtime object keeps BLIS from starting its own threads inside ours. */
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &rntm);
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &rntm, true);
}

void dpt_sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = (double)(trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
                double b = (double)(trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                s += a * b;
            }
            float *c = C + (size_t)i * ldc + j;
            *c = (float)((double)alpha * s + (beta == 0.0f ? 0.0 : (double)beta * (double)*c));
        }
    }
}
