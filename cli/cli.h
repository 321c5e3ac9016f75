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

/* Loaded data of one file, this rank's rows, ready for the model: x normalised, y kept in the
 * user's units (y_orig) and as the loss sees it (y, normalised for regression). */
typedef struct dpt_data {
    dpt_shard shard; /* as read; shard.x normalised in place */
    float *y_norm;   /* (nrows, K) normalised targets, or NULL when y is not normalised */
} dpt_data;

/* Standardises d's inputs in place with xnorm and, when ynorm is enabled and d has float
 * targets, fills d->y_norm with the standardised copy the loss sees. */
void dpt_data_normalise(dpt_data *d, const dpt_norm *xnorm, const dpt_norm *ynorm);

/* Targets of rows [r, r + B) of d for the loss (normalised) or for metrics (user's units). */
dpt_target dpt_data_target(const dpt_data *d, int64_t r, bool for_loss);

/* Checks that the file's y fits the model and loss: labels need a loss that accepts them and
 * become classes [0, K); value targets need K columns.  Fatal with a message otherwise. */
void dpt_check_targets(const dpt_h5info *info, const char *path, const char *yname,
                       const dpt_loss *loss, int K);

/* Sums over this rank's rows of d, evaluated in chunks of m->max_batch without dropout:
 * out[0] = loss sum (normalised space), out[1 + i] = metric i sum (user's units).  pred is
 * scratch (max_batch, K).  Not collective. */
void dpt_eval_sums(dpt_model *m, const dpt_loss *loss, const dpt_metric *const *metrics,
                   int nmetrics, const dpt_data *d, const dpt_norm *ynorm, float *pred,
                   double *out);

/* Turns raw model outputs (B, K) into predictions in the user's units: the loss's output map
 * (softmax / sigmoid) then de-normalisation. */
void dpt_outputs_to_predictions(const dpt_loss *loss, const dpt_norm *ynorm, float *pred, int B,
                                int K);

/* Resolves metric names; fatal on an unknown one (the config already checked them). */
int dpt_resolve_metrics(const dpt_config *c, const dpt_metric **out);

#endif
