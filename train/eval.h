/* Evaluation shared by training (validation), `dptrain evaluate` and `dptrain predict`: target
 * views, compatibility checks between data, model and loss, loss and metric totals computed in
 * chunks, the output-to-prediction mapping, and a trained model loaded with its data (dpt_infer).
 * Rows are samples; a sample holds X of its per-sample shape (dpt_h5info.x_shape) and y_steps
 * target steps (1, X's T, or T_out on a new time axis). */
#ifndef DPT_TRAIN_EVAL_H
#define DPT_TRAIN_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loss.h"
#include "core/model.h"
#include "core/norm.h"
#include "io/config.h"
#include "io/h5data.h"
#include "train/decode.h"

/* Standardises d's inputs in place with xnorm and, when ynorm is enabled and d has float
 * targets, fills d->y_norm with the standardised copy the loss sees. */
void dpt_data_normalise(dpt_data *d, const dpt_norm *xnorm, const dpt_norm *ynorm);

/* Targets of samples [r, ...) of d for the loss (normalised) or for metrics (user's units). */
dpt_target dpt_data_target(const dpt_data *d, int64_t r, bool for_loss);
/* Valid steps of samples [r, ...), or NULL when the data has no lengths. */
const int32_t *dpt_data_lengths(const dpt_data *d, int64_t r);
/* X of samples [r, ...) as the model takes it (float32 values, or int32 ids in 4-byte slots). */
const float *dpt_data_x(const dpt_data *d, int64_t r);
/* Which of m's output steps of samples [r, ...) count in the loss and metrics: the input's
 * lengths when the output is a sequence on the input's time axis (dpt_model_output_lengths), y's
 * own lengths when it is a sequence on a new time axis (NULL without them), else NULL (all). */
const int32_t *dpt_data_output_lengths(const dpt_model *m, const dpt_data *d, int64_t r);
/* The datasets the config names (y when with_y). */
dpt_h5names dpt_config_h5names(const dpt_config *c, bool with_y);

/* Fatal unless X's rows suit the model's input: the same element type and the same steps x
 * features ((F) and (1, F) alike).  model_path names the model file (NULL: the model built
 * from the config). */
void dpt_check_x(const dpt_h5info *info, const char *path, const char *xname, const dpt_model *m,
                 const char *model_path);
/* Fatal unless every token id of s (int32 X; float X: nothing to check) has a row in the table
 * of m's first layer (an embedding's (V, D)): the reader checks ids >= 0, this the bound, before
 * a layer gets them.  rows: each sample's row in the file (a streamed batch), NULL = s->row0
 * onwards. */
void dpt_check_ids(const dpt_shard *s, const int64_t *rows, const char *path, const char *xname,
                   const dpt_model *m);

/* Fatal unless X's shape suits the model: recurrent layers need (N, T, F) with T > 1. */
void dpt_check_input(const dpt_h5info *info, const char *path, const char *xname,
                     const dpt_model *m);
/* Fatal unless y fits the model and loss: labels need a loss that accepts them and become
 * classes [0, K); value targets need K columns; per-step targets need a model that outputs
 * every step, per-sample targets one that outputs one vector per sample. */
void dpt_check_targets(const dpt_h5info *info, const char *path, const char *xname,
                       const char *yname, const dpt_loss *loss, const dpt_model *m);
/* Fatal unless every metric suits y: class labels take accuracy only. */
void dpt_check_metrics(const dpt_h5info *info, const char *path, const char *yname,
                       const dpt_metric *const *metrics, int nmetrics);

/* What an evaluation computes: the loss, the metrics, and how to de-normalise outputs. */
typedef struct dpt_eval {
    const dpt_loss *loss;
    const dpt_metric *const *metrics;
    int nmetrics;
    const dpt_norm *ynorm;
} dpt_eval;

/* Sums over samples, of a training epoch or an evaluation. */
typedef struct dpt_totals {
    double loss;                    /* loss sum (normalised space) */
    double samples;                 /* samples */
    double rows;                    /* valid output rows (samples x output steps) */
    double metric[DPT_MAX_METRICS]; /* metric i summed over the valid output rows (user's units) */
} dpt_totals;

/* Sums t over all ranks (collective; nmetrics metrics). */
void dpt_totals_allreduce(dpt_totals *t, int nmetrics);
/* The mean loss per sample and metric i per output row (0 samples or rows count as 1). */
double dpt_totals_loss(const dpt_totals *t);
double dpt_totals_metric(const dpt_totals *t, int i);

/* Totals over this rank's samples of d, evaluated in chunks of m->max_batch without dropout.
 * pred is scratch (max_batch, out_steps, K).  Not collective. */
void dpt_eval_sums(dpt_model *m, const dpt_eval *e, const dpt_data *d, float *pred,
                   dpt_totals *out);

/* Turns raw model outputs (rows, K) into predictions in the user's units: the loss's output map
 * (softmax / sigmoid) then de-normalisation. */
void dpt_outputs_to_predictions(const dpt_loss *loss, const dpt_norm *ynorm, float *pred,
                                int64_t rows, int K);

/* Resolves metric names; fatal on an unknown one (the config already checked them). */
int dpt_resolve_metrics(const dpt_config *c, const dpt_metric **out);

/* A trained model and this rank's rows of a data file, normalised with the model's statistics:
 * what `evaluate` and `predict` work on. */
typedef struct dpt_infer {
    dpt_config cfg; /* stored in the model file */
    dpt_model model;
    dpt_norm xnorm, ynorm;
    const dpt_loss *loss;
    const dpt_metric *metrics[DPT_MAX_METRICS];
    int nmetrics;
    dpt_h5info info; /* of the data file */
    dpt_data data;   /* this rank's rows */
    float *pred;     /* (max_batch, out_steps, K) scratch */
    int end_id;      /* the vocabulary's end token (decoding stops there), -1 if none */
} dpt_infer;

/* Collective.  Picks the threads, loads the model, checks the data against it (targets only
 * when need_y) and reads this rank's rows; fatal on any error. */
void dpt_infer_init(dpt_infer *r, const char *model_path, const char *data_path, bool need_y);
void dpt_infer_free(dpt_infer *r);
/* Collective: the totals over every rank's rows. */
void dpt_infer_totals(dpt_infer *r, dpt_totals *out);
/* Predictions of this rank's rows into out (nrows, out_steps, K) in the user's units; padded
 * steps are 0.  Not collective. */
void dpt_infer_predict(dpt_infer *r, float *out);
/* The index of the model layer whose output is that of the layer called name: for a config
 * layer with a fused activation (dense, activation: tanh) the activation's, as in Keras; any
 * other layer of the model by its own name.  Fatal when there is none, listing the layers'
 * names (model_path names the model in the message). */
int dpt_infer_layer(const dpt_infer *r, const char *name, const char *model_path);
/* The raw activations (outputs) of layer `layer` for this rank's rows into out (nrows, the
 * layer's out_shape): bottleneck codes of an autoencoder.  Not collective. */
void dpt_infer_activations(dpt_infer *r, int layer, float *out);
/* Decodes this rank's rows (train/decode.h): autoregressively when the model feeds its output
 * back into an input (greedy, or beam search with o->beam > 1), else the per-step argmax of
 * the output.  tokens (nrows, out_steps), 0 after a row's end; lens (nrows) tokens emitted
 * (end_id included).  Not collective. */
void dpt_infer_decode(dpt_infer *r, const dpt_decode_opts *o, int32_t *tokens, int32_t *lens);
/* Collective: how many rows of every rank decode to exactly their targets y (labels, compared
 * over y's valid steps: y_lengths, else all), and the total row count in *n. */
int64_t dpt_infer_exact(dpt_infer *r, const int32_t *tokens, const int32_t *lens, int64_t *n);

#endif
