/* Layers: a registry of layer types (name -> build/init/forward/backward) and the layer struct.
 * Layers see their parameters and gradients as views into the model's flat buffers. */
#ifndef DPT_LAYER_H
#define DPT_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

#define DPT_NAME_MAX    64
#define DPT_MAX_TENSORS 8 /* a bidirectional recurrent layer: 2 x (W_ih, W_hh, b_ih, b_hh) */

/* What the config says about one layer.  Fields a type does not use are ignored. */
typedef struct dpt_layer_spec {
    char type[32];           /* registry name: "dense", "activation", "dropout" */
    char name[DPT_NAME_MAX]; /* unique name in model files; "" = automatic "<type>_<i>" */
    int units;               /* dense: output features; rnn/lstm/gru: hidden units H (> 0) */
    char activation[32];     /* activation layer: function; dense: fused activation ("" = none) */
    float alpha;             /* leaky_relu slope / elu alpha; NAN = the function's default */
    float rate;              /* dropout: probability of dropping, in [0, 1) */
    char kernel_init[32];    /* weights: dense "" = glorot_uniform, recurrent "" = PyTorch
                                U(-1/sqrt(H), 1/sqrt(H)) */
    char bias_init[32];      /* biases: dense "" = zeros, recurrent "" = as the weights */
    float init_scale;        /* "uniform" limit / "normal" stddev; 0 = 0.05 */
    bool use_bias;           /* dense, rnn/lstm/gru: default true */
    bool return_sequences;   /* rnn/lstm/gru: output every step (B, T, H) instead of the last
                                valid step (B, 1, H); default false */
    bool bidirectional;      /* rnn/lstm/gru: forward and reverse pass, outputs concatenated */
    int bptt_steps;          /* rnn/lstm/gru: backprop through time in chunks of this many steps
                                (truncated BPTT); 0 = through the whole sequence */
    int steps;               /* repeat: output time steps T (one-to-many) */
    int line;                /* line in the config file, 0 if unknown (for messages) */
} dpt_layer_spec;

/* Fills defaults (use_bias true, alpha NAN, the rest empty/zero). */
void dpt_layer_spec_defaults(dpt_layer_spec *s);

/* One named parameter tensor of a layer, e.g. dense W (out, in) and b (out). */
typedef struct dpt_param_tensor {
    char name[16]; /* "W", "b", "W_ih", "W_hh_reverse", ... */
    size_t offset; /* into the model's flat buffers */
    size_t size;   /* number of floats */
    int ndim;
    int dim[2];
    bool decay; /* subject to the L2 penalty (weights yes, biases no) */
} dpt_param_tensor;

/* Per-step information a layer may need. */
typedef struct dpt_step_ctx {
    bool training;             /* dropout active */
    uint64_t seed;             /* run seed */
    uint64_t step;             /* global optimizer step, keys dropout masks */
    const int64_t *sample_ids; /* (B) global sample index of each row, keys dropout masks so
                                  they do not depend on the number of ranks; may be NULL */
    const int32_t *lengths;    /* (B) valid time steps of each sample (1..T); NULL = all T.
                                  Steps past a sample's length are padding. */
    /* Backward only: a layer that finishes its gradients in pieces may report, before it
     * returns, that the model's gradients from `from` (a pointer into its own gradients) up
     * are final (dpt_model.grads_ready).  NULL = nobody asks. */
    void (*grads_ready)(void *arg, const float *from);
    void *grads_ready_arg;
} dpt_step_ctx;

typedef struct dpt_layer dpt_layer;
typedef struct dpt_layer_type dpt_layer_type;

struct dpt_layer {
    const dpt_layer_type *type;
    dpt_layer_spec spec;
    char name[DPT_NAME_MAX];
    int index;     /* position in the model */
    int in, out;   /* features per time step */
    int steps_in;  /* time steps of the input (1 for plain vectors), set by the model */
    int steps_out; /* time steps of the output: preset to steps_in by the model, changed by
                      build where the layer changes it (recurrent, repeat) */
    int ntensors;
    dpt_param_tensor tensors[DPT_MAX_TENSORS];
    size_t nparams;          /* sum of tensor sizes */
    float *params;           /* view: model->params + first tensor offset (nparams) */
    float *grads;            /* view: model->grads + same offset (nparams) */
    size_t cache_per_sample; /* floats of private cache per sample (all steps), set by build */
    size_t cache_fixed;      /* floats of private cache whatever the batch (a multiple of 16,
                                so the per-sample part stays 64-byte aligned), set by build */
    float *cache;            /* cache_fixed floats, then (max_batch, cache_per_sample); owned by
                                the model arena */
    int grad_pieces;         /* > 1: backward reports its gradients final in this many pieces
                                (dpt_layer_piece_start), the last piece first; set by build */
    const void *fn;          /* type-private constant data (e.g. the dpt_activation) */
    float alpha;             /* resolved activation parameter */
};

struct dpt_layer_type {
    const char *name;
    /* Checks l->spec against l->in; sets l->out, tensors (sizes, shapes, decay; offsets are
     * assigned by the model), cache_per_sample, cache_fixed, fn, alpha.  Returns 0, or -1 with a
     * message naming the problem (the model adds the layer index and config line). */
    int (*build)(dpt_layer *l, char *err, size_t errlen);
    /* Initialises l->params; NULL when the layer has none. */
    void (*init)(dpt_layer *l, dpt_rng *rng);
    /* y (B, steps_out, out) from x (B, steps_in, in).  ctx may be NULL (evaluation, all steps
     * valid). */
    void (*forward)(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx);
    /* Given x, y from forward and dy (B, steps_out, out): adds parameter gradients into l->grads
     * (+=) and, when dx != NULL, writes dx (B, steps_in, in) (overwrites).  ctx is the one the
     * forward saw. */
    void (*backward)(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                     int B, const dpt_step_ctx *ctx);
};

const dpt_layer_type *dpt_layer_find(const char *name); /* NULL if unknown */
/* Where piece p of a layer's grad_pieces pieces starts, in floats from its first gradient:
 * pieces are rows of its first tensor, the last piece also holds the tensors after it; p ==
 * grad_pieces gives nparams.  A layer without pieces is one piece. */
size_t dpt_layer_piece_start(const dpt_layer *l, int p);
const char *const *dpt_layer_names(void); /* NULL-terminated */

#endif
