/* Embedding: a table W (V, D) of learnable vectors, one per token id; (T) int32 ids per sample
 * give their rows (T, D) (PyTorch's nn.Embedding, Keras's Embedding).  Backward adds dy's rows
 * into the rows of the ids seen (a scatter-add, never a pass over the whole table), each row's
 * sum in (sample, step) order whatever the thread count. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/init.h"
#include "core/layer.h"
#include "core/util.h"

#define DEFAULT_INIT       "uniform" /* Keras's default: U(-0.05, 0.05) */
#define DEFAULT_INIT_SCALE 0.05f
/* Below this many floats of output a step runs on one thread (as the other elementwise layers). */
#define PAR_MIN 16384

/* The config keys of an embedding layer; the path is what the 192 bytes of a spec leave. */
typedef struct embedding_args {
    int vocab_size;           /* V: ids are in [0, V) */
    int dim;                  /* D: floats per vector */
    int padding_id;           /* the row kept at zero, -1 = none */
    float init_scale;         /* "uniform" limit / "normal" stddev; 0 = 0.05 */
    bool trainable;           /* false: backward adds no gradient */
    char embeddings_init[23]; /* "" = uniform */
    char weights[152];        /* pre-trained vectors (io/embed_weights.c), "" = none */
} embedding_args;
_Static_assert(sizeof(embedding_args) <= DPT_LAYER_ARGS_MAX, "embedding_args too large");

static const dpt_key embedding_keys[] = {
    {.name = "vocab_size",
     .kind = DPT_KEY_INT,
     DPT_FIELD(embedding_args, vocab_size),
     .lo = 1,
     .required = "an integer >= 1",
     .help = "V: token ids are in [0, V)"},
    {.name = "dim",
     .kind = DPT_KEY_INT,
     DPT_FIELD(embedding_args, dim),
     .lo = 1,
     .required = "an integer >= 1",
     .help = "D: the length of each vector"},
    {.name = "padding_id",
     .kind = DPT_KEY_INT,
     DPT_FIELD(embedding_args, padding_id),
     .lo = -1,
     .def = "-1",
     .help = "id whose vector stays zero (no gradient); -1 = none"},
    {.name = "embeddings_init",
     .kind = DPT_KEY_NAME,
     DPT_FIELD(embedding_args, embeddings_init),
     .names = dpt_init_names,
     .help = "table initialiser (default uniform, limit init_scale)"},
    {.name = "init_scale",
     .kind = DPT_KEY_FLOAT,
     DPT_FIELD(embedding_args, init_scale),
     .range = DPT_RANGE_GT0,
     .help = "uniform limit / normal stddev (default 0.05)"},
    {.name = "weights",
     .kind = DPT_KEY_STRING,
     DPT_FIELD(embedding_args, weights),
     .what = "a file path",
     .help = "pre-trained vectors: .npy (V, D) or GloVe/word2vec text (default none)"},
    {.name = "trainable",
     .kind = DPT_KEY_BOOL,
     DPT_FIELD(embedding_args, trainable),
     .def = "true",
     .help = "false: the table is frozen (no gradient)"},
};

static const embedding_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

static const char *init_name(const dpt_layer *l) {
    return args_of(l)->embeddings_init[0] ? args_of(l)->embeddings_init : DEFAULT_INIT;
}

/* Ids per sample: T of (T) or of (T, 1). */
static int steps_of(const dpt_layer *l) {
    return l->steps_in * l->in;
}

/* (T) or (T, 1) int32 ids -> (T, D), or (D) for one id per sample (dpt_shape_from_steps). */
static int embedding_build(dpt_layer *l, char *err, size_t errlen) {
    const embedding_args *a = args_of(l);
    const dpt_shape *in = &l->in_shape;
    char buf[64];
    if (in->rank > 2 || (in->rank == 2 && in->dim[1] != 1))
        return dpt_err(err, errlen,
                       "embedding reads one token id per step, (T) or (T, 1) int32, got %s",
                       dpt_shape_str(in, buf, sizeof buf));
    if (a->vocab_size <= 0 || a->dim <= 0)
        return dpt_err(err, errlen, "vocab_size and dim must be positive integers (got %d, %d)",
                       a->vocab_size, a->dim);
    if (a->padding_id >= a->vocab_size)
        return dpt_err(err, errlen, "padding_id %d is outside the vocabulary [0, %d)",
                       a->padding_id, a->vocab_size);
    DPT_ASSERT(dpt_init_find(init_name(l)));
    l->out_shape = dpt_shape_from_steps(steps_of(l), a->dim);
    l->ntensors = 1;
    /* No L2 on a frozen table: the penalty's gradient would move it. */
    l->tensors[0] = (dpt_param_tensor){.name = "W",
                                       .size = (size_t)a->vocab_size * (size_t)a->dim,
                                       .ndim = 2,
                                       .dim = {a->vocab_size, a->dim},
                                       .decay = a->trainable};
    l->cache_per_sample = 0;
    l->fn = NULL;
    return 0;
}

/* fan_in V, fan_out D, as Keras counts a (V, D) table. */
static void embedding_init(dpt_layer *l, dpt_rng *rng) {
    const embedding_args *a = args_of(l);
    float scale = a->init_scale > 0.0f ? a->init_scale : DEFAULT_INIT_SCALE;
    float *W = l->params; /* (V, D) */
    dpt_init_find(init_name(l))->fill(W, l->tensors[0].size, a->vocab_size, a->dim, scale, rng);
    if (a->padding_id >= 0) memset(W + (size_t)a->padding_id * a->dim, 0, a->dim * sizeof *W);
}

/* Ids outside [0, V) are refused with the data (io/h5data.c: < 0, train/eval.c dpt_check_ids:
 * >= V): one here is a bug. */
static void embedding_forward(dpt_layer *l, const float *x, float *y, int B,
                              const dpt_step_ctx *ctx) {
    (void)ctx;
    const int32_t *ids = (const int32_t *)(const void *)x; /* (B, T) */
    const float *W = l->params;                            /* (V, D) */
    int V = args_of(l)->vocab_size, D = args_of(l)->dim;
    int64_t rows = (int64_t)B * steps_of(l);
#pragma omp parallel for schedule(static) if (rows * D > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int32_t id = ids[r];
        DPT_ASSERT(id >= 0 && id < V);
        memcpy(y + (size_t)r * D, W + (size_t)id * D, (size_t)D * sizeof *y);
    }
}

/* dW[id] += dy[r] for the ids of rows [0, rows) that fall in [lo, hi), in row order. */
static void scatter_rows(float *restrict dW, const int32_t *restrict ids, const float *restrict dy,
                         int64_t rows, int D, int lo, int hi, int padding_id) {
    for (int64_t r = 0; r < rows; r++) {
        int32_t id = ids[r];
        if (id < lo || id >= hi || id == padding_id) continue;
        float *g = dW + (size_t)id * D;      /* (D) */
        const float *d = dy + (size_t)r * D; /* (D) */
        for (int j = 0; j < D; j++) g[j] += d[j];
    }
}

/* Each thread owns a contiguous range of table rows and scans every id: a row's sum runs in
 * (sample, step) order on any thread count, and the cost is B T D adds plus B T id reads per
 * thread, independent of V.  The ids get no gradient: dx (when asked) is zero. */
static void embedding_backward(dpt_layer *l, const float *x, const float *y, const float *dy,
                               float *dx, int B, const dpt_step_ctx *ctx) {
    (void)y, (void)ctx;
    const embedding_args *a = args_of(l);
    const int32_t *ids = (const int32_t *)(const void *)x; /* (B, T) */
    int64_t rows = (int64_t)B * steps_of(l);
    if (dx) memset(dx, 0, (size_t)rows * sizeof *dx);
    if (!a->trainable || rows == 0) return;
    float *dW = l->grads; /* (V, D) */
    int V = a->vocab_size, D = a->dim;
    for (int64_t r = 0; r < rows; r++) DPT_ASSERT(ids[r] >= 0 && ids[r] < V);
#pragma omp parallel if (rows * D > PAR_MIN)
    {
        int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        scatter_rows(dW, ids, dy, rows, D, (int)(V * t / nt), (int)(V * (t + 1) / nt),
                     a->padding_id);
    }
}

const dpt_layer_type dpt_layer_embedding_type = {
    .name = "embedding",
    .flags = DPT_LAYER_INT_INPUT,
    .keys = embedding_keys,
    .nkeys = sizeof embedding_keys / sizeof embedding_keys[0],
    .args_size = sizeof(embedding_args),
    .build = embedding_build,
    .init = embedding_init,
    .forward = embedding_forward,
    .backward = embedding_backward,
};
