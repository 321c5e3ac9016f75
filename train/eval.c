/* Evaluation shared by training, evaluate and predict: target views, compatibility checks
 * between data, model and loss, chunked evaluation totals, the output-to-prediction mapping, and
 * a trained model loaded with its data.  Rows are samples; a sample holds X of its per-sample
 * shape and y_steps target steps (1, X's T, or T_out on a new time axis). */
#include "train/eval.h"

#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/util.h"
#include "io/modelio.h"
#include "io/stream.h"
#include "io/vocab.h"
#include "parallel/dist.h"

dpt_target dpt_data_target(const dpt_data *d, int64_t r, bool for_loss) {
    const dpt_shard *s = &d->shard;
    int64_t row = r * s->info.y_steps; /* first target step of sample r */
    dpt_target t = {0};
    if (s->info.y_is_x) { /* data.target: input: X as the model sees it (normalised) */
        t.values = dpt_data_x(d, r);
    } else if (s->labels) {
        t.labels = s->labels + row;
    } else {
        const float *y = (for_loss && d->y_norm) ? d->y_norm : s->y;
        t.values = y + row * s->info.K;
    }
    return t;
}

const int32_t *dpt_data_lengths(const dpt_data *d, int64_t r) {
    int lw = dpt_h5info_len_width(&d->shard.info);
    return d->shard.lengths ? d->shard.lengths + r * lw : NULL;
}

const float *dpt_data_x(const dpt_data *d, int64_t r) {
    return d->shard.x + (size_t)r * dpt_h5info_x_width(&d->shard.info);
}

const int32_t *dpt_data_output_lengths(const dpt_model *m, const dpt_data *d, int64_t r) {
    /* The model's rule: the input's lengths on its time axis; on a new time axis (a layer changed
     * it) only the targets can say which of its steps are padding: y's own lengths. */
    const int32_t *y_lengths = d->shard.y_lengths ? d->shard.y_lengths + r : NULL;
    return dpt_model_output_lengths(m, dpt_data_lengths(d, r), y_lengths);
}

dpt_h5names dpt_config_h5names(const dpt_config *c, bool with_y) {
    bool y = with_y && !c->target_input;
    return (dpt_h5names){c->x_name,         y ? c->y_name : NULL,      c->lengths_name,
                         c->y_lengths_name, with_y && c->target_input, c->ninputs,
                         c->inputs};
}

void dpt_data_normalise(dpt_data *d, const dpt_norm *xnorm, const dpt_norm *ynorm) {
    dpt_shard *s = &d->shard;
    if (!dpt_h5info_x_ids(&s->info)) dpt_norm_apply(xnorm, s->x, s->nrows * s->info.T);
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

/* X's rows feed the model alike: the same element type and steps x features (the model reads a
 * sample as (outer, last): (F) and (1, F) alike; (H, W, C) as (H x W, C) while layers see steps
 * x features). */
static bool x_fits(const dpt_shape *x, const dpt_shape *in) {
    return x->dtype == in->dtype && dpt_shape_outer(x) == dpt_shape_outer(in) &&
           dpt_shape_last(x) == dpt_shape_last(in);
}

void dpt_check_x(const dpt_h5info *info, const char *path, const char *xname, const dpt_model *m,
                 const char *model_path) {
    const dpt_shape *x = &info->x_shape, *in = &m->in_shape;
    if (x_fits(x, in)) return;
    bool plain = x->dtype == DPT_F32 && in->dtype == DPT_F32 && x->rank <= 2 && in->rank <= 2;
    if (plain) /* steps x features, as always */
        dpt_fatal("%s: '%s' has %d step(s) x %d features but the model expects %d x %d", path,
                  xname, info->T, info->F, m->in_steps, m->in_features);
    char want[96], have[96];
    dpt_shape_str(in, want, sizeof want);
    dpt_shape_str(x, have, sizeof have);
    dpt_fatal("%s expects X of %s per row; %s's %s has %s", model_path ? model_path : "the model",
              want, path, xname, have);
}

/* The ids of model input k against the vocabulary of layer l, which reads them. */
static void check_input_ids(const dpt_shard *s, const int64_t *rows, const char *path,
                            const char *name, const dpt_model *m, int k, const dpt_layer *l) {
    const int32_t *ids = dpt_shard_x_ids(s);
    if (!ids && s->info.ninputs > 1) ids = (const int32_t *)(const void *)s->x; /* mixed rows */
    if (!ids || l->ntensors < 1 || l->tensors[0].ndim != 2) return;
    int V = l->tensors[0].dim[0];
    size_t w = dpt_h5info_x_width(&s->info), off = m->inputs[k].offset;
    size_t n = dpt_shape_size(&m->inputs[k].shape);
    for (int64_t r = 0; r < s->nrows; r++) {
        const int32_t *row = ids + (size_t)r * w + off; /* (n) */
        for (size_t i = 0; i < n; i++) {
            if (row[i] < V) continue;
            dpt_fatal("%s: %s row %" PRId64 ", position %zu: token id %d, expected < %d "
                      "(vocab_size of %s '%s')",
                      path, name, rows ? rows[r] : s->row0 + r, i, row[i], V, l->type->name,
                      l->name);
        }
    }
}

void dpt_check_ids(const dpt_shard *s, const int64_t *rows, const char *path, const char *xname,
                   const dpt_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        const dpt_graph_src *src = &m->nodes[i].src[0];
        if (!dpt_layer_type_has(l->type, DPT_LAYER_INT_INPUT) || src->layer >= 0) continue;
        const char *in = m->inputs[src->input].name;
        const char *name = m->ninputs > 1 || strcmp(in, "input") != 0 ? in : xname;
        check_input_ids(s, rows, path, name, m, src->input, l);
    }
}

static void check_steps(const dpt_h5info *info, const char *path, const char *xname,
                        const char *yname, const dpt_model *m) {
    if (info->x_shape.rank > 2 && info->y_steps != m->out_steps) { /* images: say the shapes */
        char x[96], y[96], out[96];
        dpt_fatal("%s: '%s' holds %s per row and '%s' %s, but the model's output shape is %s "
                  "per sample: end the model with outputs (K) or (T_out, K) that match y",
                  path, xname, dpt_shape_str(&info->x_shape, x, sizeof x), yname,
                  dpt_shape_str(&info->y_shape, y, sizeof y),
                  dpt_shape_str(&m->out_shape, out, sizeof out));
    }
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

/* data.target: input: the output must have X's shape, element for element. */
static void check_target_input(const dpt_h5info *info, const char *path, const char *xname,
                               const dpt_model *m) {
    const dpt_shape *x = &info->x_shape, *out = &m->out_shape;
    char xs[96], os[96];
    if (x->dtype != DPT_F32)
        dpt_fatal("%s: data.target: input needs float X, but '%s' holds %s per row", path, xname,
                  dpt_shape_str(x, xs, sizeof xs));
    if (!dpt_shape_equal(x, out))
        dpt_fatal("%s: data.target: input needs the model's output shape to equal its input "
                  "shape, but '%s' is %s per sample and the model outputs %s",
                  path, xname, dpt_shape_str(x, xs, sizeof xs), dpt_shape_str(out, os, sizeof os));
}

void dpt_check_targets(const dpt_h5info *info, const char *path, const char *xname,
                       const char *yname, const dpt_loss *loss, const dpt_model *m) {
    int K = m->out_features;
    if (info->y_is_x) {
        check_target_input(info, path, xname, m);
        return;
    }
    if (!info->has_y) dpt_fatal("%s: no target dataset '%s' (data.y)", path, yname);
    bool image_y = info->y_shape.rank == 3 && dpt_shape_equal(&info->y_shape, &m->out_shape);
    if (m->out_shape.rank > 2 && !image_y) {
        char out[96], y[96], x[96];
        dpt_fatal("%s: '%s' holds %s per row, but the model's output shape is %s per sample (its "
                  "input '%s' is %s): end the model with outputs (K) or (T_out, K)",
                  path, yname, dpt_shape_str(&info->y_shape, y, sizeof y),
                  dpt_shape_str(&m->out_shape, out, sizeof out), xname,
                  dpt_shape_str(&info->x_shape, x, sizeof x));
    }
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

void dpt_check_metrics(const dpt_h5info *info, const char *path, const char *yname,
                       const dpt_metric *const *metrics, int nmetrics) {
    for (int i = 0; i < nmetrics; i++)
        if (info->labels && !metrics[i]->accepts_labels)
            dpt_fatal("%s: dataset '%s' holds integer class labels, but metric '%s' needs float "
                      "targets; use metrics: [accuracy] with labels, or store y as float",
                      path, yname, metrics[i]->name);
}

void dpt_outputs_to_predictions(const dpt_loss *loss, const dpt_norm *ynorm, float *pred,
                                int64_t rows, int K) {
    if (loss->output) loss->output(pred, (int)rows, K);
    if (ynorm && ynorm->enabled) dpt_norm_invert(ynorm, pred, rows);
}

/* Loss and metric sums of B samples starting at row r, added into out. */
static void eval_chunk(dpt_model *m, const dpt_eval *e, const dpt_data *d, int64_t r, int B,
                       float *pred, dpt_totals *out) {
    int K = m->out_features, T = m->out_steps;
    dpt_step_ctx ctx = {.training = false, .lengths = dpt_data_lengths(d, r)};
    const float *o = dpt_model_forward_rows(m, dpt_data_x(d, r), B, &ctx);
    const int32_t *masked = dpt_data_output_lengths(m, d, r); /* padding of output steps */
    out->loss +=
        dpt_loss_eval_steps(e->loss, o, dpt_data_target(d, r, true), B, T, K, masked, NULL);
    out->samples += B;
    out->rows += (double)dpt_valid_steps(B, T, masked);
    if (e->nmetrics == 0) return;
    memcpy(pred, o, sizeof(float) * (size_t)B * (size_t)T * (size_t)K);
    dpt_outputs_to_predictions(e->loss, e->ynorm, pred, (int64_t)B * T, K);
    for (int i = 0; i < e->nmetrics; i++)
        out->metric[i] += dpt_metric_sum_steps(e->metrics[i], pred, dpt_data_target(d, r, false), B,
                                               T, K, masked);
}

void dpt_eval_sums(dpt_model *m, const dpt_eval *e, const dpt_data *d, float *pred,
                   dpt_totals *out) {
    memset(out, 0, sizeof *out);
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

/* ---- totals ---- */

void dpt_totals_allreduce(dpt_totals *t, int nmetrics) {
    /* One message, laid out as it always was: loss, metrics, samples, rows (the same count and
     * order, so the same summation order at every rank count). */
    double v[DPT_MAX_METRICS + 3]; /* (nmetrics + 3) */
    int M = nmetrics;
    v[0] = t->loss;
    for (int i = 0; i < M; i++) v[1 + i] = t->metric[i];
    v[1 + M] = t->samples;
    v[2 + M] = t->rows;
    dpt_allreduce_sum_f64(v, (size_t)M + 3);
    t->loss = v[0];
    for (int i = 0; i < M; i++) t->metric[i] = v[1 + i];
    t->samples = v[1 + M];
    t->rows = v[2 + M];
}

double dpt_totals_loss(const dpt_totals *t) {
    return t->loss / (t->samples > 0 ? t->samples : 1);
}

double dpt_totals_metric(const dpt_totals *t, int i) {
    return t->metric[i] / (t->rows > 0 ? t->rows : 1);
}

/* ---- a trained model on a data file ---- */

enum { INFER_BATCH = 256 };

void dpt_infer_init(dpt_infer *r, const char *model_path, const char *data_path, bool need_y) {
    char err[1024];
    memset(r, 0, sizeof *r);
    int threads = dpt_dist_pick_threads(0);
    omp_set_num_threads(threads);
    dpt_blas_setup(threads);
    if (dpt_model_load(model_path, &r->cfg, &r->model, INFER_BATCH, &r->xnorm, &r->ynorm, err,
                       sizeof err))
        dpt_fatal("%s", err);
    r->loss = dpt_loss_find(r->cfg.loss);
    if (!r->loss) dpt_fatal("%s: unknown loss '%s' in the stored config", model_path, r->cfg.loss);
    r->nmetrics = dpt_resolve_metrics(&r->cfg, r->metrics);
    dpt_h5names names = dpt_config_h5names(&r->cfg, need_y);
    if (dpt_h5_inspect_ds(&r->info, data_path, &names, dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    const dpt_model *m = &r->model;
    dpt_check_x(&r->info, data_path, r->cfg.x_name, m, model_path);
    int K = m->out_features;
    dpt_check_input(&r->info, data_path, r->cfg.x_name, m);
    if (need_y) {
        dpt_check_targets(&r->info, data_path, r->cfg.x_name, r->cfg.y_name, r->loss, m);
        dpt_check_metrics(&r->info, data_path, r->cfg.y_name, r->metrics, r->nmetrics);
    }
    int nclasses = r->info.labels ? K : 0;
    if (dpt_h5_read_shard_ds(&r->data.shard, data_path, &names, 0, r->info.n, nclasses,
                             dpt_world.comm, err, sizeof err))
        dpt_fatal("%s", err);
    dpt_check_ids(&r->data.shard, NULL, data_path, r->cfg.x_name, m);
    dpt_data_normalise(&r->data, &r->xnorm, &r->ynorm);
    r->pred = dpt_alloc_floats((size_t)INFER_BATCH * (size_t)m->out_steps * (size_t)K);
    r->end_id = r->cfg.vocab ? r->cfg.vocab->end_id : -1;
}

void dpt_infer_free(dpt_infer *r) {
    free(r->pred);
    free(r->data.y_norm);
    dpt_shard_free(&r->data.shard);
    dpt_model_free(&r->model);
    dpt_norm_free(&r->xnorm);
    dpt_norm_free(&r->ynorm);
    dpt_config_free(&r->cfg);
    memset(r, 0, sizeof *r);
}

void dpt_infer_totals(dpt_infer *r, dpt_totals *out) {
    dpt_eval e = {r->loss, r->metrics, r->nmetrics, &r->ynorm};
    dpt_eval_sums(&r->model, &e, &r->data, r->pred, out);
    dpt_totals_allreduce(out, r->nmetrics);
}

void dpt_infer_predict(dpt_infer *r, float *out) {
    const dpt_shard *s = &r->data.shard;
    int K = r->model.out_features, T = r->model.out_steps;
    size_t w = (size_t)T * K; /* floats per sample */
    for (int64_t i = 0; i < s->nrows; i += INFER_BATCH) {
        int B = (int)(s->nrows - i < INFER_BATCH ? s->nrows - i : INFER_BATCH);
        dpt_step_ctx ctx = {.training = false, .lengths = dpt_data_lengths(&r->data, i)};
        const float *o = dpt_model_forward_rows(&r->model, dpt_data_x(&r->data, i), B, &ctx);
        float *p = out + (size_t)i * w; /* (B, T, K) */
        memcpy(p, o, sizeof(float) * (size_t)B * w);
        dpt_outputs_to_predictions(r->loss, &r->ynorm, p, (int64_t)B * T, K);
        /* An autoencoder's reconstructions in X's units (the loss compared normalised X). */
        if (r->cfg.target_input) dpt_norm_invert(&r->xnorm, p, (int64_t)B * T);
        const int32_t *olen = dpt_data_output_lengths(&r->model, &r->data, i);
        for (int b = 0; olen && b < B; b++)
            memset(p + (size_t)b * w + (size_t)olen[b] * K, 0,
                   sizeof(float) * (size_t)(T - olen[b]) * K);
    }
}

int dpt_infer_layer(const dpt_infer *r, const char *name, const char *model_path) {
    const dpt_model *m = &r->model;
    /* A config layer's name: its output as Keras gives it, after the fused activation (the
     * last layer its spec expands into, wherever the graph's order puts it). */
    for (int i = 0; i < m->nlayers; i++) {
        if (strcmp(m->layers[i].name, name) != 0 || !m->layers[i].spec.name[0]) continue;
        int last = i;
        for (int j = 0; j < m->nlayers; j++)
            if (m->nodes[j].user == m->nodes[i].user) last = j;
        return last;
    }
    char names[1024] = "";
    size_t used = 0;
    for (int i = 0; i < m->nlayers; i++) {
        if (!strcmp(m->layers[i].name, name)) return i;
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     m->layers[i].name);
    }
    dpt_fatal("--output-layer: %s has no layer '%s'; its layers: %s", model_path, name, names);
}

void dpt_infer_activations(dpt_infer *r, int layer, float *out) {
    const dpt_shard *s = &r->data.shard;
    dpt_model *m = &r->model;
    size_t w = dpt_shape_size(&m->layers[layer].out_shape); /* floats per sample */
    for (int64_t i = 0; i < s->nrows; i += INFER_BATCH) {
        int B = (int)(s->nrows - i < INFER_BATCH ? s->nrows - i : INFER_BATCH);
        dpt_step_ctx ctx = {.training = false, .lengths = dpt_data_lengths(&r->data, i)};
        dpt_model_forward_rows(m, dpt_data_x(&r->data, i), B, &ctx);
        memcpy(out + (size_t)i * w, m->acts[layer + 1], sizeof(float) * (size_t)B * w);
    }
}

/* Argmax per output step (a model that makes its output sequence itself), stopping at end_id. */
static void argmax_rows(const float *o, int B, int T, int V, int end_id, int32_t *tokens,
                        int32_t *lens) {
    dpt_decode_opts greedy = {.temperature = 0.0f};
    for (int b = 0; b < B; b++) {
        lens[b] = T;
        bool ended = false;
        for (int t = 0; t < T; t++) {
            int32_t tok =
                ended ? 0 : dpt_decode_pick(o + ((size_t)b * T + t) * V, V, &greedy, NULL);
            tokens[(size_t)b * T + t] = tok;
            if (!ended && tok == end_id) ended = true, lens[b] = t + 1;
        }
    }
}

void dpt_infer_decode(dpt_infer *r, const dpt_decode_opts *o, int32_t *tokens, int32_t *lens) {
    const dpt_shard *s = &r->data.shard;
    dpt_model *m = &r->model;
    int T = m->out_steps, V = m->out_features, nin = m->ninputs, k = dpt_decode_input(m);
    size_t W = m->in_width;
    int32_t *x = dpt_calloc((size_t)INFER_BATCH * W, sizeof *x); /* rows the decoder rewrites */
    int32_t *len = dpt_calloc((size_t)INFER_BATCH * (size_t)nin, sizeof *len);
    for (int64_t i = 0; i < s->nrows; i += INFER_BATCH) {
        int B = (int)(s->nrows - i < INFER_BATCH ? s->nrows - i : INFER_BATCH);
        const int32_t *dl = dpt_data_lengths(&r->data, i);
        memcpy(x, dpt_data_x(&r->data, i), (size_t)B * W * sizeof *x);
        if (dl) memcpy(len, dl, (size_t)B * (size_t)nin * sizeof *len);
        int32_t *tk = tokens + (size_t)i * T, *ln = lens + i;
        if (k < 0) {
            dpt_step_ctx ctx = {.training = false, .lengths = dl};
            argmax_rows(dpt_model_forward_rows(m, x, B, &ctx), B, T, V, o->end_id, tk, ln);
        } else if (o->beam > 1) {
            for (int b = 0; b < B; b++)
                ln[b] = dpt_decode_beam(m, x + (size_t)b * W, dl ? len + (size_t)b * nin : NULL, o,
                                        tk + (size_t)b * T);
        } else {
            dpt_decode_rows(m, x, dl ? len : NULL, B, o, NULL, tk, ln);
        }
    }
    free(x);
    free(len);
}

int64_t dpt_infer_exact(dpt_infer *r, const int32_t *tokens, const int32_t *lens, int64_t *n) {
    const dpt_shard *s = &r->data.shard;
    int T = r->model.out_steps, S = s->info.y_steps;
    if (!s->labels || S != T)
        dpt_fatal("--decode: exact match needs integer targets y with one label per output step "
                  "(%d), the data has %s",
                  T, s->labels ? "another number of steps" : "float targets");
    int64_t counts[2] = {0, s->nrows};
    for (int64_t i = 0; i < s->nrows; i++) {
        int yl = s->y_lengths ? s->y_lengths[i] : S;
        counts[0] +=
            dpt_decode_exact(tokens + (size_t)i * T, lens[i], s->labels + (size_t)i * S, yl);
    }
    MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, dpt_world.comm);
    *n = counts[1];
    return counts[0];
}
