/* Sliding-window geometry: output sizes for valid / same / explicit padding, the Keras split of
 * "same" padding, and the messages for windows that leave no output. */
#include "core/window.h"

#include <stdio.h>

#include "core/util.h"

const char *const *dpt_window_padding_names(void) {
    static const char *const names[] = {"valid", "same", NULL};
    return names;
}

const char *dpt_window_pair(int h, int w, int one_d, char *buf, size_t n) {
    if (one_d)
        snprintf(buf, n, "%d", w);
    else
        snprintf(buf, n, "%dx%d", h, w);
    return buf;
}

/* One axis: sets *before, *after and *out; returns 0, or -1 when nothing fits. */
static int plan_axis(int in, int k, int s, int d, int pad, int *before, int *after, int *out) {
    int span = (k - 1) * d + 1; /* the dilated kernel */
    if (pad == DPT_PAD_SAME) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + span - in;
        if (total < 0) total = 0;
        *before = total / 2;
        *after = total - *before;
        return 0;
    }
    int p = pad == DPT_PAD_VALID ? 0 : pad;
    if (in + 2 * p < span) return -1;
    *out = (in + 2 * p - span) / s + 1;
    *before = p;
    /* Rows past the last window are never read: count only the padding a window touches. */
    int used = (*out - 1) * s + span - in - p;
    *after = used < 0 ? 0 : used;
    return 0;
}

int dpt_window_plan(dpt_window *w, int in_h, int in_w, const int k[2], const int s[2],
                    const int d[2], const int pad[2], char *err, size_t errlen) {
    DPT_ASSERT(in_h >= 1 && in_w >= 1 && k[0] >= 1 && k[1] >= 1 && s[0] >= 1 && s[1] >= 1 &&
               d[0] >= 1 && d[1] >= 1);
    *w = (dpt_window){.in_h = in_h,
                      .in_w = in_w,
                      .k_h = k[0],
                      .k_w = k[1],
                      .s_h = s[0],
                      .s_w = s[1],
                      .d_h = d[0],
                      .d_w = d[1]};
    int bad_h = plan_axis(in_h, k[0], s[0], d[0], pad[0], &w->pad_top, &w->pad_bottom, &w->out_h);
    int bad_w = plan_axis(in_w, k[1], s[1], d[1], pad[1], &w->pad_left, &w->pad_right, &w->out_w);
    if (!bad_h && !bad_w) return 0;
    int one_d = in_h == 1 && k[0] == 1;
    char kb[32], ib[32], pb[32], db[48] = "";
    int ph = pad[0] > 0 ? pad[0] : 0, pw = pad[1] > 0 ? pad[1] : 0;
    if (d[0] > 1 || d[1] > 1) {
        char sp[32];
        snprintf(
            db, sizeof db, " (dilated: %s)",
            dpt_window_pair((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1, one_d, sp, sizeof sp));
    }
    return dpt_err(err, errlen, "kernel %s%s is larger than the input %s padded by %s",
                   dpt_window_pair(k[0], k[1], one_d, kb, sizeof kb), db,
                   dpt_window_pair(in_h, in_w, one_d, ib, sizeof ib),
                   dpt_window_pair(ph, pw, one_d, pb, sizeof pb));
}
