/* Merge layers (Keras's Add, Subtract, Multiply, Average, Concatenate): 2 to 8 float32 inputs
 * of one shape combined value by value, or joined on the last (feature / channel) axis.  No
 * parameters, no keys; each output value is computed from its inputs in input order, so the
 * bits do not depend on how samples are split among threads. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"

/* Samples times values above which forward and backward split the samples among threads. */
#define MERGE_PARALLEL_MIN 32768

typedef enum merge_op { MERGE_ADD, MERGE_SUBTRACT, MERGE_MULTIPLY, MERGE_AVERAGE } merge_op;

static const merge_op merge_ops[] = {MERGE_ADD, MERGE_SUBTRACT, MERGE_MULTIPLY, MERGE_AVERAGE};

static merge_op op_of(const dpt_layer *l) {
    return *(const merge_op *)l->type->data;
}

/* "(5, 8)": a shape without its element type (merges read float32 only). */
static const char *dims_text(const dpt_shape *s, char *buf, size_t n) {
    dpt_shape_str(s, buf, n);
    char *close = strchr(buf, ')');
    if (close) close[1] = '\0';
    return buf;
}

/* add, subtract, multiply, average: every input of input 0's shape; y has it too. */
static int elementwise_build(dpt_layer *l, char *err, size_t errlen) {
    char a[64], b[64];
    for (int k = 1; k < l->ninputs; k++)
        if (!dpt_shape_equal(&l->in_shapes[k], &l->in_shapes[0]))
            return dpt_err(err, errlen, "%s needs inputs of one shape, got %s and %s",
                           l->type->name, dims_text(&l->in_shapes[0], a, sizeof a),
                           dims_text(&l->in_shapes[k], b, sizeof b));
    l->out_shape = l->in_shapes[0];
    l->ntensors = 0;
    l->cache_per_sample = 0;
    return 0;
}

/* concatenate: the same leading axes (rank and dimensions), last dimensions summed. */
static int concat_build(dpt_layer *l, char *err, size_t errlen) {
    char a[64], b[64];
    int64_t last = 0;
    for (int k = 0; k < l->ninputs; k++) {
        if (!dpt_shape_same_rows(&l->in_shapes[k], &l->in_shapes[0]))
            return dpt_err(err, errlen,
                           "concatenate needs inputs that differ only in the last axis, got %s "
                           "and %s",
                           dims_text(&l->in_shapes[0], a, sizeof a),
                           dims_text(&l->in_shapes[k], b, sizeof b));
        last += dpt_shape_last(&l->in_shapes[k]);
    }
    if (last * dpt_shape_outer(&l->in_shapes[0]) > INT32_MAX)
        return dpt_err(err, errlen, "concatenate output has more than %d values per sample",
                       INT32_MAX);
    l->out_shape = dpt_shape_with_last(&l->in_shapes[0], (int)last);
    l->ntensors = 0;
    l->cache_per_sample = 0;
    return 0;
}

/* y (S) of one sample from the inputs' (S) values at offset o, in input order. */
static void combine(merge_op op, const dpt_layer_io *io, size_t o, size_t S, float *y) {
    memcpy(y, io->x[0] + o, S * sizeof *y);
    for (int k = 1; k < io->n; k++) {
        const float *x = io->x[k] + o; /* (S) */
        switch (op) {
        case MERGE_ADD:
        case MERGE_AVERAGE:
            for (size_t i = 0; i < S; i++) y[i] += x[i];
            break;
        case MERGE_SUBTRACT:
            for (size_t i = 0; i < S; i++) y[i] -= x[i];
            break;
        case MERGE_MULTIPLY:
            for (size_t i = 0; i < S; i++) y[i] *= x[i];
            break;
        }
    }
    if (op == MERGE_AVERAGE) {
        float n = (float)io->n;
        for (size_t i = 0; i < S; i++) y[i] /= n;
    }
}

static void elementwise_forward(dpt_layer *l, const dpt_layer_io *io, float *y, int B,
                                const dpt_step_ctx *ctx) {
    (void)ctx;
    DPT_ASSERT(io->n == l->ninputs);
    merge_op op = op_of(l);
    size_t S = dpt_shape_size(&l->out_shape);
#pragma omp parallel for schedule(static) if ((size_t)B * S * (size_t)io->n > MERGE_PARALLEL_MIN)
    for (int b = 0; b < B; b++) combine(op, io, (size_t)b * S, S, y + (size_t)b * S);
}

/* dx (S) of input k for one sample: dy times the derivative of y in x[k]. */
static void input_grad(merge_op op, const dpt_layer_io *io, int k, size_t o, size_t S,
                       const float *dy, float *dx) {
    switch (op) {
    case MERGE_ADD:
        memcpy(dx, dy, S * sizeof *dx);
        break;
    case MERGE_SUBTRACT:
        for (size_t i = 0; i < S; i++) dx[i] = k == 0 ? dy[i] : -dy[i];
        break;
    case MERGE_AVERAGE: {
        float n = (float)io->n;
        for (size_t i = 0; i < S; i++) dx[i] = dy[i] / n;
        break;
    }
    case MERGE_MULTIPLY: /* the product of the other inputs, in input order (no division) */
        memcpy(dx, dy, S * sizeof *dx);
        for (int m = 0; m < io->n; m++) {
            if (m == k) continue;
            const float *x = io->x[m] + o; /* (S) */
            for (size_t i = 0; i < S; i++) dx[i] *= x[i];
        }
        break;
    }
}

static void elementwise_backward(dpt_layer *l, const dpt_layer_io *io, const float *y,
                                 const float *dy, int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    merge_op op = op_of(l);
    size_t S = dpt_shape_size(&l->out_shape);
#pragma omp parallel for schedule(static) if ((size_t)B * S * (size_t)io->n > MERGE_PARALLEL_MIN)
    for (int b = 0; b < B; b++)
        for (int k = 0; k < io->n; k++) {
            size_t o = (size_t)b * S;
            if (io->dx[k]) input_grad(op, io, k, o, S, dy + o, io->dx[k] + o);
        }
}

/* y (B, rows, out): each row is input 0's row, then input 1's, ... */
static void concat_forward(dpt_layer *l, const dpt_layer_io *io, float *y, int B,
                           const dpt_step_ctx *ctx) {
    (void)ctx;
    DPT_ASSERT(io->n == l->ninputs);
    size_t rows = (size_t)B * (size_t)l->steps_out, out = (size_t)l->out;
#pragma omp parallel for schedule(static) if (rows * out > MERGE_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        size_t at = 0;
        for (int k = 0; k < io->n; k++) {
            size_t F = (size_t)dpt_shape_last(&l->in_shapes[k]);
            memcpy(y + r * out + at, io->x[k] + r * F, F * sizeof *y);
            at += F;
        }
    }
}

static void concat_backward(dpt_layer *l, const dpt_layer_io *io, const float *y, const float *dy,
                            int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    size_t rows = (size_t)B * (size_t)l->steps_out, out = (size_t)l->out;
#pragma omp parallel for schedule(static) if (rows * out > MERGE_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        size_t at = 0;
        for (int k = 0; k < io->n; k++) {
            size_t F = (size_t)dpt_shape_last(&l->in_shapes[k]);
            if (io->dx[k]) memcpy(io->dx[k] + r * F, dy + r * out + at, F * sizeof *dy);
            at += F;
        }
    }
}

#define ELEMENTWISE_TYPE(id, op, lo, hi)                                                           \
    const dpt_layer_type dpt_layer_##id##_type = {                                                 \
        .name = #id,                                                                               \
        .data = &merge_ops[op],                                                                    \
        .build = elementwise_build,                                                                \
        .min_inputs = (lo),                                                                        \
        .max_inputs = (hi),                                                                        \
        .forward_n = elementwise_forward,                                                          \
        .backward_n = elementwise_backward,                                                        \
    }

ELEMENTWISE_TYPE(add, MERGE_ADD, 2, DPT_LAYER_MAX_INPUTS);
ELEMENTWISE_TYPE(subtract, MERGE_SUBTRACT, 2, 2);
ELEMENTWISE_TYPE(multiply, MERGE_MULTIPLY, 2, DPT_LAYER_MAX_INPUTS);
ELEMENTWISE_TYPE(average, MERGE_AVERAGE, 2, DPT_LAYER_MAX_INPUTS);

const dpt_layer_type dpt_layer_concatenate_type = {
    .name = "concatenate",
    .build = concat_build,
    .min_inputs = 2,
    .max_inputs = DPT_LAYER_MAX_INPUTS,
    .forward_n = concat_forward,
    .backward_n = concat_backward,
};
