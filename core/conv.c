/* im2col / col2im over channels-last samples, the bias kernels and the chunked weight gradient
 * of the convolution layers.  A window's kernel row is copied as one run of k_w * C floats
 * where it lies inside the input (undilated), else in runs of C; only the padding is zeroed. */
#include "core/conv.h"

#include <stdint.h>
#include <string.h>

#include "core/gemm_packed.h"
#include "core/util.h"

/* Below this many floats the OpenMP fork costs more than the work. */
#define PAR_MIN 32768
/* Rows of a weight-gradient chunk packed at a time (dpt_sgemm_tn_acc). */
#define WGRAD_KC 256
/* Rows per product the layers aim for (dpt_conv_group): a few tiles of the packed kernels. */
#define GROUP_ROWS 64

bool dpt_conv_pointwise(const dpt_window *w) {
    return w->k_h == 1 && w->k_w == 1 && w->s_h == 1 && w->s_w == 1 && w->pad_top == 0 &&
           w->pad_left == 0 && w->out_h == w->in_h && w->out_w == w->in_w;
}

size_t dpt_conv_col_floats(const dpt_window *w, int C) {
    return (size_t)w->out_h * (size_t)w->out_w * (size_t)w->k_h * (size_t)w->k_w * (size_t)C;
}

int dpt_conv_group(int rows_per_sample) {
    DPT_ASSERT(rows_per_sample >= 1);
    return (GROUP_ROWS + rows_per_sample - 1) / rows_per_sample;
}

/* The kernel taps [*lo, *hi) of a window starting at `start` (with dilation d) that fall inside
 * [0, n); the others read padding. */
static void taps_inside(int start, int k, int d, int n, int *lo, int *hi) {
    int a = 0, b = k;
    while (a < k && start + a * d < 0) a++;
    while (b > a && start + (b - 1) * d >= n) b--;
    *lo = a;
    *hi = b;
}

static void zero_run(float *dst, int n) {
    if (n > 0) memset(dst, 0, (size_t)n * sizeof *dst);
}

void dpt_conv_im2col(const dpt_window *w, int C, const float *x, float *col) {
    int krow = w->k_w * C; /* floats of one kernel row of a window */
    float *dst = col;      /* (k_h, k_w, C) of the current window */
    for (int oh = 0; oh < w->out_h; oh++) {
        int ih0 = oh * w->s_h - w->pad_top;
        for (int ow = 0; ow < w->out_w; ow++) {
            int iw0 = ow * w->s_w - w->pad_left, lo, hi;
            taps_inside(iw0, w->k_w, w->d_w, w->in_w, &lo, &hi);
            for (int ki = 0; ki < w->k_h; ki++, dst += krow) {
                int ih = ih0 + ki * w->d_h;
                if (ih < 0 || ih >= w->in_h || lo >= hi) {
                    zero_run(dst, krow);
                    continue;
                }
                /* tap lo: inside the input */
                const float *src = x + ((size_t)ih * w->in_w + (size_t)(iw0 + lo * w->d_w)) * C;
                zero_run(dst, lo * C);
                if (w->d_w == 1)
                    memcpy(dst + lo * C, src, (size_t)(hi - lo) * C * sizeof *dst);
                else
                    for (int kj = lo; kj < hi; kj++)
                        memcpy(dst + kj * C, src + (size_t)(kj - lo) * w->d_w * C,
                               (size_t)C * sizeof *dst);
                zero_run(dst + hi * C, (w->k_w - hi) * C);
            }
        }
    }
}

void dpt_conv_col2im(const dpt_window *w, int C, const float *col, float *x) {
    memset(x, 0, (size_t)w->in_h * w->in_w * C * sizeof *x);
    int krow = w->k_w * C;
    const float *src = col; /* (k_h, k_w, C) of the current window */
    for (int oh = 0; oh < w->out_h; oh++) {
        int ih0 = oh * w->s_h - w->pad_top;
        for (int ow = 0; ow < w->out_w; ow++) {
            int iw0 = ow * w->s_w - w->pad_left, lo, hi;
            taps_inside(iw0, w->k_w, w->d_w, w->in_w, &lo, &hi);
            for (int ki = 0; ki < w->k_h; ki++, src += krow) {
                int ih = ih0 + ki * w->d_h;
                if (ih < 0 || ih >= w->in_h || lo >= hi) continue;
                /* tap lo: inside the input */
                float *row = x + ((size_t)ih * w->in_w + (size_t)(iw0 + lo * w->d_w)) * C;
                for (int kj = lo; kj < hi; kj++) {
                    float *d = row + (size_t)(kj - lo) * w->d_w * C;
                    const float *s = src + kj * C;
                    for (int c = 0; c < C; c++) d[c] += s[c];
                }
            }
        }
    }
}

void dpt_conv_add_bias(int rows, int F, const float *b, float *y) {
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * F; /* (F) */
        for (int j = 0; j < F; j++) yr[j] += b[j];
    }
}

/* Rows [lo, hi) of chunk c of rows. */
static void chunk_rows(int rows, int c, int *lo, int *hi) {
    *lo = (int)((int64_t)rows * c / DPT_CONV_CHUNKS);
    *hi = (int)((int64_t)rows * (c + 1) / DPT_CONV_CHUNKS);
}

void dpt_conv_bias_grad(int rows, int F, const float *dy, float *db, float *work) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * F > PAR_MIN)
    for (int c = 0; c < DPT_CONV_CHUNKS; c++) {
        float *part = work + (size_t)c * F; /* (F) */
        memset(part, 0, (size_t)F * sizeof *part);
        int lo, hi;
        chunk_rows(rows, c, &lo, &hi);
        for (int r = lo; r < hi; r++) {
            const float *dyr = dy + (size_t)r * F; /* (F) */
            for (int j = 0; j < F; j++) part[j] += dyr[j];
        }
    }
    for (int c = 0; c < DPT_CONV_CHUNKS; c++)
        for (int j = 0; j < F; j++) db[j] += work[(size_t)c * F + j];
}

/* Floats of one chunk's partial (M, N), 16-aligned, and of its packing work. */
static size_t part_floats(int M, int N) {
    return ((size_t)M * N + 15) / 16 * 16;
}

static size_t pack_floats(int N) {
    return (dpt_sgemm_tn_work(N, WGRAD_KC) + 15) / 16 * 16;
}

size_t dpt_conv_wgrad_floats(int M, int N) {
    return DPT_CONV_CHUNKS * (part_floats(M, N) + pack_floats(N));
}

void dpt_conv_wgrad(int rows, int M, int N, const float *A, const float *B, float *G, float *work) {
    size_t per = part_floats(M, N) + pack_floats(N);
#pragma omp parallel for schedule(static) if ((int64_t)rows * (M + N) > PAR_MIN)
    for (int c = 0; c < DPT_CONV_CHUNKS; c++) {
        float *part = work + (size_t)c * per;   /* (M, N) */
        float *pack = part + part_floats(M, N); /* the kernel's packing buffer */
        memset(part, 0, (size_t)M * N * sizeof *part);
        int lo, hi;
        chunk_rows(rows, c, &lo, &hi);
        dpt_sgemm_tn_acc(M, N, hi - lo, A + (size_t)lo * M, M, B + (size_t)lo * N, N, part, N, pack,
                         WGRAD_KC);
    }
    /* G (N, M) += the partials transposed, in chunk order (a row of G per thread). */
#pragma omp parallel for schedule(static) if ((int64_t)M * N * DPT_CONV_CHUNKS > PAR_MIN)
    for (int j = 0; j < N; j++) {
        float *g = G + (size_t)j * M; /* (M) */
        for (int c = 0; c < DPT_CONV_CHUNKS; c++) {
            const float *part = work + (size_t)c * per; /* (M, N) */
            for (int i = 0; i < M; i++) g[i] += part[(size_t)i * N + j];
        }
    }
}
