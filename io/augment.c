/* Random horizontal flip and translation of training images, in place, keyed per sample by
 * (seed, epoch, dataset row) (io/augment.h).  Only copies: no arithmetic on the values, so the
 * result is the same bits wherever it runs. */
#include "io/augment.h"

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/util.h"

/* Keeps augmentation's random values apart from dropout's, which hash the same seed. */
#define AUG_KEY 0x61756721u

void dpt_augment_init(dpt_augment *a, bool flip, int translate, uint64_t seed, const dpt_shape *x,
                      const dpt_norm *xnorm) {
    DPT_ASSERT(x->rank == 3 && translate >= 0 && translate < x->dim[0] && translate < x->dim[1]);
    memset(a, 0, sizeof *a);
    a->flip = flip;
    a->translate = translate;
    a->seed = seed;
    a->H = x->dim[0];
    a->W = x->dim[1];
    a->C = x->dim[2];
    a->fill = dpt_alloc_floats((size_t)a->C);
    for (int c = 0; c < a->C; c++) a->fill[c] = 0.0f;
    if (xnorm && xnorm->enabled) /* the input pipeline's own standardisation of a 0 */
        dpt_norm_apply(xnorm, a->fill, 1);
}

void dpt_augment_free(dpt_augment *a) {
    free(a->fill);
    memset(a, 0, sizeof *a);
}

static void fill_pixels(float *p, const float *fill, int n, int C) {
    for (int i = 0; i < n; i++) memcpy(p + (size_t)i * C, fill, sizeof(float) * (size_t)C);
}

static void flip_rows(float *img, int H, int W, int C) {
    for (int h = 0; h < H; h++) {
        float *row = img + (size_t)h * W * C;
        for (int w = 0; w < W / 2; w++) {
            float *l = row + (size_t)w * C, *r = row + (size_t)(W - 1 - w) * C;
            for (int c = 0; c < C; c++) {
                float t = l[c];
                l[c] = r[c];
                r[c] = t;
            }
        }
    }
}

/* Row h of the output = row h - dy of the input shifted right by dx; rows are visited so that
 * each is read before it is overwritten (bottom up when moving down). */
static void shift(const dpt_augment *a, float *img, int dy, int dx) {
    int H = a->H, W = a->W, C = a->C, adx = dx < 0 ? -dx : dx;
    size_t rw = (size_t)W * C;
    for (int i = 0; i < H; i++) {
        int h = dy > 0 ? H - 1 - i : i, src = h - dy;
        float *dst = img + (size_t)h * rw;
        if (src < 0 || src >= H) {
            fill_pixels(dst, a->fill, W, C);
            continue;
        }
        const float *s = img + (size_t)src * rw;
        memmove(dst + (size_t)(dx > 0 ? dx : 0) * C, s + (size_t)(dx < 0 ? adx : 0) * C,
                sizeof(float) * (size_t)(W - adx) * C);
        fill_pixels(dx > 0 ? dst : dst + (size_t)(W - adx) * C, a->fill, adx, C);
    }
}

static void one(const dpt_augment *a, float *img, int64_t id, int64_t epoch) {
    uint64_t r = dpt_hash4(a->seed, (uint64_t)epoch, (uint64_t)id, AUG_KEY);
    if (a->flip && (r & 1u)) flip_rows(img, a->H, a->W, a->C);
    int k = a->translate;
    if (k == 0) return;
    uint64_t span = 2 * (uint64_t)k + 1;
    int dy = (int)((r >> 8) % span) - k, dx = (int)((r >> 32) % span) - k;
    if (dy || dx) shift(a, img, dy, dx);
}

void dpt_augment_apply(const dpt_augment *a, float *x, int B, const int64_t *ids, int64_t epoch,
                       bool threads) {
    size_t per = (size_t)a->H * a->W * a->C; /* floats per sample */
    /* Threads pay off only on batches of more than about 64K floats (a fork costs microseconds). */
#pragma omp parallel for schedule(static) if (threads && (size_t)B * per > 65536)
    for (int b = 0; b < B; b++) one(a, x + (size_t)b * per, ids[b], epoch);
}
