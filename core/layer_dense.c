/* Fully connected layer in PyTorch's layout: W (out, in), b (out), y = x W^T + b.
 * Both products of backward are single GEMMs over the whole batch. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
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

/* The config keys of a dense layer. */
typedef struct dense_args {
    int units;            /* output features (> 0) */
    char activation[32];  /* fused activation ("" = none): becomes a layer of its own */
    float alpha;          /* its parameter; NAN = the function's default */
    char kernel_init[32]; /* "" = glorot_uniform */
    char bias_init[32];   /* "" = zeros */
    float init_scale;     /* "uniform" limit / "normal" stddev; 0 = 0.05 */
    bool use_bias;
} dense_args;
_Static_assert(sizeof(dense_args) <= DPT_LAYER_ARGS_MAX, "dense_args too large");

static const dpt_key dense_keys[] = {
    {.name = "units",
     .kind = DPT_KEY_INT,
     DPT_FIELD(dense_args, units),
     .lo = 1,
     .required = "an integer >= 1",
     .help = "output features"},
    {.name = "activation",
     .kind = DPT_KEY_NAME,
     DPT_FIELD(dense_args, activation),
     .names = dpt_activation_names,
     .help = "fused activation (default none)"},
    {.name = "alpha",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(dense_args, alpha),
     .flags = DPT_KEY_NAN_UNSET,
     .help = "leaky_relu slope / elu alpha"},
    DPT_LAYER_INIT_KEYS(dense_args),
};

static const dense_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

static const char *kernel_init_name(const dpt_layer *l) {
    return args_of(l)->kernel_init[0] ? args_of(l)->kernel_init : DEFAULT_KERNEL_INIT;
}

static const char *bias_init_name(const dpt_layer *l) {
    return args_of(l)->bias_init[0] ? args_of(l)->bias_init : DEFAULT_BIAS_INIT;
}

/* Keys the config has validated; units is the one without a default.  Any rank: the layer
 * acts on the last axis, (..., in) -> (..., units), as Keras's Dense. */
static int dense_build(dpt_layer *l, char *err, size_t errlen) {
    DPT_ASSERT(l->in > 0);
    const dense_args *a = args_of(l);
    if (a->units <= 0)
        return dpt_err(err, errlen, "units must be a positive integer (got %d)", a->units);
    DPT_ASSERT(dpt_init_find(kernel_init_name(l)) && dpt_init_find(bias_init_name(l)));
    l->out_shape = dpt_shape_with_last(&l->in_shape, a->units);
    l->out = a->units; /* derived again by dpt_layer_build; the tensors below need it */
    l->ntensors = a->use_bias ? 2 : 1;
    l->tensors[0] = (dpt_param_tensor){.name = "W",
                                       .size = (size_t)l->out * l->in,
                                       .ndim = 2,
                                       .dim = {l->out, l->in},
                                       .decay = true};
    if (a->use_bias)
        l->tensors[1] = (dpt_param_tensor){
            .name = "b", .size = (size_t)l->out, .ndim = 1, .dim = {l->out, 0}, .decay = false};
    l->cache_per_sample = 0;
    l->grad_pieces =
        (size_t)l->out * (size_t)l->in >= DW_PIECE_MIN && l->out >= DW_PIECES ? DW_PIECES : 1;
    l->fn = NULL;
    return 0;
}

static void dense_init(dpt_layer *l, dpt_rng *rng) {
    const dense_args *a = args_of(l);
    float scale = a->init_scale > 0.0f ? a->init_scale : DEFAULT_INIT_SCALE;
    float *W = l->params; /* (out, in) */
    dpt_init_find(kernel_init_name(l))->fill(W, l->tensors[0].size, l->in, l->out, scale, rng);
    if (a->use_bias) {
        float *b = W + l->tensors[0].size; /* (out) */
        dpt_init_find(bias_init_name(l))->fill(b, (size_t)l->out, l->in, l->out, scale, rng);
    }
}

/* A dense layer on a sequence (B, T, in) applies the same W at every step: it is one product
 * over B*T rows (Keras's Dense on 3-D input, "time-distributed"); on (B, H, W, in) over B*H*W
 * rows (steps_in is the product of the leading axes). */
static void dense_forward(dpt_layer *l, const float *x, float *y, int nsamples,
                          const dpt_step_ctx *ctx) {
    (void)ctx;
    int B = nsamples * l->steps_in; /* rows */
    if (B == 0) return;
    const float *W = l->params; /* (out, in) */
    int in = l->in, out = l->out;
    dpt_sgemm(false, true, B, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
    if (!args_of(l)->use_bias) return;
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
    if (args_of(l)->use_bias) {              /* b lies after W: final first */
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

/* Forward y = x W^T, weight gradient dW += dy^T x, input gradient dx = dy W, over B * steps
 * rows (the pieces of dW are one product's rows). */
static int dense_gemms(const dpt_layer *l, int B, dpt_gemm_shape *g) {
    int rows = B * l->steps_in, n = 0;
    g[n++] = (dpt_gemm_shape){false, true, rows, l->out, l->in, 0.0f, 1};
    g[n++] = (dpt_gemm_shape){true, false, l->out, l->in, rows, 1.0f, 1};
    if (l->index > 0) g[n++] = (dpt_gemm_shape){false, false, rows, l->in, l->out, 0.0f, 1};
    return n;
}

const dpt_layer_type dpt_layer_dense_type = {
    .name = "dense",
    .keys = dense_keys,
    .nkeys = sizeof dense_keys / sizeof dense_keys[0],
    .args_size = sizeof(dense_args),
    .split = dpt_layer_split_activation,
    .build = dense_build,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .gemms = dense_gemms,
};
