/* Recurrent layers rnn, lstm and gru (PyTorch's equations, gate order and parameter layout): one
 * or two directions, last-step or per-step output, variable lengths, truncated BPTT.  One driver
 * serves the three: the input projection and the weight gradients are single GEMMs over all B*T
 * rows, only the recurrent product runs per step; the gate math is in recurrent_cells.c.
 *
 * The time loop is parallel over rows: a row's steps depend on that row alone, so each thread
 * runs every step for its own block of rows, with no barrier between steps, and its per-step
 * products go against W_hh packed once per pass (core/gemm_packed.c) rather than through
 * BLIS, which splits and repacks each small product (docs/performance.md). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/gemm_packed.h"
#include "core/init.h"
#include "core/layer.h"
#include "core/recurrent.h"
#include "core/util.h"

#define DEFAULT_INIT_SCALE 0.05f
/* Columns of a bias column sum kept in one simd accumulator. */
#define COL_BLOCK 64
/* Rows a thread's block is rounded up to: the packed kernels' tile. */
#define ROW_TILE 8
/* Rows of a weight-gradient product packed per chunk (dpt_sgemm_tn_acc). */
#define TN_KC 128

typedef void (*gemm_fn)(bool, bool, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

/* What one forward or backward call works on.  Shapes use B rows of this call. */
typedef struct rec_call {
    const dpt_layer *l;
    dpt_cell_kind kind;
    int B, T, F, H, G, D;
    int k;                  /* bptt_steps, 0 = no truncation */
    bool seq;               /* return_sequences */
    const int32_t *lengths; /* (B) or NULL */
    const float *x;         /* (B, T, F) */
    float *y;               /* (B, T or 1, D H), forward only */
    const float *dy;        /* (B, T or 1, D H), backward only */
    /* The state of a row: h of every direction, then (lstm) c of every direction, S floats. */
    int S;
    const float *h0;     /* (B, S) initial state, NULL = zeros */
    float *state;        /* (B, S) forward: the final state, NULL = not wanted */
    const float *dstate; /* (B, S) backward: d loss / d final state, NULL = zero */
    float *dh0;          /* (B, S) backward: d loss / d initial state, NULL = not wanted */
} rec_call;

/* One direction's parameters and its part of the cache for this call's B. */
typedef struct rec_dir {
    int d;                                  /* 0 forward, 1 reverse */
    const float *W_ih, *W_hh, *b_ih, *b_hh; /* (GH, F), (GH, H), (GH), (GH); b_* NULL if no bias */
    float *dW_ih, *dW_hh, *db_ih, *db_hh;   /* same shapes, views into l->grads */
    float *gates;                           /* (B, T, GH) input projection, then activated gates */
    float *dgates;                          /* (B, T, GH) d loss / d pre-activations (dXP) */
    float *hp;                              /* (B, T, GH) gru: W_hh h_prev, then dHP; else NULL */
    float *hpn;                             /* (B, T, H) gru: W_hn h_prev + b_hn; else NULL */
    float *hprev;                           /* (B, T, H) state entering each step */
    float *cprev;                           /* (B, T, H) lstm: cell state entering; else NULL */
    float *hlast, *clast;                   /* (B, H) state after the last step (clast: lstm) */
    float *dh, *dc;                         /* (B, H) running state gradients (dc: lstm) */
    float *bias;                            /* (2 GH) the cell's bx, bh (see recurrent.h) */
    float *wpack; /* W_hh^T (H, GH) packed in forward, W_hh (GH, H) in the backward time loop,
                     then the weight-gradient threads' packing space */
    float *xpack; /* W_ih^T (F, GH) packed in forward, after W_hh^T */
    int nwork;    /* threads whose packing space fits in wpack */
} rec_dir;

/* The config keys of rnn, lstm and gru (activation: rnn only). */
typedef struct rec_args {
    int units;             /* hidden units H (> 0) */
    char activation[32];   /* rnn: tanh or relu */
    bool return_sequences; /* output every step (B, T, H) instead of the last valid (B, 1, H) */
    bool bidirectional;    /* forward and reverse pass, outputs concatenated */
    int bptt_steps;        /* backprop through time in chunks of this many steps; 0 = all */
    char kernel_init[32];  /* "" = PyTorch's U(-1/sqrt(H), 1/sqrt(H)) */
    char bias_init[32];    /* "" = as the weights */
    float init_scale;      /* "uniform" limit / "normal" stddev; 0 = 0.05 */
    bool use_bias;
} rec_args;
_Static_assert(sizeof(rec_args) <= DPT_LAYER_ARGS_MAX, "rec_args too large");

static const char *const *rnn_activations(void) {
    static const char *const names[] = {"tanh", "relu", NULL};
    return names;
}

#define UNITS_KEY                                                                                  \
    {                                                                                              \
        .name = "units", .kind = DPT_KEY_INT, DPT_FIELD(rec_args, units), .lo = 1,                 \
        .required = "an integer >= 1 (hidden units)", .help = "hidden units H"                     \
    }
#define SEQUENCE_KEYS                                                                              \
    {.name = "return_sequences",                                                                   \
     .kind = DPT_KEY_BOOL,                                                                         \
     DPT_FIELD(rec_args, return_sequences),                                                        \
     .def = "false",                                                                               \
     .help = "output every step, not only the last"},                                              \
        {.name = "bidirectional",                                                                  \
         .kind = DPT_KEY_BOOL,                                                                     \
         DPT_FIELD(rec_args, bidirectional),                                                       \
         .def = "false",                                                                           \
         .help = "add a reverse pass, outputs concatenated"},                                      \
    {                                                                                              \
        .name = "bptt_steps", .kind = DPT_KEY_INT, DPT_FIELD(rec_args, bptt_steps), .lo = 0,       \
        .help = "truncated BPTT chunk (0 = whole sequence)"                                        \
    }

static const dpt_key rnn_keys[] = {
    UNITS_KEY,
    {.name = "activation",
     .kind = DPT_KEY_NAME,
     DPT_FIELD(rec_args, activation),
     .names = rnn_activations,
     .def = "tanh",
     .help = "cell activation"},
    SEQUENCE_KEYS,
    DPT_LAYER_INIT_KEYS(rec_args),
};
/* lstm and gru have their gate functions built in: no activation key */
static const dpt_key gated_keys[] = {UNITS_KEY, SEQUENCE_KEYS, DPT_LAYER_INIT_KEYS(rec_args)};

static const rec_args *args_of(const dpt_layer *l) {
    return dpt_layer_args(&l->spec);
}

/* Each type's cell (dpt_layer_type.data); an rnn with activation relu runs the relu cell. */
static const dpt_cell_kind rnn_cell = DPT_CELL_RNN_TANH, rnn_relu_cell = DPT_CELL_RNN_RELU,
                           lstm_cell = DPT_CELL_LSTM, gru_cell = DPT_CELL_GRU;

/* ---- build and init ---- */

/* Floats of cache one sample needs for one direction over T steps (see rec_dir). */
static size_t dir_floats(dpt_cell_kind kind, int T, int H) {
    size_t TH = (size_t)T * (size_t)H, TGH = TH * (size_t)dpt_cell_gates(kind);
    size_t n = 2 * TGH + TH + 2 * (size_t)H;            /* gates, dgates, hprev, hlast, dh */
    if (kind == DPT_CELL_LSTM) n += TH + 2 * (size_t)H; /* cprev, clast, dc */
    if (kind == DPT_CELL_GRU) n += TGH + TH;            /* hp, hpn */
    return n;
}

static size_t round16(size_t n) {
    return (n + 15) / 16 * 16;
}

static size_t max_size(size_t a, size_t b) {
    return a > b ? a : b;
}

/* Packing space one thread needs for the weight-gradient products (B = X or Hprev). */
static size_t grad_work_floats(int F, int H) {
    return dpt_sgemm_tn_work(F > H ? F : H, TN_KC);
}

/* Floats of cache one direction needs whatever the batch: bias, then the space for the packed
 * weights (W_hh^T and W_ih^T in forward, W_hh in backward), which the weight-gradient products of
 * `threads` threads reuse. */
static size_t dir_fixed_floats(dpt_cell_kind kind, int F, int H, int threads) {
    int GH = dpt_cell_gates(kind) * H;
    size_t fwd = round16(dpt_packed_floats(H, GH)) + dpt_packed_floats(F, GH);
    size_t w = max_size(fwd, dpt_packed_floats(GH, H));
    w = max_size(w, (size_t)threads * grad_work_floats(F, H));
    return round16(2 * (size_t)GH) + round16(w);
}

static const dpt_cell_kind *cell_kind(const dpt_layer *l) {
    const dpt_cell_kind *kind = l->type->data;
    if (*kind == DPT_CELL_RNN_TANH && strcmp(args_of(l)->activation, "relu") == 0)
        return &rnn_relu_cell;
    return kind;
}

/* Per direction W_ih (GH, F), W_hh (GH, H)[, b_ih (GH), b_hh (GH)], as PyTorch's state_dict. */
static void add_tensors(dpt_layer *l, int G, int H) {
    static const char *const names[4][2] = {{"W_ih", "W_ih_reverse"},
                                            {"W_hh", "W_hh_reverse"},
                                            {"b_ih", "b_ih_reverse"},
                                            {"b_hh", "b_hh_reverse"}};
    int D = args_of(l)->bidirectional ? 2 : 1, nq = args_of(l)->use_bias ? 4 : 2, n = 0;
    for (int d = 0; d < D; d++) {
        for (int q = 0; q < nq; q++) {
            dpt_param_tensor *t = &l->tensors[n++];
            memset(t, 0, sizeof *t);
            strcpy(t->name, names[q][d]);
            t->dim[0] = G * H;
            t->ndim = q < 2 ? 2 : 1;
            t->dim[1] = q == 0 ? l->in : q == 1 ? H : 0;
            t->size = (size_t)G * H * (size_t)(q == 0 ? l->in : q == 1 ? H : 1);
            t->decay = q < 2;
        }
    }
    l->ntensors = n;
}

/* (T, F) -> (T, D H) with return_sequences, else (D H).  A vector (F) is a sequence of one
 * step, as before shapes (the trainer names the data file when a recurrent model gets vectors);
 * (H, W, C) has no time axis to run along. */
static int rec_build(dpt_layer *l, char *err, size_t errlen) {
    DPT_ASSERT(l->in > 0 && l->steps_in > 0);
    const dpt_shape *in = &l->in_shape;
    char buf[64];
    if (in->rank > 2)
        return dpt_err(err, errlen, "%s needs (T, F) input, got %s", l->type->name,
                       dpt_shape_str(in, buf, sizeof buf));
    const rec_args *a = args_of(l);
    if (a->units < 1)
        return dpt_err(err, errlen, "units must be a positive integer (got %d)", a->units);
    DPT_ASSERT(a->bptt_steps >= 0);
    const dpt_cell_kind *kind = cell_kind(l);
    int H = a->units, D = a->bidirectional ? 2 : 1;
    l->state_size = D * H * (*kind == DPT_CELL_LSTM ? 2 : 1);
    bool with_state = l->spec.initial_state[0] != '\0';
    if (l->ninputs != (with_state ? 2 : 1))
        return dpt_err(err, errlen,
                       "%s reads one input, got %d (an initial state is named by initial_state)",
                       l->type->name, l->ninputs - (with_state ? 1 : 0));
    l->out_shape = a->return_sequences && in->rank == 2 ? dpt_shape_2d(l->steps_in, D * H)
                                                        : dpt_shape_1d(D * H);
    add_tensors(l, dpt_cell_gates(*kind), H);
    l->cache_per_sample = (size_t)D * dir_floats(*kind, l->steps_in, H);
    /* sized for the threads of this process; with more later, fewer share the products */
    int threads = omp_get_max_threads();
    l->cache_fixed = (size_t)D * dir_fixed_floats(*kind, l->in, H, threads);
    l->fn = kind;
    return 0;
}

/* PyTorch's default U(-1/sqrt(H), 1/sqrt(H)) for every tensor, unless the spec names an
 * initialiser (fans of the matrix; biases get those of W_hh). */
static void rec_init(dpt_layer *l, dpt_rng *rng) {
    const rec_args *a = args_of(l);
    int H = a->units;
    float limit = 1.0f / sqrtf((float)H);
    float scale = a->init_scale > 0.0f ? a->init_scale : DEFAULT_INIT_SCALE;
    for (int k = 0; k < l->ntensors; k++) {
        const dpt_param_tensor *t = &l->tensors[k];
        float *w = l->params + (t->offset - l->tensors[0].offset); /* (size) */
        const char *name = t->ndim == 2 ? a->kernel_init : a->bias_init;
        if (!name[0]) {
            for (size_t i = 0; i < t->size; i++)
                w[i] = limit * (2.0f * dpt_rng_uniform(rng) - 1.0f);
            continue;
        }
        int fan_in = t->ndim == 2 ? t->dim[1] : H;
        dpt_init_find(name)->fill(w, t->size, fan_in, t->dim[0], scale, rng);
    }
}

/* ---- views ---- */

static rec_call call_of(const dpt_layer *l, int B, const dpt_step_ctx *ctx) {
    const dpt_cell_kind *kind = l->fn;
    rec_call c = {.l = l,
                  .kind = *kind,
                  .B = B,
                  .T = l->steps_in,
                  .F = l->in,
                  .H = args_of(l)->units,
                  .G = dpt_cell_gates(*kind),
                  .D = args_of(l)->bidirectional ? 2 : 1,
                  .k = args_of(l)->bptt_steps,
                  .seq = args_of(l)->return_sequences,
                  .lengths = ctx ? ctx->lengths : NULL,
                  .S = l->state_size};
    if (c.lengths)
        for (int b = 0; b < B; b++) DPT_ASSERT(c.lengths[b] >= 1 && c.lengths[b] <= c.T);
    return c;
}

static float *take(float **p, size_t n) {
    float *q = *p;
    *p += n;
    return q;
}

static const float *param(const rec_call *c, int k) {
    const dpt_layer *l = c->l;
    return l->params + (l->tensors[k].offset - l->tensors[0].offset);
}

static float *grad(const rec_call *c, int k) {
    const dpt_layer *l = c->l;
    return l->grads + (l->tensors[k].offset - l->tensors[0].offset);
}

/* The cache holds each direction's fixed part, then the per-sample part carved per call,
 * buffer after buffer for all B rows, so that every (B, T, X) buffer has one row stride and its
 * B*T rows can go through one GEMM. */
static rec_dir dir_of(const rec_call *c, int d) {
    size_t B = (size_t)c->B, TH = (size_t)c->T * c->H, TGH = TH * c->G, H = (size_t)c->H;
    bool lstm = c->kind == DPT_CELL_LSTM, gru = c->kind == DPT_CELL_GRU;
    rec_dir r = {.d = d};
    size_t fixed = c->l->cache_fixed / (size_t)c->D, bias = round16(2 * (size_t)c->G * H);
    float *p = c->l->cache + (size_t)d * fixed;
    r.bias = p;
    r.wpack = p + bias;
    r.xpack = r.wpack + round16(dpt_packed_floats(c->H, c->G * c->H));
    r.nwork = (int)((fixed - bias) / grad_work_floats(c->F, c->H));
    p = c->l->cache + c->l->cache_fixed + (size_t)d * B * dir_floats(c->kind, c->T, c->H);
    r.gates = take(&p, B * TGH);
    r.dgates = take(&p, B * TGH);
    r.hprev = take(&p, B * TH);
    r.hlast = take(&p, B * H);
    r.dh = take(&p, B * H);
    if (lstm) r.cprev = take(&p, B * TH), r.clast = take(&p, B * H), r.dc = take(&p, B * H);
    if (gru) r.hp = take(&p, B * TGH), r.hpn = take(&p, B * TH);
    int nq = args_of(c->l)->use_bias ? 4 : 2, k = d * nq;
    r.W_ih = param(c, k), r.W_hh = param(c, k + 1);
    r.dW_ih = grad(c, k), r.dW_hh = grad(c, k + 1);
    if (nq == 4) {
        r.b_ih = param(c, k + 2), r.b_hh = param(c, k + 3);
        r.db_ih = grad(c, k + 2), r.db_hh = grad(c, k + 3);
    }
    return r;
}

/* Step s in processing order (time t = s forward, T-1-s reverse). */
static dpt_cell_step step_of(const rec_call *c, const rec_dir *r, int s) {
    int T = c->T, H = c->H, GH = c->G * c->H, DH = c->D * c->H;
    int t = r->d ? T - 1 - s : s, next = r->d ? t - 1 : t + 1;
    bool last = s == T - 1; /* its state goes to hlast, not to the next step's slot */
    size_t yoff = (size_t)t * DH + (size_t)r->d * H;
    return (dpt_cell_step){
        .kind = c->kind,
        .B = c->B,
        .H = H,
        .t = t,
        .lengths = c->lengths,
        .g = r->gates + (size_t)t * GH,
        .hp = r->hp ? r->hp + (size_t)t * GH : NULL,
        .hpn = r->hpn ? r->hpn + (size_t)t * H : NULL,
        .ld_g = T * GH,
        .ld_h = T * H,
        .bx = r->bias,
        .bh = r->hp ? r->bias + GH : NULL,
        .h_in = r->hprev + (size_t)t * H,
        .c_in = r->cprev ? r->cprev + (size_t)t * H : NULL,
        .h_out = last ? r->hlast : r->hprev + (size_t)next * H,
        .c_out = !r->cprev ? NULL
                 : last    ? r->clast
                           : r->cprev + (size_t)next * H,
        .ld_out = last ? H : T * H,
        .y = c->seq && c->y ? c->y + yoff : NULL,
        .dy = c->seq && c->dy ? c->dy + yoff : NULL,
        .ld_y = T * DH,
        .dg = r->dgates + (size_t)t * GH,
        .dh = r->dh,
        .dc = r->dc,
    };
}

/* The same step restricted to rows [b0, b0 + n), for one thread of the row-parallel loop. */
static dpt_cell_step rows_of(dpt_cell_step st, int b0, int n) {
    size_t g = (size_t)b0 * st.ld_g, h = (size_t)b0 * st.ld_h, y = (size_t)b0 * st.ld_y;
    size_t out = (size_t)b0 * st.ld_out, own = (size_t)b0 * st.H;
    st.B = n;
    st.lengths = st.lengths ? st.lengths + b0 : NULL;
    st.g += g;
    st.hp = st.hp ? st.hp + g : NULL;
    st.hpn = st.hpn ? st.hpn + h : NULL;
    st.h_in += h;
    st.c_in = st.c_in ? st.c_in + h : NULL;
    st.h_out += out;
    st.c_out = st.c_out ? st.c_out + out : NULL;
    st.y = st.y ? st.y + y : NULL;
    st.dy = st.dy ? st.dy + y : NULL;
    st.dg += g;
    st.dh += own;
    st.dc = st.dc ? st.dc + own : NULL;
    return st;
}

/* Runs fn(c, r, b0, n) on blocks of rows that cover [0, B): one block per thread of a team
 * when par (the caller may fork), else one block. */
typedef void (*rows_fn)(const rec_call *c, const rec_dir *r, int b0, int n);

static void each_row_block(const rec_call *c, const rec_dir *r, bool par, rows_fn fn) {
    int B = c->B;
    if (!par || omp_get_max_threads() < 2 || B < 2) {
        fn(c, r, 0, B);
        return;
    }
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), per = (B + nt - 1) / nt;
        if (per > ROW_TILE) per = (per + ROW_TILE - 1) / ROW_TILE * ROW_TILE;
        int b0 = omp_get_thread_num() * per, n = B - b0 < per ? B - b0 : per;
        if (n > 0) fn(c, r, b0, n);
    }
}

static void zero_rows(float *p, int rows, int n, int ld) {
    for (int b = 0; b < rows; b++) memset(p + (size_t)b * ld, 0, (size_t)n * sizeof *p);
}

static void copy_rows(float *dst, int ld_dst, const float *src, int ld_src, int rows, int n) {
    for (int b = 0; b < rows; b++)
        memcpy(dst + (size_t)b * ld_dst, src + (size_t)b * ld_src, (size_t)n * sizeof *dst);
}

/* ---- forward ---- */

/* The cell adds bx (and for gru bh) to the gates: b_ih + b_hh folded for rnn and lstm, where
 * both biases enter the same sum; zeros without bias. */
static void fill_bias(const rec_call *c, const rec_dir *r) {
    int GH = c->G * c->H;
    float *bx = r->bias, *bh = r->bias + GH; /* (GH) each */
    bool fold = c->kind != DPT_CELL_GRU;
    for (int j = 0; j < GH; j++) {
        float bi = r->b_ih ? r->b_ih[j] : 0.0f, b2 = r->b_hh ? r->b_hh[j] : 0.0f;
        bx[j] = fold ? bi + b2 : bi;
        bh[j] = fold ? 0.0f : b2;
    }
}

/* Rows [b0, b0 + st->B) of the given initial state into the state entering step st. */
static void initial_state(const rec_call *c, const rec_dir *r, const dpt_cell_step *st, int b0) {
    int H = c->H, DH = c->D * c->H;
    const float *h0 = c->h0 + (size_t)b0 * c->S + (size_t)r->d * H; /* (n, H) ld S */
    copy_rows((float *)(uintptr_t)st->h_in, c->T * H, h0, c->S, st->B, H);
    if (st->c_in) copy_rows((float *)(uintptr_t)st->c_in, c->T * H, h0 + DH, c->S, st->B, H);
}

/* All T steps of forward for rows [b0, b0 + n), after their input projection XP = X W_ih^T
 * (all T steps at once; biases are added by the cell). */
static void forward_rows(const rec_call *c, const rec_dir *r, int b0, int n) {
    int T = c->T, H = c->H, GH = c->G * c->H;
    size_t first = (size_t)b0 * T; /* the block's first row of (B, T, X) buffers */
    dpt_sgemm_packed(n * T, GH, c->F, c->x + first * c->F, c->F, r->xpack, 0.0f,
                     r->gates + first * GH, GH);
    for (int s = 0; s < T; s++) {
        dpt_cell_step st = rows_of(step_of(c, r, s), b0, n);
        if (s == 0 && !c->h0) {                       /* zero initial state: no recurrent product */
            size_t h0 = first * H + (size_t)st.t * H; /* row b0's state entering step t */
            zero_rows(r->hprev + h0, n, H, T * H);
            if (r->cprev) zero_rows(r->cprev + h0, n, H, T * H);
            if (st.hp) zero_rows(st.hp, n, GH, T * GH);
            dpt_cell_forward(&st);
            continue;
        }
        if (s == 0) initial_state(c, r, &st, b0);
        if (st.hp) { /* gru keeps W_hh h apart: r scales its n block */
            dpt_sgemm_packed(n, GH, H, st.h_in, T * H, r->wpack, 0.0f, st.hp, T * GH);
        } else {
            dpt_sgemm_packed(n, GH, H, st.h_in, T * H, r->wpack, 1.0f, st.g, T * GH);
        }
        dpt_cell_forward(&st);
    }
}

static void dir_forward(const rec_call *c, int d, bool par) {
    rec_dir r = dir_of(c, d);
    int B = c->B, H = c->H, GH = c->G * c->H;
    fill_bias(c, &r);
    dpt_sgemm_pack(true, H, GH, r.W_hh, H, r.wpack);       /* W_hh^T (H, GH) */
    dpt_sgemm_pack(true, c->F, GH, r.W_ih, c->F, r.xpack); /* W_ih^T (F, GH) */
    each_row_block(c, &r, par, forward_rows);
    if (!c->seq) copy_rows(c->y + (size_t)d * H, c->D * H, r.hlast, H, B, H);
    if (c->state) {
        copy_rows(c->state + (size_t)d * H, c->S, r.hlast, H, B, H);
        if (r.clast) copy_rows(c->state + (size_t)(c->D + d) * H, c->S, r.clast, H, B, H);
    }
}

/* ---- backward ---- */

/* Truncated BPTT: true when row b's step t starts a chunk, i.e. its position among the row's
 * valid steps in processing order is a multiple of k.  Padding never starts a chunk. */
static bool chunk_start(const rec_call *c, const rec_dir *r, int b, int t) {
    int len = c->lengths ? c->lengths[b] : c->T;
    if (c->k == 0 || t >= len) return false;
    int s = r->d ? len - 1 - t : t;
    return s % c->k == 0;
}

/* dh_{t-1} = (direct part left by the cell) + dHP_t W_hh, cut at chunk starts; st holds rows
 * [b0, b0 + st->B). */
static void into_previous_state(const rec_call *c, const rec_dir *r, const dpt_cell_step *st,
                                int b0) {
    int n = st->B, H = c->H, GH = c->G * c->H;
    if (!c->lengths && chunk_start(c, r, 0, st->t)) { /* every row starts a chunk */
        zero_rows(st->dh, n, H, H);
        if (st->dc) zero_rows(st->dc, n, H, H);
        return;
    }
    const float *dhp = st->hp ? st->hp : st->dg; /* (n, GH) row stride T GH */
    dpt_sgemm_packed(n, H, GH, dhp, c->T * GH, r->wpack, 1.0f, st->dh, H);
    if (!c->lengths || c->k == 0) return;
    for (int b = 0; b < n; b++) {
        if (!chunk_start(c, r, b0 + b, st->t)) continue;
        memset(st->dh + (size_t)b * H, 0, (size_t)H * sizeof *st->dh);
        if (st->dc) memset(st->dc + (size_t)b * H, 0, (size_t)H * sizeof *st->dc);
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define COLSUM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define COLSUM_CLONES
#endif

/* Columns [j0, j0 + n) of the column sums of A (rows, cols), rows added in order (so the sums
 * are the same bits for any vector width), added to out1 and, unless NULL, out2. */
COLSUM_CLONES static void colsum_block(const float *A, int rows, int cols, int j0, int n,
                                       float *out1, float *out2) {
    float acc[COL_BLOCK] = {0}; /* (n) */
    for (int i = 0; i < rows; i++) {
        const float *a = A + (size_t)i * cols + j0; /* (n) */
#pragma omp simd
        for (int j = 0; j < n; j++) acc[j] += a[j];
    }
    for (int j = 0; j < n; j++) out1[j0 + j] += acc[j];
    if (out2)
        for (int j = 0; j < n; j++) out2[j0 + j] += acc[j];
}

/* Rows [m0, m0 + n) of the weight gradients (one row per gate unit) over all B*T rows, packing
 * into work: dW_ih += dXP^T X, dW_hh += dHP^T Hprev (padding rows of dXP/dHP are zero), bias
 * gradients are column sums (an LSTM's two biases get the same one: one pass). */
static void grad_rows(const rec_call *c, const rec_dir *r, int m0, int n, float *work) {
    int BT = c->B * c->T, GH = c->G * c->H, F = c->F, H = c->H;
    const float *dhp = r->hp ? r->hp : r->dgates; /* (B, T, GH) */
    dpt_sgemm_tn_acc(n, F, BT, r->dgates + m0, GH, c->x, F, r->dW_ih + (size_t)m0 * F, F, work,
                     TN_KC);
    dpt_sgemm_tn_acc(n, H, BT, dhp + m0, GH, r->hprev, H, r->dW_hh + (size_t)m0 * H, H, work,
                     TN_KC);
    if (!r->db_ih) return;
    for (int j0 = m0; j0 < m0 + n; j0 += COL_BLOCK) {
        int nj = m0 + n - j0 < COL_BLOCK ? m0 + n - j0 : COL_BLOCK;
        colsum_block(r->dgates, BT, GH, j0, nj, r->db_ih, dhp == r->dgates ? r->db_hh : NULL);
        if (dhp != r->dgates) colsum_block(dhp, BT, GH, j0, nj, r->db_hh, NULL);
    }
}

/* All weight gradients, the gate units split among the threads par allows (at most nwork): each
 * thread owns whole rows of every gradient, so the bits do not depend on the thread count. */
static void weight_grads(const rec_call *c, const rec_dir *r, bool par) {
    int GH = c->G * c->H, nt = par ? omp_get_max_threads() : 1;
    if (nt > r->nwork) nt = r->nwork;
    if (nt < 2 || GH < 2 * ROW_TILE) {
        grad_rows(c, r, 0, GH, r->wpack);
        return;
    }
    size_t work = grad_work_floats(c->F, c->H);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), team = omp_get_num_threads(), per = (GH + team - 1) / team;
        per = (per + ROW_TILE - 1) / ROW_TILE * ROW_TILE;
        int m0 = t * per, n = GH - m0 < per ? GH - m0 : per;
        if (n > 0) grad_rows(c, r, m0, n, r->wpack + (size_t)t * work);
    }
}

/* All T steps of backward for rows [b0, b0 + n). */
static void backward_rows(const rec_call *c, const rec_dir *r, int b0, int n) {
    for (int s = c->T - 1; s >= 0; s--) {
        dpt_cell_step st = rows_of(step_of(c, r, s), b0, n);
        dpt_cell_backward(&st);
        /* a zero initial state is a constant; a given one gets its gradient */
        if (s > 0 || c->dh0) into_previous_state(c, r, &st, b0);
    }
}

/* The final state's gradient joins the running dh (and dc) before the last step's backward. */
static void add_state_grads(const rec_call *c, const rec_dir *r) {
    int H = c->H;
    for (int b = 0; b < c->B; b++) {
        const float *g = c->dstate + (size_t)b * c->S + (size_t)r->d * H; /* (H) */
        float *dh = r->dh + (size_t)b * H, *dc = r->dc ? r->dc + (size_t)b * H : NULL;
        for (int j = 0; j < H; j++) dh[j] += g[j];
        if (dc)
            for (int j = 0; j < H; j++) dc[j] += g[(size_t)c->D * H + j];
    }
}

static void dir_backward(const rec_call *c, int d, bool par) {
    rec_dir r = dir_of(c, d);
    int B = c->B, H = c->H, GH = c->G * c->H;
    if (c->seq) /* per-step dy enters in the cell */
        zero_rows(r.dh, B, H, H);
    else
        copy_rows(r.dh, H, c->dy + (size_t)d * H, c->D * H, B, H);
    if (r.dc) zero_rows(r.dc, B, H, H);
    if (c->dstate) add_state_grads(c, &r);
    dpt_sgemm_pack(false, GH, H, r.W_hh, H, r.wpack); /* W_hh (GH, H) */
    each_row_block(c, &r, par, backward_rows);
    if (c->dh0) {
        copy_rows(c->dh0 + (size_t)d * H, c->S, r.dh, H, B, H);
        if (r.dc) copy_rows(c->dh0 + (size_t)(c->D + d) * H, c->S, r.dc, H, B, H);
    }
    weight_grads(c, &r, par);
}

/* ---- both directions ---- */

/* With 2 or 3 threads the directions of a bidirectional layer run side by side, each on one
 * thread.  With more threads each direction gets all of them in turn. */
static bool directions_side_by_side(const rec_call *c) {
    int nt = omp_get_max_threads();
    return c->D == 2 && !omp_in_parallel() && nt >= 2 && nt < 4;
}

/* fn(c, d, par) for each direction d; par: fn may fork a team (not inside someone else's
 * parallel region, nor when the directions already run side by side). */
static void each_direction(const rec_call *c, void (*fn)(const rec_call *, int, bool)) {
    if (directions_side_by_side(c)) {
#pragma omp parallel sections num_threads(2)
        {
#pragma omp section
            fn(c, 0, false);
#pragma omp section
            fn(c, 1, false);
        }
        return;
    }
    bool par = !omp_in_parallel();
    for (int d = 0; d < c->D; d++) fn(c, d, par);
}

static void rec_forward(dpt_layer *l, const float *x, float *y, int B, const dpt_step_ctx *ctx) {
    if (B == 0) return;
    rec_call c = call_of(l, B, ctx);
    c.x = x, c.y = y;
    each_direction(&c, dir_forward);
}

/* dx = sum over directions of dXP W_ih (zero on padding, where dXP is zero); NULL: none. */
static void input_grad(const rec_call *c, float *dx) {
    if (!dx) return;
    gemm_fn gemm = omp_in_parallel() ? dpt_sgemm_1t : dpt_sgemm;
    int GH = c->G * c->H;
    for (int d = 0; d < c->D; d++) {
        rec_dir r = dir_of(c, d);
        gemm(false, false, c->B * c->T, c->F, GH, 1.0f, r.dgates, GH, r.W_ih, c->F, d ? 1.0f : 0.0f,
             dx, c->F);
    }
}

static void rec_backward(dpt_layer *l, const float *x, const float *y, const float *dy, float *dx,
                         int B, const dpt_step_ctx *ctx) {
    (void)y;
    if (B == 0) return;
    rec_call c = call_of(l, B, ctx);
    c.x = x, c.dy = dy;
    each_direction(&c, dir_backward);
    input_grad(&c, dx);
}

static void rec_forward_n(dpt_layer *l, const dpt_layer_io *io, float *y, int B,
                          const dpt_step_ctx *ctx) {
    if (B == 0) return;
    rec_call c = call_of(l, B, ctx);
    c.x = io->x[0], c.y = y;
    c.h0 = io->n > 1 ? io->x[1] : NULL;
    c.state = io->state;
    each_direction(&c, dir_forward);
}

static void rec_backward_n(dpt_layer *l, const dpt_layer_io *io, const float *y, const float *dy,
                           int B, const dpt_step_ctx *ctx) {
    if (B == 0) return;
    rec_call c = call_of(l, B, ctx);
    c.x = io->x[0], c.dy = dy;
    c.h0 = io->n > 1 ? io->x[1] : NULL;
    c.dstate = io->dstate;
    c.dh0 = io->n > 1 ? io->dx[1] : NULL;
    (void)y;
    each_direction(&c, dir_backward);
    input_grad(&c, io->dx[0]);
}

/* Per direction: the input projection of all steps and the weight gradients are one product
 * each over B*T rows; per step the recurrent product h W_hh^T and, backward, dh = dHP W_hh (the
 * packed kernels do those: sgemm is their roofline); dx = dXP W_ih after both directions. */
static int rec_gemms(const dpt_layer *l, int B, dpt_gemm_shape *g) {
    const dpt_cell_kind *kind = l->fn;
    int T = l->steps_in, F = l->in, H = args_of(l)->units, GH = dpt_cell_gates(*kind) * H, n = 0;
    int D = args_of(l)->bidirectional ? 2 : 1;
    for (int d = 0; d < D; d++) {
        g[n++] = (dpt_gemm_shape){false, true, B * T, GH, F, 0.0f, 1};
        g[n++] = (dpt_gemm_shape){false, true, B, GH, H, 0.0f, T};
        g[n++] = (dpt_gemm_shape){false, false, B, H, GH, 1.0f, T};
        g[n++] = (dpt_gemm_shape){true, false, GH, F, B * T, 1.0f, 1};
        g[n++] = (dpt_gemm_shape){true, false, GH, H, B * T, 1.0f, 1};
        if (l->index > 0) g[n++] = (dpt_gemm_shape){false, false, B * T, F, GH, d ? 1.0f : 0.0f, 1};
    }
    return n;
}

#define RECURRENT_TYPE(type_name, key_table, cell)                                                 \
    {                                                                                              \
        .name = (type_name), .flags = DPT_LAYER_SEQUENCE_INPUT | DPT_LAYER_INITIAL_STATE,          \
        .keys = (key_table), .nkeys = sizeof(key_table) / sizeof((key_table)[0]),                  \
        .args_size = sizeof(rec_args), .data = (cell), .build = rec_build, .init = rec_init,       \
        .forward = rec_forward, .backward = rec_backward, .min_inputs = 1, .max_inputs = 2,        \
        .forward_n = rec_forward_n, .backward_n = rec_backward_n, .gemms = rec_gemms,              \
    }

const dpt_layer_type dpt_layer_rnn_type = RECURRENT_TYPE("rnn", rnn_keys, &rnn_cell);
const dpt_layer_type dpt_layer_lstm_type = RECURRENT_TYPE("lstm", gated_keys, &lstm_cell);
const dpt_layer_type dpt_layer_gru_type = RECURRENT_TYPE("gru", gated_keys, &gru_cell);
