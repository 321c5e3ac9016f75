/* The elementwise work of one time step of the rnn, lstm and gru cells (PyTorch's equations and
 * gate order), forward and backward, for all rows of a batch.  Matrix products are the driver's
 * (layer_recurrent.c); see docs/recurrent.md for the equations. */

/* Selects in the gate loops (clamps, relu) may only become vector blends if the compiler need
 * not preserve floating-point exception flags, which nothing in dptrain reads; with
 * -ftrapping-math (the default) every loop below stays scalar. */
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/recurrent.h"
#include "core/util.h"

/* Columns per block: a block is one simd loop. */
#define CELL_BLOCK 64

int dpt_cell_gates(dpt_cell_kind kind) {
    switch (kind) {
    case DPT_CELL_RNN_TANH:
    case DPT_CELL_RNN_RELU:
        return 1;
    case DPT_CELL_LSTM:
        return 4;
    case DPT_CELL_GRU:
        return 3;
    }
    DPT_ASSERT(!"unknown cell kind");
}

/* ---- e^x, sigmoid, tanh without calls or branches, so the gate loops vectorise: libm's expf
 * and tanhf were 60% of an lstm step.  Measured against double over [-90, 90] in steps of
 * 1e-4: exp 8e-8 relative, sigmoid and tanh 1.5e-7 relative (1-2 ulp); NaN stays NaN. ---- */

/* Cephes' expf: e^x = 2^k e^r, |r| <= ln(2)/2, e^r by a degree-6 polynomial.  x is clamped to
 * [-87, 88] so 2^k stays a normal float.  A NaN stays in x (so the result is NaN) but not in
 * xk, which the exponent bits come from: they must stay a small integer. */
static inline float exp_approx(float x) {
    float xk = x > -87.0f ? x : -87.0f; /* NaN -> -87 */
    xk = xk > 88.0f ? 88.0f : xk;
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float k = (xk * 1.44269504f + 12582912.0f) - 12582912.0f; /* round(x / ln 2), 1.5 * 2^23 */
    float r = x - k * 0.693359375f;                           /* ln 2 in two parts */
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23; /* 2^k, k in [-126, 127] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigm(float x) {
    return 1.0f / (1.0f + exp_approx(-x));
}

/* Cephes' tanhf: an odd polynomial below 0.625, where 1 - 2 / (e^2|x| + 1) would cancel.  Both
 * are computed and one is selected; the polynomial's argument is clamped so it stays finite. */
static inline float tanh_approx(float x) {
    float xs = x < -0.625f ? -0.625f : x > 0.625f ? 0.625f : x, z = xs * xs;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * xs + xs;
    float big = copysignf(1.0f - 2.0f / (exp_approx(2.0f * fabsf(x)) + 1.0f), x);
    return fabsf(x) < 0.625f ? small : big;
}

/* The gate loops are built for AVX-512, AVX2 and baseline x86-64 and one is picked at load time
 * (GCC function multi-versioning): the project builds for baseline x86-64, which would leave them
 * at 4 floats per instruction.  Each element goes through the same operations in every version
 * (ISO C mode: no contraction into FMA), so the results do not depend on the version. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

/* ---- row b, columns [j0, j0 + n) of one step.  Pointers are offset to the block; gate q of
 * column j is at g[q * H + j]. ---- */

typedef struct blk {
    int n, H;
    float *g, *dg, *hp, *hpn; /* gate rows (G H), hpn (H) */
    const float *bx, *bh;     /* (G H) */
    const float *h_in, *c_in; /* (n) */
    float *h_out, *c_out, *y; /* (n); y may be NULL */
    const float *dy;          /* (n) or NULL */
    float *dh, *dc;           /* (n) */
} blk;

static blk block_of(const dpt_cell_step *s, int b, int j0, int n) {
    size_t g = (size_t)b * s->ld_g + j0, h = (size_t)b * s->ld_h + j0;
    size_t o = (size_t)b * s->ld_out + j0, y = (size_t)b * s->ld_y + j0;
    size_t d = (size_t)b * s->H + j0;
    return (blk){.n = n,
                 .H = s->H,
                 .g = s->g + g,
                 .dg = s->dg ? s->dg + g : NULL,
                 .hp = s->hp ? s->hp + g : NULL,
                 .hpn = s->hpn ? s->hpn + h : NULL,
                 .bx = s->bx + j0,
                 .bh = s->bh ? s->bh + j0 : NULL,
                 .h_in = s->h_in + h,
                 .c_in = s->c_in ? s->c_in + h : NULL,
                 .h_out = s->h_out + o,
                 .c_out = s->c_out ? s->c_out + o : NULL,
                 .y = s->y ? s->y + y : NULL,
                 .dy = s->dy ? s->dy + y : NULL,
                 .dh = s->dh ? s->dh + d : NULL,
                 .dc = s->dc ? s->dc + d : NULL};
}

/* Forward on padding: the state is carried and the output is 0. */
static void carry(const blk *k) {
    memcpy(k->h_out, k->h_in, (size_t)k->n * sizeof *k->h_out);
    if (k->c_out) memcpy(k->c_out, k->c_in, (size_t)k->n * sizeof *k->c_out);
    if (k->y) memset(k->y, 0, (size_t)k->n * sizeof *k->y);
}

/* Backward on padding: no gate gradient; dh and dc pass to the previous step unchanged. */
static void no_gradient(const blk *k, int G) {
    for (int q = 0; q < G; q++) {
        memset(k->dg + (size_t)q * k->H, 0, (size_t)k->n * sizeof *k->dg);
        if (k->hp) memset(k->hp + (size_t)q * k->H, 0, (size_t)k->n * sizeof *k->hp);
    }
}

static void output(const blk *k) {
    if (k->y) memcpy(k->y, k->h_out, (size_t)k->n * sizeof *k->y);
}

/* The part of dh that this step's output adds (return_sequences). */
VECTOR_CLONES static void add_dy(const blk *k) {
    if (!k->dy) return;
#pragma omp simd
    for (int j = 0; j < k->n; j++) k->dh[j] += k->dy[j];
}

/* h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) */
VECTOR_CLONES static void rnn_forward(const blk *k, bool relu) {
    float *g = k->g, *h = k->h_out; /* (n) */
    const float *bx = k->bx;
    if (relu) {
#pragma omp simd
        for (int j = 0; j < k->n; j++) {
            float pre = g[j] + bx[j];
            h[j] = g[j] = pre > 0.0f ? pre : 0.0f;
        }
    } else {
#pragma omp simd
        for (int j = 0; j < k->n; j++) h[j] = g[j] = tanh_approx(g[j] + bx[j]);
    }
    output(k);
}

VECTOR_CLONES static void rnn_backward(const blk *k, bool relu) {
    add_dy(k);
    const float *a = k->g; /* (n) activated */
    float *dg = k->dg, *dh = k->dh;
    if (relu) {
#pragma omp simd
        for (int j = 0; j < k->n; j++) {
            float d = dh[j];
            dg[j] = a[j] > 0.0f ? d : 0.0f;
        }
    } else {
#pragma omp simd
        for (int j = 0; j < k->n; j++) dg[j] = dh[j] * (1.0f - a[j] * a[j]);
    }
    memset(dh, 0, (size_t)k->n * sizeof *dh); /* all of dh_{t-1} goes through W_hh */
}

/* i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x + b_ih + W_hh h + b_hh) in that order;
 * c_t = f c_{t-1} + i g;  h_t = o tanh(c_t) */
VECTOR_CLONES static void lstm_forward(const blk *k) {
    int H = k->H;
    float *g = k->g; /* (4H): i, f, g, o */
    const float *bx = k->bx;
#pragma omp simd
    for (int j = 0; j < k->n; j++) {
        float i = sigm(g[j] + bx[j]), f = sigm(g[H + j] + bx[H + j]);
        float gg = tanh_approx(g[2 * H + j] + bx[2 * H + j]);
        float o = sigm(g[3 * H + j] + bx[3 * H + j]);
        g[j] = i, g[H + j] = f, g[2 * H + j] = gg, g[3 * H + j] = o;
        float c = f * k->c_in[j] + i * gg;
        k->c_out[j] = c;
        k->h_out[j] = o * tanh_approx(c);
    }
    output(k);
}

VECTOR_CLONES static void lstm_backward(const blk *k) {
    add_dy(k);
    int H = k->H;
    const float *g = k->g; /* (4H) activated i, f, g, o */
    float *dg = k->dg;     /* (4H) */
#pragma omp simd
    for (int j = 0; j < k->n; j++) {
        float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
        float tc = tanh_approx(k->c_out[j]), dh = k->dh[j];
        float dc = k->dc[j] + dh * o * (1.0f - tc * tc);
        dg[j] = dc * gg * i * (1.0f - i);
        dg[H + j] = dc * k->c_in[j] * f * (1.0f - f);
        dg[2 * H + j] = dc * i * (1.0f - gg * gg);
        dg[3 * H + j] = dh * tc * o * (1.0f - o);
        k->dc[j] = dc * f;
        k->dh[j] = 0.0f;
    }
}

/* r, z = sigma(W_i* x + b_i* + W_h* h + b_h*);  n = tanh(W_in x + b_in + r (W_hn h + b_hn));
 * h_t = (1 - z) n + z h_{t-1} */
VECTOR_CLONES static void gru_forward(const blk *k) {
    int H = k->H;
    float *g = k->g;         /* (3H): r, z, n */
    const float *hp = k->hp; /* (3H) W_hh h_{t-1} */
    const float *bx = k->bx, *bh = k->bh;
#pragma omp simd
    for (int j = 0; j < k->n; j++) {
        float r = sigm(g[j] + bx[j] + hp[j] + bh[j]);
        float z = sigm(g[H + j] + bx[H + j] + hp[H + j] + bh[H + j]);
        float hn = hp[2 * H + j] + bh[2 * H + j];
        float n = tanh_approx(g[2 * H + j] + bx[2 * H + j] + r * hn);
        g[j] = r, g[H + j] = z, g[2 * H + j] = n;
        k->hpn[j] = hn;
        k->h_out[j] = (1.0f - z) * n + z * k->h_in[j];
    }
    output(k);
}

/* dXP (into dg) and dHP (into hp) differ only in the n block, where W_hn h is scaled by r. */
VECTOR_CLONES static void gru_backward(const blk *k) {
    add_dy(k);
    int H = k->H;
    const float *g = k->g; /* (3H) activated r, z, n */
    float *dg = k->dg, *dhp = k->hp;
#pragma omp simd
    for (int j = 0; j < k->n; j++) {
        float r = g[j], z = g[H + j], n = g[2 * H + j], dh = k->dh[j];
        float dn = dh * (1.0f - z) * (1.0f - n * n);
        float dr = dn * k->hpn[j] * r * (1.0f - r);
        float dz = dh * (k->h_in[j] - n) * z * (1.0f - z);
        dg[j] = dhp[j] = dr;
        dg[H + j] = dhp[H + j] = dz;
        dg[2 * H + j] = dn;
        dhp[2 * H + j] = dn * r;
        k->dh[j] = dh * z;
    }
}

/* ---- dispatch over rows x column blocks ---- */

static bool is_valid(const dpt_cell_step *s, int b) {
    return !s->lengths || s->t < s->lengths[b];
}

static void forward_block(const dpt_cell_step *s, int b, int j0, int n) {
    blk k = block_of(s, b, j0, n);
    if (!is_valid(s, b)) {
        carry(&k);
        return;
    }
    switch (s->kind) {
    case DPT_CELL_RNN_TANH:
        rnn_forward(&k, false);
        return;
    case DPT_CELL_RNN_RELU:
        rnn_forward(&k, true);
        return;
    case DPT_CELL_LSTM:
        lstm_forward(&k);
        return;
    case DPT_CELL_GRU:
        gru_forward(&k);
        return;
    }
}

static void backward_block(const dpt_cell_step *s, int b, int j0, int n) {
    blk k = block_of(s, b, j0, n);
    if (!is_valid(s, b)) {
        no_gradient(&k, dpt_cell_gates(s->kind));
        return;
    }
    switch (s->kind) {
    case DPT_CELL_RNN_TANH:
        rnn_backward(&k, false);
        return;
    case DPT_CELL_RNN_RELU:
        rnn_backward(&k, true);
        return;
    case DPT_CELL_LSTM:
        lstm_backward(&k);
        return;
    case DPT_CELL_GRU:
        gru_backward(&k);
        return;
    }
}

static void each_block(const dpt_cell_step *s, void (*fn)(const dpt_cell_step *, int, int, int)) {
    int B = s->B, H = s->H;
    for (int b = 0; b < B; b++)
        for (int j0 = 0; j0 < H; j0 += CELL_BLOCK)
            fn(s, b, j0, H - j0 < CELL_BLOCK ? H - j0 : CELL_BLOCK);
}

void dpt_cell_forward(const dpt_cell_step *s) {
    each_block(s, forward_block);
}

void dpt_cell_backward(const dpt_cell_step *s) {
    /* The buffers backward needs (also tells clang-tidy's analyzer they are set). */
    DPT_ASSERT(s->dg && s->dh && (s->kind != DPT_CELL_LSTM || (s->c_in && s->c_out && s->dc)) &&
               (s->kind != DPT_CELL_GRU || (s->hp && s->hpn)));
    each_block(s, backward_block);
}
