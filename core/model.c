/* A feed-forward model: builds the layers of the graph core/graph.c plans from the specs, lays
 * out the flat parameter/gradient buffers and one arena for activations, caches, states and the
 * backward's gradient buffers, then runs forward and backward without allocating. */
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

static int check_types(const dpt_layer_spec *specs, int nspecs, char *err, size_t errlen) {
    char names[128], msg[256];
    for (int i = 0; i < nspecs; i++) {
        if (dpt_layer_find(specs[i].type)) continue;
        dpt_join_names(names, sizeof names, dpt_layer_names());
        if (specs[i].type[0])
            snprintf(msg, sizeof msg, "unknown layer type '%s' (expected one of: %s)",
                     specs[i].type, names);
        else
            snprintf(msg, sizeof msg, "missing layer type (expected one of: %s)", names);
        return dpt_layer_spec_err(err, errlen, i, &specs[i], msg);
    }
    return 0;
}

/* The shape source src of layer i carries. */
static int src_shape(const dpt_model *m, int i, const dpt_graph_src *src, dpt_shape *out, char *err,
                     size_t errlen) {
    if (src->layer < 0) {
        *out = m->inputs[src->input].shape;
        return 0;
    }
    const dpt_layer *from = &m->layers[src->layer];
    if (!src->state) {
        *out = from->out_shape;
        return 0;
    }
    if (from->state_size > 0) {
        *out = dpt_shape_1d(from->state_size);
        return 0;
    }
    char msg[256];
    snprintf(msg, sizeof msg,
             "initial_state: '%s' (%s) has no final state to give (expected a recurrent layer: "
             "rnn, lstm or gru)",
             from->name, from->type->name);
    return dpt_layer_spec_err(err, errlen, m->nodes[i].user, &m->layers[i].spec, msg);
}

/* A layer that takes an initial state needs one of its own state's size. */
static int check_state(const dpt_model *m, int i, char *err, size_t errlen) {
    const dpt_graph_node *nd = &m->nodes[i];
    const dpt_layer *l = &m->layers[i];
    if (nd->nsrc == 0 || !nd->src[nd->nsrc - 1].state) return 0;
    const dpt_layer *from = &m->layers[nd->src[nd->nsrc - 1].layer];
    if (from->state_size == l->state_size) return 0;
    char msg[384];
    snprintf(msg, sizeof msg,
             "initial_state: '%s' gives a state of %d values per sample, this %s needs %d "
             "(expected the same cell type, and units x directions to match)",
             from->name, from->state_size, l->type->name, l->state_size);
    return dpt_layer_spec_err(err, errlen, nd->user, &l->spec, msg);
}

static int build_layer(dpt_model *m, int i, char *err, size_t errlen) {
    const dpt_graph_node *nd = &m->nodes[i];
    dpt_layer *l = &m->layers[i];
    dpt_shape in[DPT_LAYER_MAX_INPUTS];
    char msg[768];
    l->type = dpt_layer_find(nd->spec.type);
    l->spec = nd->spec;
    l->index = i;
    memcpy(l->name, nd->name, sizeof l->name);
    for (int k = 0; k < nd->nsrc; k++)
        if (src_shape(m, i, &nd->src[k], &in[k], err, errlen)) return -1;
    if (dpt_layer_build_n(l, in, nd->nsrc, msg, sizeof msg))
        return dpt_layer_spec_err(err, errlen, nd->user, &l->spec, msg);
    DPT_ASSERT(l->ntensors >= 0 && l->ntensors <= DPT_MAX_TENSORS);
    bool multi = l->type->forward_n != NULL;
    DPT_ASSERT(multi || (l->type->forward && l->type->backward));
    return check_state(m, i, err, errlen);
}

/* Which model input's lengths describe each layer's output (-1: none, a new time axis). */
static void plan_lengths(dpt_model *m) {
    m->len_origin = dpt_calloc((size_t)m->nlayers, sizeof *m->len_origin);
    m->axis_change = m->nlayers;
    for (int i = m->nlayers - 1; i >= 0; i--)
        if (!dpt_shape_same_rows(&m->layers[i].in_shape, &m->layers[i].out_shape))
            m->axis_change = i;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_graph_src *s = &m->nodes[i].src[0];
        int from = s->layer < 0 ? s->input : s->state ? -1 : m->len_origin[s->layer];
        bool keeps = dpt_shape_same_rows(&m->layers[i].in_shape, &m->layers[i].out_shape);
        m->len_origin[i] = keeps ? from : -1;
    }
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

/* Whether another layer reads layer i's final state. */
static bool state_read(const dpt_model *m, int i) {
    for (int j = i + 1; j < m->nlayers; j++)
        for (int k = 0; k < m->nodes[j].nsrc; k++)
            if (m->nodes[j].src[k].layer == i && m->nodes[j].src[k].state) return true;
    return false;
}

/* The widest value a gradient buffer holds: a layer's output or its state. */
static size_t max_width(const dpt_model *m) {
    size_t w = 1;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        size_t out = (size_t)l->out * (size_t)l->steps_out;
        if (out > w) w = out;
        if ((size_t)l->state_size > w) w = (size_t)l->state_size;
    }
    return w;
}

/* Whether a layer's output is read by nobody but its state is: its dy is zeros. */
static int needs_zeros(const dpt_model *m) {
    for (int i = 0; i < m->nlayers; i++)
        if (m->gplan[i].dy_slot == DPT_GRAPH_ZERO) return 1;
    return 0;
}

/* Floats the arena needs: activations, caches, read states, gradient buffers, and with several
 * inputs their unpacked copies and lengths; each piece 64-byte aligned. */
static double arena_floats(const dpt_model *m) {
    size_t B = (size_t)m->max_batch, total = 0, maxw = max_width(m);
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        size_t w = (size_t)l->out * (size_t)l->steps_out;
        total += round_up(B * w) + round_up(l->cache_fixed + B * l->cache_per_sample);
        if (state_read(m, i)) total += round_up(B * (size_t)l->state_size);
    }
    total += (size_t)(m->nslots + m->nscratch + needs_zeros(m)) * round_up(B * maxw);
    if (m->ninputs > 1)
        for (int k = 0; k < m->ninputs; k++)
            total += round_up(B * dpt_shape_size(&m->inputs[k].shape)) + round_up(B);
    return (double)total;
}

static float **carve(float **p, int n, size_t each) {
    float **v = dpt_calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    for (int k = 0; k < n; k++) {
        v[k] = *p;
        *p += round_up(each);
    }
    return v;
}

static int layout_arena(dpt_model *m, char *err, size_t errlen) {
    size_t B = (size_t)m->max_batch;
    double total = arena_floats(m);
    /* 2^40 floats (4 TiB) is far beyond any node; it also keeps the size_t sums exact. */
    if (total > 0x1.0p40)
        return dpt_err(err, errlen,
                       "the model needs %.3g GiB of activation memory for batches of %d rows "
                       "(expected a smaller batch size or narrower layers)",
                       total * 4.0 / 0x1.0p30, m->max_batch);
    m->arena = dpt_alloc_floats((size_t)total);
    m->arena_floats = (size_t)total;
    m->acts = dpt_calloc((size_t)m->nlayers + 1, sizeof *m->acts);
    m->states = dpt_calloc((size_t)m->nlayers, sizeof *m->states);
    float *p = m->arena; /* cursor through the arena (floats) */
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        m->acts[i + 1] = p;
        p += round_up(B * (size_t)l->out * (size_t)l->steps_out);
        size_t cache = l->cache_fixed + B * l->cache_per_sample;
        l->cache = cache ? p : NULL;
        p += round_up(cache);
        if (state_read(m, i)) m->states[i] = p, p += round_up(B * (size_t)l->state_size);
    }
    size_t maxw = max_width(m);
    m->slots = carve(&p, m->nslots, B * maxw);
    m->scratch = carve(&p, m->nscratch, B * maxw);
    if (needs_zeros(m)) {
        m->zeros = p; /* the arena starts zeroed; nothing writes here */
        p += round_up(B * maxw);
    }
    m->in_x = dpt_calloc((size_t)m->ninputs, sizeof *m->in_x);
    m->in_len = dpt_calloc((size_t)m->ninputs, sizeof *m->in_len);
    m->vlen = dpt_calloc((size_t)m->nlayers, sizeof *m->vlen);
    if (m->ninputs > 1) {
        for (int k = 0; k < m->ninputs; k++) {
            m->in_x[k] = p;
            p += round_up(B * dpt_shape_size(&m->inputs[k].shape));
            m->in_len[k] = (int32_t *)(void *)p;
            p += round_up(B);
        }
    }
    DPT_ASSERT((size_t)(p - m->arena) == m->arena_floats);
    return 0;
}

static int check_sizes(int nspecs, const dpt_model_input *in, int nin, int max_batch, char *err,
                       size_t errlen) {
    char msg[256];
    if (nspecs <= 0) return dpt_err(err, errlen, "the model has no layers (expected at least one)");
    if (nin < 1 || nin > DPT_MODEL_MAX_INPUTS)
        return dpt_err(err, errlen, "the model has %d inputs (expected 1 to %d)", nin,
                       DPT_MODEL_MAX_INPUTS);
    size_t width = 0;
    for (int k = 0; k < nin; k++) {
        if (dpt_shape_check(&in[k].shape, msg, sizeof msg))
            return dpt_err(err, errlen, "the model input%s%s: %s", nin > 1 ? " " : "",
                           nin > 1 ? in[k].name : "", msg);
        for (int j = 0; j < k; j++)
            if (strcmp(in[j].name, in[k].name) == 0)
                return dpt_err(err, errlen,
                               "two model inputs are named '%s' (names must be unique)",
                               in[k].name);
        width += dpt_shape_size(&in[k].shape);
    }
    if (width > INT32_MAX)
        return dpt_err(err, errlen,
                       "the model input has %zu values per sample (expected at most %d)", width,
                       INT32_MAX);
    if (max_batch <= 0)
        return dpt_err(err, errlen, "batch size %d (expected at least 1)", max_batch);
    return 0;
}

static void set_inputs(dpt_model *m, const dpt_model_input *in, int nin) {
    bool ints = true;
    m->ninputs = nin;
    m->in_width = 0;
    for (int k = 0; k < nin; k++) {
        m->inputs[k] = in[k];
        m->inputs[k].offset = m->in_width;
        m->in_width += dpt_shape_size(&in[k].shape);
        ints = ints && in[k].shape.dtype == DPT_I32;
    }
    m->in_shape = in[0].shape;
    if (nin > 1) {
        m->in_shape = dpt_shape_1d((int)m->in_width);
        m->in_shape.dtype = ints ? DPT_I32 : DPT_F32;
    }
    m->in_features = dpt_shape_last(&m->in_shape);
    m->in_steps = (int)dpt_shape_outer(&m->in_shape);
}

static int build_graph(dpt_model *m, const dpt_layer_spec *specs, int nspecs, char *err,
                       size_t errlen) {
    char names[DPT_MODEL_MAX_INPUTS][DPT_NAME_MAX];
    for (int k = 0; k < m->ninputs; k++) memcpy(names[k], m->inputs[k].name, DPT_NAME_MAX);
    if (dpt_graph_plan(specs, nspecs, (const char(*)[DPT_NAME_MAX])names, m->ninputs, &m->nodes,
                       &m->nlayers, err, errlen))
        return -1;
    m->layers = dpt_calloc((size_t)m->nlayers, sizeof *m->layers);
    for (int i = 0; i < m->nlayers; i++)
        if (build_layer(m, i, err, errlen)) return -1;
    m->gplan = dpt_calloc((size_t)m->nlayers, sizeof *m->gplan);
    dpt_graph_plan_grads(m->nodes, m->nlayers, m->ninputs, m->gplan, &m->nslots, &m->nscratch);
    return 0;
}

int dpt_model_build_inputs(dpt_model *m, const dpt_layer_spec *specs, int nspecs,
                           const dpt_model_input *inputs, int ninputs, int max_batch, char *err,
                           size_t errlen) {
    memset(m, 0, sizeof *m);
    if (check_sizes(nspecs, inputs, ninputs, max_batch, err, errlen)) return -1;
    if (check_types(specs, nspecs, err, errlen)) return -1;
    m->max_batch = max_batch;
    set_inputs(m, inputs, ninputs);
    if (build_graph(m, specs, nspecs, err, errlen)) goto fail;
    m->out_shape = m->layers[m->nlayers - 1].out_shape;
    m->out_features = dpt_shape_last(&m->out_shape);
    m->out_steps = (int)dpt_shape_outer(&m->out_shape);
    plan_lengths(m);
    layout_params(m);
    layout_state(m);
    if (layout_arena(m, err, errlen)) goto fail;
    return 0;
fail:
    dpt_model_free(m);
    return -1;
}

int dpt_model_build(dpt_model *m, const dpt_layer_spec *specs, int nspecs, const dpt_shape *in,
                    int max_batch, char *err, size_t errlen) {
    dpt_model_input one = {.name = "input", .shape = *in};
    return dpt_model_build_inputs(m, specs, nspecs, &one, 1, max_batch, err, errlen);
}

int dpt_model_input_index(const dpt_model *m, const char *name) {
    for (int k = 0; k < m->ninputs; k++)
        if (strcmp(m->inputs[k].name, name) == 0) return k;
    return -1;
}

void dpt_model_free(dpt_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->nodes);
    free(m->gplan);
    free(m->len_origin);
    free(m->params);
    free(m->state);
    free(m->grads ? m->grads - m->grad_head : NULL);
    free(m->acts);
    free(m->states);
    free(m->slots);
    free(m->scratch);
    free(m->in_x);
    free(m->in_len);
    free(m->vlen);
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

const int32_t *dpt_model_output_lengths(const dpt_model *m, const int32_t *x_lengths,
                                        const int32_t *y_lengths) {
    if (!dpt_shape_is_sequence(&m->out_shape)) return NULL;
    int k = m->len_origin[m->nlayers - 1];
    if (k < 0) return y_lengths;
    if (m->ninputs == 1 || !x_lengths) return x_lengths;
    return m->in_len[k];
}

/* Unpacks the caller's rows (B, in_width) into each input's buffer, and the lengths. */
static void unpack_inputs(dpt_model *m, const void *x, int B) {
    if (m->ninputs == 1) {
        m->in_x[0] = x;
        m->in_len[0] = (int32_t *)m->ctx.lengths;
        return;
    }
    const uint32_t *row = x; /* 4-byte elements of either type */
    for (int k = 0; k < m->ninputs; k++) {
        size_t n = dpt_shape_size(&m->inputs[k].shape), off = m->inputs[k].offset;
        uint32_t *dst = (uint32_t *)(uintptr_t)m->in_x[k]; /* (B, n): arena owned */
        for (int b = 0; b < B; b++)
            memcpy(dst + (size_t)b * n, row + (size_t)b * m->in_width + off, n * sizeof *dst);
    }
    if (!m->ctx.lengths) return;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < m->ninputs; k++)
            m->in_len[k][b] = m->ctx.lengths[(size_t)b * m->ninputs + k];
}

/* What layer i reads: its inputs and their lengths (the forward pass's). */
static void layer_inputs(const dpt_model *m, int i, dpt_layer_io *io) {
    const dpt_graph_node *nd = &m->nodes[i];
    memset(io, 0, sizeof *io);
    io->n = nd->nsrc;
    for (int k = 0; k < nd->nsrc; k++) {
        const dpt_graph_src *s = &nd->src[k];
        if (s->layer < 0) {
            io->x[k] = m->in_x[s->input];
            io->lengths[k] = m->ctx.lengths ? m->in_len[s->input] : NULL;
        } else if (s->state) {
            io->x[k] = m->states[s->layer];
        } else {
            io->x[k] = m->acts[s->layer + 1];
            io->lengths[k] = m->vlen[s->layer];
        }
    }
    io->state = m->states[i];
}

static bool runs(const dpt_layer *l, int B) {
    /* With no rows only a cross-rank layer runs: it joins the others' reductions. */
    return B > 0 || dpt_layer_type_has(l->type, DPT_LAYER_CROSS_RANK);
}

/* x: (B, in_width) packed rows. */
static const float *forward(dpt_model *m, const void *x, int B, const dpt_step_ctx *ctx) {
    DPT_ASSERT(B >= 0 && B <= m->max_batch);
    if (ctx)
        m->ctx = *ctx;
    else
        memset(&m->ctx, 0, sizeof m->ctx);
    if (B > 0) m->acts[0] = (float *)(uintptr_t)x; /* never written */
    if (B > 0) unpack_inputs(m, x, B);
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        dpt_layer_io io;
        layer_inputs(m, i, &io);
        m->vlen[i] = m->len_origin[i] >= 0 ? io.lengths[0] : NULL;
        if (!runs(l, B)) continue;
        dpt_step_ctx lc = m->ctx;
        lc.lengths = io.lengths[0];
        if (l->type->forward_n)
            l->type->forward_n(l, &io, m->acts[i + 1], B, &lc);
        else
            l->type->forward(l, io.x[0], m->acts[i + 1], B, &lc);
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

const float *dpt_model_forward_rows(dpt_model *m, const void *x, int B, const dpt_step_ctx *ctx) {
    return forward(m, x, B, ctx);
}

/* Floats per sample of the value input k of layer i carries. */
static size_t input_size(const dpt_layer *l, int k) {
    return dpt_shape_size(&l->in_shapes[k]);
}

/* Runs layer i's backward with dy; its input gradients go where the plan says. */
static void layer_backward(dpt_model *m, int i, const float *dout, int B) {
    dpt_layer *l = &m->layers[i];
    const dpt_graph_grad *g = &m->gplan[i];
    dpt_layer_io io;
    layer_inputs(m, i, &io);
    const float *dy = g->dy_slot == DPT_GRAPH_ZERO ? m->zeros
                      : g->dy_slot < 0             ? dout
                                                   : m->slots[g->dy_slot];
    io.dstate = g->dstate_slot < 0 ? NULL : m->slots[g->dstate_slot];
    for (int k = 0; k < io.n; k++)
        io.dx[k] = g->dx_slot[k] < 0 ? NULL
                   : g->dx_add[k]    ? m->scratch[g->dx_scratch[k]]
                                     : m->slots[g->dx_slot[k]];
    dpt_step_ctx lc = m->ctx;
    lc.lengths = io.lengths[0];
    if (l->type->backward_n)
        l->type->backward_n(l, &io, m->acts[i + 1], dy, B, &lc);
    else
        l->type->backward(l, io.x[0], m->acts[i + 1], dy, io.dx[0], B, &lc);
    for (int k = 0; k < io.n; k++) { /* fan-out: the second and later gradients add in */
        if (!g->dx_add[k] || B == 0) continue;
        float *to = m->slots[g->dx_slot[k]];
        const float *add = io.dx[k];
        size_t n = (size_t)B * input_size(l, k);
        for (size_t j = 0; j < n; j++) to[j] += add[j];
    }
}

void dpt_model_backward(dpt_model *m, const float *dout, int B) {
    DPT_ASSERT(B >= 0 && B <= m->max_batch);
    const float *from = m->grads + m->nparams; /* gradients final from here up */
    m->ctx.grads_ready = m->grads_ready;
    m->ctx.grads_ready_arg = m->grads_ready_arg;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        dpt_layer *l = &m->layers[i];
        /* With no rows the gradients stay zero, but the hook still reports every layer: an
         * empty rank joins the same gradient reductions as the others (and a cross-rank layer
         * its own). */
        if (runs(l, B)) layer_backward(m, i, dout, B);
        if (l->nparams > 0) from = l->grads;
        if (m->grads_ready) m->grads_ready(m->grads_ready_arg, from);
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
