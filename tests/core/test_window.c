/* Window geometry (core/window.h) against the sizes Keras and PyTorch give: valid, same (the
 * split of an odd total), explicit padding, dilation, strides, and the message for a kernel that
 * does not fit. */
#include "core/window.h"
#include "core_check.h"

static dpt_window plan(int in_h, int in_w, int k, int s, int d, int pad) {
    dpt_window w;
    char err[256];
    int kk[2] = {k, k}, ss[2] = {s, s}, dd[2] = {d, d}, pp[2] = {pad, pad};
    assert_int_equal(dpt_window_plan(&w, in_h, in_w, kk, ss, dd, pp, err, sizeof err), 0);
    return w;
}

static void test_valid_same_and_explicit_sizes(void **state) {
    (void)state;
    dpt_window w = plan(28, 28, 3, 1, 1, DPT_PAD_VALID);
    assert_int_equal(w.out_h, 26);
    assert_int_equal(w.pad_top + w.pad_bottom, 0);
    w = plan(28, 28, 3, 1, 1, DPT_PAD_SAME);
    assert_int_equal(w.out_h, 28);
    assert_int_equal(w.pad_top, 1);
    assert_int_equal(w.pad_bottom, 1);
    w = plan(28, 28, 3, 2, 1, DPT_PAD_SAME); /* total 1: nothing before, one after (Keras) */
    assert_int_equal(w.out_w, 14);
    assert_int_equal(w.pad_left, 0);
    assert_int_equal(w.pad_right, 1);
    w = plan(28, 28, 2, 2, 1, DPT_PAD_VALID); /* a 2x2 pool */
    assert_int_equal(w.out_h, 14);
    w = plan(7, 7, 2, 2, 1, DPT_PAD_VALID); /* the last row is dropped, as floor() does */
    assert_int_equal(w.out_h, 3);
    assert_int_equal(w.pad_bottom, 0);
    w = plan(28, 28, 3, 1, 2, DPT_PAD_VALID); /* dilated span 5 */
    assert_int_equal(w.out_h, 24);
    w = plan(5, 5, 3, 2, 1, 1); /* PyTorch Conv2d(k=3, s=2, p=1) on 5: 3 */
    assert_int_equal(w.out_h, 3);
    assert_int_equal(w.pad_top, 1);
    assert_int_equal(w.pad_bottom, 1);
    w = plan(6, 6, 3, 2, 1, 1); /* on 6: 3 again; the padding after is never read */
    assert_int_equal(w.out_h, 3);
    assert_int_equal(w.pad_bottom, 0);
    w = plan(1, 10, 1, 1, 1, DPT_PAD_SAME); /* 1-D as H = 1 */
    assert_int_equal(w.out_h, 1);
    assert_int_equal(w.out_w, 10);
}

static void test_a_kernel_that_does_not_fit_names_the_sizes(void **state) {
    (void)state;
    dpt_window w;
    char err[256];
    int k[2] = {5, 5}, s[2] = {1, 1}, d[2] = {1, 1}, valid[2] = {DPT_PAD_VALID, DPT_PAD_VALID};
    assert_int_equal(dpt_window_plan(&w, 4, 4, k, s, d, valid, err, sizeof err), -1);
    assert_string_equal(err, "kernel 5x5 is larger than the input 4x4 padded by 0x0");
    int d2[2] = {1, 3}, k3[2] = {1, 3};
    assert_int_equal(dpt_window_plan(&w, 1, 6, k3, s, d2, valid, err, sizeof err), -1);
    assert_string_equal(err, "kernel 3 (dilated: 7) is larger than the input 6 padded by 0");
    int one[2] = {1, 1};
    assert_int_equal(dpt_window_plan(&w, 4, 4, k, s, d, one, err, sizeof err), 0);
    assert_int_equal(w.out_h, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_same_and_explicit_sizes),
        cmocka_unit_test(test_a_kernel_that_does_not_fit_names_the_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
