/* Block-permuted, rank-partitioned, buffer-shuffled streaming order (see the header). */
#include "parallel/stream_order.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define ORDER_KEY 0x53545245414dULL /* "STREAM": keeps the block order apart from other uses */

void dpt_order_init(dpt_order *o, int64_t n, int64_t block, int64_t buffer, bool shuffle,
                    uint64_t seed, const dpt_sampler *sampler) {
    DPT_ASSERT(n >= 0 && block > 0 && sampler && sampler->n == n);
    memset(o, 0, sizeof *o);
    o->n = n;
    o->block = block;
    o->nblocks = (n + block - 1) / block;
    o->shuffle = shuffle;
    o->cap = shuffle && buffer > 1 ? buffer : 1;
    o->seed = seed;
    o->sampler = sampler;
    o->bperm = dpt_calloc((size_t)(o->nblocks > 0 ? o->nblocks : 1), sizeof(int64_t));
    o->bstart = dpt_calloc((size_t)o->nblocks + 1, sizeof(int64_t));
    o->slot = dpt_calloc((size_t)o->cap, sizeof(int64_t));
}

void dpt_order_free(dpt_order *o) {
    free(o->bperm);
    free(o->bstart);
    free(o->slot);
    memset(o, 0, sizeof *o);
}

/* Rows rank q takes in an epoch. */
static int64_t rank_rows(const dpt_sampler *s, int q) {
    dpt_sampler t = *s;
    t.rank = q;
    return dpt_sampler_epoch_count(&t);
}

void dpt_order_epoch(dpt_order *o, uint64_t epoch) {
    if (o->shuffle)
        dpt_permutation(o->bperm, o->nblocks, o->seed ^ ORDER_KEY, epoch);
    else
        for (int64_t b = 0; b < o->nblocks; b++) o->bperm[b] = b;
    o->bstart[0] = 0;
    for (int64_t k = 0; k < o->nblocks; k++) {
        int64_t b0 = o->bperm[k] * o->block, b1 = b0 + o->block < o->n ? b0 + o->block : o->n;
        o->bstart[k + 1] = o->bstart[k] + (b1 - b0);
    }
    const dpt_sampler *s = o->sampler;
    o->lo = 0;
    for (int q = 0; q < s->rank; q++) o->lo += rank_rows(s, q);
    o->hi = o->lo + rank_rows(s, s->rank);
    o->next = o->lo;
    o->filled = 0;
    dpt_rng_seed(&o->rng, o->seed, dpt_hash4(ORDER_KEY, epoch, (uint64_t)s->rank, 1));
}

/* Index k of the block of bperm that holds stream position g (binary search over bstart). */
static int64_t block_of(const dpt_order *o, int64_t g) {
    int64_t a = 0, b = o->nblocks; /* bstart[a] <= g < bstart[b] */
    while (b - a > 1) {
        int64_t mid = a + (b - a) / 2;
        if (o->bstart[mid] <= g)
            a = mid;
        else
            b = mid;
    }
    return a;
}

void dpt_order_segment(const dpt_order *o, int64_t g, int64_t *g0, int64_t *row0, int64_t *len) {
    DPT_ASSERT(g >= o->lo && g < o->hi);
    int64_t k = block_of(o, g);
    int64_t s = o->bstart[k] > o->lo ? o->bstart[k] : o->lo;
    int64_t e = o->bstart[k + 1] < o->hi ? o->bstart[k + 1] : o->hi;
    *g0 = s;
    *row0 = o->bperm[k] * o->block + (s - o->bstart[k]);
    *len = e - s;
}

/* Dataset row at stream position g. */
static int64_t row_at(const dpt_order *o, int64_t g) {
    int64_t k = block_of(o, g);
    return o->bperm[k] * o->block + (g - o->bstart[k]);
}

bool dpt_order_fill(dpt_order *o, dpt_order_ev *ev) {
    if (o->filled == o->cap || o->next == o->hi) return false;
    int64_t j = o->filled++;
    *ev = (dpt_order_ev){.row = -1, .slot = j, .refill_g = o->next, .move_from = -1};
    ev->refill = o->slot[j] = row_at(o, o->next++);
    return true;
}

void dpt_order_emit(dpt_order *o, dpt_order_ev *ev) {
    DPT_ASSERT(o->filled > 0);
    int64_t j =
        o->shuffle && o->filled > 1 ? (int64_t)dpt_rng_below(&o->rng, (uint64_t)o->filled) : 0;
    *ev =
        (dpt_order_ev){.row = o->slot[j], .slot = j, .refill = -1, .refill_g = -1, .move_from = -1};
    if (o->next < o->hi) {
        ev->refill_g = o->next;
        ev->refill = o->slot[j] = row_at(o, o->next++);
    } else if (j != --o->filled) {
        ev->move_from = o->filled;
        o->slot[j] = o->slot[o->filled];
    }
}
