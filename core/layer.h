/* Layers: the layer type (its config keys, flags, private arguments and build/init/forward/
 * backward, all declared in its core/layer_<type>.c), the registry of types (one list,
 * core/layer_types.h), layer specs, and the layer struct.  Layers see their parameters and
 * gradients as views into the model's flat buffers. */
#ifndef DPT_LAYER_H
#define DPT_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keys.h"
#include "core/rng.h"
#include "core/shape.h"

#define DPT_NAME_MAX       64
#define DPT_MAX_TENSORS    8   /* a bidirectional recurrent layer: 2 x (W_ih, W_hh, b_ih, b_hh) */
#define DPT_MAX_STATES     2   /* batch_norm: moving_mean, moving_variance */
#define DPT_LAYER_ARGS_MAX 192 /* bytes of a type's private arguments (checked by each type) */
#define DPT_LAYER_KEYS_MAX 16  /* keys of one type, besides type and name */
#define DPT_LAYER_MAX_INPUTS 8 /* inputs of one layer (a merge of up to 8 branches) */

/* Layer type flags.  What a layer reads and writes is its in_shape / out_shape (its build
 * decides); the flags say what callers outside the model ask about a type:
 * SEQUENCE_INPUT: reads (T, F) sequences (recurrent); the trainer names the data when it gets
 *   vectors.
 * INT_INPUT: reads int32 token ids instead of float32 (none yet: an embedding would); see
 *   dpt_layer_type.forward.
 * Whether a layer changes the time axis is not a flag: the model reads it off the shapes. */
#define DPT_LAYER_SEQUENCE_INPUT 0x1u
#define DPT_LAYER_INT_INPUT      0x4u
/* CROSS_RANK: the training forward and backward call ctx->reduce (batch_norm's global-batch
 *   statistics): the model runs the layer also on a rank with no rows (B == 0), and the
 *   training step keeps the gradient allreduce off the communication thread
 *   (dpt_step_set_overlap), which would own MPI while backward reduces. */
#define DPT_LAYER_CROSS_RANK 0x8u
/* INITIAL_STATE: takes the config key initial_state (a recurrent layer): the model then gives it
 *   one more input, after its `inputs`: the final state (dpt_layer.state_size floats per
 *   sample) of the layer named there, which must have the same state_size.  Every layer whose
 *   build sets state_size > 0 can be named there; the model asks for its state output only then
 *   (dpt_layer_io.state). */
#define DPT_LAYER_INITIAL_STATE 0x10u

/* What the config says about one layer: the common fields, then the type's own arguments
 * (declared in its layer_<type>.c with their keys), stored inline so that specs copy with `=`.
 * Build one with dpt_layer_spec_init / _set / _parse; zeroed bytes everywhere else, so specs
 * compare with memcmp. */
typedef struct dpt_layer_spec {
    char type[32];           /* registry name: "dense", "activation", "dropout" */
    char name[DPT_NAME_MAX]; /* unique name in model files; "" = automatic "<type>_<i>" */
    int line;                /* line in the config file, 0 if unknown (for messages) */
    /* The graph (docs/config.md "Models as graphs"): the layers or model inputs this layer
     * reads, by name; ninputs 0 = the layer before it in the list (the first layer: the model's
     * one input).  initial_state: the layer whose final state starts this one ("" = zeros;
     * only types with DPT_LAYER_INITIAL_STATE). */
    int ninputs;
    char inputs[DPT_LAYER_MAX_INPUTS][DPT_NAME_MAX];
    char initial_state[DPT_NAME_MAX];
    union {
        max_align_t align;
        unsigned char bytes[DPT_LAYER_ARGS_MAX];
    } args; /* the type's private struct, its keys' defaults filled in */
} dpt_layer_spec;

#define DPT_TENSOR_MAX_DIMS 4 /* conv2d W (filters, kh, kw, C) */

/* One named parameter tensor of a layer, e.g. dense W (out, in) and b (out). */
typedef struct dpt_param_tensor {
    char name[16]; /* "W", "b", "W_ih", "W_hh_reverse", ... */
    size_t offset; /* into the model's flat buffers */
    size_t size;   /* number of floats: the product of dim[0..ndim) */
    int ndim;      /* 1..DPT_TENSOR_MAX_DIMS */
    int dim[DPT_TENSOR_MAX_DIMS];
    bool decay; /* subject to the L2 penalty (weights yes, biases no) */
} dpt_param_tensor;
/* A layer's state tensors (batch_norm's moving averages) are dpt_param_tensors too, but in a
 * list of their own (dpt_layer.states) with offsets into the model's state buffer: they are
 * saved, loaded and checksummed with the parameters, and nothing that walks the parameters
 * (optimizer, L2, clipping, gradient allreduce, buckets) can reach them.  decay is unused. */

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
    /* Training forward and backward of a DPT_LAYER_CROSS_RANK layer: sums buf (n) in place
     * across the ranks of the job, every rank calling it with the same n in the same order (a
     * rank with B == 0 too).  NULL = one process (buf is already the global sum). */
    void (*reduce)(void *arg, double *buf, int n);
    void *reduce_arg;
} dpt_step_ctx;

/* One matrix product of a layer's training step as dpt_sgemm takes it, C (M, N) = op(A) op(B)
 * + beta C with op = transpose when ta / tb, run reps times (per time step): what
 * bench/bench_train.c's roofline times sgemm on. */
typedef struct dpt_gemm_shape {
    bool ta, tb;
    int M, N, K;
    float beta;
    int reps;
} dpt_gemm_shape;

#define DPT_LAYER_GEMMS_MAX 12 /* products of one layer's step (a bidirectional recurrent: 12) */

typedef struct dpt_layer dpt_layer;
typedef struct dpt_layer_type dpt_layer_type;

/* What a layer with forward_n / backward_n reads and writes besides y and dy: its inputs
 * (several for a merge, attention, or a recurrent layer with an initial state: that one comes
 * last), their gradients and its final state.  Set up by the model for each call. */
typedef struct dpt_layer_io {
    int n;                                        /* inputs: l->ninputs */
    const float *x[DPT_LAYER_MAX_INPUTS];         /* (B, in_shapes[k]); int32 ids read as
                                                     (const int32_t *)(const void *)x[k] */
    const int32_t *lengths[DPT_LAYER_MAX_INPUTS]; /* (B) valid steps on the first axis of input
                                                     k, in [1, dim[0]]; NULL = all steps */
    float *dx[DPT_LAYER_MAX_INPUTS]; /* backward: (B, in_shapes[k]) d loss / d x[k], written
                                        (overwritten); NULL = not wanted (a model input) */
    float *state;        /* forward: (B, state_size) the final state, NULL = nobody reads it */
    const float *dstate; /* backward: (B, state_size) d loss / d final state; NULL = zero */
} dpt_layer_io;

struct dpt_layer {
    const dpt_layer_type *type;
    dpt_layer_spec spec;
    char name[DPT_NAME_MAX];
    int index;           /* position in the model */
    dpt_shape in_shape;  /* per-sample input, e.g. (F), (T, F), (H, W, C); set by the model;
                            with several inputs the first (in_shapes[0]) */
    int ninputs;         /* 1, or more for a type with forward_n; set by the model */
    dpt_shape in_shapes[DPT_LAYER_MAX_INPUTS]; /* (ninputs) every input's shape */
    int state_size;      /* floats per sample of the final state this layer can hand to
                            another's initial_state (recurrent: H (rnn, gru) or 2H (lstm: h then
                            c), times 2 when bidirectional, forward direction first); 0 = none;
                            set by build */
    dpt_shape out_shape; /* per-sample output, float32; set by the type's build */
    /* Derived from the shapes (dpt_layer_build), for the kernels, which see a buffer as rows of
     * the last axis: in/out = the last dimension, steps_in/steps_out = the product of the others
     * (T of a sequence, H x W of an image, 1 of a vector).  Never set them otherwise. */
    int in, out;
    int steps_in, steps_out;
    int ntensors;
    dpt_param_tensor tensors[DPT_MAX_TENSORS];
    size_t nparams; /* sum of tensor sizes */
    float *params;  /* view: model->params + first tensor offset (nparams) */
    float *grads;   /* view: model->grads + same offset (nparams) */
    int nstates;
    dpt_param_tensor states[DPT_MAX_STATES]; /* set by build like tensors; offsets into the
                                                model's state buffer, assigned by the model */
    size_t nstate;                           /* sum of state sizes */
    float *state;            /* view: model->state + first state offset (nstate); NULL if none */
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
    const char *name;    /* as in the config's type key */
    unsigned flags;      /* DPT_LAYER_* */
    const dpt_key *keys; /* (nkeys) the config keys after type and name, offsets into args */
    int nkeys;
    size_t args_size; /* of the private struct in dpt_layer_spec.args */
    const void *data; /* type-private constant data (recurrent: its cell kind) */
    /* Optional: a spec that stands for two layers (dense with a fused activation) fills out[0]
     * and out[1] and returns 2; else NULL, or returns 1 with out[0] = *s. */
    int (*split)(const dpt_layer_spec *s, dpt_layer_spec out[2]);
    /* Checks l->spec against l->in_shape (l->in and l->steps_in are derived already; its dtype
     * is the one the type reads); sets l->out_shape, tensors (sizes, shapes, decay; offsets are
     * assigned by the model), cache_per_sample, cache_fixed, fn, alpha.  Returns 0, or -1 with a
     * message naming the problem and, for a shape it cannot take, what it expected ("lstm needs
     * (T, F) input, got (28, 28, 1) float32"); the model adds the layer index and config line. */
    int (*build)(dpt_layer *l, char *err, size_t errlen);
    /* Initialises l->params and l->state; NULL when the layer has neither. */
    void (*init)(dpt_layer *l, dpt_rng *rng);
    /* y (B, steps_out, out) from x (B, steps_in, in).  ctx may be NULL (evaluation, all steps
     * valid).  A type with DPT_LAYER_INT_INPUT gets its int32 ids as x: it reads them as
     * (const int32_t *)(const void *)x (dpt_model_forward_ids), also in backward. */
    void (*forward)(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx);
    /* Given x, y from forward and dy (B, steps_out, out): adds parameter gradients into l->grads
     * (+=) and, when dx != NULL, writes dx (B, steps_in, in) (overwrites).  ctx is the one the
     * forward saw. */
    void (*backward)(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                     int B, const dpt_step_ctx *ctx);
    /* Types that take several inputs, or give a state: min..max inputs (0 = 1), and forward_n /
     * backward_n, which the model calls instead of forward / backward (also with one input).
     * ctx->lengths is io->lengths[0].  backward_n writes every io->dx[k] that is not NULL and
     * adds parameter gradients like backward; with io->dstate it adds that gradient of the
     * final state. */
    int min_inputs, max_inputs;
    void (*forward_n)(dpt_layer *l, const dpt_layer_io *io, float *y, int B,
                      const dpt_step_ctx *ctx);
    void (*backward_n)(dpt_layer *l, const dpt_layer_io *io, const float *y, const float *dy,
                       int B, const dpt_step_ctx *ctx);
    /* Optional: the matrix products forward and backward of B samples run (the input gradient
     * only when l->index > 0: the first layer's is not computed), into g (DPT_LAYER_GEMMS_MAX);
     * returns how many.  NULL = none (elementwise layers). */
    int (*gemms)(const dpt_layer *l, int B, dpt_gemm_shape *g);
};

const dpt_layer_type *dpt_layer_find(const char *name); /* NULL if unknown */
const char *const *dpt_layer_names(void);               /* NULL-terminated, in list order */
/* Whether the type (NULL: false) has flag. */
bool dpt_layer_type_has(const dpt_layer_type *t, unsigned flag);
/* The element type the type reads: int32 with DPT_LAYER_INT_INPUT, else float32. */
dpt_dtype dpt_layer_input_dtype(const dpt_layer_type *t);

/* Builds l (its type, spec and index set) for per-sample input *in: checks the element type,
 * sets in_shape and the derived in/steps_in, runs the type's build, checks its out_shape and
 * derives out/steps_out.  Returns 0, or -1 with the type's message (or the element type's). */
int dpt_layer_build(dpt_layer *l, const dpt_shape *in, char *err, size_t errlen);
/* The same for n inputs (in_shapes[0..n)); the count must be in the type's min..max. */
int dpt_layer_build_n(dpt_layer *l, const dpt_shape *in, int n, char *err, size_t errlen);
/* The type's input count range (min_inputs / max_inputs, 0 meaning 1). */
int dpt_layer_min_inputs(const dpt_layer_type *t);
int dpt_layer_max_inputs(const dpt_layer_type *t);

/* Where piece p of a layer's grad_pieces pieces starts, in floats from its first gradient:
 * pieces are rows of its first tensor, the last piece also holds the tensors after it; p ==
 * grad_pieces gives nparams.  A layer without pieces is one piece. */
size_t dpt_layer_piece_start(const dpt_layer *l, int p);

/* A spec of the given type with every key at its default (through the keys' own validation).
 * Returns 0, or -1 with a message for an unknown type (s->type is set anyway, so that building
 * the model reports it). */
int dpt_layer_spec_init(dpt_layer_spec *s, const char *type, char *err, size_t errlen);
/* Sets key (a key of the spec's type, or "name") from text, validated as the config does.
 * Returns 0, or -1 with "<key>: expected ..., got ..." (or an unknown key) in err. */
int dpt_layer_spec_set(dpt_layer_spec *s, const char *key, const char *text, char *err,
                       size_t errlen);
/* One line: "<type> key=value key=value ...", e.g. "lstm units=4 return_sequences=true". */
int dpt_layer_spec_parse(dpt_layer_spec *s, const char *line, char *err, size_t errlen);
/* The value of key as text (type, name, or a key of the type), as the canonical config text
 * shows it; "" for a key the type does not have. */
void dpt_layer_spec_get(const dpt_layer_spec *s, const char *key, char *buf, size_t n);
/* Copies the raw value of key from src to dst when both types have it with the same kind and
 * size (dense hands its fused activation on this way).  Returns 0 or -1. */
int dpt_layer_spec_copy(dpt_layer_spec *dst, const dpt_layer_spec *src, const char *key);
/* A type's split for a fused activation (dense, conv2d, ...: a key "activation" of kind NAME,
 * and "alpha"): out[0] = *s with the activation cleared and out[1] an activation layer with
 * both keys, on the same config line; returns 2, or 1 (out[0] = *s) without an activation or
 * with "linear". */
int dpt_layer_split_activation(const dpt_layer_spec *s, dpt_layer_spec out[2]);
/* The type's private arguments inside a spec. */
static inline const void *dpt_layer_args(const dpt_layer_spec *s) {
    return s->args.bytes;
}
static inline void *dpt_layer_args_mut(dpt_layer_spec *s) {
    return s->args.bytes;
}

/* Rows shared by the types with weights: kernel_init, bias_init, init_scale, use_bias, in a
 * struct S with fields of those names (the user includes core/init.h for dpt_init_names). */
#define DPT_LAYER_INIT_KEYS(S)                                                                     \
    {.name = "kernel_init",                                                                        \
     .kind = DPT_KEY_NAME,                                                                         \
     DPT_FIELD(S, kernel_init),                                                                    \
     .names = dpt_init_names,                                                                      \
     .help = "weight initialiser"},                                                                \
        {.name = "bias_init",                                                                      \
         .kind = DPT_KEY_NAME,                                                                     \
         DPT_FIELD(S, bias_init),                                                                  \
         .names = dpt_init_names,                                                                  \
         .help = "bias initialiser"},                                                              \
        {.name = "init_scale",                                                                     \
         .kind = DPT_KEY_FLOAT,                                                                    \
         DPT_FIELD(S, init_scale),                                                                 \
         .range = DPT_RANGE_GT0,                                                                   \
         .help = "uniform limit / normal stddev (default 0.05)"},                                  \
    {                                                                                              \
        .name = "use_bias", .kind = DPT_KEY_BOOL, DPT_FIELD(S, use_bias), .def = "true",           \
        .help = "add a bias"                                                                       \
    }

#endif
