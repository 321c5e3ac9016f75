/* Elementwise activation layer: y = f(x) with the function chosen by name; no parameters.
 * Large tensors are split over OpenMP threads; small ones are not worth the fork. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/activation.h"
#include "core/layer.h"
#include "core/util.h"

static int activation_build(dpt_layer *l, char *err, size_t errlen) {
    DPT_ASSERT(l->in > 0);
    const dpt_activation *a = dpt_activation_find(l->spec.activation);
    if (!a) {
        char names[256];
        dpt_join_names(names, sizeof names, dpt_activation_names());
        if (!l->spec.activation[0])
            return dpt_err(err, errlen, "missing activation (expected one of: %s)", names);
        return dpt_err(err, errlen, "unknown activation '%s' (expected one of: %s)",
                       l->spec.activation, names);
    }
    if (isinf(l->spec.alpha))
        return dpt_err(err, errlen, "alpha must be a finite number (got %g)",
                       (double)l->spec.alpha);
    l->out = l->in;
    l->ntensors = 0;
    l->cache_per_sample = 0;
    l->fn = a;
    l->alpha = isnan(l->spec.alpha) ? a->default_alpha : l->spec.alpha;
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
    .build = activation_build,
    .init = NULL,
    .forward = activation_forward,
    .backward = activation_backward,
};
