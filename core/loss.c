/* Losses (value summed over samples, gradient with respect to the raw outputs) and metrics.
 * Per-sample values are accumulated in double: the sums feed logs and tests, and float32 sums
 * over large batches would lose digits. */
#include "core/loss.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/util.h"

#define SMAPE_EPS 1e-7

/* ---- losses ---- */

static double mse_eval(const float *pred, dpt_target t, int B, int K, float *grad) {
    DPT_ASSERT(t.values);
    double sum = 0.0, invK = 1.0 / K;
    for (size_t i = 0; i < (size_t)B * K; i++) {
        double d = (double)pred[i] - (double)t.values[i];
        sum += d * d;
        if (grad) grad[i] = (float)(2.0 * d * invK);
    }
    return sum * invK;
}

static double mae_eval(const float *pred, dpt_target t, int B, int K, float *grad) {
    DPT_ASSERT(t.values);
    double sum = 0.0, invK = 1.0 / K;
    for (size_t i = 0; i < (size_t)B * K; i++) {
        double d = (double)pred[i] - (double)t.values[i];
        sum += fabs(d);
        if (grad) grad[i] = (float)((d > 0.0) - (d < 0.0)) * (float)invK;
    }
    return sum * invK;
}

static double sigmoid(double z) {
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static double bce_eval(const float *pred, dpt_target t, int B, int K, float *grad) {
    DPT_ASSERT(t.values);
    double sum = 0.0, invK = 1.0 / K;
    for (size_t i = 0; i < (size_t)B * K; i++) {
        double z = (double)pred[i], y = (double)t.values[i];
        /* log(1 + e^-|z|) never overflows; max(z, 0) - z y completes the identity. */
        sum += fmax(z, 0.0) - z * y + log1p(exp(-fabs(z)));
        if (grad) grad[i] = (float)((sigmoid(z) - y) * invK);
    }
    return sum * invK;
}

/* Log-sum-exp of one row with the maximum subtracted, so exp never overflows. */
static double row_lse(const float *z, int K, double *zmax) {
    double m = (double)z[0];
    for (int k = 1; k < K; k++) m = fmax(m, (double)z[k]);
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp((double)z[k] - m);
    *zmax = m;
    return m + log(s);
}

/* One row of softmax cross-entropy against a probability row t (K) or a label (t == NULL). */
static double softmax_ce_row(const float *z, const float *t, int32_t label, int K, float *g) {
    double zmax, lse = row_lse(z, K, &zmax), loss = 0.0, tsum = 0.0;
    if (t) {
        for (int k = 0; k < K; k++) {
            if (t[k] != 0.0f) loss += (double)t[k] * (lse - (double)z[k]); /* 0 * inf stays out */
            tsum += (double)t[k];
        }
    } else {
        DPT_ASSERT(label >= 0 && label < K);
        loss = lse - (double)z[label];
        tsum = 1.0;
    }
    if (g) {
        /* d/dz_k of sum_j t_j (lse - z_j) = softmax_k * sum_j t_j - t_k. */
        for (int k = 0; k < K; k++) {
            double tk = t ? (double)t[k] : (double)(k == label);
            g[k] = (float)(exp((double)z[k] - lse) * tsum - tk);
        }
    }
    return loss;
}

static double softmax_ce_eval(const float *pred, dpt_target t, int B, int K, float *grad) {
    DPT_ASSERT(t.values || t.labels);
    double sum = 0.0;
    for (int b = 0; b < B; b++) {
        size_t off = (size_t)b * K;
        sum += softmax_ce_row(pred + off, t.values ? t.values + off : NULL,
                              t.labels ? t.labels[b] : -1, K, grad ? grad + off : NULL);
    }
    return sum;
}

static double smape_eval(const float *pred, dpt_target t, int B, int K, float *grad) {
    DPT_ASSERT(t.values);
    double sum = 0.0, invK = 1.0 / K;
    for (size_t i = 0; i < (size_t)B * K; i++) {
        double p = (double)pred[i], y = (double)t.values[i], a = fabs(p - y),
               den = fabs(p) + fabs(y);
        bool clamped = den <= SMAPE_EPS;
        if (clamped) den = SMAPE_EPS;
        sum += 200.0 * a / den;
        if (!grad) continue;
        /* Quotient rule on 200 |p - y| / (|p| + |y|); where the denominator is clamped the
         * loss is (numerically) zero and flat, so the gradient is taken as 0. */
        double sp = (p > 0.0) - (p < 0.0), sd = (p > y) - (p < y);
        grad[i] = clamped ? 0.0f : (float)(200.0 * (sd * den - a * sp) / (den * den) * invK);
    }
    return sum * invK;
}

static void softmax_rows(float *pred, int B, int K) {
    for (int b = 0; b < B; b++) {
        float *z = pred + (size_t)b * K; /* (K) */
        double zmax, lse = row_lse(z, K, &zmax);
        for (int k = 0; k < K; k++) z[k] = (float)exp((double)z[k] - lse);
    }
}

static void sigmoid_all(float *pred, int B, int K) {
    for (size_t i = 0; i < (size_t)B * K; i++) pred[i] = (float)sigmoid((double)pred[i]);
}

/* The registries (losses here, metrics below), one row each: the tables and the name lists are
 * both generated from them, so a new loss or metric is one row.
 *   name, accepts_labels, regression, eval, output */
#define LOSSES(X)                                                                                  \
    X("mse", false, true, mse_eval, NULL)                                                          \
    X("mae", false, true, mae_eval, NULL)                                                          \
    X("bce", false, false, bce_eval, sigmoid_all)                                                  \
    X("softmax_ce", true, false, softmax_ce_eval, softmax_rows)                                    \
    X("smape", false, true, smape_eval, NULL)
#define LOSS_ROW(name, labels, regression, eval, output) {name, labels, regression, eval, output},
#define NAME(name, ...)                                  name,

static const dpt_loss losses[] = {LOSSES(LOSS_ROW)};
static const char *const loss_names[] = {LOSSES(NAME) NULL};
#define NLOSS (sizeof losses / sizeof losses[0])

const dpt_loss *dpt_loss_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NLOSS; i++)
        if (strcmp(losses[i].name, name) == 0) return &losses[i];
    return NULL;
}

const char *const *dpt_loss_names(void) {
    return loss_names;
}

/* ---- metrics ---- */

static double metric_mse(const float *pred, dpt_target t, int B, int K) {
    return mse_eval(pred, t, B, K, NULL);
}

static double metric_mae(const float *pred, dpt_target t, int B, int K) {
    return mae_eval(pred, t, B, K, NULL);
}

static int argmax(const float *v, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

static double metric_accuracy(const float *pred, dpt_target t, int B, int K) {
    DPT_ASSERT(t.values || t.labels);
    double hits = 0.0;
    for (int b = 0; b < B; b++) {
        const float *p = pred + (size_t)b * K; /* (K) */
        bool hit;
        if (K == 1) {
            /* One output: a probability of the positive class, thresholded at 0.5. */
            bool truth = t.labels ? t.labels[b] != 0 : t.values[b] > 0.5f;
            hit = (p[0] > 0.5f) == truth;
        } else if (t.labels) {
            DPT_ASSERT(t.labels[b] >= 0 && t.labels[b] < K);
            hit = argmax(p, K) == t.labels[b];
        } else {
            hit = argmax(p, K) == argmax(t.values + (size_t)b * K, K);
        }
        hits += hit;
    }
    return hits;
}

/* A language model's bits per token (per character at char level): -log2 of the probability
 * the prediction gives the label (one output: P(class 1)), from probabilities at least FLT_MIN (a
 * probability that underflowed counts as 126 bits, not infinity). */
static double metric_bits(const float *pred, dpt_target t, int B, int K) {
    DPT_ASSERT(t.labels);
    double bits = 0.0;
    for (int b = 0; b < B; b++) {
        DPT_ASSERT(t.labels[b] >= 0 && (t.labels[b] < K || K == 1));
        double p = (double)pred[(size_t)b * K + (size_t)(K > 1 ? t.labels[b] : 0)];
        if (K == 1 && t.labels[b] == 0) p = 1.0 - p; /* one output: P(class 1) */
        bits -= log2(p > (double)FLT_MIN ? p : (double)FLT_MIN);
    }
    return bits;
}

/*   name, sum */
#define METRICS(X)                                                                                 \
    X("mse", false, metric_mse)                                                                    \
    X("mae", false, metric_mae)                                                                    \
    X("accuracy", true, metric_accuracy)                                                           \
    X("bits_per_token", true, metric_bits)
#define METRIC_ROW(name, labels, sum) {name, labels, sum},

static const dpt_metric metrics[] = {METRICS(METRIC_ROW)};
static const char *const metric_names[] = {METRICS(NAME) NULL};
#define NMETRIC (sizeof metrics / sizeof metrics[0])

const dpt_metric *dpt_metric_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < NMETRIC; i++)
        if (strcmp(metrics[i].name, name) == 0) return &metrics[i];
    return NULL;
}

const char *const *dpt_metric_names(void) {
    return metric_names;
}
