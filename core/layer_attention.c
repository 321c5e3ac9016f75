/* Dot-product (Luong) attention, Keras's Attention: inputs [query, value] or [query, value,
 * key] (key = value when not given), y (Tq, Dv) = softmax(scale Q K^T) V per sample, with
 * Luong's `general` score Q W K^T, keys past the value's length and (causal) past the query's
 * step masked.  The products run per sample inside a loop over samples, single-threaded each,
 * so the bits do not depend on the thread count. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/init.h"
#include "core/layer.h"
#include "core/util.h"

#define DEFAULT_KERNEL_INIT "glorot_uniform"
#define DEFAULT_INIT_SCALE  0.05f
/* Samples times multiply-adds above which the samples are split among threads. */
#define ATTENTION_PARALLEL_MIN 32768

typedef enum score_kind { SCORE_DOT, SCORE_SCALED_DOT, SCORE_GENERAL } score_kind;

static const char *const *score_names(void) {
    static const char *const names[] = {"dot", "scaled_dot", "general", NULL};
    return names;
}

/* The config keys of an attention layer. */
typedef struct attention_args {
    int score;            /* score_kind */
    bool causal;          /* mask keys after the query's own step */
    char kernel_init[32]; /* W of general; "" = glorot_uniform */
    float init_scale;     /* "uniform" limit / "normal" stddev; 0 = 0.05 */
} attention_args;
_Static_assert(sizeof(attention_args) <= DPT_LAYER_ARGS_MAX, "attention_args too large");

static const dpt_key attention_keys[] = {
    {.name = "score",
     .kind = DPT_KEY_CHOICE,
     DPT_FIELD(attention_args, score),
     .names = score_names,
     .def = "dot",
     .help = "dot: Q K^T; scaled_dot: Q K^T / sqrt(D); general: Q W K^T, W learned"},
    {.name = "causal",
     .kind = DPT_KEY_BOOL,
     DPT_FIELD(attention_args, causal),
     .def = "false",
     .help = "query step i sees keys 0..i only (self-attention in a decoder)"},
    /* DPT_LAYER_INIT_KEYS's rows that apply to a layer without a bias */
    {.name = "kernel_init",
     .kind = DPT_KEY_NAME,
     DPT_FIELD(attention_args, kernel_init),
     .names = dpt_init_names,
     .help = "weight initialiser"},
    {.name = "init_scale",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(attention_args, init_scale),
     .range = DPT_RANGE_GT0,
     .help = "uniform limit / normal stddev (default 0.05)"},
};

static const attention_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

/* The per-sample sizes: query (Tq, Dq), value (Tv, Dv), key (Tv, Dk). */
typedef struct att_dims {
    int Tq, Dq, Tv, Dv, Dk;
    bool general;
    float scale; /* of the scores */
} att_dims;

static att_dims dims_of(const dpt_layer *l) {
    const dpt_shape *key = &l->in_shapes[l->ninputs == 3 ? 2 : 1];
    att_dims d = {.Tq = l->steps_in,
                  .Dq = l->in,
                  .Tv = (int)dpt_shape_outer(&l->in_shapes[1]),
                  .Dv = dpt_shape_last(&l->in_shapes[1]),
                  .Dk = dpt_shape_last(key),
                  .general = args_of(l)->score == SCORE_GENERAL,
                  .scale = 1.0f};
    if (args_of(l)->score == SCORE_SCALED_DOT) d.scale = 1.0f / sqrtf((float)d.Dk);
    return d;
}

/* The cache, in sections of B samples each: A (B, Tq, Tv) the attention weights, G (B, Tq, Tv)
 * backward's dA and dS, and for general QW (B, Tq, Dk) = Q W and dQW (B, Tq, Dk). */
typedef struct att_cache {
    float *A, *G, *QW, *dQW;
} att_cache;

static att_cache cache_of(const dpt_layer *l, const att_dims *d, int B) {
    size_t att = (size_t)B * d->Tq * d->Tv, qw = d->general ? (size_t)B * d->Tq * d->Dk : 0;
    float *c = l->cache + l->cache_fixed;
    return (att_cache){.A = c, .G = c + att, .QW = c + 2 * att, .dQW = c + 2 * att + qw};
}

static const char *dims_text(const dpt_shape *s, char *buf, size_t n) {
    dpt_shape_str(s, buf, n);
    char *close = strchr(buf, ')');
    if (close) close[1] = '\0';
    return buf;
}

static int attention_build(dpt_layer *l, char *err, size_t errlen) {
    static const char *const role[] = {"query", "value", "key"};
    char a[64], b[64];
    DPT_ASSERT(l->ninputs >= 2 && l->ninputs <= 3); /* dpt_layer_build_n checked the count */
    for (int k = 0; k < l->ninputs; k++)
        if (l->in_shapes[k].rank > 2)
            return dpt_err(err, errlen, "attention needs (T, F) inputs, got %s for the %s",
                           dims_text(&l->in_shapes[k], a, sizeof a), role[k]);
    const dpt_shape *q = &l->in_shapes[0], *v = &l->in_shapes[1];
    const dpt_shape *key = &l->in_shapes[l->ninputs == 3 ? 2 : 1];
    if (dpt_shape_outer(key) != dpt_shape_outer(v))
        return dpt_err(err, errlen, "attention needs key and value of one length, got %s and %s",
                       dims_text(key, a, sizeof a), dims_text(v, b, sizeof b));
    const attention_args *args = args_of(l);
    if (args->score != SCORE_GENERAL && dpt_shape_last(q) != dpt_shape_last(key))
        return dpt_err(err, errlen,
                       "attention score %s needs query and key of one feature size, got %s and "
                       "%s (score general takes any)",
                       score_names()[args->score], dims_text(q, a, sizeof a),
                       dims_text(key, b, sizeof b));
    if (args->causal && dpt_shape_outer(q) != dpt_shape_outer(key))
        return dpt_err(err, errlen,
                       "attention causal: true needs as many query steps as key steps, got %s "
                       "and %s",
                       dims_text(q, a, sizeof a), dims_text(key, b, sizeof b));
    att_dims d = dims_of(l);
    l->out_shape = dpt_shape_with_last(q, d.Dv);
    l->ntensors = 0;
    if (d.general) {
        DPT_ASSERT(dpt_init_find(args->kernel_init[0] ? args->kernel_init : DEFAULT_KERNEL_INIT));
        l->ntensors = 1;
        l->tensors[0] = (dpt_param_tensor){.name = "W",
                                           .size = (size_t)d.Dq * d.Dk,
                                           .ndim = 2,
                                           .dim = {d.Dq, d.Dk},
                                           .decay = true};
    }
    l->cache_per_sample = 2 * (size_t)d.Tq * d.Tv + (d.general ? 2 * (size_t)d.Tq * d.Dk : 0);
    return 0;
}

static void attention_init(dpt_layer *l, dpt_rng *rng) {
    if (l->ntensors == 0) return;
    const attention_args *a = args_of(l);
    float scale = a->init_scale > 0.0f ? a->init_scale : DEFAULT_INIT_SCALE;
    const dpt_initializer *init =
        dpt_init_find(a->kernel_init[0] ? a->kernel_init : DEFAULT_KERNEL_INIT);
    init->fill(l->params, l->tensors[0].size, l->tensors[0].dim[0], l->tensors[0].dim[1], scale,
               rng);
}

/* Keys of sample b that count: the value's valid steps (all for a one-step value). */
static int valid_keys(const dpt_layer *l, const dpt_layer_io *io, const att_dims *d, int b) {
    if (!io->lengths[1] || l->in_shapes[1].rank < 2) return d->Tv;
    int L = io->lengths[1][b];
    DPT_ASSERT(L >= 1 && L <= d->Tv);
    return L;
}

/* Row i of A (Tv) holds the scores of keys [0, L): softmax over the first n of them (max
 * subtracted), zeros after. */
static void softmax_row(float *a, int n, int Tv) {
    float m = a[0], sum = 0.0f;
    for (int j = 1; j < n; j++) m = a[j] > m ? a[j] : m;
    for (int j = 0; j < n; j++) {
        a[j] = expf(a[j] - m);
        sum += a[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) a[j] *= inv;
    for (int j = n; j < Tv; j++) a[j] = 0.0f;
}

/* Keys query step i sees: the L valid ones, and with causal only 0..i. */
static int keys_seen(bool causal, int i, int L) {
    return causal && i + 1 < L ? i + 1 : L;
}

static void attention_forward(dpt_layer *l, const dpt_layer_io *io, float *y, int B,
                              const dpt_step_ctx *ctx) {
    (void)ctx;
    DPT_ASSERT(io->n == l->ninputs);
    att_dims d = dims_of(l);
    att_cache c = cache_of(l, &d, B);
    bool causal = args_of(l)->causal;
    const float *key = io->x[io->n == 3 ? 2 : 1];
    if (d.general && B > 0) /* QW (B Tq, Dk) = Q W: one product over every query row */
        dpt_sgemm(false, false, B * d.Tq, d.Dk, d.Dq, 1.0f, io->x[0], d.Dq, l->params, d.Dk, 0.0f,
                  c.QW, d.Dk);
    const float *Qe = d.general ? c.QW : io->x[0]; /* (B, Tq, Dk) */
    int64_t work = (int64_t)B * d.Tq * d.Tv * (d.Dk + d.Dv);
#pragma omp parallel for schedule(static) if (work > ATTENTION_PARALLEL_MIN)
    for (int b = 0; b < B; b++) {
        int L = valid_keys(l, io, &d, b);
        const float *q = Qe + (size_t)b * d.Tq * d.Dk;       /* (Tq, Dk) */
        const float *k = key + (size_t)b * d.Tv * d.Dk;      /* (Tv, Dk) */
        const float *v = io->x[1] + (size_t)b * d.Tv * d.Dv; /* (Tv, Dv) */
        float *A = c.A + (size_t)b * d.Tq * d.Tv;            /* (Tq, Tv) */
        dpt_sgemm_1t(false, true, d.Tq, L, d.Dk, d.scale, q, d.Dk, k, d.Dk, 0.0f, A, d.Tv);
        for (int i = 0; i < d.Tq; i++)
            softmax_row(A + (size_t)i * d.Tv, keys_seen(causal, i, L), d.Tv);
        dpt_sgemm_1t(false, false, d.Tq, d.Dv, L, 1.0f, A, d.Tv, v, d.Dv, 0.0f,
                     y + (size_t)b * d.Tq * d.Dv, d.Dv);
    }
}

/* G (Tq, Tv) holds dA for keys [0, L); makes it dS = A (dA - rowsum(A dA)), the softmax's
 * gradient, zero for every key a row does not see. */
static void softmax_grad(const float *A, float *G, const att_dims *d, bool causal, int L) {
    for (int i = 0; i < d->Tq; i++) {
        const float *a = A + (size_t)i * d->Tv; /* (Tv) */
        float *g = G + (size_t)i * d->Tv;       /* (Tv) */
        int n = keys_seen(causal, i, L);
        float dot = 0.0f;
        for (int j = 0; j < n; j++) dot += a[j] * g[j];
        for (int j = 0; j < n; j++) g[j] = a[j] * (g[j] - dot);
        for (int j = n; j < L; j++) g[j] = 0.0f;
    }
}

/* Sample b's gradients: dV = A^T dY, dK = scale dS^T Qe (added to dV when key is value), dQe
 * = scale dS K into dqe (NULL: not wanted).  Keys past L get exact zeros. */
static void sample_backward(const dpt_layer *l, const dpt_layer_io *io, const att_dims *d,
                            const att_cache *c, const float *Qe, const float *dy, float *dqe, int b,
                            int L) {
    bool causal = args_of(l)->causal;
    size_t ak = (size_t)b * d->Tv * d->Dk, av = (size_t)b * d->Tv * d->Dv;
    const float *A = c->A + (size_t)b * d->Tq * d->Tv;                 /* (Tq, Tv) */
    float *G = c->G + (size_t)b * d->Tq * d->Tv;                       /* (Tq, Tv) */
    const float *q = Qe + (size_t)b * d->Tq * d->Dk;                   /* (Tq, Dk) */
    const float *dyb = dy + (size_t)b * d->Tq * d->Dv;                 /* (Tq, Dv) */
    const float *k = io->x[io->n == 3 ? 2 : 1] + ak;                   /* (Tv, Dk) */
    float *dv = io->dx[1] ? io->dx[1] + av : NULL;                     /* (Tv, Dv) */
    float *dk = io->n == 3 ? (io->dx[2] ? io->dx[2] + ak : NULL) : dv; /* (Tv, Dk) */
    dpt_sgemm_1t(false, true, d->Tq, L, d->Dv, 1.0f, dyb, d->Dv, io->x[1] + av, d->Dv, 0.0f, G,
                 d->Tv);
    if (dv) {
        dpt_sgemm_1t(true, false, L, d->Dv, d->Tq, 1.0f, A, d->Tv, dyb, d->Dv, 0.0f, dv, d->Dv);
        memset(dv + (size_t)L * d->Dv, 0, (size_t)(d->Tv - L) * d->Dv * sizeof *dv);
    }
    softmax_grad(A, G, d, causal, L);
    if (dk) {
        bool onto_dv = io->n == 2;
        dpt_sgemm_1t(true, false, L, d->Dk, d->Tq, d->scale, G, d->Tv, q, d->Dk,
                     onto_dv ? 1.0f : 0.0f, dk, d->Dk);
        if (!onto_dv) memset(dk + (size_t)L * d->Dk, 0, (size_t)(d->Tv - L) * d->Dk * sizeof *dk);
    }
    if (dqe)
        dpt_sgemm_1t(false, false, d->Tq, d->Dk, L, d->scale, G, d->Tv, k, d->Dk, 0.0f,
                     dqe + (size_t)b * d->Tq * d->Dk, d->Dk);
}

static void attention_backward(dpt_layer *l, const dpt_layer_io *io, const float *y,
                               const float *dy, int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    att_dims d = dims_of(l);
    att_cache c = cache_of(l, &d, B);
    const float *Qe = d.general ? c.QW : io->x[0]; /* (B, Tq, Dk) */
    float *dqe = d.general ? c.dQW : io->dx[0];    /* (B, Tq, Dk), NULL = not wanted */
    int64_t work = (int64_t)B * d.Tq * d.Tv * (2 * d.Dk + 2 * d.Dv);
#pragma omp parallel for schedule(static) if (work > ATTENTION_PARALLEL_MIN)
    for (int b = 0; b < B; b++)
        sample_backward(l, io, &d, &c, Qe, dy, dqe, b, valid_keys(l, io, &d, b));
    if (!d.general || B == 0) return;
    /* dW (Dq, Dk) += Q^T dQW and dQ = dQW W^T, over every query row: each one product, summed
     * over rows in a fixed order */
    dpt_sgemm(true, false, d.Dq, d.Dk, B * d.Tq, 1.0f, io->x[0], d.Dq, c.dQW, d.Dk, 1.0f, l->grads,
              d.Dk);
    if (io->dx[0])
        dpt_sgemm(false, true, B * d.Tq, d.Dq, d.Dk, 1.0f, c.dQW, d.Dk, l->params, d.Dk, 0.0f,
                  io->dx[0], d.Dq);
}

/* Per sample: scores, A V; backward dA, dV, dK, dQe; general adds Q W, dW and dQ over all rows. */
static int attention_gemms(const dpt_layer *l, int B, dpt_gemm_shape *g) {
    att_dims d = dims_of(l);
    int n = 0;
    g[n++] = (dpt_gemm_shape){false, true, d.Tq, d.Tv, d.Dk, 0.0f, B};
    g[n++] = (dpt_gemm_shape){false, false, d.Tq, d.Dv, d.Tv, 0.0f, B};
    g[n++] = (dpt_gemm_shape){false, true, d.Tq, d.Tv, d.Dv, 0.0f, B};
    g[n++] = (dpt_gemm_shape){true, false, d.Tv, d.Dv, d.Tq, 0.0f, B};
    g[n++] = (dpt_gemm_shape){true, false, d.Tv, d.Dk, d.Tq, 0.0f, B};
    g[n++] = (dpt_gemm_shape){false, false, d.Tq, d.Dk, d.Tv, 0.0f, B};
    if (d.general) {
        g[n++] = (dpt_gemm_shape){false, false, B * d.Tq, d.Dk, d.Dq, 0.0f, 1};
        g[n++] = (dpt_gemm_shape){true, false, d.Dq, d.Dk, B * d.Tq, 1.0f, 1};
        g[n++] = (dpt_gemm_shape){false, true, B * d.Tq, d.Dq, d.Dk, 0.0f, 1};
    }
    return n;
}

const dpt_layer_type dpt_layer_attention_type = {
    .name = "attention",
    .keys = attention_keys,
    .nkeys = sizeof attention_keys / sizeof attention_keys[0],
    .args_size = sizeof(attention_args),
    .build = attention_build,
    .init = attention_init,
    .min_inputs = 2,
    .max_inputs = 3,
    .forward_n = attention_forward,
    .backward_n = attention_backward,
    .gemms = attention_gemms,
};
