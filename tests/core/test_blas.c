/* The BLIS wrappers against the plain reference: all transpose combinations, odd shapes and
 * strides, beta 0/1, empty dimensions; the single-threaded variant inside an OpenMP region;
 * the small and packed kernels; and the kernel-selection rule. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/cpu.h"
#include "core/gemm_packed.h"
#include "core/gemm_small.h"
#include "core/util.h"
#include "core_check.h"

/* Entries are in [-1, 1] and K <= 128, so |C| <= 129; float32 sums of K products carry an error
 * of at most ~K * 6e-8 * 129 ~ 1e-3 in the worst case (the kernels and the double reference sum
 * in different orders), but the rounding errors have random signs: about sqrt(K) * 6e-8 * |C|,
 * and |C| itself is about sqrt(K / 9) ~ 4 for these entries: ~3e-6 in practice.  A wrong
 * transpose, stride or tile edge gives errors of O(1). */
#define GEMM_TOL 1e-4

typedef struct gemm_case {
    bool ta, tb;
    int M, N, K;
    float beta;
} gemm_case;

/* Runs one case through fn and through the reference and compares all of C, including the
 * padding columns of the row stride (which must stay untouched). */
static void check_gemm(const gemm_case *g,
                       void (*fn)(bool, bool, int, int, int, float, const float *, int,
                                  const float *, int, float, float *, int)) {
    int lda = (g->ta ? g->M : g->K) + 3, ldb = (g->tb ? g->K : g->N) + 2, ldc = g->N + 5;
    size_t na = (size_t)(g->ta ? g->K : g->M) * lda, nb = (size_t)(g->tb ? g->N : g->K) * ldb;
    size_t nc = (size_t)g->M * ldc;
    float *A = dpt_alloc_floats(na), *B = dpt_alloc_floats(nb); /* op(A) (M, K), op(B) (K, N) */
    float *C = dpt_alloc_floats(nc), *R = dpt_alloc_floats(nc); /* (M, N) with stride ldc */
    fill_uniform(A, na, -1.0f, 1.0f, 1);
    fill_uniform(B, nb, -1.0f, 1.0f, 2);
    fill_uniform(C, nc, -1.0f, 1.0f, 3);
    memcpy(R, C, nc * sizeof *C);
    fn(g->ta, g->tb, g->M, g->N, g->K, 0.75f, A, lda, B, ldb, g->beta, C, ldc);
    dpt_sgemm_ref(g->ta, g->tb, g->M, g->N, g->K, 0.75f, A, lda, B, ldb, g->beta, R, ldc);
    for (size_t i = 0; i < nc; i++) assert_near(C[i], R[i], GEMM_TOL);
    free(A);
    free(B);
    free(C);
    free(R);
}

static void for_all_cases(void (*fn)(bool, bool, int, int, int, float, const float *, int,
                                     const float *, int, float, float *, int)) {
    /* small products (core/gemm_small.c: full 4 x 16 tiles, row and column remainders, K past
     * a multiple of 16) and two above DPT_GEMM_SMALL_MAX (BLIS) */
    const int shapes[][3] = {{1, 1, 1},   {7, 5, 3},   {13, 1, 37}, {1, 17, 9},   {33, 29, 31},
                             {16, 32, 5}, {9, 35, 40}, {8, 48, 16}, {65, 64, 66}, {70, 62, 61}};
    const float betas[] = {0.0f, 1.0f};
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int b = 0; b < 2; b++) {
                gemm_case g = {t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], betas[b]};
                check_gemm(&g, fn);
            }
}

static void test_sgemm_matches_reference_for_all_transposes_and_odd_shapes(void **state) {
    (void)state;
    for_all_cases(dpt_sgemm);
}

/* The small kernels called directly (dpt_sgemm sends only small products to them); both
 * transposed is BLIS's alone. */
static void small_or_blis(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                          int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    bool done = dpt_sgemm_small(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    assert_true(done == (!(ta && tb) && (tb ? K : N) >= 16));
    if (!done) dpt_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void test_small_kernels_match_reference_at_any_size(void **state) {
    (void)state;
    for_all_cases(small_or_blis);
}

/* An element's value does not depend on how many rows the product has (ranks split rows). */
static void test_small_kernels_give_each_row_the_same_bits_whatever_m(void **state) {
    (void)state;
    if (!dpt_cpu_avx512()) skip(); /* the small kernels decline: BLIS does these */
    enum { M = 11, N = 37, K = 45 };
    float *A = dpt_alloc_floats(M * K), *B = dpt_alloc_floats(N * K);
    float *C = dpt_alloc_floats(M * N), *R = dpt_alloc_floats(N);
    fill_uniform(A, M * K, -1.0f, 1.0f, 4);
    fill_uniform(B, N * K, -1.0f, 1.0f, 5);
    for (int tb = 0; tb < 2; tb++) {
        dpt_sgemm_small(false, tb, M, N, K, 1.0f, A, K, B, tb ? K : N, 0.0f, C, N);
        for (int i = 0; i < M; i++) {
            dpt_sgemm_small(false, tb, 1, N, K, 1.0f, A + i * K, K, B, tb ? K : N, 0.0f, R, N);
            assert_memory_equal(R, C + i * N, N * sizeof(float));
        }
    }
    free(A);
    free(B);
    free(C);
    free(R);
}

/* C = A op(B) + beta C through a packed op(B), against the reference, padding columns included:
 * whole 8 x 32 tiles, row and column remainders, a single row and column, K of 1 and 128. */
static void check_packed(bool tb, int M, int N, int K, float beta) {
    int lda = K + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    size_t na = (size_t)M * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = dpt_alloc_floats(na), *B = dpt_alloc_floats(nb);
    float *Bp = dpt_alloc_floats(dpt_packed_floats(K, N));
    float *C = dpt_alloc_floats(nc), *R = dpt_alloc_floats(nc);
    fill_uniform(A, na, -1.0f, 1.0f, 1);
    fill_uniform(B, nb, -1.0f, 1.0f, 2);
    fill_uniform(C, nc, -1.0f, 1.0f, 3);
    memcpy(R, C, nc * sizeof *C);
    dpt_sgemm_pack(tb, K, N, B, ldb, Bp);
    dpt_sgemm_packed(M, N, K, A, lda, Bp, beta, C, ldc);
    dpt_sgemm_ref(false, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, R, ldc);
    for (size_t i = 0; i < nc; i++) assert_near(C[i], R[i], GEMM_TOL);
    free(A);
    free(B);
    free(Bp);
    free(C);
    free(R);
}

/* Every packed-kernel test runs on both paths: the AVX-512 tiles (where the CPU has them) and
 * the one-row loop of other CPUs. */
static void both_paths(void (*test)(void **), void **state) {
    dpt_packed_allow_avx512(false);
    test(state);
    dpt_packed_allow_avx512(true);
    test(state);
}

static void test_packed_kernel_matches_reference_at_any_size(void **state) {
    (void)state;
    const int shapes[][3] = {{1, 1, 1},    {7, 5, 3},    {8, 32, 16},  {9, 33, 1},
                             {17, 70, 66}, {24, 64, 40}, {3, 31, 128}, {16, 128, 64}};
    const float betas[] = {0.0f, 1.0f, 0.5f};
    for (int tb = 0; tb < 2; tb++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int b = 0; b < 3; b++)
                check_packed(tb, shapes[s][0], shapes[s][1], shapes[s][2], betas[b]);
}

/* The recurrent layers split rows among threads: a row's bits must not depend on the block it
 * is computed in (8-row tile or remainder row) or on how many rows the call has.  beta 0
 * overwrites C, NaN included. */
static void test_packed_kernel_gives_each_row_the_same_bits_whatever_m(void **state) {
    (void)state;
    enum { M = 19, N = 45, K = 37 };
    float *A = dpt_alloc_floats(M * K), *B = dpt_alloc_floats(K * N);
    float *Bp = dpt_alloc_floats(dpt_packed_floats(K, N));
    float *C = dpt_alloc_floats(M * N), *R = dpt_alloc_floats(N);
    fill_uniform(A, M * K, -1.0f, 1.0f, 4);
    fill_uniform(B, K * N, -1.0f, 1.0f, 5);
    for (int i = 0; i < M * N; i++) C[i] = NAN;
    dpt_sgemm_pack(false, K, N, B, N, Bp);
    dpt_sgemm_packed(M, N, K, A, K, Bp, 0.0f, C, N);
    for (int i = 0; i < M; i++) {
        dpt_sgemm_packed(1, N, K, A + i * K, K, Bp, 0.0f, R, N);
        assert_memory_equal(R, C + i * N, N * sizeof(float));
    }
    for (int i0 = 1; i0 + 8 <= M; i0 += 5) { /* an 8-row tile starting at another row */
        float T[8 * N];
        dpt_sgemm_packed(8, N, K, A + i0 * K, K, Bp, 0.0f, T, N);
        assert_memory_equal(T, C + i0 * N, sizeof T);
    }
    free(A);
    free(B);
    free(Bp);
    free(C);
    free(R);
}

/* C += A^T B through chunks of kc rows, against the reference (beta 1), padding included. */
static void check_tn_acc(int M, int N, int K, int kc, float *out) {
    int lda = M + 3, ldb = N + 2, ldc = N + 5;
    size_t na = (size_t)K * lda, nb = (size_t)K * ldb, nc = (size_t)M * ldc;
    float *A = dpt_alloc_floats(na), *B = dpt_alloc_floats(nb);
    float *work = dpt_alloc_floats(dpt_sgemm_tn_work(N, kc));
    float *C = dpt_alloc_floats(nc), *R = dpt_alloc_floats(nc);
    fill_uniform(A, na, -1.0f, 1.0f, 6);
    fill_uniform(B, nb, -1.0f, 1.0f, 7);
    fill_uniform(C, nc, -1.0f, 1.0f, 8);
    memcpy(R, C, nc * sizeof *C);
    dpt_sgemm_tn_acc(M, N, K, A, lda, B, ldb, C, ldc, work, kc);
    dpt_sgemm_ref(true, false, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, R, ldc);
    for (size_t i = 0; i < nc; i++) assert_near(C[i], R[i], GEMM_TOL);
    if (out) memcpy(out, C, nc * sizeof *C);
    free(A);
    free(B);
    free(work);
    free(C);
    free(R);
}

static void test_tn_accumulation_matches_reference_at_any_size_and_chunk(void **state) {
    (void)state;
    const int shapes[][3] = {{1, 1, 1},    {7, 5, 3},     {8, 32, 16},  {9, 33, 100},
                             {17, 70, 66}, {24, 28, 128}, {3, 31, 127}, {40, 64, 45}};
    const int kcs[] = {1, 7, 64};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int k = 0; k < 3; k++)
            check_tn_acc(shapes[s][0], shapes[s][1], shapes[s][2], kcs[k], NULL);
}

/* The layers split C's rows among threads and size kc by their workspace: neither may change a
 * bit of the result. */
static void test_tn_accumulation_gives_the_same_bits_whatever_chunk_or_rows(void **state) {
    (void)state;
    enum { M = 19, N = 45, K = 37 };
    const int ldc = N + 5;
    float *ref = dpt_alloc_floats(M * ldc), *got = dpt_alloc_floats(M * ldc);
    check_tn_acc(M, N, K, K, ref);
    for (int kc = 1; kc < K; kc += 5) {
        check_tn_acc(M, N, K, kc, got);
        assert_memory_equal(ref, got, M * ldc * sizeof *ref);
    }
    /* rows [i0, M) alone, as a thread would: A's columns and C's rows from i0 */
    int lda = M + 3, ldb = N + 2;
    float *A = dpt_alloc_floats(K * lda), *B = dpt_alloc_floats(K * ldb);
    float *work = dpt_alloc_floats(dpt_sgemm_tn_work(N, 16));
    fill_uniform(A, K * lda, -1.0f, 1.0f, 6);
    fill_uniform(B, K * ldb, -1.0f, 1.0f, 7);
    for (int i0 = 1; i0 < M; i0 += 6) {
        fill_uniform(got, M * ldc, -1.0f, 1.0f, 8);
        dpt_sgemm_tn_acc(M - i0, N, K, A + i0, lda, B, ldb, got + i0 * ldc, ldc, work, 16);
        assert_memory_equal(ref + i0 * ldc, got + i0 * ldc, (M - i0) * ldc * sizeof *ref);
    }
    free(A);
    free(B);
    free(work);
    free(ref);
    free(got);
}

static void test_sgemm_1t_matches_reference(void **state) {
    (void)state;
    for_all_cases(dpt_sgemm_1t);
}

static void test_sgemm_with_k_zero_scales_c_by_beta(void **state) {
    (void)state;
    float C[6] = {1, 2, 3, 4, 5, NAN}; /* (2, 3) */
    dpt_sgemm(false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.5f, C, 3);
    assert_near(C[0], 0.5, 0.0);
    assert_near(C[4], 2.5, 0.0);
    /* beta == 0 overwrites, even a NaN, as BLAS does. */
    dpt_sgemm(false, false, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.0f, C, 3);
    for (int i = 0; i < 6; i++) assert_near(C[i], 0.0, 0.0);
}

static void test_sgemm_with_m_or_n_zero_touches_nothing(void **state) {
    (void)state;
    float C[2] = {7, 8};
    dpt_sgemm(true, true, 0, 2, 4, 1.0f, NULL, 1, NULL, 4, 0.0f, C, 2);
    dpt_sgemm(false, false, 1, 0, 4, 1.0f, NULL, 4, NULL, 1, 0.0f, C, 2);
    assert_near(C[0], 7.0, 0.0);
    assert_near(C[1], 8.0, 0.0);
}

static void test_sgemm_1t_inside_an_openmp_region_equals_the_threaded_call(void **state) {
    (void)state;
    enum { M = 24, N = 19, K = 31, NT = 4 };
    float *A = dpt_alloc_floats(NT * M * K), *B = dpt_alloc_floats(K * N); /* NT x (M, K), (K, N) */
    float *C = dpt_alloc_floats(NT * M * N), *R = dpt_alloc_floats(NT * M * N); /* NT x (M, N) */
    fill_uniform(A, NT * M * K, -1.0f, 1.0f, 4);
    fill_uniform(B, K * N, -1.0f, 1.0f, 5);
    for (int t = 0; t < NT; t++)
        dpt_sgemm(false, false, M, N, K, 1.0f, A + t * M * K, K, B, N, 0.0f, R + t * M * N, N);
        /* Two threads even when OMP_NUM_THREADS=1, so the calls really run concurrently. */
#pragma omp parallel for num_threads(2) schedule(static)
    for (int t = 0; t < NT; t++)
        dpt_sgemm_1t(false, false, M, N, K, 1.0f, A + t * M * K, K, B, N, 0.0f, C + t * M * N, N);
    /* Same kernels, same blocking, one thread each: the results are bit-identical. */
    for (int i = 0; i < NT * M * N; i++) assert_near(C[i], R[i], 0.0);
    free(A);
    free(B);
    free(C);
    free(R);
}

static void test_kernel_choice_prefers_skx_then_haswell_else_leaves_blis_alone(void **state) {
    (void)state;
    assert_string_equal(dpt_blas_choose_arch(true, true), "skx");
    assert_string_equal(dpt_blas_choose_arch(true, false), "skx");
    assert_string_equal(dpt_blas_choose_arch(false, true), "haswell");
    assert_null(dpt_blas_choose_arch(false, false));
}

/* Whether the environment chose the kernels (read before setup, which may set the variable). */
static bool user_arch;

static void test_setup_is_idempotent_and_reports_kernels_and_threads(void **state) {
    (void)state;
    dpt_blas_setup(1);
    const char *arch = dpt_blas_arch();
    assert_non_null(arch);
    assert_true(strlen(arch) > 0);
    assert_int_equal(dpt_blas_threads(), 1);
    /* A second call changes the thread count only. */
    dpt_blas_setup(2);
    assert_int_equal(dpt_blas_threads(), 2);
    assert_string_equal(dpt_blas_arch(), arch);
    dpt_blas_setup(1);
    assert_int_equal(dpt_blas_threads(), 1);
    /* Under ctest BLIS_ARCH_TYPE is unset, so the choice is ours (or BLIS's on an old CPU). */
    if (!user_arch) {
        const char *reason = dpt_blas_arch_reason();
        assert_true(strcmp(reason, "auto-selected") == 0 || strcmp(reason, "BLIS default") == 0);
        if (strcmp(reason, "auto-selected") == 0) {
            __builtin_cpu_init();
            bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
            assert_string_equal(arch, avx512 ? "skx" : "haswell");
        }
    }
}

static int note_user_arch(void **state) {
    (void)state;
    user_arch = getenv("BLIS_ARCH_TYPE") != NULL;
    return 0;
}

static void test_packed_kernel_matches_reference_at_any_size_both_paths(void **state) {
    both_paths(test_packed_kernel_matches_reference_at_any_size, state);
}

static void test_packed_kernel_gives_each_row_the_same_bits_whatever_m_both_paths(void **state) {
    both_paths(test_packed_kernel_gives_each_row_the_same_bits_whatever_m, state);
}

static void test_tn_accumulation_matches_reference_at_any_size_and_chunk_both_paths(void **state) {
    both_paths(test_tn_accumulation_matches_reference_at_any_size_and_chunk, state);
}

static void
test_tn_accumulation_gives_the_same_bits_whatever_chunk_or_rows_both_paths(void **state) {
    both_paths(test_tn_accumulation_gives_the_same_bits_whatever_chunk_or_rows, state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_choice_prefers_skx_then_haswell_else_leaves_blis_alone),
        cmocka_unit_test(test_setup_is_idempotent_and_reports_kernels_and_threads),
        cmocka_unit_test(test_sgemm_matches_reference_for_all_transposes_and_odd_shapes),
        cmocka_unit_test(test_sgemm_1t_matches_reference),
        cmocka_unit_test(test_packed_kernel_matches_reference_at_any_size_both_paths),
        cmocka_unit_test(test_packed_kernel_gives_each_row_the_same_bits_whatever_m_both_paths),
        cmocka_unit_test(test_tn_accumulation_matches_reference_at_any_size_and_chunk_both_paths),
        cmocka_unit_test(
            test_tn_accumulation_gives_the_same_bits_whatever_chunk_or_rows_both_paths),
        cmocka_unit_test(test_small_kernels_match_reference_at_any_size),
        cmocka_unit_test(test_small_kernels_give_each_row_the_same_bits_whatever_m),
        cmocka_unit_test(test_sgemm_with_k_zero_scales_c_by_beta),
        cmocka_unit_test(test_sgemm_with_m_or_n_zero_touches_nothing),
        cmocka_unit_test(test_sgemm_1t_inside_an_openmp_region_equals_the_threaded_call),
    };
    return cmocka_run_group_tests(tests, note_user_arch, NULL);
}
