/* The order in which a rank streams rows of a dataset that is not held in memory
 * (data.mode: streaming, docs/data.md).  Per epoch: the rows [0, n) are cut into blocks of
 * `block` rows (the unit read from disk), the blocks are permuted with (seed, epoch) identically
 * on every rank, and their concatenation G is cut into one contiguous range per rank, as long as
 * the rows the sampler gives that rank in the epoch.  A rank then passes its range through a
 * shuffle buffer of `buffer` rows (tf.data-style: emit a random buffered row, refill its slot
 * from the stream).  So every row is used exactly once per epoch, each rank reads about 1/P of
 * the file in large contiguous pieces, and memory is bounded by the buffer; the order depends
 * on the number of ranks (unlike data.mode: in_memory).  Pure arithmetic, no I/O: the reading
 * thread replays the events on real rows, and a resumed run replays them without data. */
#ifndef DPT_STREAM_ORDER_H
#define DPT_STREAM_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"
#include "parallel/sampler.h"

typedef struct dpt_order {
    int64_t n, block, nblocks;
    int64_t cap;  /* shuffle buffer slots (1 when not shuffling) */
    bool shuffle; /* permute blocks and draw from the buffer at random */
    uint64_t seed;
    const dpt_sampler *sampler;
    int64_t *bperm;  /* (nblocks) the epoch's block order */
    int64_t *bstart; /* (nblocks + 1) position in G where each block of bperm starts */
    int64_t lo, hi;  /* this rank's range of G */
    int64_t next;    /* next position of G to enter the buffer */
    int64_t *slot;   /* (cap) dataset row held in each buffer slot */
    int64_t filled;  /* slots in use: [0, filled) */
    dpt_rng rng;
} dpt_order;

/* What one emission does to the buffer: the row in `slot` is handed out; then either `refill`
 * (a row, at stream position refill_g) is loaded into `slot`, or slot `move_from` is moved into
 * `slot` (the stream is exhausted and the buffer shrinks), or neither (the last slot left). */
typedef struct dpt_order_ev {
    int64_t row, slot;
    int64_t refill, refill_g; /* -1 when nothing is loaded */
    int64_t move_from;        /* -1 when nothing moves */
} dpt_order_ev;

/* n rows, blocks of `block` rows, a buffer of `buffer` rows (<= 1 or shuffle off: stream order).
 * The sampler (borrowed) fixes how many rows each rank takes per epoch. */
void dpt_order_init(dpt_order *o, int64_t n, int64_t block, int64_t buffer, bool shuffle,
                    uint64_t seed, const dpt_sampler *sampler);
void dpt_order_free(dpt_order *o);

/* Starts epoch `epoch` with an empty buffer. */
void dpt_order_epoch(dpt_order *o, uint64_t epoch);
/* Initial fill: while the buffer has room and the stream rows, puts the next stream row into
 * the next slot and returns true with ev->slot, ev->refill and ev->refill_g set. */
bool dpt_order_fill(dpt_order *o, dpt_order_ev *ev);
/* Hands out one row (the buffer must hold one: fill first). */
void dpt_order_emit(dpt_order *o, dpt_order_ev *ev);
/* Rows this rank emits per epoch. */
static inline int64_t dpt_order_count(const dpt_order *o) {
    return o->hi - o->lo;
}

/* The stretch of stream positions [*g0, *g0 + *len) around position g that lies in one block
 * and in this rank's range; its dataset rows are [*row0, *row0 + *len). */
void dpt_order_segment(const dpt_order *o, int64_t g, int64_t *g0, int64_t *row0, int64_t *len);

#endif
