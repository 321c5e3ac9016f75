/* Helpers shared by train, evaluate and predict: target views, compatibility checks between
 * data, model and loss, chunked evaluation sums and the output-to-prediction mapping.  Rows are
 * samples; a sample holds T input steps and y_steps target steps (1 or T). */
#include <string.h>

#include "cli/cli.h"
#include "io/stream.h"
#include "core/util.h"
#include "parallel/dist.h"

dpt_target dpt_data_target(const dpt_data *d, int64_t r, bool for_loss) {
    const dpt_shard *s = &d->shard;
    int64_t row = r * s->info.y_steps; /* first target step of sample r */
    dpt_target t = {0};
    if (s->labels) {
        t.labels = s->labels + row;
    } else {
        const float *y = (for_loss && d->y_norm) ? d->y_norm : s->y;
        t.values = y + row * s->info.K;
    }
    return t;
}

const int32_t *dpt_data_lengths(const dpt_data *d, int64_t r) {
    return d->shard.lengths ? d->shard.lengths + r : NULL;
}

void dpt_data_normalise(dpt_data *d, const dpt_norm *xnorm, const dpt_norm *ynorm) {
    dpt_shard *s = &d->shard;
    dpt_norm_apply(xnorm, s->x, s->nrows * s->info.T);
    if (!ynorm->enabled || !s->y) return;
    size_t n = (size_t)(s->nrows * s->info.y_steps) * (size_t)s->info.K;
    d->y_norm = dpt_alloc_floats(n ? n : 1);
    dpt_data_normalise_y(d, ynorm);
}

void dpt_check_input(const dpt_h5info *info, const char *path, const char *xname,
                     const dpt_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (dpt_layer_type_has(l->type, DPT_LAYER_SEQUENCE_INPUT) && l->steps_in == 1 &&
            info->T == 1)
            dpt_fatal("%s: '%s' is (N, %d), but layer %s (%s) needs sequences: store X as "
                      "(N, T, F) with T > 1 time steps",
                      path, xname, info->F, l->name, l->type->name);
    }
}

static void check_steps(const dpt_h5info *info, const char *path, const char *xname,
                        const char *yname, const dpt_model *m) {
    if (info->y_steps > 1 && m->out_steps != info->y_steps)
        dpt_fatal("%s: '%s' has per-step targets (%d steps) but the model outputs %d step(s) "
                  "per sample; end with a recurrent layer with return_sequences: true (and "
                  "per-step layers after it) for many-to-many",
                  path, yname, info->y_steps, m->out_steps);
    if (info->y_steps == 1 && m->out_steps > 1 && m->in_steps > 1)
        dpt_fatal("%s: '%s' holds sequences (N, %d, %d) and '%s' one target per sample, but the "
                  "model keeps the time axis (outputs %d steps per sample): add a recurrent "
                  "layer with return_sequences: false to reduce each sequence",
                  path, xname, info->T, info->F, yname, m->out_steps);
    if (info->y_steps == 1 && m->out_steps > 1)
        dpt_fatal("%s: '%s' has one target per sample but the model outputs %d steps per "
                  "sample; store per-step targets (N, T, K) or (N, T)",
                  path, yname, m->out_steps);
}

void dpt_check_targets(const dpt_h5info *info, const char *path, const char *xname,
                       const char *yname, const dpt_loss *loss, const dpt_model *m) {
    int K = m->out_features;
    if (!info->has_y) dpt_fatal("%s: no target dataset '%s' (data.y)", path, yname);
    if (info->labels && !loss->accepts_labels)
        dpt_fatal("%s: dataset '%s' holds integer class labels, but loss '%s' needs float "
                  "targets (N, %d); use loss softmax_ce or store y as float",
                  path, yname, loss->name, K);
    if (!info->labels && info->K != K)
        dpt_fatal("%s: dataset '%s' has %d columns, but the model has %d outputs (the last "
                  "layer's units)",
                  path, yname, info->K, K);
    check_steps(info, path, xname, yname, m);
}

void dpt_outputs_to_predictions(const dpt_loss *loss, const dpt_norm *ynorm, float *pred,
                                int64_t rows, int K) {
    if (loss->output) loss->output(pred, (int)rows, K);
    if (ynorm && ynorm->enabled) dpt_norm_invert(ynorm, pred, rows);
}

/* Loss and metric sums of B samples starting at row r, added into out. */
static void eval_chunk(dpt_model *m, const dpt_eval *e, const dpt_data *d, int64_t r, int B,
                       float *pred, double *out) {
    int K = m->out_features, T = m->out_steps;
    const int32_t *len = dpt_data_lengths(d, r);
    dpt_step_ctx ctx = {.training = false, .lengths = len};
    const float *o =
        dpt_model_forward(m, d->shard.x + r * d->shard.info.T * d->shard.info.F, B, &ctx);
    const int32_t *masked = dpt_model_output_lengths(m, len); /* padding of output steps */
    out[0] += dpt_loss_eval_steps(e->loss, o, dpt_data_target(d, r, true), B, T, K, masked, NULL);
    out[e->nmetrics + 1] += B;
    out[e->nmetrics + 2] += (double)dpt_valid_steps(B, T, masked);
    if (e->nmetrics == 0) return;
    memcpy(pred, o, sizeof(float) * (size_t)B * (size_t)T * (size_t)K);
    dpt_outputs_to_predictions(e->loss, e->ynorm, pred, (int64_t)B * T, K);
    for (int i = 0; i < e->nmetrics; i++)
        out[1 + i] += dpt_metric_sum_steps(e->metrics[i], pred, dpt_data_target(d, r, false), B, T,
                                           K, masked);
}

void dpt_eval_sums(dpt_model *m, const dpt_eval *e, const dpt_data *d, float *pred, double *out) {
    memset(out, 0, sizeof(double) * (size_t)(e->nmetrics + 3));
    for (int64_t r = 0; r < d->shard.nrows; r += m->max_batch) {
        int64_t left = d->shard.nrows - r;
        eval_chunk(m, e, d, r, (int)(left < m->max_batch ? left : m->max_batch), pred, out);
    }
}

int dpt_resolve_metrics(const dpt_config *c, const dpt_metric **out) {
    for (int i = 0; i < c->nmetrics; i++) {
        out[i] = dpt_metric_find(c->metrics[i]);
        if (!out[i]) dpt_fatal("%s: metrics: unknown metric '%s'", c->source, c->metrics[i]);
    }
    return c->nmetrics;
}
