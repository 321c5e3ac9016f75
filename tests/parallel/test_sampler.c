/* The sampler's plan: every sample of an epoch is consumed exactly once across the ranks, global
 * batches are consecutive, the last one is smaller, and each batch is split as evenly as
 * possible with the remainder on the first ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "parallel/sampler.h"

static void split_lo_puts_the_remainder_on_the_first_parts(void **state) {
    (void)state;
    const int64_t ten_in_four[5] = {0, 3, 6, 8, 10}; /* sizes 3, 3, 2, 2 */
    const int64_t two_in_four[5] = {0, 1, 2, 2, 2};  /* sizes 1, 1, 0, 0 */
    for (int i = 0; i <= 4; i++) {
        assert_int_equal(dpt_split_lo(10, 4, i), ten_in_four[i]);
        assert_int_equal(dpt_split_lo(2, 4, i), two_in_four[i]);
    }
    assert_int_equal(dpt_split_lo(0, 3, 3), 0);
}

/* Walks one epoch for all ranks, checking coverage and the shape of every step. */
static void check_epoch(int64_t n, int B, int P) {
    int *seen = calloc((size_t)n, sizeof *seen); /* (n) times each position was handed out */
    dpt_sampler s[4];
    for (int r = 0; r < P; r++) dpt_sampler_init(&s[r], n, B, r, P);
    assert_int_equal(s[0].steps, (n + B - 1) / B);
    int64_t total[4] = {0};
    for (int64_t step = 0; step < s[0].steps; step++) {
        int64_t next = step * B; /* ranks' slices must tile the global batch in rank order */
        int want_global = (int)(n - step * B < B ? n - step * B : B);
        for (int r = 0; r < P; r++) {
            int64_t pos;
            int count, global;
            dpt_sampler_slice(&s[r], step, &pos, &count, &global);
            assert_int_equal(global, want_global);
            assert_int_equal(pos, next);
            assert_int_equal(count, global / P + (r < global % P));
            for (int i = 0; i < count; i++) seen[pos + i]++;
            next += count;
            total[r] += count;
        }
        assert_int_equal(next, step * B + want_global);
    }
    for (int64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    for (int r = 0; r < P; r++) assert_int_equal(dpt_sampler_epoch_count(&s[r]), total[r]);
    free(seen);
}

static void every_sample_is_consumed_exactly_once_across_ranks(void **state) {
    (void)state;
    const int64_t ns[] = {1, 7, 100, 101};
    const int Bs[] = {1, 3, 16, 128};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int P = 1; P <= 4; P++) check_epoch(ns[a], Bs[b], P);
}

static void last_batch_is_smaller_and_split_over_the_first_ranks(void **state) {
    (void)state;
    /* 101 = 6 x 16 + 5: the seventh batch has 5 samples, split 2, 2, 1 over 3 ranks. */
    const int64_t want_pos[3] = {96, 98, 100};
    const int want_count[3] = {2, 2, 1};
    for (int r = 0; r < 3; r++) {
        dpt_sampler s;
        dpt_sampler_init(&s, 101, 16, r, 3);
        assert_int_equal(s.steps, 7);
        int64_t pos;
        int count, global;
        dpt_sampler_slice(&s, 6, &pos, &count, &global);
        assert_int_equal(global, 5);
        assert_int_equal(pos, want_pos[r]);
        assert_int_equal(count, want_count[r]);
    }
}

static void full_batches_are_balanced_within_one_sample(void **state) {
    (void)state;
    /* 16 over 3 ranks: 6, 5, 5 at positions 16, 22, 27 in the second step. */
    const int64_t want_pos[3] = {16, 22, 27};
    const int want_count[3] = {6, 5, 5};
    const int64_t want_epoch[3] = {6 * 6 + 2, 6 * 5 + 2, 6 * 5 + 1};
    for (int r = 0; r < 3; r++) {
        dpt_sampler s;
        dpt_sampler_init(&s, 101, 16, r, 3);
        int64_t pos;
        int count, global;
        dpt_sampler_slice(&s, 1, &pos, &count, &global);
        assert_int_equal(global, 16);
        assert_int_equal(pos, want_pos[r]);
        assert_int_equal(count, want_count[r]);
        assert_int_equal(dpt_sampler_epoch_count(&s), want_epoch[r]);
    }
}

static void more_ranks_than_samples_leaves_some_ranks_empty(void **state) {
    (void)state;
    dpt_sampler s;
    dpt_sampler_init(&s, 1, 3, 3, 4);
    int64_t pos;
    int count, global;
    dpt_sampler_slice(&s, 0, &pos, &count, &global);
    assert_int_equal(global, 1);
    assert_int_equal(count, 0);
    assert_int_equal(dpt_sampler_epoch_count(&s), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_lo_puts_the_remainder_on_the_first_parts),
        cmocka_unit_test(every_sample_is_consumed_exactly_once_across_ranks),
        cmocka_unit_test(last_batch_is_smaller_and_split_over_the_first_ranks),
        cmocka_unit_test(full_batches_are_balanced_within_one_sample),
        cmocka_unit_test(more_ranks_than_samples_leaves_some_ranks_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
