/* scale: y = x * gamma, one learnable factor per feature of the last axis (any input rank).
 * The example type of docs/adding-a-layer.md: the doc shows this file, and
 * tests/core/test_example_layer.c builds it and checks it against finite differences. */
#include <stdio.h>

#include "core/layer.h"
#include "core/util.h"

/* 1. The type's private arguments: one field per config key. */
typedef struct scale_args {
    float init; /* the starting value of every factor */
} scale_args;

/* 2. Its config keys: name, kind, field, range, default, help (docs/config.md's table). */
static const dpt_key scale_keys[] = {
    {.name = "init",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(scale_args, init),
     .range = DPT_RANGE_ANY,
     .def = "1",
     .help = "starting value of every factor"},
};

/* 3. build: the output shape from the input shape, the parameter tensors, the cache. */
static int scale_build(dpt_layer *l, char *err, size_t errlen) {
    (void)err, (void)errlen;
    l->out_shape = l->in_shape; /* any rank; acts on the last axis */
    l->ntensors = 1;
    dpt_param_tensor *g = &l->tensors[0];
    snprintf(g->name, sizeof g->name, "gamma");
    g->size = (size_t)l->in;
    g->ndim = 1;
    g->dim[0] = l->in;
    g->decay = false; /* no L2 on the factors */
    l->cache_per_sample = 0;
    return 0;
}

static void scale_init(dpt_layer *l, dpt_rng *rng) {
    (void)rng;
    float v = ((const scale_args *)dpt_layer_args(&l->spec))->init;
    for (int j = 0; j < l->in; j++) l->params[j] = v;
}

/* 4. forward: y (B, steps, in) from x (B, steps, in); rows = B x steps. */
static void scale_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    const float *gamma = l->params; /* (in) */
    size_t rows = (size_t)B * (size_t)l->steps_in;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < l->in; j++) y[r * l->in + j] = x[r * l->in + j] * gamma[j];
}

/* 5. backward: adds d gamma (+=), writes dx when asked (=). */
static void scale_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                           int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    const float *gamma = l->params; /* (in) */
    float *dgamma = l->grads;       /* (in) */
    size_t rows = (size_t)B * (size_t)l->steps_in;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < l->in; j++) {
            size_t i = r * l->in + j;
            dgamma[j] += dy[i] * x[i];
            if (dx) dx[i] = dy[i] * gamma[j];
        }
}

/* 6. The type: its name in configs, flags, keys, and functions. */
const dpt_layer_type dpt_layer_scale_type = {
    .name = "scale",
    .flags = 0,
    .keys = scale_keys,
    .nkeys = sizeof scale_keys / sizeof scale_keys[0],
    .args_size = sizeof(scale_args),
    .build = scale_build,
    .init = scale_init,
    .forward = scale_forward,
    .backward = scale_backward,
};
