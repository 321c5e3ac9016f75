/* im2col / col2im over channels-last samples, and the row bias kernels of the convolution
 * layers.  A window's kernel row is copied as one run of k_w * C floats where it lies inside the
 * input (undilated), else in runs of C; only the padding is zeroed. */
#include "core/im2col.h"

#include <stdint.h>
#include <string.h>

#include "core/util.h"

/* Below this many floats per batch the OpenMP fork costs more than the copy. */
#define PAR_MIN 32768

bool dpt_window_pointwise(const dpt_window *w) {
    return w->k_h == 1 && w->k_w == 1 && w->s_h == 1 && w->s_w == 1 && w->pad_top == 0 &&
           w->pad_left == 0 && w->out_h == w->in_h && w->out_w == w->in_w;
}

size_t dpt_im2col_floats(const dpt_window *w, int C) {
    return (size_t)w->out_h * (size_t)w->out_w * (size_t)w->k_h * (size_t)w->k_w * (size_t)C;
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

/* One sample: col (out_h * out_w, k_h * k_w * C) from x (in_h, in_w, C). */
static void im2col_one(const dpt_window *w, int C, const float *x, float *col) {
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

/* One sample: x (in_h, in_w, C) = the windows of col added at their positions, in the order of
 * the windows, taps and channels. */
static void col2im_one(const dpt_window *w, int C, const float *col, float *x) {
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

void dpt_im2col(const dpt_window *w, int C, int B, const float *x, float *col) {
    size_t xs = (size_t)w->in_h * w->in_w * C, cs = dpt_im2col_floats(w, C);
#pragma omp parallel for schedule(static) if ((size_t)B * cs > PAR_MIN)
    for (int b = 0; b < B; b++) im2col_one(w, C, x + (size_t)b * xs, col + (size_t)b * cs);
}

void dpt_col2im(const dpt_window *w, int C, int B, const float *col, float *x) {
    size_t xs = (size_t)w->in_h * w->in_w * C, cs = dpt_im2col_floats(w, C);
#pragma omp parallel for schedule(static) if ((size_t)B * cs > PAR_MIN)
    for (int b = 0; b < B; b++) col2im_one(w, C, col + (size_t)b * cs, x + (size_t)b * xs);
}

void dpt_rows_add_bias(int rows, int F, const float *b, float *y) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * F > PAR_MIN)
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * F; /* (F) */
        for (int j = 0; j < F; j++) yr[j] += b[j];
    }
}

void dpt_rows_sum(int rows, int F, const float *dy, float *db, float *work) {
    enum { NC = DPT_ROWS_SUM_CHUNKS };
#pragma omp parallel for schedule(static) if ((int64_t)rows * F > PAR_MIN)
    for (int c = 0; c < NC; c++) {
        float *part = work + (size_t)c * F; /* (F) */
        memset(part, 0, (size_t)F * sizeof *part);
        int r1 = (int)((int64_t)rows * (c + 1) / NC);
        for (int r = (int)((int64_t)rows * c / NC); r < r1; r++) {
            const float *dyr = dy + (size_t)r * F; /* (F) */
            for (int j = 0; j < F; j++) part[j] += dyr[j];
        }
    }
    for (int c = 0; c < NC; c++)
        for (int j = 0; j < F; j++) db[j] += work[(size_t)c * F + j];
}
