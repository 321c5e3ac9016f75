/* Loss values, numerical stability at extreme logits, output mappings and metrics, on small
 * examples computed by hand. */
#include <string.h>

#include "core/loss.h"
#include "core_check.h"

/* Losses are evaluated in double from float inputs: hand-computed values agree to ~1e-12
 * relative; 1e-9 leaves room for libm differences. */
#define LOSS_TOL 1e-9

static double eval(const char *name, const float *p, const float *tv, const int32_t *lab, int B,
                   int K, float *grad) {
    const dpt_loss *loss = dpt_loss_find(name);
    assert_non_null(loss);
    dpt_target t = {.values = tv, .labels = lab};
    return loss->eval(p, t, B, K, grad);
}

static void test_regression_losses_average_over_outputs_and_sum_over_samples(void **state) {
    (void)state;
    const float p[4] = {1, 2, 3, 3}, t[4] = {0, 4, 3, 1}; /* (2, 2) */
    float g[4];
    /* mse: sample 0 (1 + 4) / 2, sample 1 (0 + 4) / 2; gradient 2 (p - t) / K. */
    assert_near(eval("mse", p, t, NULL, 2, 2, g), 2.5 + 2.0, LOSS_TOL);
    assert_near(g[0], 1.0, 0.0);
    assert_near(g[1], -2.0, 0.0);
    /* mae: (1 + 2) / 2 + (0 + 2) / 2; gradient sign(p - t) / K, 0 at equality. */
    assert_near(eval("mae", p, t, NULL, 2, 2, g), 1.5 + 1.0, LOSS_TOL);
    assert_near(g[1], -0.5, 0.0);
    assert_near(g[2], 0.0, 0.0);
    /* smape: 200 |p - t| / (|p| + |t|), mean over K. */
    const float ps[2] = {110, 0}, ts[2] = {100, 0};
    assert_near(eval("smape", ps, ts, NULL, 1, 2, g), (200.0 * 10.0 / 210.0 + 0.0) / 2.0, 1e-6);
    assert_near(g[1], 0.0, 0.0); /* clamped denominator: gradient 0, not 1e9 */
}

static void test_softmax_ce_is_finite_and_exact_for_huge_logits(void **state) {
    (void)state;
    const float z[3] = {1000.0f, 1001.0f, -1000.0f}; /* (1, 3) */
    float g[3];
    /* log-sum-exp = 1001 + log(1 + e^-1) (the e^-2001 term is far below double precision). */
    double lse_minus_max = log1p(exp(-1.0));
    int32_t label = 1;
    double v = eval("softmax_ce", z, NULL, &label, 1, 3, g);
    assert_near(v, lse_minus_max, LOSS_TOL);
    double p0 = exp(1000.0 - 1001.0 - lse_minus_max);
    assert_near(g[0], p0, 1e-7);
    assert_near(g[1], 1.0 - p0 - 1.0, 1e-7);
    assert_near(g[2], 0.0, 1e-7);
    label = 0;
    assert_near(eval("softmax_ce", z, NULL, &label, 1, 3, NULL), 1.0 + lse_minus_max, LOSS_TOL);
    /* The same with a probability row; a zero target on the -1000 logit contributes nothing. */
    const float t[3] = {0.25f, 0.75f, 0.0f};
    double expect = 0.25 * (1.0 + lse_minus_max) + 0.75 * lse_minus_max;
    assert_near(eval("softmax_ce", z, t, NULL, 1, 3, g), expect, LOSS_TOL);
    assert_near(g[0], p0 - 0.25, 1e-7);
}

static void test_bce_is_finite_for_logits_of_magnitude_100(void **state) {
    (void)state;
    const float z[4] = {100.0f, 100.0f, -100.0f, -100.0f}, t[4] = {1, 0, 0, 1}; /* (4, 1) */
    float g[4];
    double v = eval("bce", z, t, NULL, 4, 1, g);
    /* Right answers cost log(1 + e^-100) ~ 3.7e-44, wrong ones 100 + 3.7e-44. */
    assert_near(v, 200.0, 1e-9);
    assert_near(g[0], 0.0, 1e-30);
    assert_near(g[1], 1.0, 0.0);
    assert_near(g[2], 0.0, 1e-30);
    assert_near(g[3], -1.0, 0.0);
    /* Moderate value by hand: z = 0, t = 0.3 costs log 2 per output. */
    const float z0[2] = {0, 0}, t0[2] = {0.3f, 0.3f};
    assert_near(eval("bce", z0, t0, NULL, 1, 2, g), log(2.0), LOSS_TOL);
    assert_near(g[0], (0.5 - 0.3f) / 2.0, 1e-7);
}

static void test_output_maps_logits_to_probabilities(void **state) {
    (void)state;
    float z[6] = {1000.0f, 1001.0f, -1000.0f, 0.0f, 0.0f, 0.0f}; /* (2, 3) */
    dpt_loss_find("softmax_ce")->output(z, 2, 3);
    double p0 = 1.0 / (1.0 + exp(1.0));
    assert_near(z[0], p0, 1e-7);
    assert_near(z[1], 1.0 - p0, 1e-7);
    assert_near(z[2], 0.0, 0.0);
    for (int k = 3; k < 6; k++) assert_near(z[k], 1.0 / 3.0, 1e-7);
    float s[3] = {-100.0f, 0.0f, 100.0f};
    dpt_loss_find("bce")->output(s, 3, 1);
    assert_near(s[0], 0.0, 1e-40);
    assert_near(s[1], 0.5, 0.0);
    assert_near(s[2], 1.0, 0.0);
    assert_null(dpt_loss_find("mse")->output);
    assert_null(dpt_loss_find("mae")->output);
    assert_null(dpt_loss_find("smape")->output);
}

static void test_loss_table_flags_and_names(void **state) {
    (void)state;
    const char *const *names = dpt_loss_names();
    int n = 0;
    for (; names[n]; n++) {
        const dpt_loss *l = dpt_loss_find(names[n]);
        assert_non_null(l);
        assert_int_equal(l->accepts_labels, strcmp(names[n], "softmax_ce") == 0);
        bool regression =
            !strcmp(names[n], "mse") || !strcmp(names[n], "mae") || !strcmp(names[n], "smape");
        assert_int_equal(l->regression, regression);
    }
    assert_int_equal(n, 5);
    assert_null(dpt_loss_find("cross_entropy"));
}

static double metric(const char *name, const float *p, const float *tv, const int32_t *lab, int B,
                     int K) {
    const dpt_metric *m = dpt_metric_find(name);
    assert_non_null(m);
    dpt_target t = {.values = tv, .labels = lab};
    return m->sum(p, t, B, K);
}

static void test_accuracy_counts_argmax_hits_and_thresholds_single_outputs(void **state) {
    (void)state;
    const float p[6] = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f}; /* (2, 3) */
    const int32_t right[2] = {1, 0}, wrong[2] = {2, 1};
    assert_near(metric("accuracy", p, NULL, right, 2, 3), 2.0, 0.0);
    assert_near(metric("accuracy", p, NULL, wrong, 2, 3), 0.0, 0.0);
    const float onehot[6] = {0, 1, 0, 0, 0, 1};
    assert_near(metric("accuracy", p, onehot, NULL, 2, 3), 1.0, 0.0);
    const float p1[4] = {0.9f, 0.2f, 0.6f, 0.4f}, t1[4] = {1, 0, 0, 1}; /* (4, 1) */
    assert_near(metric("accuracy", p1, t1, NULL, 4, 1), 2.0, 0.0);
}

static void test_bits_per_token_sums_minus_log2_of_the_labels_probability(void **state) {
    (void)state;
    const float p[6] = {0.25f, 0.5f, 0.25f, 0.125f, 0.125f, 0.75f}; /* (2, 3) */
    const int32_t lab[2] = {1, 0};
    /* -log2(0.5) - log2(0.125) = 1 + 3: powers of two are exact */
    assert_near(metric("bits_per_token", p, NULL, lab, 2, 3), 4.0, 0.0);
    const float zero[2] = {0.0f, 1.0f};
    const int32_t first[1] = {0};
    assert_near(metric("bits_per_token", zero, NULL, first, 1, 2), 126.0, 0.0); /* FLT_MIN */
    const float p1[2] = {0.25f, 0.5f}; /* (2, 1): P(class 1) */
    const int32_t l1[2] = {1, 0};
    assert_near(metric("bits_per_token", p1, NULL, l1, 2, 1), 3.0, 0.0);
}

static void test_mse_and_mae_metrics_are_per_sample_means_summed(void **state) {
    (void)state;
    const float p[4] = {1, 2, 3, 3}, t[4] = {0, 4, 3, 1}; /* (2, 2) */
    assert_near(metric("mse", p, t, NULL, 2, 2), 4.5, LOSS_TOL);
    assert_near(metric("mae", p, t, NULL, 2, 2), 2.5, LOSS_TOL);
    assert_null(dpt_metric_find("rmse"));
    int n = 0;
    for (const char *const *m = dpt_metric_names(); *m; m++) n++;
    assert_int_equal(n, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regression_losses_average_over_outputs_and_sum_over_samples),
        cmocka_unit_test(test_softmax_ce_is_finite_and_exact_for_huge_logits),
        cmocka_unit_test(test_bce_is_finite_for_logits_of_magnitude_100),
        cmocka_unit_test(test_output_maps_logits_to_probabilities),
        cmocka_unit_test(test_loss_table_flags_and_names),
        cmocka_unit_test(test_accuracy_counts_argmax_hits_and_thresholds_single_outputs),
        cmocka_unit_test(test_bits_per_token_sums_minus_log2_of_the_labels_probability),
        cmocka_unit_test(test_mse_and_mae_metrics_are_per_sample_means_summed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
