/* The dptrain command: subcommands and the helpers they share (data loading, evaluation sums,
 * start-up report).  cli/ is the only place that maps errors to exit codes. */
#ifndef DPT_CLI_H
#define DPT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loss.h"
#include "core/model.h"
#include "core/norm.h"
#include "io/config.h"
#include "io/h5data.h"

int dpt_cmd_train(int argc, char **argv);
int dpt_cmd_evaluate(int argc, char **argv);
int dpt_cmd_predict(int argc, char **argv);
int dpt_cmd_import(int argc, char **argv);

/* Standardises d's inputs in place with xnorm and, when ynorm is enabled and d has float
 * targets, fills d->y_norm with the standardised copy the loss sees. */
void dpt_data_normalise(dpt_data *d, const dpt_norm *xnorm, const dpt_norm *ynorm);

/* Targets of samples [r, ...) of d for the loss (normalised) or for metrics (user's units). */
dpt_target dpt_data_target(const dpt_data *d, int64_t r, bool for_loss);
/* Valid steps of samples [r, ...), or NULL when the data has no lengths. */
const int32_t *dpt_data_lengths(const dpt_data *d, int64_t r);

/* Fatal unless X's shape suits the model: recurrent layers need (N, T, F) with T > 1. */
void dpt_check_input(const dpt_h5info *info, const char *path, const char *xname,
                     const dpt_model *m);
/* Fatal unless y fits the model and loss: labels need a loss that accepts them and become
 * classes [0, K); value targets need K columns; per-step targets need a model that outputs
 * every step, per-sample targets one that outputs one vector per sample. */
void dpt_check_targets(const dpt_h5info *info, const char *path, const char *xname,
                       const char *yname, const dpt_loss *loss, const dpt_model *m);

/* What an evaluation computes: the loss, the metrics, and how to de-normalise outputs. */
typedef struct dpt_eval {
    const dpt_loss *loss;
    const dpt_metric *const *metrics;
    int nmetrics;
    const dpt_norm *ynorm;
} dpt_eval;

/* Sums over this rank's samples of d, evaluated in chunks of m->max_batch without dropout:
 * out[0] loss sum (normalised space), out[1 + i] metric i summed over valid output rows (user's
 * units), out[nmetrics + 1] samples, out[nmetrics + 2] valid output rows (samples x steps).
 * pred is scratch (max_batch, out_steps, K).  Not collective. */
void dpt_eval_sums(dpt_model *m, const dpt_eval *e, const dpt_data *d, float *pred, double *out);

/* Turns raw model outputs (rows, K) into predictions in the user's units: the loss's output map
 * (softmax / sigmoid) then de-normalisation. */
void dpt_outputs_to_predictions(const dpt_loss *loss, const dpt_norm *ynorm, float *pred,
                                int64_t rows, int K);

/* Resolves metric names; fatal on an unknown one (the config already checked them). */
int dpt_resolve_metrics(const dpt_config *c, const dpt_metric **out);

#endif
