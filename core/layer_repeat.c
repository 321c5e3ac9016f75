/* One-to-many: repeats a vector input at every one of spec.steps output time steps (Keras's
 * RepeatVector), so a recurrent layer after it can unroll a sequence from one vector. */
#include <string.h>

#include "core/layer.h"
#include "core/util.h"

/* The config keys of a repeat layer. */
typedef struct repeat_args {
    int steps; /* output time steps T */
} repeat_args;

static const dpt_key repeat_keys[] = {
    {.name = "steps",
     .kind = DPT_KEY_INT,
     DPT_FIELD(repeat_args, steps),
     .lo = 1,
     .required = "an integer >= 1 (output time steps)",
     .help = "output time steps"},
};

/* (F) -> (steps, F).  A sequence of one step (1, F) is a vector too. */
static int repeat_build(dpt_layer *l, char *err, size_t errlen) {
    const dpt_shape *in = &l->in_shape;
    char buf[64];
    DPT_ASSERT(l->in > 0 && l->steps_in > 0);
    if (in->rank > 2)
        return dpt_err(err, errlen, "repeat needs a vector input (F), got %s",
                       dpt_shape_str(in, buf, sizeof buf));
    if (l->steps_in != 1)
        return dpt_err(err, errlen, "repeat needs a vector input (1 step), got %d steps",
                       l->steps_in);
    int steps = ((const repeat_args *)dpt_layer_args(&l->spec))->steps;
    if (steps < 1) return dpt_err(err, errlen, "steps must be a positive integer (got %d)", steps);
    l->out_shape = dpt_shape_2d(steps, l->in);
    l->ntensors = 0;
    l->cache_per_sample = 0;
    l->fn = NULL;
    return 0;
}

/* y (B, T, in): x (B, in) at every step t. */
static void repeat_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    int T = l->steps_out, n = l->in;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(y + ((size_t)b * T + t) * n, x + (size_t)b * n, (size_t)n * sizeof *y);
}

/* dx (B, in) = sum over steps of dy (B, T, in). */
static void repeat_backward(dpt_layer *l, const float *x, const float *y, const float *dy,
                            float *dx, int B, const dpt_step_ctx *ctx) {
    (void)x, (void)y, (void)ctx;
    if (!dx) return;
    int T = l->steps_out, n = l->in;
    for (int b = 0; b < B; b++) {
        float *d = dx + (size_t)b * n; /* (in) */
        memcpy(d, dy + (size_t)b * T * n, (size_t)n * sizeof *d);
        for (int t = 1; t < T; t++) {
            const float *g = dy + ((size_t)b * T + t) * n; /* (in) */
            for (int j = 0; j < n; j++) d[j] += g[j];
        }
    }
}

const dpt_layer_type dpt_layer_repeat_type = {
    .name = "repeat",
    .flags = 0,
    .keys = repeat_keys,
    .nkeys = sizeof repeat_keys / sizeof repeat_keys[0],
    .args_size = sizeof(repeat_args),
    .build = repeat_build,
    .init = NULL,
    .forward = repeat_forward,
    .backward = repeat_backward,
};
