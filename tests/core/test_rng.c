/* Random streams, counter-based hashes, permutations and the initialisers built on them:
 * reproducible for the same keys, different for other keys, and with the right distribution
 * (tolerances are 5 standard errors, so a correct generator fails about once in 10^6 runs). */
#include <stdlib.h>
#include <string.h>

#include "core/init.h"
#include "core/rng.h"
#include "core/util.h"
#include "core_check.h"

enum { NDRAW = 100000 };

static void test_permutation_contains_every_index_once(void **state) {
    (void)state;
    enum { N = 1000 };
    int64_t perm[N];
    char seen[N] = {0};
    dpt_permutation(perm, N, 42, 3);
    for (int i = 0; i < N; i++) {
        assert_true(perm[i] >= 0 && perm[i] < N);
        assert_int_equal(seen[perm[i]], 0);
        seen[perm[i]] = 1;
    }
    int64_t one[1] = {-1};
    dpt_permutation(one, 1, 42, 3);
    assert_int_equal(one[0], 0);
    dpt_permutation(NULL, 0, 42, 3); /* empty is fine */
}

static int count_differences(const int64_t *a, const int64_t *b, int n) {
    int d = 0;
    for (int i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

static void test_permutation_depends_only_on_seed_and_epoch(void **state) {
    (void)state;
    enum { N = 500 };
    int64_t a[N], b[N], c[N], d[N];
    dpt_permutation(a, N, 7, 1);
    dpt_permutation(b, N, 7, 1);
    dpt_permutation(c, N, 7, 2);
    dpt_permutation(d, N, 8, 1);
    assert_memory_equal(a, b, sizeof a);
    /* Two independent shuffles agree in about one position on average. */
    assert_true(count_differences(a, c, N) > N - 10);
    assert_true(count_differences(a, d, N) > N - 10);
}

static void test_hash_uniform_is_in_unit_interval_with_mean_one_half(void **state) {
    (void)state;
    double sum = 0.0, sumsq = 0.0, lag = 0.0;
    float prev = 0.5f;
    for (int i = 0; i < NDRAW; i++) {
        float u = dpt_hash_uniform(1, 2, 3, (uint64_t)i);
        assert_true(u >= 0.0f && u < 1.0f);
        sum += u;
        sumsq += (double)u * u;
        lag += ((double)u - 0.5) * ((double)prev - 0.5);
        prev = u;
    }
    /* U(0,1): mean 1/2, variance 1/12; standard error of the mean sqrt(1/12/1e5) = 9.1e-4. */
    assert_near(sum / NDRAW, 0.5, 5 * 9.1e-4);
    /* Variance of u^2 is 4/45, so the mean of u^2 (1/3) has standard error 9.4e-4. */
    assert_near(sumsq / NDRAW, 1.0 / 3.0, 5 * 9.4e-4);
    /* Consecutive counters are uncorrelated: lag-1 covariance ~ 0 with SE (1/12)/sqrt(1e5). */
    assert_near(lag / NDRAW, 0.0, 5 * (1.0 / 12.0) / 316.2);
}

static void test_hash_depends_on_every_key(void **state) {
    (void)state;
    uint64_t h = dpt_hash4(1, 2, 3, 4);
    assert_true(h == dpt_hash4(1, 2, 3, 4));
    assert_true(h != dpt_hash4(0, 2, 3, 4));
    assert_true(h != dpt_hash4(1, 0, 3, 4));
    assert_true(h != dpt_hash4(1, 2, 0, 4));
    assert_true(h != dpt_hash4(1, 2, 3, 0));
    assert_true(dpt_hash4(1, 2, 3, 4) != dpt_hash4(2, 1, 3, 4)); /* order matters */
}

static void test_rng_streams_are_reproducible_and_distinct(void **state) {
    (void)state;
    dpt_rng a, b, c, d;
    dpt_rng_seed(&a, 9, 0);
    dpt_rng_seed(&b, 9, 0);
    dpt_rng_seed(&c, 9, 1);
    dpt_rng_seed(&d, 10, 0);
    int same_ab = 0, same_ac = 0, same_ad = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = dpt_rng_u64(&a);
        same_ab += x == dpt_rng_u64(&b);
        same_ac += x == dpt_rng_u64(&c);
        same_ad += x == dpt_rng_u64(&d);
    }
    assert_int_equal(same_ab, 100);
    assert_int_equal(same_ac, 0);
    assert_int_equal(same_ad, 0);
}

static void test_rng_uniform_normal_and_below_have_the_right_distribution(void **state) {
    (void)state;
    dpt_rng rng;
    dpt_rng_seed(&rng, 2024, 5);
    double su = 0.0, sn = 0.0, sn2 = 0.0;
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < NDRAW; i++) {
        float u = dpt_rng_uniform(&rng);
        assert_true(u >= 0.0f && u < 1.0f);
        su += u;
        double z = dpt_rng_normal(&rng);
        assert_true(isfinite(z));
        sn += z;
        sn2 += z * z;
        counts[dpt_rng_below(&rng, 3)]++;
    }
    assert_near(su / NDRAW, 0.5, 5 * 9.1e-4);
    /* N(0,1): SE of the mean 1/sqrt(1e5) = 3.2e-3; of the second moment sqrt(2/1e5) = 4.5e-3. */
    assert_near(sn / NDRAW, 0.0, 5 * 3.2e-3);
    assert_near(sn2 / NDRAW, 1.0, 5 * 4.5e-3);
    /* Binomial(1e5, 1/3): standard deviation sqrt(1e5 * 2/9) = 149. */
    for (int k = 0; k < 3; k++) assert_near(counts[k], NDRAW / 3.0, 5 * 149.0);
}

/* ---- initialisers ---- */

static float *draw(const char *name, size_t n, int fan_in, int fan_out, float scale,
                   uint64_t seed) {
    const dpt_initializer *init = dpt_init_find(name);
    assert_non_null(init);
    float *w = dpt_alloc_floats(n);
    dpt_rng rng;
    dpt_rng_seed(&rng, seed, 0);
    init->fill(w, n, fan_in, fan_out, scale, &rng);
    return w;
}

/* All |w| <= limit, and the largest comes within 1% of it (so the range is not narrower). */
static void check_uniform_limit(const char *name, int fan_in, int fan_out, double limit) {
    enum { N = 20000 };
    float *w = draw(name, N, fan_in, fan_out, 0.0f, 1);
    double biggest = 0.0;
    for (int i = 0; i < N; i++) {
        assert_true(fabs(w[i]) <= limit);
        if (fabs(w[i]) > biggest) biggest = fabs(w[i]);
    }
    assert_true(biggest > 0.99 * limit);
    free(w);
}

static void test_glorot_and_he_uniform_respect_their_limits(void **state) {
    (void)state;
    check_uniform_limit("glorot_uniform", 30, 20, sqrt(6.0 / 50.0));
    check_uniform_limit("xavier_uniform", 30, 20, sqrt(6.0 / 50.0));
    check_uniform_limit("he_uniform", 30, 20, sqrt(6.0 / 30.0));
}

static double sample_std(const float *w, size_t n) {
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += w[i];
        s2 += (double)w[i] * w[i];
    }
    double mean = s / (double)n;
    return sqrt(s2 / (double)n - mean * mean);
}

static void test_normal_initialisers_have_the_documented_std_within_5_percent(void **state) {
    (void)state;
    /* With 1e5 draws the std's standard error is ~0.22%; 5% is a wide margin that still
     * catches a wrong formula (e.g. fan_in + fan_out instead of fan_in gives 30% off). */
    float *w = draw("he_normal", NDRAW, 50, 30, 0.0f, 2);
    assert_close(sample_std(w, NDRAW), sqrt(2.0 / 50.0), 0.05, 0.0);
    free(w);
    w = draw("glorot_normal", NDRAW, 50, 30, 0.0f, 3);
    assert_close(sample_std(w, NDRAW), sqrt(2.0 / 80.0), 0.05, 0.0);
    free(w);
    w = draw("normal", NDRAW, 50, 30, 0.3f, 4);
    assert_close(sample_std(w, NDRAW), 0.3, 0.05, 0.0);
    free(w);
}

static void test_simple_initialisers_fill_constants_and_scaled_uniforms(void **state) {
    (void)state;
    float *z = draw("zeros", 10, 3, 3, 0.0f, 1), *o = draw("ones", 10, 3, 3, 0.0f, 1);
    float *u = draw("uniform", 1000, 3, 3, 0.25f, 1);
    for (int i = 0; i < 10; i++) {
        assert_near(z[i], 0.0, 0.0);
        assert_near(o[i], 1.0, 0.0);
    }
    for (int i = 0; i < 1000; i++) assert_true(fabsf(u[i]) <= 0.25f);
    free(z);
    free(o);
    free(u);
}

static void test_initialisers_are_reproducible_from_the_seed(void **state) {
    (void)state;
    float *a = draw("glorot_uniform", 100, 10, 10, 0.0f, 77);
    float *b = draw("glorot_uniform", 100, 10, 10, 0.0f, 77);
    float *c = draw("glorot_uniform", 100, 10, 10, 0.0f, 78);
    assert_memory_equal(a, b, 100 * sizeof *a);
    assert_memory_not_equal(a, c, 100 * sizeof *a);
    free(a);
    free(b);
    free(c);
}

static void test_initialiser_lookup_knows_every_listed_name_only(void **state) {
    (void)state;
    const char *const *names = dpt_init_names();
    int n = 0;
    for (; names[n]; n++) assert_non_null(dpt_init_find(names[n]));
    assert_int_equal(n, 10);
    assert_null(dpt_init_find("glorot"));
    assert_null(dpt_init_find(""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permutation_contains_every_index_once),
        cmocka_unit_test(test_permutation_depends_only_on_seed_and_epoch),
        cmocka_unit_test(test_hash_uniform_is_in_unit_interval_with_mean_one_half),
        cmocka_unit_test(test_hash_depends_on_every_key),
        cmocka_unit_test(test_rng_streams_are_reproducible_and_distinct),
        cmocka_unit_test(test_rng_uniform_normal_and_below_have_the_right_distribution),
        cmocka_unit_test(test_glorot_and_he_uniform_respect_their_limits),
        cmocka_unit_test(test_normal_initialisers_have_the_documented_std_within_5_percent),
        cmocka_unit_test(test_simple_initialisers_fill_constants_and_scaled_uniforms),
        cmocka_unit_test(test_initialisers_are_reproducible_from_the_seed),
        cmocka_unit_test(test_initialiser_lookup_knows_every_listed_name_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
