/* conv2d_transpose (Keras Conv2DTranspose, PyTorch ConvTranspose2d): (H, W, C) ->
 * (Ho, Wo, filters), the adjoint of a convolution from (Ho, Wo, filters) back to (H, W, C) (its
 * input gradient), so upsampling with a learnt kernel.  Output sizes: valid (H - 1) s + k,
 * same H s, explicit padding p (PyTorch's): (H - 1) s + k - 2p.
 *
 * Weights: W (C, kh, kw, filters), b (filters), chosen so that forward's product takes W as it
 * is stored: y = col2im(x W).  PyTorch's ConvTranspose2d weight is (in, out, kh, kw):
 * ours = torch_w.permute(0, 2, 3, 1), back torch_w = ours.permute(0, 3, 1, 2) (the same
 * permutation as conv2d's).  Keras's Conv2DTranspose kernel (kh, kw, filters, C):
 * ours = kernel.transpose(3, 0, 1, 2).
 *
 * Products of a step (rows = B * H * W input positions, KK = kh * kw * filters):
 *   forward   dcol (rows, KK)     = x W                 NN, M rows, N KK,  K C
 *             y                   = col2im(dcol) + b
 *   backward  col (rows, KK)      = im2col(dy)
 *             dW (C, KK)         += (col^T x)^T         TN, M KK,   N C,   K rows
 *             dx (rows, C)        = col W^T             NT, M rows, N C,   K KK
 * The cache is one (H * W, KK) matrix per sample: forward's dcol, then backward's col (nothing
 * passes from forward to backward through it).  A 1x1 kernel with stride 1 needs neither.
 * The kernels are conv2d's (core/layer_conv.c says why not BLIS). */
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

typedef struct convt_args {
    int filters;
    int kernel_size[2];   /* (kh, kw); 0 = not given */
    int strides[2];       /* (sh, sw) */
    int padding[2];       /* DPT_PAD_VALID, DPT_PAD_SAME, or rows/columns cropped on each side */
    char activation[32];  /* fused activation ("" = none): becomes a layer of its own */
    float alpha;          /* its parameter; NAN = the function's default */
    char kernel_init[32]; /* "" = glorot_uniform */
    char bias_init[32];   /* "" = zeros */
    float init_scale;     /* "uniform" limit / "normal" stddev; 0 = 0.05 */
    bool use_bias;
} convt_args;
_Static_assert(sizeof(convt_args) <= DPT_LAYER_ARGS_MAX, "convt_args too large");

static const dpt_key convt_keys[] = {
    {.name = "filters",
     .kind = DPT_KEY_INT,
     DPT_FIELD(convt_args, filters),
     .lo = 1,
     .required = "an integer >= 1",
     .help = "output channels"},
    {.name = "kernel_size",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(convt_args, kernel_size),
     .lo = 1,
     .required = "an integer >= 1 or a list of 2",
     .help = "window (kh, kw), or one integer for both"},
    {.name = "strides",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(convt_args, strides),
     .lo = 1,
     .def = "1",
     .help = "upsampling factor (sh, sw)"},
    {.name = "padding",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(convt_args, padding),
     .names = dpt_window_padding_names,
     .def = "valid",
     .help = "valid (out = (in - 1) stride + kernel), same (out = in stride), or rows/columns "
             "cropped on each side"},
    {.name = "activation",
     .kind = DPT_KEY_NAME,
     DPT_FIELD(convt_args, activation),
     .names = dpt_activation_names,
     .help = "fused activation (default none)"},
    {.name = "alpha",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(convt_args, alpha),
     .flags = DPT_KEY_NAN_UNSET,
     .help = "leaky_relu slope / elu alpha"},
    DPT_LAYER_INIT_KEYS(convt_args),
};

static const convt_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

static const char *kernel_init_name(const dpt_layer *l) {
    return args_of(l)->kernel_init[0] ? args_of(l)->kernel_init : DEFAULT_KERNEL_INIT;
}

static const char *bias_init_name(const dpt_layer *l) {
    return args_of(l)->bias_init[0] ? args_of(l)->bias_init : DEFAULT_BIAS_INIT;
}

/* The activation moves to a layer of its own, as dense's (core/layer_dense.c). */
/* Output length of one axis (may be < 1 with a large explicit padding). */
static int out_len(int in, int k, int s, int pad) {
    if (pad == DPT_PAD_SAME) return in * s;
    return (in - 1) * s + k - 2 * (pad == DPT_PAD_VALID ? 0 : pad);
}

/* The window of the convolution this layer is the adjoint of: over the output (Ho, Wo), with
 * the input (H, W) as its output.  Returns 0, or -1 when the output would be empty. */
static int plan(const dpt_layer *l, dpt_window *w) {
    const convt_args *a = args_of(l);
    const int *k = a->kernel_size, *s = a->strides, *p = a->padding, d[2] = {1, 1};
    int H = l->in_shape.dim[0], W = l->in_shape.dim[1];
    int Ho = out_len(H, k[0], s[0], p[0]), Wo = out_len(W, k[1], s[1], p[1]);
    if (Ho < 1 || Wo < 1) return -1;
    DPT_ASSERT(dpt_window_plan(w, Ho, Wo, k, s, d, p, NULL, 0) == 0);
    DPT_ASSERT(w->out_h == H && w->out_w == W);
    return 0;
}

static void plan_ok(const dpt_layer *l, dpt_window *w) {
    DPT_ASSERT(plan(l, w) == 0); /* build has checked it */
}

/* What forward and backward need.  The window is the adjoint convolution's: its input is this
 * layer's output (Ho, Wo, F), its output positions this layer's input positions (H, W). */
typedef struct convt_geom {
    dpt_window w;
    int C, F, KK;    /* channels in, filters, kh * kw * F */
    int P;           /* input positions per sample (H * W) */
    size_t out_size; /* floats of a sample's output (Ho * Wo * F) */
    size_t col;      /* floats of a sample's column matrix (P * KK) */
    bool pointwise;  /* the column matrix is y (forward) / dy (backward) */
} convt_geom;

static void geom(const dpt_layer *l, convt_geom *g) {
    plan_ok(l, &g->w);
    g->C = l->in;
    g->F = args_of(l)->filters;
    g->KK = g->w.k_h * g->w.k_w * g->F;
    g->P = g->w.out_h * g->w.out_w;
    g->out_size = (size_t)g->w.in_h * g->w.in_w * g->F;
    g->col = (size_t)g->P * g->KK;
    g->pointwise = dpt_conv_pointwise(&g->w);
}

/* The fixed cache: the bias-gradient work, the packed weights (W (C, KK) for forward, W^T
 * (KK, C) for dx), the weight-gradient work; offsets in floats. */
static size_t fixed_floats(int C, int F, int KK, size_t *packed, size_t *wgrad) {
    size_t pf = dpt_packed_floats(C, KK), pd = dpt_packed_floats(KK, C);
    *packed = ((size_t)DPT_CONV_CHUNKS * F + 15) / 16 * 16;
    *wgrad = *packed + ((pf > pd ? pf : pd) + 15) / 16 * 16;
    return *wgrad + dpt_conv_wgrad_floats(KK, C);
}

static int convt_build(dpt_layer *l, char *err, size_t errlen) {
    const convt_args *a = args_of(l);
    const dpt_shape *in = &l->in_shape;
    char sb[64];
    if (in->rank != 3)
        return dpt_err(err, errlen,
                       "conv2d_transpose needs (H, W, C) input, got %s: store X as (N, H, W, C) "
                       "or put a reshape layer before it",
                       dpt_shape_str(in, sb, sizeof sb));
    if (a->filters < 1)
        return dpt_err(err, errlen, "filters must be a positive integer (got %d)", a->filters);
    if (a->kernel_size[0] < 1 || a->kernel_size[1] < 1)
        return dpt_err(err, errlen, "kernel_size is required (an integer >= 1 or a list of 2)");
    DPT_ASSERT(dpt_init_find(kernel_init_name(l)) && dpt_init_find(bias_init_name(l)));
    dpt_window w;
    if (plan(l, &w))
        return dpt_err(err, errlen,
                       "conv2d_transpose needs an output of at least 1x1, got %s: kernel %dx%d, "
                       "strides %dx%d and padding %dx%d leave %dx%d",
                       dpt_shape_str(in, sb, sizeof sb), a->kernel_size[0], a->kernel_size[1],
                       a->strides[0], a->strides[1], a->padding[0], a->padding[1],
                       out_len(in->dim[0], a->kernel_size[0], a->strides[0], a->padding[0]),
                       out_len(in->dim[1], a->kernel_size[1], a->strides[1], a->padding[1]));
    int F = a->filters, C = dpt_shape_last(in);
    l->out_shape = dpt_shape_3d(w.in_h, w.in_w, F);
    l->ntensors = a->use_bias ? 2 : 1;
    l->tensors[0] = (dpt_param_tensor){.name = "W",
                                       .size = (size_t)C * w.k_h * w.k_w * F,
                                       .ndim = 4,
                                       .dim = {C, w.k_h, w.k_w, F},
                                       .decay = true};
    if (a->use_bias)
        l->tensors[1] = (dpt_param_tensor){
            .name = "b", .size = (size_t)F, .ndim = 1, .dim = {F}, .decay = false};
    size_t o_pack, o_wgrad;
    l->cache_fixed = fixed_floats(C, F, w.k_h * w.k_w * F, &o_pack, &o_wgrad);
    l->cache_per_sample = dpt_conv_pointwise(&w) ? 0 : dpt_conv_col_floats(&w, F);
    l->fn = NULL;
    return 0;
}

/* Keras's fans for a Conv2DTranspose kernel (kh, kw, filters, C): in = taps x filters, out =
 * taps x C. */
static void convt_init(dpt_layer *l, dpt_rng *rng) {
    const convt_args *a = args_of(l);
    float scale = a->init_scale > 0.0f ? a->init_scale : DEFAULT_INIT_SCALE;
    int taps = a->kernel_size[0] * a->kernel_size[1], F = a->filters, C = l->in;
    size_t nW = l->tensors[0].size;
    dpt_init_find(kernel_init_name(l))->fill(l->params, nW, taps * F, taps * C, scale, rng);
    if (a->use_bias)
        dpt_init_find(bias_init_name(l))
            ->fill(l->params + nW, (size_t)F, taps * F, taps * C, scale, rng);
}

/* As conv2d's (core/layer_conv.c): packed products on groups of samples in parallel, so that a
 * sample's result does not depend on the batch, the ranks or the thread count. */
static void convt_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    (void)ctx;
    if (B == 0) return;
    convt_geom g;
    geom(l, &g);
    DPT_ASSERT((int64_t)B * g.P <= INT32_MAX &&
               (int64_t)B * (int64_t)(g.out_size / (size_t)g.F) <= INT32_MAX);
    size_t o_pack, o_wgrad;
    fixed_floats(g.C, g.F, g.KK, &o_pack, &o_wgrad);
    const float *W = l->params;                                               /* (C, KK) */
    float *packed = l->cache + o_pack;                                        /* W packed */
    float *dcol = l->cache + l->cache_fixed;                                  /* (B, P, KK) */
    const float *bias = args_of(l)->use_bias ? W + l->tensors[0].size : NULL; /* (F) */
    dpt_sgemm_pack(false, g.C, g.KK, W, g.KK, packed);
    int G = dpt_conv_group(g.P), ngroups = (B + G - 1) / G;
#pragma omp parallel for schedule(static) if ((int64_t)B * (int64_t)g.col > PAR_MIN)
    for (int gi = 0; gi < ngroups; gi++) {
        int b0 = gi * G, nb = B - b0 < G ? B - b0 : G;
        float *yg = y + (size_t)b0 * g.out_size; /* (nb, Ho, Wo, F) */
        float *dg = g.pointwise ? yg : dcol + (size_t)b0 * g.col;
        dpt_sgemm_packed(nb * g.P, g.KK, g.C, x + (size_t)b0 * g.P * g.C, g.C, packed, 0.0f, dg,
                         g.KK);
        if (!g.pointwise)
            for (int b = b0; b < b0 + nb; b++)
                dpt_conv_col2im(&g.w, g.F, dcol + (size_t)b * g.col, y + (size_t)b * g.out_size);
        if (bias) dpt_conv_add_bias((int)((size_t)nb * g.out_size / (size_t)g.F), g.F, bias, yg);
    }
}

static void convt_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                           int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    if (B == 0) return;
    convt_geom g;
    geom(l, &g);
    size_t o_pack, o_wgrad;
    fixed_floats(g.C, g.F, g.KK, &o_pack, &o_wgrad);
    const float *W = l->params;                                  /* (C, KK) */
    float *dW = l->grads;                                        /* (C, KK) */
    float *buf = g.pointwise ? NULL : l->cache + l->cache_fixed; /* (B, P, KK) */
    if (args_of(l)->use_bias)
        dpt_conv_bias_grad((int)((size_t)B * g.out_size / (size_t)g.F), g.F, dy,
                           dW + l->tensors[0].size, l->cache);
    float *packed = l->cache + o_pack; /* W^T (KK, C) packed */
    if (dx) dpt_sgemm_pack(true, g.KK, g.C, W, g.KK, packed);
    int G = dpt_conv_group(g.P), ngroups = (B + G - 1) / G;
#pragma omp parallel for schedule(static) if ((int64_t)B * (int64_t)g.col > PAR_MIN)
    for (int gi = 0; gi < ngroups; gi++) {
        int b0 = gi * G, nb = B - b0 < G ? B - b0 : G;
        const float *cg = dy + (size_t)b0 * g.out_size; /* (nb * P, KK) */
        if (buf) {
            for (int b = b0; b < b0 + nb; b++)
                dpt_conv_im2col(&g.w, g.F, dy + (size_t)b * g.out_size, buf + (size_t)b * g.col);
            cg = buf + (size_t)b0 * g.col;
        }
        if (dx)
            dpt_sgemm_packed(nb * g.P, g.C, g.KK, cg, g.KK, packed, 0.0f,
                             dx + (size_t)b0 * g.P * g.C, g.C);
    }
    dpt_conv_wgrad(B * g.P, g.KK, g.C, buf ? buf : dy, x, dW, l->cache + o_wgrad);
}

static int convt_gemms(const dpt_layer *l, int B, dpt_gemm_shape *g) {
    dpt_window w;
    plan_ok(l, &w);
    int C = l->in, KK = w.k_h * w.k_w * l->out, rows = B * w.out_h * w.out_w, n = 0;
    g[n++] = (dpt_gemm_shape){false, false, rows, KK, C, 0.0f, 1};
    g[n++] = (dpt_gemm_shape){true, false, KK, C, rows, 0.0f, 1}; /* into partials (core/conv.h) */
    if (l->index > 0) g[n++] = (dpt_gemm_shape){false, true, rows, C, KK, 0.0f, 1};
    return n;
}

const dpt_layer_type dpt_layer_conv2d_transpose_type = {
    .name = "conv2d_transpose",
    .keys = convt_keys,
    .nkeys = sizeof convt_keys / sizeof convt_keys[0],
    .args_size = sizeof(convt_args),
    .split = dpt_layer_split_activation,
    .build = convt_build,
    .init = convt_init,
    .forward = convt_forward,
    .backward = convt_backward,
    .gemms = convt_gemms,
};
