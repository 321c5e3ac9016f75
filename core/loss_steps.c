/* Losses and metrics over sequences of per-step outputs: the per-row functions of core/loss.c
 * applied to each sample's valid steps, padding skipped (its gradient rows zeroed). */
#include <string.h>

#include "core/loss.h"
#include "core/util.h"

/* The targets of sample b's first step: T rows further per sample. */
static dpt_target sample_target(dpt_target t, int b, int T, int K) {
    dpt_target s = t;
    if (t.values) s.values = t.values + (size_t)b * T * K;
    if (t.labels) s.labels = t.labels + (size_t)b * T;
    return s;
}

double dpt_loss_eval_steps(const dpt_loss *loss, const float *pred, dpt_target t, int B, int T,
                           int K, const int32_t *lengths, float *grad) {
    if (!lengths) return loss->eval(pred, t, B * T, K, grad);
    double sum = 0.0;
    for (int b = 0; b < B; b++) {
        int L = lengths[b];
        DPT_ASSERT(L >= 1 && L <= T);
        size_t row = (size_t)b * T;
        float *g = grad ? grad + row * K : NULL; /* (T, K) of sample b */
        sum += loss->eval(pred + row * K, sample_target(t, b, T, K), L, K, g);
        if (g && L < T) memset(g + (size_t)L * K, 0, sizeof(float) * (size_t)(T - L) * K);
    }
    return sum;
}

double dpt_metric_sum_steps(const dpt_metric *m, const float *pred, dpt_target t, int B, int T,
                            int K, const int32_t *lengths) {
    if (!lengths) return m->sum(pred, t, B * T, K);
    double sum = 0.0;
    for (int b = 0; b < B; b++)
        sum += m->sum(pred + (size_t)b * T * K, sample_target(t, b, T, K), lengths[b], K);
    return sum;
}

int64_t dpt_valid_steps(int B, int T, const int32_t *lengths) {
    if (!lengths) return (int64_t)B * T;
    int64_t n = 0;
    for (int b = 0; b < B; b++) n += lengths[b];
    return n;
}
