/* Test helpers for one layer outside a model: a spec from one line, a key's value as text, and
 * a built layer with its own parameter, gradient and cache buffers (tensor offsets from 0). */
#ifndef DPT_TESTS_LAYER_HARNESS_H
#define DPT_TESTS_LAYER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/layer.h"

/* The spec "<type> key=value ..." (dpt_layer_spec_parse); fails the test if it is refused. */
dpt_layer_spec harness_spec(const char *line);
/* Sets one key; fails the test if it is refused. */
void harness_set(dpt_layer_spec *s, const char *key, const char *value);
/* The key's value as the canonical text shows it (one of 8 rotating buffers). */
const char *harness_value(const dpt_layer_spec *s, const char *key);

/* dpt_shape_from_steps(T, F) in one of 8 rotating buffers: (F) for T == 1, else (T, F). */
const dpt_shape *harness_steps(int T, int F);

/* Fills l from s for per-sample input *in (index: position in a model, keys dropout masks) and
 * builds it (dpt_layer_build).  Returns its result, the message in err.  No buffers. */
int harness_build_shape(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int index,
                        char *err, size_t errlen);
/* The same for `in` features and T steps (harness_steps). */
int harness_build(dpt_layer *l, const dpt_layer_spec *s, int in, int T, int index, char *err,
                  size_t errlen);
/* harness_build that must succeed, then tensor offsets from 0 and buffers for B rows: params
 * and grads (nparams), cache (cache_fixed + B cache_per_sample), state (nstate, NULL if none;
 * state offsets from 0). */
void harness_make(dpt_layer *l, const dpt_layer_spec *s, int in, int T, int index, int B);
/* The same for per-sample input *in of any rank, e.g. (H, W, C). */
void harness_make_shape(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int index,
                        int B);
/* Central differences of sum(r * y) in each input value (step h) against the layer's dx for
 * x (B, in_shape) and weights r (B, out_shape), which is also dy: |num - dx| <= atol + rtol |num|.
 * For layers whose parameters, if any, are not what is checked; x is restored. */
void harness_check_dx(dpt_layer *l, float *x, const float *r, int B, const dpt_step_ctx *ctx,
                      float h, double rtol, double atol);

/* Several inputs (types with forward_n): build with dpt_layer_build_n for in (n). */
int harness_build_n(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int n, int index,
                    char *err, size_t errlen);
/* harness_build_n that must succeed, then buffers for B samples as harness_make. */
void harness_make_n(dpt_layer *l, const dpt_layer_spec *s, const dpt_shape *in, int n, int index,
                    int B);
/* The io forward_n reads: x[k] (B, in_shapes[k]) for k < l->ninputs, lengths[k] (B) or NULL
 * (lengths NULL: none at all), dx NULL (borrowed pointers). */
dpt_layer_io harness_io(const dpt_layer *l, float *const *x, const int32_t *const *lengths);
/* harness_check_dx for every input: central differences of sum(r * y) in each value of each
 * x[k] against backward_n's dx[k] (every input's wanted), in a step whose ctx->lengths is
 * lengths[0] as the model sets it.  x is restored. */
void harness_check_dx_n(dpt_layer *l, float *const *x, const int32_t *const *lengths,
                        const float *r, int B, float h, double rtol, double atol);
/* The same for every parameter against what backward_n adds to l->grads (zeroed first);
 * l->params is restored. */
void harness_check_dparams_n(dpt_layer *l, float *const *x, const int32_t *const *lengths,
                             const float *r, int B, float h, double rtol, double atol);
/* Frees what harness_make allocated. */
void harness_free(dpt_layer *l);

#endif
