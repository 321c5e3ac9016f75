/* The data-parallel training step: local forward/backward, one allreduce of gradients plus
 * sample count and statistics, then every rank applies the identical update. */
#include "parallel/step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "parallel/dist.h"

void dpt_step_init(dpt_step *s, dpt_model *m, const dpt_loss *loss, dpt_optim *opt,
                   const dpt_schedule *sched, int nstats) {
    DPT_ASSERT(nstats >= 0 && nstats <= DPT_STEP_MAX_STATS);
    memset(s, 0, sizeof *s);
    s->model = m;
    s->loss = loss;
    s->optim = opt;
    s->schedule = sched;
    s->nstats = nstats;
    s->reduce = dpt_alloc_floats(m->nparams + 2 + DPT_STEP_MAX_STATS);
    memcpy(s->reduce, m->grads, m->nparams * sizeof(float));
    free(m->grads);
    m->grads = s->reduce;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        if (l->ntensors > 0) l->grads = m->grads + l->tensors[0].offset;
    }
    s->dout =
        dpt_alloc_floats((size_t)m->max_batch * (size_t)m->out_steps * (size_t)m->out_features);
}

void dpt_step_free(dpt_step *s) {
    /* the reduce buffer is the model's gradient buffer: the model frees it */
    free(s->dout);
    s->dout = NULL;
    s->reduce = NULL;
}

float *dpt_step_stats(dpt_step *s) {
    return s->reduce + s->model->nparams + 2;
}

const float *dpt_step_compute(dpt_step *s, const float *x, dpt_target y, int B,
                              const int64_t *sample_ids, const int32_t *lengths) {
    dpt_model *m = s->model;
    memset(s->reduce, 0, (m->nparams + 2 + DPT_STEP_MAX_STATS) * sizeof(float));
    dpt_step_ctx ctx = {.training = true,
                        .seed = s->seed,
                        .step = (uint64_t)s->step,
                        .sample_ids = sample_ids,
                        .lengths = lengths};
    const float *out = dpt_model_forward(m, x, B, &ctx);
    /* Per-step padding matters to the loss only when the model outputs every input step. */
    const int32_t *masked = dpt_model_output_lengths(m, lengths);
    double loss = B > 0 ? dpt_loss_eval_steps(s->loss, out, y, B, m->out_steps, m->out_features,
                                              masked, s->dout)
                        : 0.0;
    dpt_model_backward(m, s->dout, B);
    s->reduce[m->nparams] = (float)B;
    s->reduce[m->nparams + 1] = (float)loss;
    return out;
}

static const char *first_bad_layer(const dpt_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (l->nparams > 0 && dpt_first_nonfinite(l->grads, l->nparams) >= 0) return l->name;
    }
    return NULL;
}

dpt_step_status dpt_step_update(dpt_step *s, const char **bad_layer) {
    dpt_model *m = s->model;
    size_t n = m->nparams;
    dpt_allreduce_sum_f32(s->reduce, n + 2 + (size_t)s->nstats);
    s->count = s->reduce[n];
    s->loss_sum = s->reduce[n + 1];
    for (int i = 0; i < s->nstats; i++) s->stats[i] = s->reduce[n + 2 + i];
    if (bad_layer) *bad_layer = NULL;
    if (s->count <= 0) return DPT_STEP_OK;

    float inv = (float)(1.0 / s->count);
    float *g = m->grads;
/* if (parallel: ...) keeps the loop vectorised when it runs on one thread (OpenMP 5.0). */
#pragma omp parallel for simd schedule(static) if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) g[i] *= inv;
    if (s->l2 > 0) dpt_model_add_l2(m, s->l2);
    s->grad_norm = dpt_grad_norm(g, n);
    if (!isfinite(s->grad_norm) || !isfinite(s->loss_sum)) {
        if (bad_layer) *bad_layer = first_bad_layer(m);
        return DPT_STEP_NONFINITE;
    }
    if (s->clip_norm > 0) dpt_clip_by_norm(g, n, s->grad_norm, s->clip_norm);
    if (s->clip_value > 0) dpt_clip_by_value(g, n, s->clip_value);
    s->lr = s->schedule ? dpt_schedule_lr(s->schedule, s->step) : s->optim->spec.lr;
    dpt_optim_step(s->optim, m->params, g, s->lr);
    s->step++;
    return DPT_STEP_OK;
}
