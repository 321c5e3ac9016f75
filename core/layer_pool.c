/* Pooling (Keras's MaxPooling2D, AveragePooling2D, Global*Pooling2D and their 1-D forms, plus
 * min): max, average or min over a window sliding over (H, W, C) images, or over (T, F)
 * sequences seen as 1 x T images, one code path for all; a global pool is one window over the
 * whole input.  Channels are the innermost (contiguous) axis, so every inner loop runs over C. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"
#include "core/window.h"

typedef enum pool_op { POOL_MAX, POOL_AVG, POOL_MIN } pool_op;

/* What a pool type is (its dpt_layer_type.data). */
typedef struct pool_kind {
    pool_op op;
    int dims;    /* 2: (H, W, C) input; 1: (T, F) input, pooled as (1, T, F) */
    bool global; /* one window over the whole input: (C) out */
} pool_kind;

/* The keys of a 2-D pool; a 1-D pool has the same keys with one slot each (pool1_args). */
typedef struct pool2_args {
    int pool_size[2]; /* window (h, w) */
    int strides[2];   /* step (h, w); POOL_STRIDES_POOL = the window's size */
    int padding[2];   /* DPT_PAD_VALID, DPT_PAD_SAME or rows / columns on each side */
} pool2_args;

typedef struct pool1_args {
    int pool_size[1];
    int strides[1];
    int padding[1];
} pool1_args;

/* strides: pool_size (stored -1 in every slot, as a DPT_KEY_INTS name): Keras's None. */
#define POOL_STRIDES_POOL (-1)

static const char *const *strides_names(void) {
    static const char *const names[] = {"pool_size", NULL};
    return names;
}

#define POOL_KEYS(S)                                                                               \
    {.name = "pool_size",                                                                          \
     .kind = DPT_KEY_INTS,                                                                         \
     DPT_FIELD(S, pool_size),                                                                      \
     .lo = 1,                                                                                      \
     .def = "2",                                                                                   \
     .help = "window size"},                                                                       \
        {.name = "strides",                                                                        \
         .kind = DPT_KEY_INTS,                                                                     \
         DPT_FIELD(S, strides),                                                                    \
         .lo = 1,                                                                                  \
         .names = strides_names,                                                                   \
         .def = "pool_size",                                                                       \
         .help = "window step (default pool_size: windows side by side)"},                         \
    {                                                                                              \
        .name = "padding", .kind = DPT_KEY_INTS, DPT_FIELD(S, padding), .lo = 0,                   \
        .names = dpt_window_padding_names, .def = "valid",                                         \
        .help = "valid, same, or cells added on each side (padded cells are never pooled)"         \
    }

static const dpt_key pool2_keys[] = {POOL_KEYS(pool2_args)};
static const dpt_key pool1_keys[] = {POOL_KEYS(pool1_args)};
_Static_assert(sizeof pool2_keys / sizeof pool2_keys[0] == 3, "NKEYS below");

static const pool_kind *kind_of(const dpt_layer *l) {
    return l->type->data;
}

/* Input as (H, W, C): a sequence (T, F) is (1, T, F). */
static void input_dims(const dpt_layer *l, int *H, int *W, int *C) {
    const dpt_shape *in = &l->in_shape;
    bool one_d = kind_of(l)->dims == 1;
    *H = one_d ? 1 : in->dim[0];
    *W = in->dim[one_d ? 0 : 1];
    *C = in->dim[one_d ? 1 : 2];
}

/* The window of l's keys over its input: (h, w) kernel, strides and padding. */
static void window_keys(const dpt_layer *l, int k[2], int s[2], int pad[2]) {
    const pool_kind *kind = kind_of(l);
    int H, W, C;
    input_dims(l, &H, &W, &C);
    if (kind->global) {
        k[0] = H, k[1] = W, s[0] = s[1] = 1, pad[0] = pad[1] = DPT_PAD_VALID;
        return;
    }
    if (kind->dims == 1) {
        const pool1_args *a = dpt_layer_args(&l->spec);
        k[0] = 1, k[1] = a->pool_size[0];
        s[0] = 1, s[1] = a->strides[0];
        pad[0] = DPT_PAD_VALID, pad[1] = a->padding[0];
    } else {
        const pool2_args *a = dpt_layer_args(&l->spec);
        memcpy(k, a->pool_size, sizeof a->pool_size);
        memcpy(s, a->strides, sizeof a->strides);
        memcpy(pad, a->padding, sizeof a->padding);
    }
    for (int i = 0; i < 2; i++)
        if (s[i] == POOL_STRIDES_POOL) s[i] = k[i];
}

/* Plans l's window (build has checked that it fits); forward and backward redo it, a few
 * integer operations, rather than keep it anywhere. */
static int plan(const dpt_layer *l, dpt_window *g, char *err, size_t errlen) {
    int H, W, C, k[2], s[2], pad[2], d[2] = {1, 1};
    input_dims(l, &H, &W, &C);
    window_keys(l, k, s, pad);
    return dpt_window_plan(g, H, W, k, s, d, pad, err, errlen);
}

static int check_input(const dpt_layer *l, char *err, size_t errlen) {
    const dpt_shape *in = &l->in_shape;
    const char *name = l->type->name;
    char buf[64];
    dpt_shape_str(in, buf, sizeof buf);
    if (kind_of(l)->dims == 2 && in->rank != 3)
        return dpt_err(err, errlen,
                       "%s needs (H, W, C) input, got %s (expected an image: store X as "
                       "(N, H, W, C), or reshape it first; sequences take the 1-D pools)",
                       name, buf);
    if (kind_of(l)->dims == 1 && in->rank != 2)
        return dpt_err(err, errlen,
                       "%s needs (T, F) input, got %s (expected a sequence: store X as (N, T, F), "
                       "or reshape it first; images take the 2-D pools)",
                       name, buf);
    if (dpt_shape_size(in) > INT32_MAX)
        return dpt_err(err, errlen, "%s input %s has more than %d values per sample", name, buf,
                       INT32_MAX);
    return 0;
}

/* Explicit padding of pool_size or more would give windows of padding only, which pool
 * nothing (PyTorch even asks for at most half the window). */
static int check_padding(const dpt_layer *l, const dpt_window *g, char *err, size_t errlen) {
    int k[2], s[2], pad[2];
    window_keys(l, k, s, pad);
    bool one_d = kind_of(l)->dims == 1;
    char pb[32], kb[32];
    for (int i = one_d ? 1 : 0; i < 2; i++)
        if (pad[i] >= k[i])
            return dpt_err(err, errlen,
                           "%s padding %s leaves windows of padding only (expected padding "
                           "smaller than pool_size %s, or padding: same)",
                           l->type->name,
                           dpt_window_pair(g->pad_top, g->pad_left, one_d, pb, sizeof pb),
                           dpt_window_pair(k[0], k[1], one_d, kb, sizeof kb));
    return 0;
}

static int pool_build(dpt_layer *l, char *err, size_t errlen) {
    const pool_kind *kind = kind_of(l);
    if (check_input(l, err, errlen)) return -1;
    dpt_window g;
    char msg[256];
    if (plan(l, &g, msg, sizeof msg))
        return dpt_err(err, errlen,
                       "%s leaves nothing: %s (expected a smaller pool_size, or "
                       "padding: same)",
                       l->type->name, msg);
    if (check_padding(l, &g, err, errlen)) return -1;
    int H, W, C;
    input_dims(l, &H, &W, &C);
    if (kind->global)
        l->out_shape = dpt_shape_1d(C);
    else if (kind->dims == 1)
        l->out_shape = dpt_shape_2d(g.out_w, C);
    else
        l->out_shape = dpt_shape_3d(g.out_h, g.out_w, C);
    l->ntensors = 0;
    /* max / min: the input offset of each output's winner (int32, one float's room each) */
    l->cache_per_sample = kind->op == POOL_AVG ? 0 : (size_t)g.out_h * g.out_w * C;
    l->fn = NULL;
    return 0;
}

/* Rows [*a, *b) of the input that output row o's window covers (padding left out). */
static void window_span(int o, int stride, int pad_before, int k, int in, int *a, int *b) {
    int start = o * stride - pad_before;
    *a = start > 0 ? start : 0;
    *b = start + k < in ? start + k : in;
}

/* yo (C) = the max (sign 1) or min (sign -1) of x (H, W, C) over rows [ha, hb) x columns
 * [wa, wb); ao (C) = the offset of the first winner in scan order (ties: the first).  sign *
 * value is exact, so comparing signed values is comparing the values. */
static void window_extreme(const float *x, int W, int C, const int span[4], float sign, float *yo,
                           int32_t *ao) {
    int ha = span[0], hb = span[1], wa = span[2], wb = span[3];
    int32_t first = (ha * W + wa) * C;
    for (int c = 0; c < C; c++) yo[c] = x[first + c], ao[c] = first + c;
    for (int h = ha; h < hb; h++)
        for (int w = h == ha ? wa + 1 : wa; w < wb; w++) {
            int32_t off = (h * W + w) * C;
            const float *xc = x + off; /* (C) */
#pragma omp simd
            for (int c = 0; c < C; c++) {
                /* quiet compare: with -ftrapping-math a plain > keeps GCC from vectorising */
                bool win = isgreater(sign * xc[c], sign * yo[c]);
                yo[c] = win ? xc[c] : yo[c];
                ao[c] = win ? off + c : ao[c];
            }
        }
}

/* yo (C) = the mean of x over the window's cells (the cells of the input only: Keras's 'same',
 * PyTorch's count_include_pad=False); summed in scan order. */
static void window_mean(const float *x, int W, int C, const int span[4], float *yo) {
    int ha = span[0], hb = span[1], wa = span[2], wb = span[3];
    float n = (float)((hb - ha) * (wb - wa));
    memset(yo, 0, (size_t)C * sizeof *yo);
    for (int h = ha; h < hb; h++)
        for (int w = wa; w < wb; w++) {
            const float *xc = x + ((size_t)h * W + w) * C; /* (C) */
#pragma omp simd
            for (int c = 0; c < C; c++) yo[c] += xc[c];
        }
#pragma omp simd
    for (int c = 0; c < C; c++) yo[c] /= n;
}

/* Columns of the input a sample's windows may read: W, or a sequence's valid steps for a
 * global 1-D pool (Keras's masking: padding past a sample's length is not pooled). */
static int valid_columns(const dpt_layer *l, int W, int b, const dpt_step_ctx *ctx) {
    if (!kind_of(l)->global || kind_of(l)->dims != 1 || !ctx || !ctx->lengths) return W;
    int n = ctx->lengths[b];
    return n < 1 ? 1 : n > W ? W : n;
}

static void pool_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    dpt_window g;
    int planned = plan(l, &g, NULL, 0);
    DPT_ASSERT(planned == 0); /* build checked it */
    pool_op op = kind_of(l)->op;
    int C = l->out, H = g.in_h, W = g.in_w;
    size_t in_n = (size_t)H * W * C, out_n = (size_t)g.out_h * g.out_w * C;
    float sign = op == POOL_MIN ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if ((size_t)B * in_n > 32768)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * in_n; /* (H, W, C) */
        float *yb = y + (size_t)b * out_n;      /* (Ho, Wo, C) */
        int32_t *ab = op == POOL_AVG ? NULL : (int32_t *)(void *)l->cache + (size_t)b * out_n;
        int wv = valid_columns(l, W, b, ctx);
        for (int oh = 0; oh < g.out_h; oh++)
            for (int ow = 0; ow < g.out_w; ow++) {
                int span[4];
                window_span(oh, g.s_h, g.pad_top, g.k_h, H, &span[0], &span[1]);
                window_span(ow, g.s_w, g.pad_left, g.k_w, wv, &span[2], &span[3]);
                size_t o = ((size_t)oh * g.out_w + ow) * C;
                if (op == POOL_AVG)
                    window_mean(xb, W, C, span, yb + o);
                else
                    window_extreme(xb, W, C, span, sign, yb + o, ab + o);
            }
    }
}

/* dx (H, W, C) += dy spread evenly over each window's input cells. */
static void mean_backward(const dpt_window *g, int C, int wv, const float *dy, float *dx) {
    for (int oh = 0; oh < g->out_h; oh++)
        for (int ow = 0; ow < g->out_w; ow++) {
            int ha, hb, wa, wb;
            window_span(oh, g->s_h, g->pad_top, g->k_h, g->in_h, &ha, &hb);
            window_span(ow, g->s_w, g->pad_left, g->k_w, wv, &wa, &wb);
            float n = (float)((hb - ha) * (wb - wa));
            const float *d = dy + ((size_t)oh * g->out_w + ow) * C; /* (C) */
            for (int h = ha; h < hb; h++)
                for (int w = wa; w < wb; w++) {
                    float *dc = dx + ((size_t)h * g->in_w + w) * C; /* (C) */
#pragma omp simd
                    for (int c = 0; c < C; c++) dc[c] += d[c] / n;
                }
        }
}

/* dx = 0 but for each window's winner (max / min), which gets its output's gradient, or the
 * gradient spread over the window (avg).  Overlapping windows add up. */
static void pool_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                          int B, const dpt_step_ctx *ctx) {
    (void)x, (void)y;
    if (!dx) return;
    dpt_window g;
    int planned = plan(l, &g, NULL, 0);
    DPT_ASSERT(planned == 0); /* build checked it */
    pool_op op = kind_of(l)->op;
    int C = l->out;
    size_t in_n = (size_t)g.in_h * g.in_w * C, out_n = (size_t)g.out_h * g.out_w * C;
#pragma omp parallel for schedule(static) if ((size_t)B * in_n > 32768)
    for (int b = 0; b < B; b++) {
        float *dxb = dx + (size_t)b * in_n;        /* (H, W, C) */
        const float *dyb = dy + (size_t)b * out_n; /* (Ho, Wo, C) */
        memset(dxb, 0, in_n * sizeof *dxb);
        if (op == POOL_AVG) {
            mean_backward(&g, C, valid_columns(l, g.in_w, b, ctx), dyb, dxb);
            continue;
        }
        const int32_t *ab = (const int32_t *)(const void *)l->cache + (size_t)b * out_n;
        for (size_t i = 0; i < out_n; i++) dxb[ab[i]] += dyb[i];
    }
}

#define NKEYS 3 /* of pool2_keys and pool1_keys */

static const pool_kind max2 = {POOL_MAX, 2, false}, avg2 = {POOL_AVG, 2, false},
                       min2 = {POOL_MIN, 2, false}, gavg2 = {POOL_AVG, 2, true},
                       gmax2 = {POOL_MAX, 2, true}, max1 = {POOL_MAX, 1, false},
                       avg1 = {POOL_AVG, 1, false}, min1 = {POOL_MIN, 1, false},
                       gavg1 = {POOL_AVG, 1, true}, gmax1 = {POOL_MAX, 1, true};

#define POOL_TYPE(type_name, key_table, nkey, args, kind)                                          \
    {                                                                                              \
        .name = (type_name), .keys = (key_table), .nkeys = (nkey), .args_size = (args),            \
        .data = &(kind), .build = pool_build, .forward = pool_forward, .backward = pool_backward   \
    }

const dpt_layer_type dpt_layer_max_pool2d_type =
    POOL_TYPE("max_pool2d", pool2_keys, NKEYS, sizeof(pool2_args), max2);
const dpt_layer_type dpt_layer_avg_pool2d_type =
    POOL_TYPE("avg_pool2d", pool2_keys, NKEYS, sizeof(pool2_args), avg2);
const dpt_layer_type dpt_layer_min_pool2d_type =
    POOL_TYPE("min_pool2d", pool2_keys, NKEYS, sizeof(pool2_args), min2);
const dpt_layer_type dpt_layer_global_avg_pool2d_type =
    POOL_TYPE("global_avg_pool2d", NULL, 0, 0, gavg2);
const dpt_layer_type dpt_layer_global_max_pool2d_type =
    POOL_TYPE("global_max_pool2d", NULL, 0, 0, gmax2);
const dpt_layer_type dpt_layer_max_pool1d_type =
    POOL_TYPE("max_pool1d", pool1_keys, NKEYS, sizeof(pool1_args), max1);
const dpt_layer_type dpt_layer_avg_pool1d_type =
    POOL_TYPE("avg_pool1d", pool1_keys, NKEYS, sizeof(pool1_args), avg1);
const dpt_layer_type dpt_layer_min_pool1d_type =
    POOL_TYPE("min_pool1d", pool1_keys, NKEYS, sizeof(pool1_args), min1);
const dpt_layer_type dpt_layer_global_avg_pool1d_type =
    POOL_TYPE("global_avg_pool1d", NULL, 0, 0, gavg1);
const dpt_layer_type dpt_layer_global_max_pool1d_type =
    POOL_TYPE("global_max_pool1d", NULL, 0, 0, gmax1);
