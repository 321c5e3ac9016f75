/* A feed-forward model: a sequence of layers over one flat parameter buffer, one flat gradient
 * buffer and one activation arena, all allocated once by dpt_model_build (no allocation later). */
#ifndef DPT_MODEL_H
#define DPT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/layer.h"
#include "core/shape.h"

typedef struct dpt_model {
    int nlayers;
    dpt_layer *layers;   /* (nlayers); a dense spec with an activation expands into two */
    int in_features;     /* F, per time step */
    int out_features;    /* K, per time step */
    int in_steps;        /* T of the input (1 for plain vectors) */
    int out_steps;       /* T of the output (1 unless the model returns sequences) */
    int max_batch;       /* largest B forward/backward accept */
    dpt_shape in_shape;  /* per-sample input: (F), or (T, F) for sequences */
    dpt_shape out_shape; /* per-sample output: (K), or (T_out, K) when it returns sequences */
    size_t nparams;
    float *params;       /* (nparams) all parameters, layer by layer */
    float *grads;        /* (nparams) same layout, with grad_head floats of head room right in
                            front of it (dpt_model_grad_head) */
    size_t grad_head;    /* floats of head room in front of grads (a multiple of 16) */
    float **acts;        /* (nlayers + 1) acts[i] = input of layer i (B, steps_in, in);
                            acts[0] is the caller's x during a step */
    float *delta[2];     /* 2 x (max_batch, max steps x width) ping-pong buffers for backward */
    float *arena;        /* owns activations, caches and deltas */
    size_t arena_floats; /* its size */
    dpt_step_ctx ctx;    /* what the last forward saw (lengths, dropout keys), for backward */
    int axis_change;     /* first layer whose output has other time steps than its input (a
                            many-to-one recurrent layer, repeat); nlayers if none.  Sequence
                            lengths describe the layers up to it, not those after it. */
    /* Called by dpt_model_backward on the calling thread whenever the gradients from `from` (a
     * pointer into m->grads) to the end are final for this step and backward will not touch
     * them again: right after each layer's backward (last layer first, every layer, also when
     * B == 0; from = the layer's first gradient, or unchanged for a layer without parameters),
     * and from inside a layer's backward where it finishes its gradients in pieces (the dense
     * layer, last rows first).  `from` never goes up within one backward.  NULL (the default)
     * = no call.  The training step uses it to hand gradient buckets to its communication
     * thread. */
    void (*grads_ready)(void *arg, const float *from);
    void *grads_ready_arg;
} dpt_model;

/* Builds the layers from specs for inputs of in_features, batches up to max_batch.  Returns 0,
 * or -1 with a message naming the layer (index, type, config line) and what was expected. */
int dpt_model_build(dpt_model *m, const dpt_layer_spec *specs, int nspecs, int in_features,
                    int max_batch, char *err, size_t errlen);
/* Same for sequence input x (B, in_steps, in_features). */
int dpt_model_build_seq(dpt_model *m, const dpt_layer_spec *specs, int nspecs, int in_steps,
                        int in_features, int max_batch, char *err, size_t errlen);
void dpt_model_free(dpt_model *m);

/* Initialises all parameters from seed; identical on every rank for the same seed. */
void dpt_model_init_params(dpt_model *m, uint64_t seed);

/* Forward pass of B <= max_batch samples of x (B, in_steps, F); returns the output
 * (B, out_steps, K) (model-owned, valid until the next forward).  B may be 0. */
const float *dpt_model_forward(dpt_model *m, const float *x, int B, const dpt_step_ctx *ctx);

/* Backward pass for the last forward: dout (B, out_steps, K) is d(loss)/d(output).  Adds into
 * m->grads, calling m->grads_ready after each layer when set. */
void dpt_model_backward(dpt_model *m, const float *dout, int B);

void dpt_model_zero_grads(dpt_model *m);

/* The n floats right in front of m->grads (zeroed), so that a caller can reduce its own numbers
 * together with the gradients in one range without a second gradient buffer (which at start-up
 * would hold a copy of the gradients: a peak of one more gradient).  The model is built with room
 * for a few; asking for more reallocates the gradient buffer (values kept, layer views
 * repointed), so ask at set-up, before anyone holds a pointer into m->grads. */
float *dpt_model_grad_head(dpt_model *m, size_t n);

/* Adds l2 * w to the gradient of every decayed tensor; returns the penalty (l2/2) * sum w^2. */
double dpt_model_add_l2(dpt_model *m, float l2);

/* FNV-1a over the parameter bytes: ranks compare it to check they hold the same model. */
uint64_t dpt_model_checksum(const dpt_model *m);

/* The lengths that describe the model's output steps: the input lengths when the output is a
 * sequence on the input's time axis, else NULL (one output per sample, or a new time axis). */
const int32_t *dpt_model_output_lengths(const dpt_model *m, const int32_t *lengths);

/* Finds a layer by name; NULL if absent. */
dpt_layer *dpt_model_layer(dpt_model *m, const char *name);

#endif
