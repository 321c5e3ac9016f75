/* Prediction files (io/predictions.h): written atomically and read back exactly, an empty file
 * is still a valid one, and a missing directory is named with nothing left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <hdf5.h>

#include "h5fixture.h"
#include "io/predictions.h"
#include "scratch.h"

static char dir[64];

static int setup(void **state) {
    (void)state;
    return dpt_test_scratch_make(dir, sizeof dir, "dpt_pred_");
}

static int teardown(void **state) {
    (void)state;
    return dpt_test_scratch_remove(dir);
}

static void predictions_are_written_atomically_and_read_back_exactly(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "out.h5");
    float pred[3 * 2] = {0.5f, -1, 2, 3.25f, 1e-8f, 7}; /* (3, 2) */
    int32_t labels[3] = {1, 0, 1};
    assert_int_equal(dpt_h5_write_predictions(path, pred, 3, 2, labels, err, sizeof err), 0);
    assert_int_equal(dpt_test_count_entries(dir), 1); /* no temporary left behind */
    float back[6];
    int32_t lb[3];
    hsize_t dims[H5S_MAX_RANK];
    assert_int_equal(dpt_test_h5_read(path, "pred", dims, H5T_NATIVE_FLOAT, back), 2);
    assert_true(dims[0] == 3 && dims[1] == 2);
    assert_int_equal(dpt_test_h5_read(path, "labels", dims, H5T_NATIVE_INT32, lb), 1);
    assert_memory_equal(back, pred, sizeof pred);
    assert_memory_equal(lb, labels, sizeof lb);
}

static void no_rows_at_all_is_still_a_valid_empty_file(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "empty.h5");
    float pred[2] = {0};
    assert_int_equal(dpt_h5_write_predictions(path, pred, 0, 2, NULL, err, sizeof err), 0);
    hsize_t dims[H5S_MAX_RANK];
    assert_int_equal(dpt_test_h5_read(path, "pred", dims, H5T_NATIVE_FLOAT, NULL), 2);
    assert_true(dims[0] == 0 && dims[1] == 2);
}

static void per_step_outputs_are_n_by_t_by_k(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "steps.h5");
    float pred[2 * 3 * 1] = {1, 2, 3, 4, 5, 6}; /* (2, 3, 1) */
    int32_t labels[2 * 3] = {0, 1, 0, 1, 1, 0}; /* (2, 3) */
    assert_int_equal(dpt_h5_write_predictions_seq(path, pred, 2, 3, 1, labels, err, sizeof err), 0);
    hsize_t dims[H5S_MAX_RANK];
    assert_int_equal(dpt_test_h5_read(path, "pred", dims, H5T_NATIVE_FLOAT, NULL), 3);
    assert_true(dims[0] == 2 && dims[1] == 3 && dims[2] == 1);
    assert_int_equal(dpt_test_h5_read(path, "labels", dims, H5T_NATIVE_INT32, NULL), 2);
}

static void a_missing_directory_is_named_and_nothing_is_created(void **state) {
    (void)state;
    char err[512] = "";
    int before = dpt_test_count_entries(dir);
    float pred[6] = {0};
    assert_int_equal(dpt_h5_write_predictions(dpt_test_path(dir, "missing/out.h5"), pred, 3, 2,
                                              NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "missing/out.h5.tmp."));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(dpt_test_count_entries(dir), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(predictions_are_written_atomically_and_read_back_exactly),
        cmocka_unit_test(no_rows_at_all_is_still_a_valid_empty_file),
        cmocka_unit_test(per_step_outputs_are_n_by_t_by_k),
        cmocka_unit_test(a_missing_directory_is_named_and_nothing_is_created),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
