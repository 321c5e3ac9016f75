/* Convolution layers conv2d ((H, W, C) -> (Ho, Wo, filters)) and conv1d ((T, F) -> (To,
 * filters), the 2-D code with H = 1), as matrix products over im2col's column matrix
 * (core/conv.h).
 *
 * Weights: W (filters, kh, kw, C) (conv1d: (filters, k, F)), b (filters), so that
 * y = col W^T + b with col (B * Ho * Wo, kh * kw * C), like dense's (out, in).  PyTorch's
 * Conv2d weight is (out, in, kh, kw): ours = torch_w.permute(0, 2, 3, 1), and back
 * torch_w = ours.permute(0, 3, 1, 2); Conv1d (out, in, k): permute(0, 2, 1) both ways.  Keras's
 * Conv2D kernel (kh, kw, C, filters): ours = kernel.transpose(3, 0, 1, 2).
 *
 * Products of a step (rows = B * Ho * Wo, KK = kh * kw * C):
 *   forward   y (rows, filters)   = col W^T             M rows, N filters, K KK
 *   backward  dW (filters, KK)   += (col^T dy)^T        M KK,   N filters, K rows
 *             dcol (rows, KK)     = dy W                M rows, N KK,      K filters
 *             dx                  = col2im(dcol)        (skipped for the first layer)
 * They run on dptrain's packed kernels (core/gemm_packed.h), not BLIS: on fmnist-cnn's shapes
 * (B = 128, 1 thread) BLIS reached 22 / 35 GFLOP/s forward (KK = 9 / 288) against 47 / 47, and
 * 4 / 22 on dW against 10 / 82 for col^T dy in the weight-gradient kernel (dy is the narrow
 * operand it packs).  y and dcol run on groups of samples in parallel, each group's im2col
 * just before its product (col2im just after), while the group's matrix is in cache.
 * The column matrix stays in the layer's cache (cache_per_sample floats) from forward to
 * backward rather than being recomputed: backward needs it for dW and then reuses the buffer for
 * dcol, so one buffer serves both; recomputing would save nothing of the peak (dcol needs the
 * same floats) and cost another pass over x.  A 1x1 kernel with stride 1 and no padding needs
 * no column matrix: x is it, and dcol is dx.  Backward consumes the cache (one backward per
 * forward). */
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/conv.h"
#include "core/gemm_packed.h"
#include "core/init.h"
#include "core/layer.h"
#include "core/util.h"
#include "core/window.h"

#define DEFAULT_KERNEL_INIT "glorot_uniform"
#define DEFAULT_BIAS_INIT   "zeros"
#define DEFAULT_INIT_SCALE  0.05f
/* Below this many floats of column matrices the OpenMP fork costs more than the work. */
#define PAR_MIN 32768

/* The keys of both types.  conv1d's keys fill the second slot of each pair (its W axis); build
 * sets the first to the identity. */
typedef struct conv_args {
    int filters;
    int kernel_size[2];   /* (kh, kw); 0 = not given */
    int strides[2];       /* (sh, sw) */
    int padding[2];       /* DPT_PAD_VALID, DPT_PAD_SAME, or rows/columns on each side */
    int dilation_rate[2]; /* (dh, dw) */
    char activation[32];  /* fused activation ("" = none): becomes a layer of its own */
    float alpha;          /* its parameter; NAN = the function's default */
    char kernel_init[32]; /* "" = glorot_uniform */
    char bias_init[32];   /* "" = zeros */
    float init_scale;     /* "uniform" limit / "normal" stddev; 0 = 0.05 */
    bool use_bias;
} conv_args;
_Static_assert(sizeof(conv_args) <= DPT_LAYER_ARGS_MAX, "conv_args too large");

/* Row for the second slot of pair field f (conv1d's one integer). */
#define SECOND_OF(f) .offset = offsetof(conv_args, f) + sizeof(int), .size = sizeof(int)

#define FILTERS_KEY                                                                                \
    {                                                                                              \
        .name = "filters", .kind = DPT_KEY_INT, DPT_FIELD(conv_args, filters), .lo = 1,            \
        .required = "an integer >= 1", .help = "output channels"                                   \
    }
#define TAIL_KEYS                                                                                  \
    {.name = "activation",                                                                         \
     .kind = DPT_KEY_NAME,                                                                         \
     DPT_FIELD(conv_args, activation),                                                             \
     .names = dpt_activation_names,                                                                \
     .help = "fused activation (default none)"},                                                   \
        {.name = "alpha",                                                                          \
         .kind = DPT_KEY_FLOAT,                                                                    \
         DPT_FIELD(conv_args, alpha),                                                              \
         .flags = DPT_KEY_NAN_UNSET,                                                               \
         .help = "leaky_relu slope / elu alpha"},                                                  \
        DPT_LAYER_INIT_KEYS(conv_args)

static const dpt_key conv2d_keys[] = {
    FILTERS_KEY,
    {.name = "kernel_size",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(conv_args, kernel_size),
     .lo = 1,
     .required = "an integer >= 1 or a list of 2",
     .help = "window (kh, kw), or one integer for both"},
    {.name = "strides",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(conv_args, strides),
     .lo = 1,
     .def = "1",
     .help = "step (sh, sw) between windows"},
    {.name = "padding",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(conv_args, padding),
     .names = dpt_window_padding_names,
     .def = "valid",
     .help = "valid, same (out = ceil(in / stride)), or zero rows/columns on each side"},
    {.name = "dilation_rate",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(conv_args, dilation_rate),
     .lo = 1,
     .def = "1",
     .help = "spacing (dh, dw) of the kernel taps"},
    TAIL_KEYS,
};

static const dpt_key conv1d_keys[] = {
    FILTERS_KEY,
    {.name = "kernel_size",
     .kind = DPT_KEY_INTS,
     SECOND_OF(kernel_size),
     .lo = 1,
     .what = "an integer >= 1",
     .required = "an integer >= 1",
     .help = "window length in time steps"},
    {.name = "strides",
     .kind = DPT_KEY_INTS,
     SECOND_OF(strides),
     .lo = 1,
     .what = "an integer >= 1",
     .def = "1",
     .help = "step between windows"},
    {.name = "padding",
     .kind = DPT_KEY_INTS,
     SECOND_OF(padding),
     .names = dpt_window_padding_names,
     .what = "valid, same or an integer >= 0",
     .def = "valid",
     .help = "valid, same (out = ceil(T / stride)), or zero steps on each side"},
    {.name = "dilation_rate",
     .kind = DPT_KEY_INTS,
     SECOND_OF(dilation_rate),
     .lo = 1,
     .what = "an integer >= 1",
     .def = "1",
     .help = "spacing of the kernel taps"},
    TAIL_KEYS,
};

static const conv_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

static bool one_d(const dpt_layer *l) {
    return l->type->keys == conv1d_keys;
}

static const char *kernel_init_name(const dpt_layer *l) {
    return args_of(l)->kernel_init[0] ? args_of(l)->kernel_init : DEFAULT_KERNEL_INIT;
}

static const char *bias_init_name(const dpt_layer *l) {
    return args_of(l)->bias_init[0] ? args_of(l)->bias_init : DEFAULT_BIAS_INIT;
}

/* The activation moves to a layer of its own, as dense's (core/layer_dense.c). */
/* The window over the input: conv1d's (T, F) is a 1 x T image with a 1 x k kernel. */
static int plan(const dpt_layer *l, dpt_window *w, char *err, size_t errlen) {
    const conv_args *a = args_of(l);
    const dpt_shape *in = &l->in_shape;
    if (one_d(l)) {
        int k[2] = {1, a->kernel_size[1]}, s[2] = {1, a->strides[1]};
        int d[2] = {1, a->dilation_rate[1]}, p[2] = {0, a->padding[1]};
        return dpt_window_plan(w, 1, in->dim[0], k, s, d, p, err, errlen);
    }
    return dpt_window_plan(w, in->dim[0], in->dim[1], a->kernel_size, a->strides, a->dilation_rate,
                           a->padding, err, errlen);
}

static void plan_ok(const dpt_layer *l, dpt_window *w) {
    DPT_ASSERT(plan(l, w, NULL, 0) == 0); /* build has checked it */
}

/* What forward and backward need, derived from the spec and the input shape. */
typedef struct conv_geom {
    dpt_window w;
    int C, F, KK;   /* channels in, filters, kh * kw * C */
    int P;          /* output positions per sample (Ho * Wo) */
    size_t in_size; /* floats of a sample's input (H * W * C) */
    size_t col;     /* floats of a sample's column matrix (P * KK) */
    bool pointwise; /* x is the column matrix */
} conv_geom;

static void geom(const dpt_layer *l, conv_geom *g) {
    plan_ok(l, &g->w);
    g->C = l->in;
    g->F = args_of(l)->filters;
    g->KK = g->w.k_h * g->w.k_w * g->C;
    g->P = g->w.out_h * g->w.out_w;
    g->in_size = (size_t)g->w.in_h * g->w.in_w * g->C;
    g->col = (size_t)g->P * g->KK;
    g->pointwise = dpt_conv_pointwise(&g->w);
}

/* The fixed cache: the bias-gradient work, the packed weights (W^T (KK, F) for forward, W
 * (F, KK) for dx), the weight-gradient work; offsets in floats. */
static size_t fixed_floats(int F, int KK, size_t *packed, size_t *wgrad) {
    size_t pk = dpt_packed_floats(KK, F), pd = dpt_packed_floats(F, KK);
    *packed = ((size_t)DPT_CONV_CHUNKS * F + 15) / 16 * 16;
    *wgrad = *packed + ((pk > pd ? pk : pd) + 15) / 16 * 16;
    return *wgrad + dpt_conv_wgrad_floats(KK, F);
}

static int conv_build(dpt_layer *l, char *err, size_t errlen) {
    const conv_args *a = args_of(l);
    const dpt_shape *in = &l->in_shape;
    bool d1 = one_d(l);
    char sb[64], msg[256];
    if (in->rank != (d1 ? 2 : 3))
        return dpt_err(err, errlen,
                       "%s needs %s input, got %s: store X as (N, %s) or put a reshape layer "
                       "before it",
                       l->type->name, d1 ? "(T, F)" : "(H, W, C)", dpt_shape_str(in, sb, sizeof sb),
                       d1 ? "T, F" : "H, W, C");
    if (a->filters < 1)
        return dpt_err(err, errlen, "filters must be a positive integer (got %d)", a->filters);
    if (a->kernel_size[1] < 1 || (!d1 && a->kernel_size[0] < 1))
        return dpt_err(err, errlen, "kernel_size is required (%s)",
                       d1 ? "an integer >= 1" : "an integer >= 1 or a list of 2");
    DPT_ASSERT(dpt_init_find(kernel_init_name(l)) && dpt_init_find(bias_init_name(l)));
    dpt_window w;
    if (plan(l, &w, msg, sizeof msg))
        return dpt_err(err, errlen, "%s needs a kernel that fits the padded input, got %s: %s",
                       l->type->name, dpt_shape_str(in, sb, sizeof sb), msg);
    int F = a->filters, C = dpt_shape_last(in);
    l->out_shape = d1 ? dpt_shape_2d(w.out_w, F) : dpt_shape_3d(w.out_h, w.out_w, F);
    l->ntensors = a->use_bias ? 2 : 1;
    dpt_param_tensor *W = &l->tensors[0];
    *W = (dpt_param_tensor){.name = "W",
                            .size = (size_t)F * w.k_h * w.k_w * C,
                            .ndim = d1 ? 3 : 4,
                            .dim = {F, w.k_h, w.k_w, C},
                            .decay = true};
    if (d1) W->dim[1] = w.k_w, W->dim[2] = C, W->dim[3] = 0;
    if (a->use_bias)
        l->tensors[1] = (dpt_param_tensor){
            .name = "b", .size = (size_t)F, .ndim = 1, .dim = {F}, .decay = false};
    size_t o_pack, o_wgrad;
    l->cache_fixed = fixed_floats(F, w.k_h * w.k_w * C, &o_pack, &o_wgrad);
    l->cache_per_sample = dpt_conv_pointwise(&w) ? 0 : dpt_conv_col_floats(&w, C);
    l->fn = NULL;
    return 0;
}

/* Keras's fans for a conv kernel: the receptive field times the channels in / out. */
static void conv_init(dpt_layer *l, dpt_rng *rng) {
    const conv_args *a = args_of(l);
    float scale = a->init_scale > 0.0f ? a->init_scale : DEFAULT_INIT_SCALE;
    const dpt_param_tensor *W = &l->tensors[0];
    int taps = (int)(W->size / ((size_t)a->filters * l->in));
    dpt_init_find(kernel_init_name(l))
        ->fill(l->params, W->size, taps * l->in, taps * a->filters, scale, rng);
    if (a->use_bias)
        dpt_init_find(bias_init_name(l))
            ->fill(l->params + W->size, (size_t)a->filters, taps * l->in, taps * a->filters, scale,
                   rng);
}

/* The products are dptrain's packed kernels (core/gemm_packed.h), run on groups of samples in
 * parallel, each group's im2col just before its product (its column matrix still in cache).
 * A row's result does not depend on how many rows a product has or where the row falls, so a
 * sample's output does not depend on the other samples of its batch, how the global batch is
 * split over ranks, or the thread count. */
static void conv_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    if (B == 0) return;
    conv_geom g;
    geom(l, &g);
    DPT_ASSERT((int64_t)B * g.P <= INT32_MAX);
    size_t o_pack, o_wgrad;
    fixed_floats(g.F, g.KK, &o_pack, &o_wgrad);
    const float *W = l->params;             /* (F, KK) */
    float *packed = l->cache + o_pack;      /* W^T (KK, F) packed */
    float *col = l->cache + l->cache_fixed; /* (B, P, KK) */
    const float *bias = args_of(l)->use_bias ? W + l->tensors[0].size : NULL; /* (F) */
    dpt_sgemm_pack(true, g.KK, g.F, W, g.KK, packed);
    int G = dpt_conv_group(g.P), ngroups = (B + G - 1) / G;
#pragma omp parallel for schedule(static) if ((int64_t)B * (int64_t)g.col > PAR_MIN)
    for (int gi = 0; gi < ngroups; gi++) {
        int b0 = gi * G, nb = B - b0 < G ? B - b0 : G, rows = nb * g.P;
        const float *cg = x + (size_t)b0 * g.in_size; /* (rows, KK) */
        if (!g.pointwise) {
            for (int b = b0; b < b0 + nb; b++)
                dpt_conv_im2col(&g.w, g.C, x + (size_t)b * g.in_size, col + (size_t)b * g.col);
            cg = col + (size_t)b0 * g.col;
        }
        float *yg = y + (size_t)b0 * g.P * g.F; /* (rows, F) */
        dpt_sgemm_packed(rows, g.F, g.KK, cg, g.KK, packed, 0.0f, yg, g.F);
        if (bias) dpt_conv_add_bias(rows, g.F, bias, yg);
    }
}

static void conv_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                          int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    if (B == 0) return;
    conv_geom g;
    geom(l, &g);
    size_t o_pack, o_wgrad;
    fixed_floats(g.F, g.KK, &o_pack, &o_wgrad);
    int rows = B * g.P;
    const float *W = l->params;                                  /* (F, KK) */
    float *dW = l->grads;                                        /* (F, KK) */
    float *buf = g.pointwise ? NULL : l->cache + l->cache_fixed; /* (B, P, KK) */
    const float *col = buf ? buf : x;
    if (args_of(l)->use_bias) dpt_conv_bias_grad(rows, g.F, dy, dW + l->tensors[0].size, l->cache);
    dpt_conv_wgrad(rows, g.KK, g.F, col, dy, dW, l->cache + o_wgrad);
    if (!dx) return;
    float *packed = l->cache + o_pack; /* W (F, KK) packed */
    dpt_sgemm_pack(false, g.F, g.KK, W, g.KK, packed);
    int G = dpt_conv_group(g.P), ngroups = (B + G - 1) / G;
    /* dW has read col: its buffer takes dcol (pointwise: dcol is dx). */
#pragma omp parallel for schedule(static) if ((int64_t)B * (int64_t)g.col > PAR_MIN)
    for (int gi = 0; gi < ngroups; gi++) {
        int b0 = gi * G, nb = B - b0 < G ? B - b0 : G;
        float *dcol = buf ? buf + (size_t)b0 * g.col : dx + (size_t)b0 * g.in_size;
        dpt_sgemm_packed(nb * g.P, g.KK, g.F, dy + (size_t)b0 * g.P * g.F, g.F, packed, 0.0f, dcol,
                         g.KK);
        if (buf)
            for (int b = b0; b < b0 + nb; b++)
                dpt_conv_col2im(&g.w, g.C, buf + (size_t)b * g.col, dx + (size_t)b * g.in_size);
    }
}

static int conv_gemms(const dpt_layer *l, int B, dpt_gemm_shape *g) {
    dpt_window w;
    plan_ok(l, &w);
    int F = l->out, KK = w.k_h * w.k_w * l->in, rows = B * w.out_h * w.out_w, n = 0;
    g[n++] = (dpt_gemm_shape){false, true, rows, F, KK, 0.0f, 1};
    g[n++] = (dpt_gemm_shape){true, false, KK, F, rows, 0.0f, 1}; /* into partials (core/conv.h) */
    if (l->index > 0) g[n++] = (dpt_gemm_shape){false, false, rows, KK, F, 0.0f, 1};
    return n;
}

const dpt_layer_type dpt_layer_conv2d_type = {
    .name = "conv2d",
    .keys = conv2d_keys,
    .nkeys = sizeof conv2d_keys / sizeof conv2d_keys[0],
    .args_size = sizeof(conv_args),
    .split = dpt_layer_split_activation,
    .build = conv_build,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
    .gemms = conv_gemms,
};

const dpt_layer_type dpt_layer_conv1d_type = {
    .name = "conv1d",
    .keys = conv1d_keys,
    .nkeys = sizeof conv1d_keys / sizeof conv1d_keys[0],
    .args_size = sizeof(conv_args),
    .split = dpt_layer_split_activation,
    .build = conv_build,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
    .gemms = conv_gemms,
};
