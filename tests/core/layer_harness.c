/* One layer outside a model, as the layer tests (gradients, recurrent, dropout, activation)
 * build it: the model's part of the work (offsets, buffers) done the simplest way. */
#include "layer_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "core/util.h"

dpt_layer_spec harness_spec(const char *line) {
    dpt_layer_spec s;
    char err[512];
    if (dpt_layer_spec_parse(&s, line, err, sizeof err)) fail_msg("'%s': %s", line, err);
    return s;
}

void harness_set(dpt_layer_spec *s, const char *key, const char *value) {
    char err[512];
    if (dpt_layer_spec_set(s, key, value, err, sizeof err)) fail_msg("%s", err);
}

const char *harness_value(const dpt_layer_spec *s, const char *key) {
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ % 8];
    dpt_layer_spec_get(s, key, b, sizeof bufs[0]);
    return b;
}

const dpt_shape *harness_steps(int T, int F) {
    static dpt_shape bufs[8];
    static int next;
    dpt_shape *s = &bufs[next++ % 8];
    *s = dpt_shape_from_steps(T, F);
    return s;
}

int harness_build_shape(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int index,
                        char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->type = dpt_layer_find(s->type);
    assert_non_null(l->type);
    l->spec = *s;
    l->index = index;
    return dpt_layer_build(l, in, err, errlen);
}

int harness_build(dpt_layer *l, const dpt_layer_spec *s, int in, int T, int index, char *err,
                  size_t errlen) {
    return harness_build_shape(l, s, harness_steps(T, in), index, err, errlen);
}

void harness_make(dpt_layer *l, const dpt_layer_spec *s, int in, int T, int index, int B) {
    harness_make_shape(l, s, harness_steps(T, in), index, B);
}

/* Tensor and state offsets from 0, and the buffers of a built layer for B samples. */
static void alloc_buffers(dpt_layer *l, int B) {
    size_t off = 0;
    for (int t = 0; t < l->ntensors; t++) {
        l->tensors[t].offset = off;
        off += l->tensors[t].size;
    }
    l->nparams = off;
    l->params = dpt_alloc_floats(off);
    l->grads = dpt_alloc_floats(off);
    l->cache = dpt_alloc_floats(l->cache_fixed + (size_t)B * l->cache_per_sample);
    off = 0;
    for (int t = 0; t < l->nstates; t++) {
        l->states[t].offset = off;
        off += l->states[t].size;
    }
    l->nstate = off;
    l->state = off ? dpt_alloc_floats(off) : NULL;
}

void harness_make_shape(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int index,
                        int B) {
    char err[512] = "";
    if (harness_build_shape(l, s, in, index, err, sizeof err)) fail_msg("build: %s", err);
    alloc_buffers(l, B);
}

void harness_free(dpt_layer *l) {
    free(l->params);
    free(l->grads);
    free(l->cache);
    free(l->state);
    l->params = l->grads = l->cache = l->state = NULL;
}

/* sum(r * y) of one forward, in double. */
static double weighted_output(dpt_layer *l, const float *x, float *y, const float *r, int B,
                              const dpt_step_ctx *ctx) {
    size_t out_n = dpt_shape_size(&l->out_shape) * (size_t)B;
    l->type->forward(l, x, y, B, ctx);
    double f = 0.0;
    for (size_t o = 0; o < out_n; o++) f += (double)r[o] * y[o];
    return f;
}

void harness_check_dx(dpt_layer *l, float *x, const float *r, int B, const dpt_step_ctx *ctx,
                      float h, double rtol, double atol) {
    size_t in_n = dpt_shape_size(&l->in_shape) * (size_t)B;
    float *y = dpt_alloc_floats(dpt_shape_size(&l->out_shape) * (size_t)B); /* (B, out_shape) */
    float *dx = dpt_alloc_floats(in_n);                                     /* (B, in_shape) */
    for (size_t i = 0; i < in_n; i++) dx[i] = NAN;
    l->type->forward(l, x, y, B, ctx);
    l->type->backward(l, x, y, r, dx, B, ctx);
    for (size_t i = 0; i < in_n; i++) {
        float v0 = x[i], up = v0 + h, down = v0 - h;
        x[i] = up;
        double f_up = weighted_output(l, x, y, r, B, ctx);
        x[i] = down;
        double f_down = weighted_output(l, x, y, r, B, ctx);
        x[i] = v0;
        double num = (f_up - f_down) / ((double)up - (double)down);
        if (!(fabs(dx[i] - num) <= atol + rtol * fabs(num)))
            fail_msg("dx[%zu] = %.9g, central difference %.9g", i, (double)dx[i], num);
    }
    free(y);
    free(dx);
}

int harness_build_n(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int n, int index,
                    char *err, size_t errlen) {
    memset(l, 0, sizeof *l);
    l->type = dpt_layer_find(s->type);
    assert_non_null(l->type);
    l->spec = *s;
    l->index = index;
    return dpt_layer_build_n(l, in, n, err, errlen);
}

void harness_make_n(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int n, int index,
                    int B) {
    char err[512] = "";
    if (harness_build_n(l, s, in, n, index, err, sizeof err)) fail_msg("build: %s", err);
    alloc_buffers(l, B);
}

dpt_layer_io harness_io(const dpt_layer *l, float *const *x, const int32_t *const *lengths) {
    dpt_layer_io io = {.n = l->ninputs};
    for (int k = 0; k < l->ninputs; k++) {
        io.x[k] = x[k];
        io.lengths[k] = lengths ? lengths[k] : NULL;
    }
    return io;
}

/* sum(r * y) of one forward_n, in double. */
static double weighted_output_n(dpt_layer *l, const dpt_layer_io *io, float *y, const float *r,
                                int B, const dpt_step_ctx *ctx) {
    size_t out_n = dpt_shape_size(&l->out_shape) * (size_t)B;
    l->type->forward_n(l, io, y, B, ctx);
    double f = 0.0;
    for (size_t o = 0; o < out_n; o++) f += (double)r[o] * y[o];
    return f;
}

/* Central difference of sum(r * y) in *v against ana; v is restored. */
static void check_one_n(dpt_layer *l, const dpt_layer_io *io, float *y, const float *r, int B,
                        const dpt_step_ctx *ctx, float *v, double ana, float h, double rtol,
                        double atol, const char *what, size_t i) {
    float v0 = *v, up = v0 + h, down = v0 - h;
    *v = up;
    double f_up = weighted_output_n(l, io, y, r, B, ctx);
    *v = down;
    double f_down = weighted_output_n(l, io, y, r, B, ctx);
    *v = v0;
    double num = (f_up - f_down) / ((double)up - (double)down);
    if (!(fabs(ana - num) <= atol + rtol * fabs(num)))
        fail_msg("%s[%zu] = %.9g, central difference %.9g", what, i, ana, num);
}

void harness_check_dx_n(dpt_layer *l, float *const *x, const int32_t *const *lengths,
                        const float *r, int B, float h, double rtol, double atol) {
    dpt_layer_io io = harness_io(l, x, lengths);
    dpt_step_ctx ctx = {.lengths = io.lengths[0]};
    float *y = dpt_alloc_floats(dpt_shape_size(&l->out_shape) * (size_t)B); /* (B, out_shape) */
    const int n = l->ninputs;
    assert_true(n >= 1 && n <= DPT_LAYER_MAX_INPUTS);
    float *dx[DPT_LAYER_MAX_INPUTS] = {NULL};
    for (int k = 0; k < n; k++) {
        size_t m = dpt_shape_size(&l->in_shapes[k]) * (size_t)B;
        io.dx[k] = dx[k] = dpt_alloc_floats(m); /* (B, in_shapes[k]) */
        for (size_t i = 0; i < m; i++) dx[k][i] = NAN;
    }
    l->type->forward_n(l, &io, y, B, &ctx);
    l->type->backward_n(l, &io, y, r, B, &ctx);
    for (int k = 0; k < n; k++) io.dx[k] = NULL;
    for (int k = 0; k < n; k++) {
        char what[16];
        snprintf(what, sizeof what, "dx%d", k);
        for (size_t i = 0; i < dpt_shape_size(&l->in_shapes[k]) * (size_t)B; i++)
            check_one_n(l, &io, y, r, B, &ctx, &x[k][i], dx[k][i], h, rtol, atol, what, i);
    }
    for (int k = 0; k < n; k++) free(dx[k]);
    free(y);
}

void harness_check_dparams_n(dpt_layer *l, float *const *x, const int32_t *const *lengths,
                             const float *r, int B, float h, double rtol, double atol) {
    dpt_layer_io io = harness_io(l, x, lengths);
    dpt_step_ctx ctx = {.lengths = io.lengths[0]};
    float *y = dpt_alloc_floats(dpt_shape_size(&l->out_shape) * (size_t)B); /* (B, out_shape) */
    memset(l->grads, 0, l->nparams * sizeof *l->grads);
    l->type->forward_n(l, &io, y, B, &ctx);
    l->type->backward_n(l, &io, y, r, B, &ctx);
    for (size_t i = 0; i < l->nparams; i++)
        check_one_n(l, &io, y, r, B, &ctx, &l->params[i], l->grads[i], h, rtol, atol, "dparam", i);
    free(y);
}
