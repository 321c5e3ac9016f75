/* The geometry of a sliding window over (H, W) (convolution, pooling; 1-D layers use H = 1):
 * kernel, stride, dilation and padding resolved into output sizes, with the messages for
 * windows that do not fit.  Shared by core/layer_conv*.c and core/layer_pool.c. */
#ifndef DPT_WINDOW_H
#define DPT_WINDOW_H

#include <stddef.h>

/* Padding codes stored by a DPT_KEY_INTS key whose names are dpt_window_padding_names(): */
#define DPT_PAD_VALID (-1) /* no padding: the window stays inside the input */
#define DPT_PAD_SAME                                                                               \
    (-2) /* out = ceil(in / stride), the padding split as Keras and PyTorch do:                    \
            before = total / 2, after = the rest */

typedef struct dpt_window {
    int in_h, in_w;            /* input rows and columns */
    int k_h, k_w;              /* kernel */
    int s_h, s_w;              /* stride */
    int d_h, d_w;              /* dilation (1 = dense window) */
    int pad_top, pad_left;     /* zero rows/columns added before the input */
    int pad_bottom, pad_right; /* and after it (>= 0; may be less than before: a stride that
                                  does not reach the last padded rows) */
    int out_h, out_w;          /* output rows and columns (>= 1) */
} dpt_window;

/* {"valid", "same", NULL}: the names of a padding key (DPT_PAD_VALID, DPT_PAD_SAME). */
const char *const *dpt_window_padding_names(void);

/* Plans a window over in_h x in_w with kernel k, stride s, dilation d (each (h, w), >= 1) and
 * padding pad (each DPT_PAD_VALID, DPT_PAD_SAME, or explicit rows/columns >= 0 on both sides).
 * Returns 0, or -1 with a message naming the sizes when the (dilated) kernel does not fit in the
 * padded input ("kernel 5x5 is larger than the input 4x4 padded by 0x0"). */
int dpt_window_plan(dpt_window *w, int in_h, int in_w, const int k[2], const int s[2],
                    const int d[2], const int pad[2], char *err, size_t errlen);

/* "3x3" style text of (h, w) into buf, or just "w" for a 1-D window (one_d). */
const char *dpt_window_pair(int h, int w, int one_d, char *buf, size_t n);

#endif
