/* The data-parallel training step: local forward/backward, the allreduce of gradients plus
 * sample count and statistics (inline, or bucket by bucket on the communication thread while
 * backward runs), then every rank applies the identical update. */
#include "parallel/step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "parallel/comm.h"
#include "parallel/dist.h"

void dpt_step_init(dpt_step *s, dpt_model *m, const dpt_loss *loss, dpt_optim *opt,
                   const dpt_schedule *sched) {
    memset(s, 0, sizeof *s);
    s->model = m;
    s->loss = loss;
    s->optim = opt;
    s->schedule = sched;
    dpt_step_add_sums(s, "count", 1); /* DPT_SUM_COUNT */
    dpt_step_add_sums(s, "loss", 1);  /* DPT_SUM_LOSS */
    s->dout =
        dpt_alloc_floats((size_t)m->max_batch * (size_t)m->out_steps * (size_t)m->out_features);
    dpt_trace_init(&s->comm_trace, 1, 0);
}

static void stop_overlap(dpt_step *s) {
    if (s->comm) dpt_comm_stop(s->comm);
    free(s->comm);
    free(s->buckets);
    s->comm = NULL;
    s->buckets = NULL;
    s->nbuckets = 0;
    s->overlap = false;
    s->model->grads_ready = NULL;
    s->model->grads_ready_arg = NULL;
}

void dpt_step_free(dpt_step *s) {
    if (!s->model) return;
    stop_overlap(s);
    free(s->dout); /* s->reduce is the model's gradient buffer (and its head room) */
    dpt_trace_free(&s->comm_trace);
    memset(s, 0, sizeof *s);
}

int dpt_step_add_sums(dpt_step *s, const char *name, int n) {
    dpt_sums *u = &s->sums;
    DPT_ASSERT(!s->comm && !s->in_step && n >= 0 && u->n + n <= DPT_SUMS_MAX);
    int handle = u->n;
    for (int i = 0; i < n; i++) u->name[u->n++] = name;
    /* The slots sit right before the gradients, so the reduced range starts at the first. */
    u->local = dpt_model_grad_head(s->model, (size_t)u->n);
    s->reduce = u->local;
    return handle;
}

/* ---- overlap: bucket hand-over ---- */

/* Hands over the buckets that are complete once the gradients from offset `from` of the reduce
 * buffer up are final (0: every gradient bucket).  The bucket with the sums (first_layer -1)
 * is left for dpt_step_update. */
static void release_ready(dpt_step *s, size_t from) {
    int k = s->released;
    while (k < s->nbuckets && s->buckets[k].first_layer >= 0 && s->buckets[k].off >= from) k++;
    if (k == s->released) return;
    dpt_comm_release(s->comm, k - s->released, s->step);
    s->released = k;
}

static void on_grads_ready(void *arg, const float *from) {
    dpt_step *s = arg;
    release_ready(s, (size_t)(from - s->reduce));
}

/* Plans the buckets for the reduce buffer: the model's plan shifted past the sums, and the
 * bucket holding layer 0's gradients grown down over the sums, so it is the one
 * dpt_step_update releases after the caller filled them. */
static void plan_buckets(dpt_step *s, size_t bucket_bytes) {
    dpt_model *m = s->model;
    size_t nsums = (size_t)s->sums.n;
    s->buckets = dpt_calloc((size_t)dpt_bucket_plan(m, bucket_bytes, NULL) + 1, sizeof *s->buckets);
    int nb = dpt_bucket_plan(m, bucket_bytes, s->buckets);
    for (int k = 0; k < nb; k++) s->buckets[k].off += nsums;
    if (nb == 0) {
        s->buckets[nb++] =
            (dpt_bucket){.off = 0, .len = nsums, .first_layer = -1, .last_layer = -1};
    } else {
        dpt_bucket *last = &s->buckets[nb - 1];
        DPT_ASSERT(last->off == nsums);
        last->off = 0;
        last->len += nsums;
        last->first_layer = -1;
    }
    s->nbuckets = nb;
}

/* The first layer that reduces across ranks inside backward (batch_norm), or NULL. */
static const dpt_layer *cross_rank_layer(const dpt_model *m) {
    for (int i = 0; i < m->nlayers; i++)
        if (dpt_layer_type_has(m->layers[i].type, DPT_LAYER_CROSS_RANK)) return &m->layers[i];
    return NULL;
}

bool dpt_step_set_overlap(dpt_step *s, bool on, size_t bucket_bytes) {
    DPT_ASSERT(!s->in_step);
    stop_overlap(s);
    if (!on) return false;
    const dpt_layer *cross = cross_rank_layer(s->model);
    if (cross) {
        dpt_log0("note: layer %s (%s) reduces across ranks during backward: the gradient "
                 "allreduce is not overlapped with backward\n",
                 cross->name, cross->type->name);
        return false;
    }
    if (dpt_world.thread_level < MPI_THREAD_SERIALIZED) {
        dpt_log0("note: the MPI library provides only %s: the gradient allreduce is not "
                 "overlapped with backward (needs MPI_THREAD_SERIALIZED)\n",
                 dpt_world.thread_level == MPI_THREAD_FUNNELED ? "MPI_THREAD_FUNNELED"
                                                               : "MPI_THREAD_SINGLE");
        return false;
    }
    s->bucket_bytes = bucket_bytes ? bucket_bytes : DPT_STEP_BUCKET_BYTES_DEFAULT;
    plan_buckets(s, s->bucket_bytes);
    s->comm = dpt_calloc(1, sizeof *s->comm);
    dpt_comm_start(s->comm, dpt_world.comm, s->reduce, s->buckets, s->nbuckets, &s->comm_trace);
    s->model->grads_ready = on_grads_ready;
    s->model->grads_ready_arg = s;
    s->overlap = true;
    return true;
}

void dpt_step_trace_comm(dpt_step *s, size_t cap) {
    DPT_ASSERT(!s->in_step); /* the thread is idle: nobody records */
    dpt_trace_free(&s->comm_trace);
    dpt_trace_init(&s->comm_trace, 1, cap);
}

/* ---- the step ---- */

/* ctx->reduce of cross-rank layers: an allreduce on the calling (main) thread; overlap is off
 * for models with such layers, so nobody else uses MPI meanwhile. */
static void reduce_f64(void *arg, double *buf, int n) {
    (void)arg;
    dpt_allreduce_sum_f64(buf, (size_t)n);
}

static void trace_main(dpt_step *s, dpt_phase p, double t0, double t1) {
    if (s->trace) dpt_trace_add(s->trace, p, t0, t1, s->step, 0);
}

const float *dpt_step_compute(dpt_step *s, const float *x, dpt_target y, int B,
                              const int64_t *sample_ids, const int32_t *lengths) {
    /* Per-step padding matters to the loss only when the model outputs every input step. */
    return dpt_step_compute_masked(s, x, y, B, sample_ids, lengths,
                                   dpt_model_output_lengths(s->model, lengths, NULL));
}

/* x: float32 values, or int32 token ids in the same 4-byte slots for a model whose first layer
 * reads them (dpt_model_forward_ids). */
static const float *forward_x(dpt_model *m, const float *x, int B, const dpt_step_ctx *ctx) {
    if (m->in_shape.dtype == DPT_I32)
        return dpt_model_forward_ids(m, (const int32_t *)(const void *)x, B, ctx);
    return dpt_model_forward(m, x, B, ctx);
}

const float *dpt_step_compute_masked(dpt_step *s, const float *x, dpt_target y, int B,
                                     const int64_t *sample_ids, const int32_t *lengths,
                                     const int32_t *masked) {
    dpt_model *m = s->model;
    DPT_ASSERT(!s->in_step || !s->comm); /* buckets of the last step are still in flight */
    double t0 = dpt_now_s();
    memset(s->reduce, 0, ((size_t)s->sums.n + m->nparams) * sizeof(float));
    s->released = 0;
    s->in_step = true;
    dpt_step_ctx ctx = {.training = true,
                        .seed = s->seed,
                        .step = (uint64_t)s->step,
                        .sample_ids = sample_ids,
                        .lengths = lengths,
                        .reduce = dpt_world.size > 1 ? reduce_f64 : NULL};
    const float *out = forward_x(m, x, B, &ctx);
    double loss = B > 0 ? dpt_loss_eval_steps(s->loss, out, y, B, m->out_steps, m->out_features,
                                              masked, s->dout)
                        : 0.0;
    double t1 = dpt_now_s();
    dpt_model_backward(m, s->dout, B); /* hands buckets over through m->grads_ready */
    if (s->comm) release_ready(s, 0);
    s->sums.local[DPT_SUM_COUNT] = (float)B;
    s->sums.local[DPT_SUM_LOSS] = (float)loss;
    trace_main(s, DPT_PH_FORWARD, t0, t1);
    trace_main(s, DPT_PH_BACKWARD, t1, dpt_now_s());
    return out;
}

/* Every rank holds the global sums in the reduced range when this returns. */
static void reduce_all(dpt_step *s) {
    size_t n = (size_t)s->sums.n + s->model->nparams;
    if (!s->comm) {
        double t0 = dpt_now_s();
        dpt_allreduce_sum_f32(s->reduce, n);
        dpt_trace_add(&s->comm_trace, DPT_PH_ALLREDUCE, t0, dpt_now_s(), s->step, 0);
        return;
    }
    DPT_ASSERT(s->released == s->nbuckets - 1);
    dpt_comm_release(s->comm, 1, s->step);
    s->released = s->nbuckets;
    dpt_comm_wait(s->comm);
}

static const char *first_bad_layer(const dpt_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (l->nparams > 0 && dpt_first_nonfinite(l->grads, l->nparams) >= 0) return l->name;
    }
    return NULL;
}

/* Average, L2, norm, check, clip, update: the same on every rank. */
static dpt_step_status apply(dpt_step *s, const char **bad_layer) {
    dpt_model *m = s->model;
    size_t n = m->nparams;
    for (int i = 0; i < s->sums.n; i++) s->sums.total[i] = s->sums.local[i];
    s->count = s->sums.total[DPT_SUM_COUNT];
    s->loss_sum = s->sums.total[DPT_SUM_LOSS];
    if (bad_layer) *bad_layer = NULL;
    if (s->count <= 0) return DPT_STEP_OK;

    float inv = (float)(1.0 / s->count), gscale = 1.0f;
    float *g = m->grads;
    if (s->l2 > 0 || s->clip_norm > 0 || s->clip_value > 0) {
        s->grad_norm = dpt_scale_grad_norm(g, n, inv); /* average and norm in one pass */
        if (s->l2 > 0) {                               /* L2 joins the averaged gradient */
            dpt_model_add_l2(m, s->l2);
            s->grad_norm = dpt_grad_norm(g, n);
        }
    } else { /* the update averages as it reads: the norm pass only reads */
        s->grad_norm = dpt_grad_norm(g, n) * inv;
        gscale = inv;
    }
    if (!isfinite(s->grad_norm) || !isfinite(s->loss_sum)) {
        if (bad_layer) *bad_layer = first_bad_layer(m);
        return DPT_STEP_NONFINITE;
    }
    if (s->clip_norm > 0) dpt_clip_by_norm(g, n, s->grad_norm, s->clip_norm);
    if (s->clip_value > 0) dpt_clip_by_value(g, n, s->clip_value);
    s->lr = s->schedule ? dpt_schedule_lr(s->schedule, s->step) : s->optim->spec.lr;
    dpt_optim_step_scaled(s->optim, m->params, g, gscale, s->lr);
    s->step++;
    return DPT_STEP_OK;
}

dpt_step_status dpt_step_update(dpt_step *s, const char **bad_layer) {
    DPT_ASSERT(s->in_step || !s->comm);
    double t0 = dpt_now_s();
    reduce_all(s);
    s->in_step = false;
    double t1 = dpt_now_s();
    int64_t step = s->step; /* the events belong to the step the gradients are of */
    dpt_step_status st = apply(s, bad_layer);
    if (s->trace) {
        dpt_trace_add(s->trace, DPT_PH_COMM_WAIT, t0, t1, step, 0);
        dpt_trace_add(s->trace, DPT_PH_UPDATE, t1, dpt_now_s(), step, 0);
    }
    return st;
}
