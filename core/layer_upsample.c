/* Nearest-neighbour upsampling (Keras's UpSampling2D / UpSampling1D, PyTorch's
 * interpolate(mode='nearest') with an integer scale_factor): every input cell becomes a
 * size_h x size_w block of copies.  A sequence (T, F) is upsampled as a 1 x T image. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/layer.h"
#include "core/util.h"

/* The config keys of upsample2d and upsample1d. */
typedef struct upsample2_args {
    int size[2]; /* block (h, w) */
} upsample2_args;

typedef struct upsample1_args {
    int size; /* copies of each step */
} upsample1_args;

static const dpt_key upsample2_keys[] = {
    {.name = "size",
     .kind = DPT_KEY_INTS,
     DPT_FIELD(upsample2_args, size),
     .lo = 1,
     .def = "2",
     .help = "copies of each cell down and across"},
};

static const dpt_key upsample1_keys[] = {
    {.name = "size",
     .kind = DPT_KEY_INT,
     DPT_FIELD(upsample1_args, size),
     .lo = 1,
     .def = "2",
     .help = "copies of each time step"},
};

static bool one_d(const dpt_layer *l) {
    return l->type->keys == upsample1_keys;
}

/* The input as (H, W, C) and the block (sh, sw). */
static void dims(const dpt_layer *l, int *H, int *W, int *C, int *sh, int *sw) {
    const dpt_shape *in = &l->in_shape;
    if (one_d(l)) {
        *H = 1, *W = in->dim[0], *C = in->dim[1];
        *sh = 1, *sw = ((const upsample1_args *)dpt_layer_args(&l->spec))->size;
    } else {
        const int *s = ((const upsample2_args *)dpt_layer_args(&l->spec))->size;
        *H = in->dim[0], *W = in->dim[1], *C = in->dim[2];
        *sh = s[0], *sw = s[1];
    }
}

static int upsample_build(dpt_layer *l, char *err, size_t errlen) {
    const dpt_shape *in = &l->in_shape;
    char buf[64];
    int rank = one_d(l) ? 2 : 3;
    if (in->rank != rank)
        return dpt_err(err, errlen, "%s needs %s input, got %s (%s)", l->type->name,
                       one_d(l) ? "(T, F)" : "(H, W, C)", dpt_shape_str(in, buf, sizeof buf),
                       one_d(l) ? "expected a sequence; images take upsample2d"
                                : "expected an image; sequences take upsample1d");
    int H, W, C, sh, sw;
    dims(l, &H, &W, &C, &sh, &sw);
    if ((double)H * sh * W * sw * C > (double)INT32_MAX)
        return dpt_err(err, errlen, "%s output of %s by %dx%d has more than %d values per sample",
                       l->type->name, dpt_shape_str(in, buf, sizeof buf), sh, sw, INT32_MAX);
    l->out_shape = one_d(l) ? dpt_shape_2d(W * sw, C) : dpt_shape_3d(H * sh, W * sw, C);
    l->ntensors = 0;
    l->cache_per_sample = 0;
    return 0;
}

/* y (H sh, W sw, C): each output row built once from its input row, then copied sh - 1 times. */
static void upsample_forward(dpt_layer *l, const float *x, float *y, int B,
                             const dpt_step_ctx *ctx) {
    (void)ctx;
    int H, W, C, sh, sw;
    dims(l, &H, &W, &C, &sh, &sw);
    size_t in_n = (size_t)H * W * C, row = (size_t)W * sw * C; /* floats of an output row */
#pragma omp parallel for schedule(static) if ((size_t)B * in_n * sh * sw > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *xr = x + (size_t)b * in_n + (size_t)h * W * C; /* (W, C) */
            float *yr = y + ((size_t)b * H + h) * sh * row;             /* (sh, W sw, C) */
            for (int w = 0; w < W; w++)
                for (int j = 0; j < sw; j++)
                    memcpy(yr + ((size_t)w * sw + j) * C, xr + (size_t)w * C,
                           (size_t)C * sizeof *y);
            for (int i = 1; i < sh; i++) memcpy(yr + i * row, yr, row * sizeof *y);
        }
}

/* dx (H, W, C) = the sum of dy over each cell's block, rows then columns in order. */
static void upsample_backward(dpt_layer *l, const float *x, const float *y, const float *dy,
                              float *dx, int B, const dpt_step_ctx *ctx) {
    (void)x, (void)y, (void)ctx;
    if (!dx) return;
    int H, W, C, sh, sw;
    dims(l, &H, &W, &C, &sh, &sw);
    size_t in_n = (size_t)H * W * C, row = (size_t)W * sw * C;
#pragma omp parallel for schedule(static) if ((size_t)B * in_n * sh * sw > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *dxr = dx + (size_t)b * in_n + (size_t)h * W * C; /* (W, C) */
            const float *dyr = dy + ((size_t)b * H + h) * sh * row; /* (sh, W sw, C) */
            memset(dxr, 0, (size_t)W * C * sizeof *dxr);
            for (int i = 0; i < sh; i++)
                for (int w = 0; w < W; w++)
                    for (int j = 0; j < sw; j++) {
                        const float *g = dyr + i * row + ((size_t)w * sw + j) * C; /* (C) */
                        float *d = dxr + (size_t)w * C;                            /* (C) */
#pragma omp simd
                        for (int c = 0; c < C; c++) d[c] += g[c];
                    }
        }
}

const dpt_layer_type dpt_layer_upsample2d_type = {
    .name = "upsample2d",
    .keys = upsample2_keys,
    .nkeys = sizeof upsample2_keys / sizeof upsample2_keys[0],
    .args_size = sizeof(upsample2_args),
    .build = upsample_build,
    .forward = upsample_forward,
    .backward = upsample_backward,
};

const dpt_layer_type dpt_layer_upsample1d_type = {
    .name = "upsample1d",
    .keys = upsample1_keys,
    .nkeys = sizeof upsample1_keys / sizeof upsample1_keys[0],
    .args_size = sizeof(upsample1_args),
    .build = upsample_build,
    .forward = upsample_forward,
    .backward = upsample_backward,
};
