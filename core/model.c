/* A feed-forward model: builds the layer list from specs (expanding dense + fused activation),
 * lays out the flat parameter/gradient buffers and one arena for activations, caches and the
 * backward deltas, then runs forward and backward without allocating. */
#include "core/model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define ALIGN_FLOATS 16 /* 64-byte alignment of every arena sub-buffer */

static size_t round_up(size_t n) {
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Prefixes msg with the layer as the user wrote it: index in the config list, type, line. */
static int layer_err(char *err, size_t errlen, int i, const dpt_layer_spec *s, const char *msg) {
    if (s->line > 0)
        return dpt_err(err, errlen, "layer %d (%s, line %d): %s", i, s->type, s->line, msg);
    return dpt_err(err, errlen, "layer %d (%s): %s", i, s->type, msg);
}

/* Fills out[] with the layers spec s expands into (a dense spec with a fused activation is two);
 * returns how many (1 or 2).  s's type is known. */
static int expand_spec(const dpt_layer_spec *s, dpt_layer_spec out[2]) {
    const dpt_layer_type *t = dpt_layer_find(s->type);
    if (t->split) return t->split(s, out);
    out[0] = *s;
    return 1;
}

static int check_types(const dpt_layer_spec *specs, int nspecs, int *nlayers, char *err,
                       size_t errlen) {
    char names[128], msg[256];
    *nlayers = 0;
    for (int i = 0; i < nspecs; i++) {
        if (!dpt_layer_find(specs[i].type)) {
            dpt_join_names(names, sizeof names, dpt_layer_names());
            if (specs[i].type[0])
                snprintf(msg, sizeof msg, "unknown layer type '%s' (expected one of: %s)",
                         specs[i].type, names);
            else
                snprintf(msg, sizeof msg, "missing layer type (expected one of: %s)", names);
            return layer_err(err, errlen, i, &specs[i], msg);
        }
        dpt_layer_spec parts[2];
        *nlayers += expand_spec(&specs[i], parts);
    }
    return 0;
}

/* Automatic names count the layers of the same type before this one in the expanded list. */
static void assign_name(dpt_model *m, int li) {
    dpt_layer *l = &m->layers[li];
    if (l->spec.name[0]) {
        memcpy(l->name, l->spec.name, sizeof l->name);
        return;
    }
    int k = 0;
    for (int j = 0; j < li; j++) k += m->layers[j].type == l->type;
    snprintf(l->name, sizeof l->name, "%s_%d", l->type->name, k);
}

static int check_name(const dpt_model *m, int li, const dpt_layer_spec *user, int ui, char *err,
                      size_t errlen) {
    const char *name = m->layers[li].name;
    char msg[256];
    if (strchr(name, '/')) {
        snprintf(msg, sizeof msg, "name '%s' must not contain '/' (names become HDF5 datasets)",
                 name);
        return layer_err(err, errlen, ui, user, msg);
    }
    for (int j = 0; j < li; j++) {
        if (strcmp(m->layers[j].name, name) == 0) {
            snprintf(msg, sizeof msg,
                     "name '%s' is already used by an earlier layer (names must be unique)", name);
            return layer_err(err, errlen, ui, user, msg);
        }
    }
    return 0;
}

/* Builds the layers of spec ui into m->layers[*li...], chaining shapes: *shape is the input of
 * the next layer (its output on return). */
static int build_spec(dpt_model *m, const dpt_layer_spec *user, int ui, int *li, dpt_shape *shape,
                      char *err, size_t errlen) {
    dpt_layer_spec parts[2];
    int nparts = expand_spec(user, parts);
    char msg[768];
    for (int p = 0; p < nparts; p++, (*li)++) {
        dpt_layer *l = &m->layers[*li];
        l->type = dpt_layer_find(parts[p].type);
        l->spec = parts[p];
        l->index = *li;
        if (dpt_layer_build(l, shape, msg, sizeof msg))
            return layer_err(err, errlen, ui, user, msg);
        DPT_ASSERT(l->ntensors >= 0 && l->ntensors <= DPT_MAX_TENSORS);
        *shape = l->out_shape;
        assign_name(m, *li);
        if (check_name(m, *li, user, ui, err, errlen)) return -1;
    }
    return 0;
}

/* Head room for the training step's sums (parallel/step.h: count, loss, the trainer's metric
 * sums and requests) in one 64-byte line; dpt_model_grad_head grows it when asked for more. */
enum { GRAD_HEAD_DEFAULT = 16 };

/* (Re)allocates the gradient buffer with `head` floats in front, keeping the gradients' values,
 * and points the layers' gradient views into it. */
static void alloc_grads(dpt_model *m, size_t head) {
    float *old = m->grads ? m->grads - m->grad_head : NULL;
    float *buf = dpt_alloc_floats(head + m->nparams); /* zeroed */
    if (old) memcpy(buf + head, m->grads, m->nparams * sizeof(float));
    free(old);
    m->grads = buf + head;
    m->grad_head = head;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->grads = l->ntensors ? m->grads + l->tensors[0].offset : NULL;
    }
}

static void layout_params(dpt_model *m) {
    size_t off = 0;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->nparams = 0;
        for (int t = 0; t < l->ntensors; t++) {
            const dpt_param_tensor *pt = &l->tensors[t];
            size_t prod = 1;
            DPT_ASSERT(pt->ndim >= 1 && pt->ndim <= DPT_TENSOR_MAX_DIMS);
            for (int d = 0; d < pt->ndim; d++) prod *= (size_t)pt->dim[d];
            DPT_ASSERT(prod == pt->size); /* a type's build sets both */
            l->tensors[t].offset = off;
            off += l->tensors[t].size;
            l->nparams += l->tensors[t].size;
        }
    }
    m->nparams = off;
    m->params = dpt_alloc_floats(off);
    alloc_grads(m, GRAD_HEAD_DEFAULT);
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->params = l->ntensors ? m->params + l->tensors[0].offset : NULL;
    }
}

/* The state tensors in a buffer of their own, laid out like the parameters. */
static void layout_state(dpt_model *m) {
    size_t off = 0;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        DPT_ASSERT(l->nstates >= 0 && l->nstates <= DPT_MAX_STATES);
        l->nstate = 0;
        for (int t = 0; t < l->nstates; t++) {
            dpt_param_tensor *st = &l->states[t];
            DPT_ASSERT(st->ndim >= 1 && st->ndim <= DPT_TENSOR_MAX_DIMS);
            st->offset = off;
            off += st->size;
            l->nstate += st->size;
        }
    }
    m->nstate = off;
    m->state = off ? dpt_alloc_floats(off) : NULL;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->state = l->nstates ? m->state + l->states[0].offset : NULL;
    }
}

float *dpt_model_grad_head(dpt_model *m, size_t n) {
    if (n > m->grad_head) alloc_grads(m, (n + 15) / 16 * 16); /* grads stay 64-byte aligned */
    memset(m->grads - n, 0, n * sizeof(float));
    return m->grads - n;
}

/* Floats the arena needs: activations, caches, two deltas; each piece 64-byte aligned. */
static double arena_floats(const dpt_model *m, size_t *maxw) {
    size_t B = (size_t)m->max_batch, total = 0;
    *maxw = (size_t)m->in_features * (size_t)m->in_steps;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        size_t w = (size_t)l->out * (size_t)l->steps_out;
        total += round_up(B * w) + round_up(l->cache_fixed + B * l->cache_per_sample);
        if (w > *maxw) *maxw = w;
    }
    total += 2 * round_up(B * *maxw);
    return (double)total;
}

static int layout_arena(dpt_model *m, char *err, size_t errlen) {
    size_t maxw, B = (size_t)m->max_batch;
    double total = arena_floats(m, &maxw);
    /* 2^40 floats (4 TiB) is far beyond any node; it also keeps the size_t sums exact. */
    if (total > 0x1.0p40)
        return dpt_err(err, errlen,
                       "the model needs %.3g GiB of activation memory for batches of %d rows "
                       "(expected a smaller batch size or narrower layers)",
                       total * 4.0 / 0x1.0p30, m->max_batch);
    m->arena = dpt_alloc_floats((size_t)total);
    m->arena_floats = (size_t)total;
    m->acts = dpt_calloc((size_t)m->nlayers + 1, sizeof *m->acts);
    float *p = m->arena; /* cursor through the arena (floats) */
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        m->acts[i + 1] = p;
        p += round_up(B * (size_t)l->out * (size_t)l->steps_out);
        size_t cache = l->cache_fixed + B * l->cache_per_sample;
        l->cache = cache ? p : NULL;
        p += round_up(cache);
    }
    m->delta[0] = p;
    m->delta[1] = p + round_up(B * maxw);
    return 0;
}

static int check_sizes(int nspecs, const dpt_shape *in, int max_batch, char *err, size_t errlen) {
    char msg[256];
    if (nspecs <= 0) return dpt_err(err, errlen, "the model has no layers (expected at least one)");
    if (dpt_shape_check(in, msg, sizeof msg))
        return dpt_err(err, errlen, "the model input: %s", msg);
    if (dpt_shape_size(in) > INT32_MAX)
        return dpt_err(err, errlen,
                       "the model input has %zu values per sample (expected at most %d)",
                       dpt_shape_size(in), INT32_MAX);
    if (max_batch <= 0)
        return dpt_err(err, errlen, "batch size %d (expected at least 1)", max_batch);
    return 0;
}

int dpt_model_build(dpt_model *m, const dpt_layer_spec *specs, int nspecs, const dpt_shape *in,
                    int max_batch, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    int nlayers = 0;
    if (check_sizes(nspecs, in, max_batch, err, errlen)) return -1;
    if (check_types(specs, nspecs, &nlayers, err, errlen)) return -1;
    m->nlayers = nlayers;
    m->layers = dpt_calloc((size_t)nlayers, sizeof *m->layers);
    m->max_batch = max_batch;
    m->in_shape = *in;
    int li = 0;
    dpt_shape shape = *in;
    for (int i = 0; i < nspecs; i++) {
        if (build_spec(m, &specs[i], i, &li, &shape, err, errlen)) goto fail;
    }
    DPT_ASSERT(li == nlayers);
    m->out_shape = shape;
    m->in_features = dpt_shape_last(in);
    m->in_steps = (int)dpt_shape_outer(in);
    m->out_features = dpt_shape_last(&shape);
    m->out_steps = (int)dpt_shape_outer(&shape);
    m->axis_change = m->nlayers;
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (!dpt_shape_same_rows(&m->layers[i].in_shape, &m->layers[i].out_shape))
            m->axis_change = i;
    layout_params(m);
    layout_state(m);
    if (layout_arena(m, err, errlen)) goto fail;
    return 0;
fail:
    dpt_model_free(m);
    return -1;
}

void dpt_model_free(dpt_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->params);
    free(m->state);
    free(m->grads ? m->grads - m->grad_head : NULL);
    free(m->acts);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void dpt_model_init_params(dpt_model *m, uint64_t seed) {
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        if (!l->type->init || (l->nparams == 0 && l->nstate == 0)) continue;
        /* One stream per layer: a layer's values do not depend on the layers before it. */
        dpt_rng rng;
        dpt_rng_seed(&rng, seed, (uint64_t)i);
        l->type->init(l, &rng);
    }
}

/* The context layer i sees: the step's, without lengths past a change of the time axis. */
static const dpt_step_ctx *layer_ctx(const dpt_model *m, int i, dpt_step_ctx *after) {
    if (i <= m->axis_change || !m->ctx.lengths) return &m->ctx;
    *after = m->ctx;
    after->lengths = NULL;
    return after;
}

const int32_t *dpt_model_output_lengths(const dpt_model *m, const int32_t *x_lengths,
                                        const int32_t *y_lengths) {
    if (!dpt_shape_is_sequence(&m->out_shape)) return NULL;
    return m->axis_change == m->nlayers ? x_lengths : y_lengths;
}

/* x: (B, in_shape) of the input's element type. */
static const float *forward(dpt_model *m, const void *x, int B, const dpt_step_ctx *ctx) {
    DPT_ASSERT(B >= 0 && B <= m->max_batch);
    if (ctx)
        m->ctx = *ctx;
    else
        memset(&m->ctx, 0, sizeof m->ctx);
    if (B > 0) m->acts[0] = (float *)x; /* never written: acts[0] only feeds layer 0 */
    dpt_step_ctx after;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        /* With no rows only a cross-rank layer runs: it joins the others' reductions. */
        if (B > 0 || dpt_layer_type_has(l->type, DPT_LAYER_CROSS_RANK))
            l->type->forward(l, m->acts[i], m->acts[i + 1], B, layer_ctx(m, i, &after));
    }
    return m->acts[m->nlayers];
}

const float *dpt_model_forward(dpt_model *m, const float *x, int B, const dpt_step_ctx *ctx) {
    DPT_ASSERT(m->in_shape.dtype == DPT_F32);
    return forward(m, x, B, ctx);
}

const float *dpt_model_forward_ids(dpt_model *m, const int32_t *ids, int B,
                                   const dpt_step_ctx *ctx) {
    DPT_ASSERT(m->in_shape.dtype == DPT_I32);
    return forward(m, ids, B, ctx);
}

void dpt_model_backward(dpt_model *m, const float *dout, int B) {
    DPT_ASSERT(B >= 0 && B <= m->max_batch);
    const float *dy = dout; /* (B, steps_out, out) of layer i */
    dpt_step_ctx after;
    const float *from = m->grads + m->nparams; /* gradients final from here up */
    m->ctx.grads_ready = m->grads_ready;
    m->ctx.grads_ready_arg = m->grads_ready_arg;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        dpt_layer *l = &m->layers[i];
        /* Layer i reads delta[(i + 1) & 1] and writes delta[i & 1]: never the same buffer. */
        float *dx = i > 0 ? m->delta[i & 1] : NULL; /* (B, steps_in, in) of layer i */
        /* With no rows the gradients stay zero, but the hook still reports every layer: an
         * empty rank joins the same gradient reductions as the others (and a cross-rank layer
         * its own). */
        if (B > 0 || dpt_layer_type_has(l->type, DPT_LAYER_CROSS_RANK))
            l->type->backward(l, m->acts[i], m->acts[i + 1], dy, dx, B, layer_ctx(m, i, &after));
        if (l->nparams > 0) from = l->grads;
        if (m->grads_ready) m->grads_ready(m->grads_ready_arg, from);
        dy = dx;
    }
}

void dpt_model_zero_grads(dpt_model *m) {
    if (m->nparams) memset(m->grads, 0, m->nparams * sizeof *m->grads);
}

double dpt_model_add_l2(dpt_model *m, float l2) {
    if (l2 == 0.0f) return 0.0;
    double sumsq = 0.0;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        for (int t = 0; t < l->ntensors; t++) {
            if (!l->tensors[t].decay) continue;
            const float *w = m->params + l->tensors[t].offset; /* (size) */
            float *g = m->grads + l->tensors[t].offset;        /* (size) */
            for (size_t k = 0; k < l->tensors[t].size; k++) {
                g[k] += l2 * w[k];
                sumsq += (double)w[k] * (double)w[k];
            }
        }
    }
    return 0.5 * (double)l2 * sumsq;
}

uint64_t dpt_model_checksum(const dpt_model *m) {
    uint64_t h = dpt_fnv1a(DPT_FNV_BASIS, m->params, m->nparams * sizeof(float));
    return m->nstate ? dpt_fnv1a(h, m->state, m->nstate * sizeof(float)) : h;
}

dpt_layer *dpt_model_layer(dpt_model *m, const char *name) {
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0) return &m->layers[i];
    return NULL;
}
