/* Losses and metrics over per-step outputs: padding is skipped (its gradient rows are zero) and
 * a sample's loss is the sum over its valid steps, C = sum_t C_t. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/loss.h"

enum { B = 3, T = 4, K = 3 };

/* Deterministic logits and labels: (B, T, K) and (B, T). */
static void fill(float *z, int32_t *labels) {
    for (int i = 0; i < B * T * K; i++) z[i] = (float)((i * 37) % 11) * 0.25f - 1.2f;
    for (int i = 0; i < B * T; i++) labels[i] = (i * 5) % K;
}

static void padded_steps_are_skipped_and_their_gradient_is_zero(void **state) {
    (void)state;
    const dpt_loss *ce = dpt_loss_find("softmax_ce");
    float z[B * T * K], g[B * T * K];
    int32_t labels[B * T];
    fill(z, labels);
    const int32_t lengths[B] = {4, 1, 2};
    memset(g, 0x7f, sizeof g); /* garbage: every row must be written */
    double sum = dpt_loss_eval_steps(ce, z, (dpt_target){.labels = labels}, B, T, K, lengths, g);
    /* Reference: each sample's valid steps alone, through the per-row loss. */
    double ref = 0.0;
    float gr[T * K];
    for (int b = 0; b < B; b++) {
        dpt_target t = {.labels = labels + b * T};
        ref += ce->eval(z + b * T * K, t, lengths[b], K, gr);
        for (int i = 0; i < lengths[b] * K; i++) assert_true(g[b * T * K + i] == gr[i]);
        for (int i = lengths[b] * K; i < T * K; i++) assert_true(g[b * T * K + i] == 0.0f);
    }
    /* Same float operations in the same order: equal to the last bit. */
    assert_true(sum == ref);
    assert_int_equal(dpt_valid_steps(B, T, lengths), 7);
}

static void without_lengths_every_step_counts(void **state) {
    (void)state;
    const dpt_loss *mse = dpt_loss_find("mse");
    float p[B * T * K], y[B * T * K], g1[B * T * K], g2[B * T * K];
    int32_t unused[B * T];
    fill(p, unused);
    for (int i = 0; i < B * T * K; i++) y[i] = 0.1f * (float)(i % 7);
    const int32_t full[B] = {T, T, T};
    dpt_target t = {.values = y};
    double a = dpt_loss_eval_steps(mse, p, t, B, T, K, NULL, g1);
    double b = dpt_loss_eval_steps(mse, p, t, B, T, K, full, g2);
    /* Per-sample calls sum in another order than one call over all rows: 1e-6 relative is
     * several float32 ulps of the per-row terms, far below any real difference. */
    assert_true(a > 0.0 && (a - b) / a < 1e-6 && (b - a) / a < 1e-6);
    assert_memory_equal(g1, g2, sizeof g1);
    assert_int_equal(dpt_valid_steps(B, T, NULL), B * T);
}

static void metrics_count_only_valid_steps(void **state) {
    (void)state;
    const dpt_metric *acc = dpt_metric_find("accuracy");
    float p[B * T * K] = {0};
    int32_t labels[B * T];
    /* Predict class 1 everywhere; labels are 1 on valid steps and 0 on padding. */
    for (int i = 0; i < B * T; i++) p[i * K + 1] = 1.0f;
    const int32_t lengths[B] = {2, 3, 1};
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) labels[b * T + t] = t < lengths[b] ? 1 : 0;
    double hits = dpt_metric_sum_steps(acc, p, (dpt_target){.labels = labels}, B, T, K, lengths);
    assert_true(hits == 6.0); /* 2 + 3 + 1 valid steps, all correct; padding would be wrong */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(padded_steps_are_skipped_and_their_gradient_is_zero),
        cmocka_unit_test(without_lengths_every_step_counts),
        cmocka_unit_test(metrics_count_only_valid_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
