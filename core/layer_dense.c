/* Fully connected layer in PyTorch's layout: W (out, in), b (out), y = x W^T + b.
 * Both products of backward are single GEMMs over the whole batch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/init.h"
#include "core/layer.h"
#include "core/util.h"

#define DEFAULT_KERNEL_INIT "glorot_uniform"
#define DEFAULT_BIAS_INIT   "zeros"
#define DEFAULT_INIT_SCALE  0.05f
/* A weight gradient of at least this many floats is computed in DW_PIECES products of rows
 * (l->grad_pieces), last rows first, each reported final through ctx->grads_ready: the training
 * step can start reducing the top pieces while the others are computed (the first layer's
 * gradient is the last one backward finishes, nothing else could hide its allreduce).  Only
 * when somebody listens: four products repack x four times (3-5 % of wide-mlp-256's step).
 * BLIS sums each element over k in the same order whatever the rows of the call, so both give
 * the same bits (tests/parallel/test_overlap.c compares them). */
#define DW_PIECE_MIN 131072
#define DW_PIECES    4

static const char *kernel_init_name(const dpt_layer *l) {
    return l->spec.kernel_init[0] ? l->spec.kernel_init : DEFAULT_KERNEL_INIT;
}

static const char *bias_init_name(const dpt_layer *l) {
    return l->spec.bias_init[0] ? l->spec.bias_init : DEFAULT_BIAS_INIT;
}

static int check_init(const char *key, const char *name, char *err, size_t errlen) {
    if (dpt_init_find(name)) return 0;
    char names[512];
    return dpt_err(err, errlen, "unknown %s '%s' (expected one of: %s)", key, name,
                   dpt_join_names(names, sizeof names, dpt_init_names()));
}

static int dense_build(dpt_layer *l, char *err, size_t errlen) {
    DPT_ASSERT(l->in > 0);
    if (l->spec.units <= 0)
        return dpt_err(err, errlen, "units must be a positive integer (got %d)", l->spec.units);
    if (check_init("kernel_init", kernel_init_name(l), err, errlen)) return -1;
    if (l->spec.use_bias && check_init("bias_init", bias_init_name(l), err, errlen)) return -1;
    if (!(l->spec.init_scale >= 0.0f) || isinf(l->spec.init_scale))
        return dpt_err(err, errlen, "init_scale must be a finite number >= 0 (got %g)",
                       (double)l->spec.init_scale);
    l->out = l->spec.units;
    l->ntensors = l->spec.use_bias ? 2 : 1;
    l->tensors[0] = (dpt_param_tensor){.name = "W",
                                       .size = (size_t)l->out * l->in,
                                       .ndim = 2,
                                       .dim = {l->out, l->in},
                                       .decay = true};
    if (l->spec.use_bias)
        l->tensors[1] = (dpt_param_tensor){
            .name = "b", .size = (size_t)l->out, .ndim = 1, .dim = {l->out, 0}, .decay = false};
    l->cache_per_sample = 0;
    l->grad_pieces =
        (size_t)l->out * (size_t)l->in >= DW_PIECE_MIN && l->out >= DW_PIECES ? DW_PIECES : 1;
    l->fn = NULL;
    return 0;
}

static void dense_init(dpt_layer *l, dpt_rng *rng) {
    float scale = l->spec.init_scale > 0.0f ? l->spec.init_scale : DEFAULT_INIT_SCALE;
    float *W = l->params; /* (out, in) */
    dpt_init_find(kernel_init_name(l))->fill(W, l->tensors[0].size, l->in, l->out, scale, rng);
    if (l->spec.use_bias) {
        float *b = W + l->tensors[0].size; /* (out) */
        dpt_init_find(bias_init_name(l))->fill(b, (size_t)l->out, l->in, l->out, scale, rng);
    }
}

/* A dense layer on a sequence (B, T, in) applies the same W at every step: it is one product
 * over B*T rows (Keras's Dense on 3-D input, "time-distributed"). */
static void dense_forward(dpt_layer *l, const float *x, float *y, int nsamples,
                          const dpt_step_ctx *ctx) {
    (void)ctx;
    int B = nsamples * l->steps_in; /* rows */
    if (B == 0) return;
    const float *W = l->params; /* (out, in) */
    int in = l->in, out = l->out;
    dpt_sgemm(false, true, B, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
    if (!l->spec.use_bias) return;
    const float *b = W + l->tensors[0].size; /* (out) */
#pragma omp parallel for schedule(static) if ((int64_t)B * out > 16384)
    for (int r = 0; r < B; r++) {
        float *yr = y + (size_t)r * out; /* (out) */
        for (int j = 0; j < out; j++) yr[j] += b[j];
    }
}

static void dense_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                           int nsamples, const dpt_step_ctx *ctx) {
    (void)y;
    int B = nsamples * l->steps_in; /* rows */
    if (B == 0) return;
    int in = l->in, out = l->out;
    const float *W = l->params; /* (out, in) */
    float *dW = l->grads;       /* (out, in) */
    bool report = ctx && ctx->grads_ready;
    if (l->spec.use_bias) {                  /* b lies after W: final first */
        float *db = dW + l->tensors[0].size; /* (out) */
        for (int r = 0; r < B; r++) {
            const float *dyr = dy + (size_t)r * out; /* (out) */
            for (int j = 0; j < out; j++) db[j] += dyr[j];
        }
        if (report) ctx->grads_ready(ctx->grads_ready_arg, db);
    }
    int pieces = report ? l->grad_pieces : 1; /* one product when nobody listens: faster */
    /* Pieces take the kernel the whole product would (dpt_sgemm goes by size), so that both
     * give the same bits; the small kernels' rows, and BLIS's, do not depend on M. */
    bool whole_small = (int64_t)out * in * B <= DPT_GEMM_SMALL_MAX;
    for (int p = pieces - 1; p >= 0; p--) { /* dW rows [r0, r1) += dy[:, r0:r1]^T x */
        int r0 = p > 0 ? (int)(dpt_layer_piece_start(l, p) / (size_t)in) : 0;
        int r1 = p + 1 < pieces ? (int)(dpt_layer_piece_start(l, p + 1) / (size_t)in) : out;
        float *piece = dW + (size_t)r0 * in;
        (whole_small ? dpt_sgemm : dpt_sgemm_blis)(true, false, r1 - r0, in, B, 1.0f, dy + r0, out,
                                                   x, in, 1.0f, piece, in);
        if (report) ctx->grads_ready(ctx->grads_ready_arg, piece);
    }
    if (dx) dpt_sgemm(false, false, B, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

const dpt_layer_type dpt_layer_dense_type = {
    .name = "dense",
    .build = dense_build,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
};
