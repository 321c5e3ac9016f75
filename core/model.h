/* A feed-forward model: a directed acyclic graph of layers (a chain in the simplest case) over
 * one flat parameter buffer, one flat gradient buffer and one activation arena, all allocated
 * once by dpt_model_build (no allocation later).  It reads one or several named inputs per
 * sample; its output is its last layer's. */
#ifndef DPT_MODEL_H
#define DPT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/graph.h"
#include "core/layer.h"
#include "core/shape.h"

#define DPT_MODEL_MAX_INPUTS 8

/* One named input of the model.  Callers hand all inputs of a sample over as one packed row of
 * 4-byte elements (float32 or int32 each, as the input's dtype says): input k's values at
 * [offset, offset + size(shape)) of the row, in the order of the model's inputs. */
typedef struct dpt_model_input {
    char name[DPT_NAME_MAX];
    dpt_shape shape; /* per sample; int32 for token ids */
    size_t offset;   /* elements into the packed row (set by the build) */
} dpt_model_input;

typedef struct dpt_model {
    int nlayers;
    dpt_layer *layers; /* (nlayers) in an order where every layer comes after those it reads; a
                          dense spec with an activation expands into two */
    int ninputs;       /* named inputs, >= 1 */
    dpt_model_input inputs[DPT_MODEL_MAX_INPUTS];
    size_t in_width;     /* elements of one packed input row: the sum of the inputs' sizes */
    dpt_shape in_shape;  /* per-sample input as built: (F), (T, F), (H, W, C); float32, or int32
                            token ids for a model that starts with a layer reading them.  With
                            several inputs the packed row, (in_width), int32 when every input
                            is int32, else float32 (its elements are what the inputs say) */
    dpt_shape out_shape; /* per-sample output, float32: (K), (T_out, K) when it returns
                            sequences (T_out may differ from T: repeat), (H, W, K) */
    /* Derived from the shapes: the last dimension, and the product of the others (T of a
     * sequence, 1 of a vector, H x W of an image).  Buffers are (B, steps, features). */
    int in_features;  /* F */
    int out_features; /* K */
    int in_steps;     /* T of the input */
    int out_steps;    /* T_out of the output */
    int max_batch;    /* largest B forward/backward accept */
    size_t nparams;
    float *params;    /* (nparams) all parameters, layer by layer */
    float *grads;     /* (nparams) same layout, with grad_head floats of head room right in
                         front of it (dpt_model_grad_head) */
    size_t grad_head; /* floats of head room in front of grads (a multiple of 16) */
    size_t nstate;
    float *state; /* (nstate) layer state that is no parameter (batch_norm's moving
                     averages), layer by layer: saved, loaded and checksummed with the
                     parameters, never seen by the optimizer nor reduced; NULL if none */
    float **acts; /* (nlayers + 1) acts[i + 1] = output of layer i (B, steps_out, out)
                     (in a chain also the input of layer i + 1); acts[0] is the
                     caller's packed x during a step */
    /* The graph: where each layer's inputs come from and, for backward, where each gradient
     * goes (core/graph.h); (nlayers) each. */
    dpt_graph_node *nodes;
    dpt_graph_grad *gplan;
    int *len_origin; /* (nlayers) the model input whose lengths describe layer i's output
                        (it keeps that input's time axis), or -1 */
    float **states;  /* (nlayers) (B, state_size) final state of layer i when another layer
                        reads it (initial_state), else NULL */
    float **slots;   /* (nslots) (B, max width) gradient buffers of backward */
    float **scratch; /* (nscratch) the same, for gradients added where outputs fan out */
    float *zeros;    /* (B, max width) zeros: dy of a layer whose output nobody reads */
    int nslots, nscratch;
    const void **in_x;    /* (ninputs) input k's (B, shape) buffer during a step */
    int32_t **in_len;     /* (ninputs) input k's (B) lengths during a step, or NULL */
    const int32_t **vlen; /* (nlayers) lengths describing layer i's output, or NULL */
    float *arena;         /* owns activations, caches, states and the gradient buffers */
    size_t arena_floats;  /* its size */
    dpt_step_ctx ctx;     /* what the last forward saw (lengths, dropout keys), for backward */
    int axis_change;      /* first layer whose output does not keep its input's leading axes
                             (dpt_shape_same_rows: a many-to-one recurrent layer, repeat); nlayers
                             if none.  Sequence lengths describe a layer's output while it keeps
                             its input's axes (len_origin), not after (those layers run all their
                             steps). */
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

/* Builds the layers from specs for per-sample input *in (e.g. dpt_shape_1d(F), or
 * dpt_shape_from_steps(T, F) for what a (T, F) count meant before shapes), batches up to
 * max_batch: each layer's build gets the shape the one before outputs.  Returns 0, or -1 with a
 * message naming the layer (index, type, config line) and what was expected: a shape the layer
 * cannot take, or int32 input to a model whose first layer reads float32. */
int dpt_model_build(dpt_model *m, const dpt_layer_spec *specs, int nspecs, const dpt_shape *in,
                    int max_batch, char *err, size_t errlen);
/* The same for a graph of ninputs (1..DPT_MODEL_MAX_INPUTS) named inputs (their offsets are
 * set here): the layers name what they read (dpt_layer_spec.inputs, initial_state; core/graph.h
 * for the rules and messages).  dpt_model_build is this with one input named "input". */
int dpt_model_build_inputs(dpt_model *m, const dpt_layer_spec *specs, int nspecs,
                           const dpt_model_input *inputs, int ninputs, int max_batch, char *err,
                           size_t errlen);
/* The model input named name, or -1. */
int dpt_model_input_index(const dpt_model *m, const char *name);
void dpt_model_free(dpt_model *m);

/* Initialises all parameters and state from seed; identical on every rank for the same seed. */
void dpt_model_init_params(dpt_model *m, uint64_t seed);

/* Forward pass of B <= max_batch samples of float32 x (B, in_shape); returns the output
 * (B, out_shape) (model-owned, valid until the next forward).  B may be 0: then only the
 * DPT_LAYER_CROSS_RANK layers run (with B == 0), to join their reductions. */
const float *dpt_model_forward(dpt_model *m, const float *x, int B, const dpt_step_ctx *ctx);
/* The same for a model built for int32 input: ids (B, in_shape), borrowed until backward.  The
 * first layer (DPT_LAYER_INT_INPUT) gets them as its x (see dpt_layer_type.forward); float
 * models never come here, so their path is as it was. */
const float *dpt_model_forward_ids(dpt_model *m, const int32_t *ids, int B,
                                   const dpt_step_ctx *ctx);
/* Either of them: x (B, in_width) packed rows of the inputs' element types (see
 * dpt_model_input).  With several inputs ctx->lengths, when not NULL, is (B, ninputs): input
 * k's valid steps in column k (its first dimension for an input without lengths). */
const float *dpt_model_forward_rows(dpt_model *m, const void *x, int B, const dpt_step_ctx *ctx);

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

/* FNV-1a over the parameter bytes, then the state bytes (a model without state: over the
 * parameters alone, as before state existed): ranks compare it to check they hold the same
 * model; model files and checkpoints record it. */
uint64_t dpt_model_checksum(const dpt_model *m);

/* The lengths (B) that describe the output's time steps, for the loss and metrics to skip
 * padding: NULL when the output is no sequence (dpt_shape_is_sequence: one output per sample, or
 * one step); x_lengths when it is on the input's time axis (no layer changed it); else the output
 * is on a new time axis (many-to-one then repeat: T_out need not be T) and only the targets can
 * say: y_lengths, the targets' own lengths (NULL = every output step valid).  Either argument
 * may be NULL.  With several inputs, x_lengths is ctx->lengths (B, ninputs) and the result the
 * model's copy of one column, filled by the forward pass. */
const int32_t *dpt_model_output_lengths(const dpt_model *m, const int32_t *x_lengths,
                                        const int32_t *y_lengths);

/* Finds a layer by name; NULL if absent. */
dpt_layer *dpt_model_layer(dpt_model *m, const char *name);

#endif
