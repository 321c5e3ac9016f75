/* Augmentation of training images (io/augment.h): every output is the input flipped and/or
 * shifted with the fill shifted in, both kinds happen, and a sample's result depends only on
 * (seed, epoch, row): not on the batch it travels in, nor on threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/norm.h"
#include "io/augment.h"

enum { B = 64, H = 5, W = 4, C = 2, PER = H * W * C };

static float value(int b, int h, int w, int c) { /* distinct and never the fill */
    return 1.0f + (float)(((b * H + h) * W + w) * C + c);
}

static void fill_batch(float *x) {
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++) x[((b * H + h) * W + w) * C + c] = value(b, h, w, c);
}

/* Whether out is sample b flipped (or not) and shifted by (dy, dx), with fill[c] shifted in. */
static bool is_transform(const float *out, int b, bool flip, int dy, int dx, const float *fill) {
    for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
            for (int c = 0; c < C; c++) {
                int sh = h - dy, sw = w - dx;
                float want = fill[c];
                if (sh >= 0 && sh < H && sw >= 0 && sw < W)
                    want = value(b, sh, flip ? W - 1 - sw : sw, c);
                if (out[(h * W + w) * C + c] != want) return false;
            }
    return true;
}

static void every_sample_is_the_input_flipped_or_shifted_with_the_fill(void **state) {
    (void)state;
    static float x[B * PER];
    int64_t ids[B];
    for (int b = 0; b < B; b++) ids[b] = 1000 + b;
    dpt_augment a;
    dpt_shape s = dpt_shape_3d(H, W, C);
    dpt_norm n;
    dpt_norm_alloc(&n, C);
    n.enabled = true;
    n.mean[0] = 0.5f, n.mean[1] = -2.0f, n.std[0] = 2.0f, n.std[1] = 4.0f;
    dpt_augment_init(&a, true, 1, 7, &s, &n);
    /* The fill is a 0 of the data's units, standardised: (0 - mean) / std. */
    assert_true(a.fill[0] == -0.25f && a.fill[1] == 0.5f);
    fill_batch(x);
    dpt_augment_apply(&a, x, B, ids, 3, false);
    int flipped = 0, shifted = 0;
    for (int b = 0; b < B; b++) {
        int found = 0;
        for (int f = 0; f < 2; f++)
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    if (is_transform(x + b * PER, b, f, dy, dx, a.fill)) {
                        found++;
                        flipped += f;
                        shifted += dy != 0 || dx != 0;
                    }
        assert_int_equal(found, 1); /* exactly one flip and shift explains it */
    }
    /* 64 coin flips: both outcomes (the chance of fewer than 16 is about 1e-5). */
    assert_true(flipped >= 16 && flipped <= 48);
    assert_true(shifted >= 32); /* 8 of the 9 shifts move the image */
    dpt_augment_free(&a);
    dpt_norm_free(&n);
}

static void a_sample_depends_on_seed_epoch_and_row_only(void **state) {
    (void)state;
    static float whole[B * PER], parts[B * PER], threaded[B * PER], other[B * PER];
    int64_t ids[B];
    for (int b = 0; b < B; b++) ids[b] = 5 * b + 3;
    dpt_augment a;
    dpt_shape s = dpt_shape_3d(H, W, C);
    dpt_augment_init(&a, true, 2, 11, &s, NULL);
    fill_batch(whole);
    fill_batch(parts);
    fill_batch(threaded);
    fill_batch(other);
    dpt_augment_apply(&a, whole, B, ids, 4, false);
    for (int b = 0; b < B; b += 5) /* batches of 5 (the last shorter), as on another rank */
        dpt_augment_apply(&a, parts + b * PER, B - b < 5 ? B - b : 5, ids + b, 4, false);
    dpt_augment_apply(&a, threaded, B, ids, 4, true);
    dpt_augment_apply(&a, other, B, ids, 5, false);
    assert_memory_equal(whole, parts, sizeof whole);
    assert_memory_equal(whole, threaded, sizeof whole);
    assert_memory_not_equal(whole, other, sizeof whole); /* another epoch, other choices */
    dpt_augment_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_sample_is_the_input_flipped_or_shifted_with_the_fill),
        cmocka_unit_test(a_sample_depends_on_seed_epoch_and_row_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
