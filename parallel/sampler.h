/* Which samples each rank processes at each step (DESIGN.md §2).  Pure arithmetic, identical
 * on every rank: global batches are consecutive slices of the epoch order, and rank r takes rows
 * [lo(r), lo(r+1)) of each global batch, the remainder spread over the first ranks. */
#ifndef DPT_SAMPLER_H
#define DPT_SAMPLER_H

#include <stdint.h>

/* Start of part i when n items are split into `parts`, the first n % parts parts one larger. */
int64_t dpt_split_lo(int64_t n, int parts, int i);

typedef struct dpt_sampler {
    int64_t n; /* samples per epoch */
    int batch; /* global batch B */
    int rank, size;
    int64_t steps; /* steps per epoch = ceil(n / B) */
} dpt_sampler;

void dpt_sampler_init(dpt_sampler *s, int64_t n, int batch, int rank, int size);
/* This rank's part of step `step` of an epoch: positions [*pos, *pos + *count) of the epoch
 * order; also the global batch size of that step in *global (the last batch may be smaller). */
void dpt_sampler_slice(const dpt_sampler *s, int64_t step, int64_t *pos, int *count, int *global);
/* Total positions this rank consumes in an epoch (sum of its counts over all steps). */
int64_t dpt_sampler_epoch_count(const dpt_sampler *s);

#endif
