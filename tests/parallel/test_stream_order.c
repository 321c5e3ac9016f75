/* The streaming order: each epoch hands out every row exactly once across the ranks, each rank
 * as many rows as the sampler gives it; a row leaves the shuffle buffer no later than `buffer`
 * positions after it entered; without shuffling one rank streams rows in file order; the order
 * is a function of (seed, epoch, rank) only; a rank's range touches few blocks; the events
 * keep a data copy of the buffer consistent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parallel/stream_order.h"

/* Emits a whole epoch of rank r into out (count rows); checks every event against a shadow copy
 * of the buffer maintained only from the events. */
static void run_epoch(dpt_order *o, uint64_t epoch, int64_t *out) {
    dpt_order_epoch(o, epoch);
    int64_t *shadow = calloc((size_t)o->cap, sizeof *shadow), *gpos = calloc((size_t)o->cap, 8);
    dpt_order_ev ev;
    while (dpt_order_fill(o, &ev)) {
        shadow[ev.slot] = ev.refill;
        gpos[ev.slot] = ev.refill_g;
    }
    for (int64_t k = 0; k < dpt_order_count(o); k++) {
        dpt_order_emit(o, &ev);
        assert_int_equal(shadow[ev.slot], ev.row);
        assert_true(gpos[ev.slot] >= o->lo && gpos[ev.slot] < o->hi);
        out[k] = ev.row;
        if (ev.refill >= 0) {
            shadow[ev.slot] = ev.refill;
            gpos[ev.slot] = ev.refill_g;
            int64_t g0, row0, len;
            dpt_order_segment(o, ev.refill_g, &g0, &row0, &len);
            assert_true(ev.refill_g >= g0 && ev.refill_g < g0 + len);
            assert_int_equal(ev.refill, row0 + (ev.refill_g - g0));
        } else if (ev.move_from >= 0) {
            shadow[ev.slot] = shadow[ev.move_from];
            gpos[ev.slot] = gpos[ev.move_from];
        }
    }
    free(shadow);
    free(gpos);
}

static void check_cover(int64_t n, int B, int P, int64_t block, int64_t buffer, bool shuffle) {
    int *seen = calloc((size_t)n, sizeof *seen);
    int64_t *out = calloc((size_t)n + 1, sizeof *out);
    for (int r = 0; r < P; r++) {
        dpt_sampler s;
        dpt_sampler_init(&s, n, B, r, P);
        dpt_order o;
        dpt_order_init(&o, n, block, buffer, shuffle, 7, &s);
        for (uint64_t e = 0; e < 2; e++) {
            run_epoch(&o, e, out);
            assert_int_equal(dpt_order_count(&o), dpt_sampler_epoch_count(&s));
            for (int64_t k = 0; k < dpt_order_count(&o); k++) {
                assert_true(out[k] >= 0 && out[k] < n);
                if (e == 0) seen[out[k]]++;
            }
        }
        dpt_order_free(&o);
    }
    for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    free(seen);
    free(out);
}

static void every_row_exactly_once_per_epoch_across_ranks(void **state) {
    (void)state;
    check_cover(100, 16, 1, 7, 10, true);
    check_cover(101, 16, 2, 7, 10, true);
    check_cover(101, 9, 3, 1, 1, true);
    check_cover(57, 8, 4, 64, 3, true);   /* one block holds every row */
    check_cover(57, 8, 4, 5, 1000, true); /* buffer larger than a rank's rows */
    check_cover(57, 8, 3, 5, 10, false);
    check_cover(3, 8, 4, 2, 2, true); /* ranks without rows */
}

/* A row leaves the buffer at most cap - 1 outputs after the output that freed its slot, so
 * its output position is below stream position + cap (plus the initial fill). */
static void rows_stay_within_the_shuffle_window(void **state) {
    (void)state;
    int64_t n = 1000, *out = calloc((size_t)n, sizeof *out);
    dpt_sampler s;
    dpt_sampler_init(&s, n, 10, 0, 1);
    dpt_order o;
    dpt_order_init(&o, n, 50, 32, true, 1, &s);
    dpt_order_epoch(&o, 0);
    /* Positions in G of each row: with one rank G is the blocks in bperm order. */
    int64_t *gof = calloc((size_t)n, sizeof *gof);
    for (int64_t g = 0; g < n; g++) {
        int64_t g0, row0, len;
        dpt_order_segment(&o, g, &g0, &row0, &len);
        gof[row0 + (g - g0)] = g;
    }
    run_epoch(&o, 0, out);
    int64_t displaced = 0;
    for (int64_t k = 0; k < n; k++) {
        assert_true(gof[out[k]] < k + 32); /* entered at most 31 outputs before leaving */
        displaced += out[k] != k;
    }
    assert_true(displaced > n / 2); /* and it does shuffle */
    dpt_order_free(&o);
    free(out);
    free(gof);
}

static void without_shuffle_one_rank_reads_in_file_order(void **state) {
    (void)state;
    int64_t n = 77, out[77];
    dpt_sampler s;
    dpt_sampler_init(&s, n, 10, 0, 1);
    dpt_order o;
    dpt_order_init(&o, n, 8, 100, false, 1, &s);
    assert_int_equal(o.cap, 1);
    run_epoch(&o, 3, out);
    for (int64_t k = 0; k < n; k++) assert_int_equal(out[k], k);
    dpt_order_free(&o);
}

static void order_depends_on_seed_and_epoch_only(void **state) {
    (void)state;
    int64_t n = 200, a[200], b[200], c[200];
    dpt_sampler s;
    dpt_sampler_init(&s, n, 10, 0, 1);
    dpt_order o, p;
    dpt_order_init(&o, n, 16, 20, true, 5, &s);
    dpt_order_init(&p, n, 16, 20, true, 5, &s);
    run_epoch(&o, 1, a);
    run_epoch(&o, 2, c);
    run_epoch(&p, 1, b); /* a fresh generator, straight to epoch 1 */
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    dpt_order_free(&o);
    dpt_order_free(&p);
}

/* Each rank streams one contiguous range of the block sequence: it reads at most
 * rows / block + 2 segments per epoch. */
static void a_rank_reads_few_segments(void **state) {
    (void)state;
    int64_t n = 1000, block = 40;
    for (int r = 0; r < 3; r++) {
        dpt_sampler s;
        dpt_sampler_init(&s, n, 30, r, 3);
        dpt_order o;
        dpt_order_init(&o, n, block, 100, true, 9, &s);
        dpt_order_epoch(&o, 0);
        int segments = 0;
        for (int64_t g = o.lo; g < o.hi; segments++) {
            int64_t g0, row0, len;
            dpt_order_segment(&o, g, &g0, &row0, &len);
            assert_int_equal(g0, g);
            assert_true(len >= 1 && len <= block && row0 % block + len <= block);
            g += len;
        }
        assert_true(segments <= (o.hi - o.lo) / block + 2);
        dpt_order_free(&o);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_row_exactly_once_per_epoch_across_ranks),
        cmocka_unit_test(rows_stay_within_the_shuffle_window),
        cmocka_unit_test(without_shuffle_one_rank_reads_in_file_order),
        cmocka_unit_test(order_depends_on_seed_and_epoch_only),
        cmocka_unit_test(a_rank_reads_few_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
