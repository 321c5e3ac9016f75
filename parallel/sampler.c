/* The sampler: which positions of the epoch order each rank consumes at each step.  Pure
 * arithmetic so every rank computes the same plan without communicating (DESIGN.md §2). */
#include "parallel/sampler.h"

#include "core/util.h"

int64_t dpt_split_lo(int64_t n, int parts, int i) {
    DPT_ASSERT(n >= 0 && parts > 0 && i >= 0 && i <= parts);
    int64_t q = n / parts, r = n % parts;
    return (int64_t)i * q + (i < r ? i : r);
}

void dpt_sampler_init(dpt_sampler *s, int64_t n, int batch, int rank, int size) {
    DPT_ASSERT(n >= 0 && batch > 0 && size > 0 && rank >= 0 && rank < size);
    s->n = n;
    s->batch = batch;
    s->rank = rank;
    s->size = size;
    s->steps = (n + batch - 1) / batch;
}

void dpt_sampler_slice(const dpt_sampler *s, int64_t step, int64_t *pos, int *count, int *global) {
    DPT_ASSERT(step >= 0 && step < s->steps);
    int64_t start = step * s->batch;
    int64_t g = s->n - start < s->batch ? s->n - start : s->batch;
    int64_t lo = dpt_split_lo(g, s->size, s->rank), hi = dpt_split_lo(g, s->size, s->rank + 1);
    *pos = start + lo;
    *count = (int)(hi - lo);
    *global = (int)g;
}

/* Rows of a global batch of g that this rank takes. */
static int64_t part_of(const dpt_sampler *s, int64_t g) {
    return dpt_split_lo(g, s->size, s->rank + 1) - dpt_split_lo(g, s->size, s->rank);
}

int64_t dpt_sampler_epoch_count(const dpt_sampler *s) {
    int64_t full = s->n / s->batch, rest = s->n % s->batch;
    return full * part_of(s, s->batch) + part_of(s, rest);
}
