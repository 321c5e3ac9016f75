/* The metrics log: one JSON object per epoch and line, numbers with 9 significant digits,
 * non-finite values as null, names escaped, the file truncated when opened. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/metrics_log.h"

static char path[64];

static int setup(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/dpt_metrics_%s", "......");
    memset(path + strlen(path) - 6, 'X', 6); /* the mkstemp template */
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    ssize_t n = write(fd, "stale\n", 6); /* must be gone after open */
    close(fd);
    return n == 6 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    unlink(path);
    return 0;
}

static void read_all(char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void each_epoch_is_one_json_line_with_nine_digit_numbers(void **state) {
    (void)state;
    dpt_metrics_log l;
    char err[256] = "";
    assert_int_equal(dpt_metrics_log_open(&l, path, false, err, sizeof err), 0);
    const char *names[3] = {"loss", "val_accuracy", "lr"};
    const double v1[3] = {0.123456789123, 0.5, 1e-3}, v2[3] = {NAN, INFINITY, 2.0 / 3.0};
    assert_int_equal(dpt_metrics_log_write(&l, 1, names, v1, 3, err, sizeof err), 0);
    assert_int_equal(dpt_metrics_log_write(&l, 2, names, v2, 3, err, sizeof err), 0);
    /* Lines are on disk before close: a killed run keeps them. */
    char buf[512];
    read_all(buf, sizeof buf);
    assert_string_equal(buf, "{\"epoch\": 1, \"loss\": 0.123456789, \"val_accuracy\": 0.5, "
                             "\"lr\": 0.001}\n"
                             "{\"epoch\": 2, \"loss\": null, \"val_accuracy\": null, "
                             "\"lr\": 0.666666667}\n");
    dpt_metrics_log_close(&l);
    assert_null(l.f);
}

static void names_are_escaped_as_json_strings(void **state) {
    (void)state;
    dpt_metrics_log l;
    char err[256] = "";
    assert_int_equal(dpt_metrics_log_open(&l, path, false, err, sizeof err), 0);
    const char *names[1] = {"a\"b\\c\td"};
    const double v[1] = {-4};
    assert_int_equal(dpt_metrics_log_write(&l, 0, names, v, 1, err, sizeof err), 0);
    dpt_metrics_log_close(&l);
    char buf[256];
    read_all(buf, sizeof buf);
    assert_string_equal(buf, "{\"epoch\": 0, \"a\\\"b\\\\c\\u0009d\": -4}\n");
}

static void an_unwritable_path_is_named_with_the_reason(void **state) {
    (void)state;
    dpt_metrics_log l;
    char err[256] = "";
    assert_int_equal(
        dpt_metrics_log_open(&l, "/nonexistent-dir/metrics.jsonl", false, err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent-dir/metrics.jsonl: cannot create: No such file or "
                             "directory");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_epoch_is_one_json_line_with_nine_digit_numbers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(names_are_escaped_as_json_strings, setup, teardown),
        cmocka_unit_test(an_unwritable_path_is_named_with_the_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
