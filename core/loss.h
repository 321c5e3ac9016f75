/* Losses and metrics.  A loss is summed over the samples it is given (the trainer divides by the
 * global sample count after the allreduce); per-sample values average over the K outputs. */
#ifndef DPT_LOSS_H
#define DPT_LOSS_H

#include <stdbool.h>
#include <stdint.h>

/* Targets of B samples: either values (B, K) or integer class labels (B); the other is NULL. */
typedef struct dpt_target {
    const float *values;   /* (B, K) or NULL */
    const int32_t *labels; /* (B) or NULL, each in [0, K) */
} dpt_target;

typedef struct dpt_loss {
    const char *name;
    /* mse:        mean_k (p - t)^2
     * mae:        mean_k |p - t|
     * bce:        binary cross-entropy on logits z, mean_k [max(z,0) - z t + log(1 + e^-|z|)]
     * softmax_ce: cross-entropy of softmax(z) (log-sum-exp with max subtraction) against a label
     *             or a probability/one-hot row: -sum_k t_k log softmax(z)_k
     * smape:      mean_k 200 |p - t| / max(|p| + |t|, 1e-7)   (percent, as in Keras-style MAPE) */
    bool accepts_labels; /* softmax_ce only */
    bool regression;     /* targets are standardised by default (mse, mae, smape) */
    /* Returns sum over samples of the per-sample loss; if grad != NULL also writes
     * d(sum)/d(pred) (B, K) (overwrites). */
    double (*eval)(const float *pred, dpt_target t, int B, int K, float *grad);
    /* Maps raw outputs to predictions in place: softmax_ce -> softmax, bce -> sigmoid,
     * NULL = identity. */
    void (*output)(float *pred, int B, int K);
} dpt_loss;

const dpt_loss *dpt_loss_find(const char *name); /* NULL if unknown */
const char *const *dpt_loss_names(void);

/* Metrics work on predictions after loss->output and de-normalisation (the user's units). */
typedef struct dpt_metric {
    const char *name;
    bool accepts_labels; /* accuracy only: mse and mae need float targets */
    /* mse, mae: per sample mean over K; accuracy: 1 if argmax(pred) == label / argmax(target),
     * for K == 1: (pred > 0.5) == (target > 0.5).  Returns the sum over the B samples. */
    double (*sum)(const float *pred, dpt_target t, int B, int K);
} dpt_metric;

const dpt_metric *dpt_metric_find(const char *name); /* NULL if unknown */
const char *const *dpt_metric_names(void);

/* Sequences: pred is (B, T, K) and the targets are per step, (B, T, K) values or (B, T) labels
 * (T = 1 is the plain case).  Steps t >= lengths[b] are padding: skipped, and their gradient
 * rows are zero.  The loss of a sample is the sum over its valid steps, C = sum_t C_t; the
 * returned value is the sum over the B samples.  lengths NULL = every step valid. */
double dpt_loss_eval_steps(const dpt_loss *loss, const float *pred, dpt_target t, int B, int T,
                           int K, const int32_t *lengths, float *grad);
/* Metric summed over the valid steps of the B samples (divide by dpt_valid_steps). */
double dpt_metric_sum_steps(const dpt_metric *m, const float *pred, dpt_target t, int B, int T,
                            int K, const int32_t *lengths);
/* Number of valid (sample, step) rows. */
int64_t dpt_valid_steps(int B, int T, const int32_t *lengths);

#endif
