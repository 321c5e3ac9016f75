/* Batch normalisation over the last axis (channels), Keras' BatchNormalization: per channel, the
 * statistics of every other axis of the whole global batch (reduced across ranks through
 * ctx->reduce), y = gamma (x - mean) / sqrt(var + epsilon) + beta; moving averages for
 * evaluation kept as layer state (docs/design.md, "Batch normalisation across ranks"). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"

typedef struct batchnorm_args {
    float momentum; /* moving = momentum * moving + (1 - momentum) * batch */
    float epsilon;  /* added to the variance */
    bool center;    /* learn beta */
    bool scale;     /* learn gamma */
    bool synchronized;
} batchnorm_args;
_Static_assert(sizeof(batchnorm_args) <= DPT_LAYER_ARGS_MAX, "batchnorm_args too large");

static const dpt_key batchnorm_keys[] = {
    {.name = "momentum",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(batchnorm_args, momentum),
     .range = DPT_RANGE_UNIT,
     .def = "0.99",
     .help = "moving average: momentum * moving + (1 - momentum) * batch"},
    {.name = "epsilon",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(batchnorm_args, epsilon),
     .range = DPT_RANGE_GT0,
     .def = "0.001",
     .help = "added to the variance"},
    {.name = "center",
     .kind = DPT_KEY_BOOL,
     DPT_FIELD(batchnorm_args, center),
     .def = "true",
     .help = "learn an offset beta"},
    {.name = "scale",
     .kind = DPT_KEY_BOOL,
     DPT_FIELD(batchnorm_args, scale),
     .def = "true",
     .help = "learn a factor gamma"},
    {.name = "synchronized",
     .kind = DPT_KEY_BOOL,
     DPT_FIELD(batchnorm_args, synchronized),
     .def = "true",
     .help = "statistics of the global batch (false: of each rank's rows)"},
};

static const batchnorm_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

/* The fixed cache, in doubles: what forward leaves for backward, and the reduce buffer. */
typedef struct bn_cache {
    double *count;   /* (1) rows of the (global) batch the statistics are over */
    double *mean;    /* (C) mean used by the last forward */
    double *inv_std; /* (C) 1 / sqrt(var + epsilon) used by the last forward */
    double *buf;     /* (2C + 1) reduce buffer */
} bn_cache;

static bn_cache cache_of(const dpt_layer *l) {
    double *d = (double *)(void *)l->cache; /* 64-byte aligned (the model arena) */
    size_t C = (size_t)l->in;
    return (bn_cache){.count = d, .mean = d + 1, .inv_std = d + 1 + C, .buf = d + 1 + 2 * C};
}

static void set_tensor(dpt_param_tensor *t, const char *name, int C) {
    snprintf(t->name, sizeof t->name, "%s", name);
    t->size = (size_t)C;
    t->ndim = 1;
    t->dim[0] = C;
    t->decay = false; /* Keras puts no regulariser on gamma and beta by default */
}

static int batchnorm_build(dpt_layer *l, char *err, size_t errlen) {
    (void)err, (void)errlen;
    const batchnorm_args *a = args_of(l);
    int C = l->in;
    l->out_shape = l->in_shape; /* any rank: normalises each channel of the last axis */
    l->ntensors = 0;
    if (a->scale) set_tensor(&l->tensors[l->ntensors++], "gamma", C);
    if (a->center) set_tensor(&l->tensors[l->ntensors++], "beta", C);
    l->nstates = 2;
    set_tensor(&l->states[0], "moving_mean", C);
    set_tensor(&l->states[1], "moving_variance", C);
    size_t doubles = 1 + 2 * (size_t)C + 2 * (size_t)C + 1;
    l->cache_fixed = (2 * doubles + 15) / 16 * 16;
    l->cache_per_sample = 0;
    return 0;
}

static void batchnorm_init(dpt_layer *l, dpt_rng *rng) {
    (void)rng;
    int C = l->in;
    for (int t = 0; t < l->ntensors; t++) {
        float v = strcmp(l->tensors[t].name, "gamma") == 0 ? 1.0f : 0.0f;
        for (int c = 0; c < C; c++) l->params[(size_t)t * C + c] = v;
    }
    for (int c = 0; c < C; c++) {
        l->state[c] = 0.0f;             /* moving_mean */
        l->state[(size_t)C + c] = 1.0f; /* moving_variance */
    }
}

/* gamma and beta (NULL when the layer has none: 1 and 0). */
static const float *gamma_of(const dpt_layer *l) {
    return args_of(l)->scale ? l->params : NULL;
}
static const float *beta_of(const dpt_layer *l) {
    return args_of(l)->center ? l->params + (args_of(l)->scale ? l->in : 0) : NULL;
}

static bool uses_batch_stats(const dpt_step_ctx *ctx) {
    return ctx && ctx->training;
}

/* The valid steps of sample b: a sequence's padding (steps past ctx->lengths) is left out of the
 * statistics, as Keras does with a mask; every other input counts all its rows. */
static int valid_steps(const dpt_layer *l, const dpt_step_ctx *ctx, int b) {
    if (!ctx || !ctx->lengths || l->in_shape.rank != 2) return l->steps_in;
    return ctx->lengths[b];
}

/* Sums buf (n) across ranks when the layer is synchronized and somebody reduces. */
static void reduce(const dpt_layer *l, const dpt_step_ctx *ctx, double *buf, int n) {
    if (args_of(l)->synchronized && ctx->reduce) ctx->reduce(ctx->reduce_arg, buf, n);
}

/* Mean and biased variance of every channel over the batch's valid rows of x (B, steps, C),
 * global when synchronized: two passes (sum, then sum of squared deviations) for stability, in
 * double. */
static void batch_stats(dpt_layer *l, const float *x, int B, const dpt_step_ctx *ctx) {
    bn_cache k = cache_of(l);
    int C = l->in;
    float eps = args_of(l)->epsilon;
    memset(k.buf, 0, ((size_t)C + 1) * sizeof *k.buf);
    for (int b = 0; b < B; b++) {
        int T = valid_steps(l, ctx, b);
        const float *xb = x + (size_t)b * l->steps_in * C; /* (steps, C) */
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) k.buf[c] += (double)xb[(size_t)t * C + c];
        k.buf[C] += (double)T;
    }
    reduce(l, ctx, k.buf, C + 1);
    *k.count = k.buf[C];
    double n = *k.count > 0 ? *k.count : 1.0; /* no rows anywhere: nothing to normalise */
    for (int c = 0; c < C; c++) k.mean[c] = k.buf[c] / n;
    memset(k.buf, 0, (size_t)C * sizeof *k.buf);
    for (int b = 0; b < B; b++) {
        int T = valid_steps(l, ctx, b);
        const float *xb = x + (size_t)b * l->steps_in * C; /* (steps, C) */
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                double d = (double)xb[(size_t)t * C + c] - k.mean[c];
                k.buf[c] += d * d;
            }
    }
    reduce(l, ctx, k.buf, C);
    for (int c = 0; c < C; c++) k.inv_std[c] = 1.0 / sqrt(k.buf[c] / n + (double)eps);
}

/* moving = momentum moving + (1 - momentum) batch, from what batch_stats left (k.buf: the sums
 * of squared deviations; the variance taken back from inv_std would lose bits).  Unsynchronized
 * layers normalise with each rank's statistics, but their moving averages take the ranks'
 * statistics pooled (one reduce), so that every rank keeps the same model. */
static void update_moving(dpt_layer *l, const dpt_step_ctx *ctx) {
    bn_cache k = cache_of(l);
    int C = l->in;
    double *s = k.buf; /* (2C + 1) sum x, sum of squared deviations, rows */
    for (int c = 0; c < C; c++) {
        s[(size_t)C + c] = s[c];
        s[c] = k.mean[c] * *k.count;
    }
    s[2 * C] = *k.count;
    if (!args_of(l)->synchronized && ctx->reduce) ctx->reduce(ctx->reduce_arg, s, 2 * C + 1);
    double N = s[2 * C], mom = (double)args_of(l)->momentum;
    if (N <= 0) return;
    bool pooled = !args_of(l)->synchronized;
    float *mm = l->state, *mv = l->state + C; /* (C) each */
    for (int c = 0; c < C; c++) {
        double mean = pooled ? s[c] / N : k.mean[c], var = s[(size_t)C + c] / N;
        mm[c] = (float)(mom * (double)mm[c] + (1.0 - mom) * mean);
        mv[c] = (float)(mom * (double)mv[c] + (1.0 - mom) * var);
    }
}

/* The moving statistics as mean and inv_std, for evaluation. */
static void moving_stats(dpt_layer *l) {
    bn_cache k = cache_of(l);
    int C = l->in;
    for (int c = 0; c < C; c++) {
        k.mean[c] = (double)l->state[c];
        k.inv_std[c] = 1.0 / sqrt((double)l->state[(size_t)C + c] + (double)args_of(l)->epsilon);
    }
}

static void batchnorm_forward(dpt_layer *l, const float *x, float *y, int B,
                              const dpt_step_ctx *ctx) {
    int C = l->in;
    size_t R = (size_t)B * (size_t)l->steps_in; /* rows of C channels */
    if (uses_batch_stats(ctx)) {
        batch_stats(l, x, B, ctx);
        update_moving(l, ctx);
    } else {
        moving_stats(l);
    }
    bn_cache k = cache_of(l);
    const float *gamma = gamma_of(l), *beta = beta_of(l); /* (C) or NULL */
    /* Each element on its own: the same bits however the rows are split among threads.  The
     * sums above stay in one thread, in row order (the order depends on the data sizes only). */
#pragma omp parallel for schedule(static) if (R * (size_t)C > 16384)
    for (size_t r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            double xhat = ((double)x[r * C + c] - k.mean[c]) * k.inv_std[c];
            double g = gamma ? (double)gamma[c] : 1.0, b = beta ? (double)beta[c] : 0.0;
            y[r * C + c] = (float)(g * xhat + b);
        }
}

/* dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)), the means over the global batch
 * (sums s (2C): sum dy, then sum dy xhat; N rows).  dy is d(loss sum)/dy: the step divides
 * every gradient by the global count after the allreduce, which the formula commutes with.
 * Padding rows (not in the statistics) get only the direct term gamma inv_std dy, but their dy
 * is in the sums: their outputs depend on the statistics too. */
static void input_grad(const dpt_layer *l, const float *x, const float *dy, float *dx, int B,
                       const double *s, double N, const dpt_step_ctx *ctx) {
    bn_cache k = cache_of(l);
    int C = l->in, steps = l->steps_in;
    bool batch = uses_batch_stats(ctx);
    const float *gamma = gamma_of(l);
#pragma omp parallel for schedule(static) if ((size_t)B * steps * C > 16384)
    for (int b = 0; b < B; b++) {
        int T = valid_steps(l, ctx, b);
        for (int t = 0; t < steps; t++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)b * steps + t) * C + c;
                double g = (gamma ? (double)gamma[c] : 1.0) * k.inv_std[c], d = (double)dy[i];
                if (batch && t < T) {
                    double xhat = ((double)x[i] - k.mean[c]) * k.inv_std[c];
                    d -= s[c] / N + xhat * s[(size_t)C + c] / N;
                }
                dx[i] = (float)(g * d);
            }
    }
}

static void batchnorm_backward(dpt_layer *l, const float *x, const float *y, const float *dy,
                               float *dx, int B, const dpt_step_ctx *ctx) {
    (void)y;
    int C = l->in;
    size_t R = (size_t)B * (size_t)l->steps_in;
    bn_cache k = cache_of(l);
    double *s = k.buf; /* (2C) sum dy, sum dy xhat: local, then global */
    memset(s, 0, 2 * (size_t)C * sizeof *s);
    for (size_t r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            size_t i = r * C + c;
            double xhat = ((double)x[i] - k.mean[c]) * k.inv_std[c];
            s[c] += (double)dy[i];
            s[(size_t)C + c] += (double)dy[i] * xhat;
        }
    /* Local sums: the step's gradient allreduce adds the other ranks'. */
    float *dgamma = args_of(l)->scale ? l->grads : NULL;                    /* (C) */
    float *dbeta = args_of(l)->center ? l->grads + (dgamma ? C : 0) : NULL; /* (C) */
    for (int c = 0; c < C; c++) {
        if (dgamma) dgamma[c] += (float)s[(size_t)C + c];
        if (dbeta) dbeta[c] += (float)s[c];
    }
    if (!dx) return; /* the first layer: the same on every rank, so nobody reduces */
    if (uses_batch_stats(ctx)) reduce(l, ctx, s, 2 * C);
    input_grad(l, x, dy, dx, B, s, *k.count > 0 ? *k.count : 1.0, ctx);
}

const dpt_layer_type dpt_layer_batch_norm_type = {
    .name = "batch_norm",
    .flags = DPT_LAYER_CROSS_RANK,
    .keys = batchnorm_keys,
    .nkeys = sizeof batchnorm_keys / sizeof batchnorm_keys[0],
    .args_size = sizeof(batchnorm_args),
    .build = batchnorm_build,
    .init = batchnorm_init,
    .forward = batchnorm_forward,
    .backward = batchnorm_backward,
};
