/* Inverted dropout: in training each unit is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate); in evaluation it is the identity.  The random value of a unit is a hash of
 * (seed, step, layer, global sample id, unit), so masks do not depend on the number of ranks. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/layer.h"
#include "core/rng.h"
#include "core/util.h"

/* The config keys of a dropout layer. */
typedef struct dropout_args {
    float rate; /* probability of dropping, in [0, 1) */
} dropout_args;

static const dpt_key dropout_keys[] = {
    {.name = "rate",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(dropout_args, rate),
     .range = DPT_RANGE_UNIT,
     .required = "a number in [0, 1)",
     .help = "probability of dropping a unit"},
};

static float rate_of(const dpt_layer *l) {
    return ((const dropout_args *)dpt_layer_args(&l->spec))->rate;
}

/* rate is validated with its key. */
static int dropout_build(dpt_layer *l, char *err, size_t errlen) {
    (void)err, (void)errlen;
    DPT_ASSERT(l->in > 0 && rate_of(l) >= 0.0f && rate_of(l) < 1.0f);
    l->out_shape = l->in_shape; /* any rank: elementwise */
    l->ntensors = 0;
    l->cache_per_sample = (size_t)l->in * (size_t)l->steps_in; /* the mask: 0 or 1 / (1 - rate) */
    l->fn = NULL;
    return 0;
}

/* Row r is step r % T of sample r / T (T: the product of the leading axes); its key is
 * (sample id * T + step) * in + unit. */
static void fill_mask(const dpt_layer *l, float *mask, int B, const dpt_step_ctx *ctx) {
    int n = l->in, T = l->steps_in;
    float rate = rate_of(l);
    float scale = 1.0f / (1.0f - rate);
#pragma omp parallel for schedule(static) if ((int64_t)B * T * n > 16384)
    for (int r = 0; r < B * T; r++) {
        int b = r / T;
        uint64_t sample = ctx->sample_ids ? (uint64_t)ctx->sample_ids[b] : (uint64_t)b;
        uint64_t row = sample * (uint64_t)T + (uint64_t)(r % T);
        float *m = mask + (size_t)r * n; /* (in) */
        for (int j = 0; j < n; j++) {
            float u = dpt_hash_uniform(ctx->seed, ctx->step, (uint64_t)l->index,
                                       row * (uint64_t)n + (uint64_t)j);
            m[j] = u < rate ? 0.0f : scale;
        }
    }
}

static void dropout_forward(dpt_layer *l, const float *x, float *y, int B,
                            const dpt_step_ctx *ctx) {
    float *mask = l->cache; /* (B, T, in) */
    int64_t n = (int64_t)B * l->steps_in * l->in;
    if (n == 0) return;
    if (!ctx || !ctx->training || rate_of(l) == 0.0f) {
        /* A mask of ones keeps backward correct after an evaluation-mode forward. */
        for (int64_t i = 0; i < n; i++) mask[i] = 1.0f;
        if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
        return;
    }
    fill_mask(l, mask, B, ctx);
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
}

static void dropout_backward(dpt_layer *l, const float *x, const float *y, const float *dy,
                             float *dx, int B, const dpt_step_ctx *ctx) {
    (void)x, (void)y, (void)ctx;
    if (!dx) return;
    const float *mask = l->cache; /* (B, T, in) */
    int64_t n = (int64_t)B * l->steps_in * l->in;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * mask[i];
}

const dpt_layer_type dpt_layer_dropout_type = {
    .name = "dropout",
    .keys = dropout_keys,
    .nkeys = sizeof dropout_keys / sizeof dropout_keys[0],
    .args_size = sizeof(dropout_args),
    .build = dropout_build,
    .init = NULL,
    .forward = dropout_forward,
    .backward = dropout_backward,
};
