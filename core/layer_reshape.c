/* Layers that only relabel a sample's values (Keras's Flatten and Reshape): the buffer is the
 * same row-major sequence of floats before and after, so forward and backward are copies and
 * the layers have no parameters.  flatten: any shape -> (size); reshape: -> target_shape. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"

/* The config keys of a reshape layer. */
typedef struct reshape_args {
    int target_shape[DPT_SHAPE_MAX_RANK]; /* 1..3 dimensions, one may be -1; unused slots 0 */
} reshape_args;

static const dpt_key reshape_keys[] = {
    {.name = "target_shape",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(reshape_args, target_shape),
     .lo = -1,
     .flags = DPT_KEY_UPTO,
     .required = "a list of 1 to 3 integers >= 1, one of which may be -1 (inferred)",
     .help = "per-sample output shape, e.g. [7, 7, 64]; one entry may be -1 (inferred)"},
};

static int flatten_build(dpt_layer *l, char *err, size_t errlen) {
    (void)err, (void)errlen;
    l->out_shape = dpt_shape_1d((int)dpt_shape_size(&l->in_shape));
    l->ntensors = 0;
    l->cache_per_sample = 0;
    return 0;
}

/* "[7, -1]": the key as written, for messages. */
static const char *target_text(const dpt_layer *l, char *buf, size_t n) {
    dpt_key_format(&reshape_keys[0], dpt_layer_args(&l->spec), buf, n);
    return buf;
}

/* Resolves target_shape against the input's size: one -1 takes what the others leave. */
static int reshape_build(dpt_layer *l, char *err, size_t errlen) {
    const int *t = ((const reshape_args *)dpt_layer_args(&l->spec))->target_shape;
    char ib[64], tb[64];
    int rank = DPT_SHAPE_MAX_RANK, infer = -1;
    while (rank > 1 && t[rank - 1] == 0) rank--;
    /* double: three ints multiply exactly (< 2^93 rounds, but only past any real size) */
    double known = 1.0, size = (double)dpt_shape_size(&l->in_shape);
    for (int i = 0; i < rank; i++) {
        if (t[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (t[i] < 1)
            return dpt_err(err, errlen,
                           "reshape target_shape %s: expected integers >= 1 and at most one -1",
                           target_text(l, tb, sizeof tb));
        known *= (double)t[i];
    }
    dpt_shape_str(&l->in_shape, ib, sizeof ib);
    target_text(l, tb, sizeof tb);
    if (infer >= 0 && fmod(size, known) != 0.0)
        return dpt_err(err, errlen,
                       "reshape cannot make the input %s (%.0f values) into %s: %.0f is no "
                       "multiple of %.0f",
                       ib, size, tb, size, known);
    if (infer < 0 && known != size)
        return dpt_err(err, errlen,
                       "reshape cannot make the input %s (%.0f values) into %s (%.0f values): "
                       "expected the same number of values",
                       ib, size, tb, known);
    dpt_shape out = {.rank = rank, .dtype = DPT_F32};
    for (int i = 0; i < rank; i++) out.dim[i] = i == infer ? (int)(size / known) : t[i];
    l->out_shape = out;
    l->ntensors = 0;
    l->cache_per_sample = 0;
    return 0;
}

/* y = x: the same floats under another shape. */
static void copy_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    size_t n = (size_t)B * dpt_shape_size(&l->in_shape);
    if (n) memcpy(y, x, n * sizeof *y);
}

static void copy_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                          int B, const dpt_step_ctx *ctx) {
    (void)x, (void)y, (void)ctx;
    size_t n = (size_t)B * dpt_shape_size(&l->in_shape);
    if (dx && n) memcpy(dx, dy, n * sizeof *dx);
}

const dpt_layer_type dpt_layer_flatten_type = {
    .name = "flatten",
    .build = flatten_build,
    .forward = copy_forward,
    .backward = copy_backward,
};

const dpt_layer_type dpt_layer_reshape_type = {
    .name = "reshape",
    .keys = reshape_keys,
    .nkeys = sizeof reshape_keys / sizeof reshape_keys[0],
    .args_size = sizeof(reshape_args),
    .build = reshape_build,
    .forward = copy_forward,
    .backward = copy_backward,
};
