/* Elementwise activation layer: y = f(x) with the function chosen by name; no parameters.
 * Large tensors are split over OpenMP threads; small ones are not worth the fork. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/activation.h"
#include "core/layer.h"
#include "core/util.h"

/* The config keys of an activation layer. */
typedef struct activation_args {
    char activation[32]; /* the function */
    float alpha;         /* leaky_relu slope / elu alpha; NAN = the function's default */
} activation_args;
_Static_assert(sizeof(activation_args) <= DPT_LAYER_ARGS_MAX, "activation_args too large");

static const dpt_key activation_keys[] = {
    {.name = "activation",
     .kind = DPT_KEY_NAME,
     DPT_FIELD(activation_args, activation),
     .names = dpt_activation_names,
     .required = "an activation function name",
     .help = "the function"},
    {.name = "alpha",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(activation_args, alpha),
     .flags = DPT_KEY_NAN_UNSET,
     .help = "leaky_relu slope / elu alpha"},
};

/* Keys the config has validated; activation is the one without a default. */
static int activation_build(dpt_layer *l, char *err, size_t errlen) {
    DPT_ASSERT(l->in > 0);
    const activation_args *args = dpt_layer_args(&l->spec);
    const dpt_activation *a = dpt_activation_find(args->activation);
    if (!a) {
        char names[256];
        dpt_join_names(names, sizeof names, dpt_activation_names());
        return dpt_err(err, errlen, "missing activation (expected one of: %s)", names);
    }
    l->out_shape = l->in_shape; /* any rank: elementwise */
    l->ntensors = 0;
    l->cache_per_sample = 0;
    l->fn = a;
    l->alpha = isnan(args->alpha) ? a->default_alpha : args->alpha;
    return 0;
}

/* ReLU is the common case: a branch-free loop the compiler vectorises, instead of a call
 * through the function table per element (36% of a boston-mlp step before). */
static bool is_relu(const dpt_activation *a) {
    return !strcmp(a->name, "relu");
}

static void activation_forward(dpt_layer *l, const float *x, float *y, int B,
                               const dpt_step_ctx *ctx) {
    (void)ctx;
    const dpt_activation *a = l->fn;
    float alpha = l->alpha;
    int64_t n = (int64_t)B * l->steps_in * l->in;
    if (is_relu(a)) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 16384)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        return;
    }
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) y[i] = a->f(x[i], alpha);
}

static void activation_backward(dpt_layer *l, const float *x, const float *y, const float *dy,
                                float *dx, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    if (!dx) return; /* no parameters: nothing else to do */
    const dpt_activation *a = l->fn;
    float alpha = l->alpha;
    int64_t n = (int64_t)B * l->steps_in * l->in;
    if (is_relu(a)) {
#pragma omp parallel for simd schedule(static) if (parallel : n > 16384)
        for (int64_t i = 0; i < n; i++) {
            float g = dy[i]; /* loaded whatever x says, so the select needs no branch */
            dx[i] = x[i] > 0.0f ? g : 0.0f;
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * a->df(x[i], y[i], alpha);
}

const dpt_layer_type dpt_layer_activation_type = {
    .name = "activation",
    .keys = activation_keys,
    .nkeys = sizeof activation_keys / sizeof activation_keys[0],
    .args_size = sizeof(activation_args),
    .build = activation_build,
    .init = NULL,
    .forward = activation_forward,
    .backward = activation_backward,
};
