/* On-the-fly augmentation of training images (data.augment, docs/data.md): a random horizontal
 * flip and a random translation by up to k pixels with a black fill, applied in place to a batch
 * of normalised (H, W, C) samples.  Each sample's choice is a hash of (seed, epoch, dataset row),
 * like dropout masks, so it does not depend on the rank or thread that applies it. */
#ifndef DPT_AUGMENT_H
#define DPT_AUGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/norm.h"
#include "core/shape.h"

typedef struct dpt_augment {
    bool flip;     /* flip_horizontal: each sample flipped left-right with probability 1/2 */
    int translate; /* k: shift by dy, dx uniform in [-k, k] each; 0 = none */
    uint64_t seed;
    int H, W, C;
    float *fill; /* (C) a zero pixel after normalisation: what shifted-in pixels hold (owned) */
} dpt_augment;

/* Whether any augmentation is asked for. */
static inline bool dpt_augment_on(bool flip, int translate) {
    return flip || translate > 0;
}

/* For per-sample inputs *x (must be (H, W, C) with k < H and k < W: the caller checks and words
 * the message) standardised with xnorm (NULL or disabled: none).  Allocates fill. */
void dpt_augment_init(dpt_augment *a, bool flip, int translate, uint64_t seed, const dpt_shape *x,
                      const dpt_norm *xnorm);
void dpt_augment_free(dpt_augment *a);

/* Transforms x (B, H, W, C) in place; ids (B) are the samples' dataset rows.  No allocation;
 * with `threads`, OpenMP over the samples (not from a thread that is not OpenMP's). */
void dpt_augment_apply(const dpt_augment *a, float *x, int B, const int64_t *ids, int64_t epoch,
                       bool threads);

#endif
