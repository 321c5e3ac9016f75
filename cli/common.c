/* Helpers shared by train, evaluate and predict: target views, compatibility checks between
 * data, model and loss, chunked evaluation sums and the output-to-prediction mapping. */
#include <string.h>

#include "cli/cli.h"
#include "core/util.h"
#include "parallel/dist.h"

dpt_target dpt_data_target(const dpt_data *d, int64_t r, bool for_loss) {
    const dpt_shard *s = &d->shard;
    dpt_target t = {0};
    if (s->labels) {
        t.labels = s->labels + r;
    } else {
        const float *y = (for_loss && d->y_norm) ? d->y_norm : s->y;
        t.values = y + r * s->info.K;
    }
    return t;
}

void dpt_data_normalise(dpt_data *d, const dpt_norm *xnorm, const dpt_norm *ynorm) {
    dpt_shard *s = &d->shard;
    dpt_norm_apply(xnorm, s->x, s->nrows);
    if (!ynorm->enabled || !s->y) return;
    size_t n = (size_t)s->nrows * (size_t)s->info.K;
    d->y_norm = dpt_alloc_floats(n ? n : 1);
    memcpy(d->y_norm, s->y, n * sizeof(float));
    dpt_norm_apply(ynorm, d->y_norm, s->nrows);
}

void dpt_check_targets(const dpt_h5info *info, const char *path, const char *yname,
                       const dpt_loss *loss, int K) {
    if (!info->has_y) dpt_fatal("%s: no target dataset '%s' (data.y)", path, yname);
    if (info->labels && !loss->accepts_labels)
        dpt_fatal("%s: dataset '%s' holds integer class labels, but loss '%s' needs float "
                  "targets (N, %d); use loss softmax_ce or store y as float",
                  path, yname, loss->name, K);
    if (!info->labels && info->K != K)
        dpt_fatal("%s: dataset '%s' has %d columns, but the model has %d outputs (the last "
                  "layer's units)",
                  path, yname, info->K, K);
}

void dpt_outputs_to_predictions(const dpt_loss *loss, const dpt_norm *ynorm, float *pred, int B,
                                int K) {
    if (loss->output) loss->output(pred, B, K);
    if (ynorm && ynorm->enabled) dpt_norm_invert(ynorm, pred, B);
}

void dpt_eval_sums(dpt_model *m, const dpt_loss *loss, const dpt_metric *const *metrics,
                   int nmetrics, const dpt_data *d, const dpt_norm *ynorm, float *pred,
                   double *out) {
    int K = m->out_features;
    memset(out, 0, sizeof(double) * (size_t)(1 + nmetrics));
    for (int64_t r = 0; r < d->shard.nrows; r += m->max_batch) {
        int B = (int)(d->shard.nrows - r < m->max_batch ? d->shard.nrows - r : m->max_batch);
        const float *o = dpt_model_forward(m, d->shard.x + r * d->shard.info.F, B, NULL);
        out[0] += loss->eval(o, dpt_data_target(d, r, true), B, K, NULL);
        if (nmetrics == 0) continue;
        memcpy(pred, o, sizeof(float) * (size_t)B * (size_t)K);
        dpt_outputs_to_predictions(loss, ynorm, pred, B, K);
        for (int i = 0; i < nmetrics; i++)
            out[1 + i] += metrics[i]->sum(pred, dpt_data_target(d, r, false), B, K);
    }
}

int dpt_resolve_metrics(const dpt_config *c, const dpt_metric **out) {
    for (int i = 0; i < c->nmetrics; i++) {
        out[i] = dpt_metric_find(c->metrics[i]);
        if (!out[i]) dpt_fatal("%s: metrics: unknown metric '%s'", c->source, c->metrics[i]);
    }
    return c->nmetrics;
}
