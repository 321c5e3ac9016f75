/* Durable files (io/fs.h): mkdir -p, and the atomic writer every output goes through — a
 * committed file holds exactly what was written, and a failure or an abort leaves the old file
 * intact and no temporary behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/fs.h"
#include "scratch.h"

static char dir[64];

static int setup(void **state) {
    (void)state;
    return dpt_test_scratch_make(dir, sizeof dir, "dpt_fs_");
}

static int teardown(void **state) {
    (void)state;
    return dpt_test_scratch_remove(dir);
}

static const char *read_all(const char *path) {
    static char buf[256];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void mkdirs_creates_nested_directories_and_accepts_existing_ones(void **state) {
    (void)state;
    char err[512] = "";
    const char *sub = dpt_test_path(dir, "a/b/c/");
    assert_int_equal(dpt_mkdirs(sub, err, sizeof err), 0);
    assert_int_equal(dpt_mkdirs(sub, err, sizeof err), 0);
    struct stat st;
    assert_true(stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
    assert_int_equal(dpt_mkdirs_for(dpt_test_path(dir, "d/e/file.h5"), err, sizeof err), 0);
    assert_true(stat(dpt_test_path(dir, "d/e"), &st) == 0 && S_ISDIR(st.st_mode));
    assert_int_equal(dpt_atomic_write_text(dpt_test_path(dir, "plain"), "x", NULL, err, sizeof err),
                     0);
    assert_int_equal(dpt_mkdirs(dpt_test_path(dir, "plain/x"), err, sizeof err), -1);
    assert_non_null(strstr(err, "plain/x: cannot create directory: Not a directory"));
}

static void a_committed_file_holds_what_was_written_and_no_temporary_stays(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "out.txt");
    dpt_atomic a;
    assert_int_equal(dpt_atomic_begin(&a, path, err, sizeof err), 0);
    assert_non_null(strstr(a.tmp, "out.txt.tmp."));
    fputs("first\n", a.f);
    assert_int_equal(access(path, F_OK), -1); /* nothing under the real name yet */
    assert_int_equal(dpt_atomic_commit(&a, err, sizeof err), 0);
    assert_true(a.renamed);
    assert_string_equal(read_all(path), "first\n");
    assert_int_equal(dpt_test_count_temporaries(dir), 0);
    /* Replacing it: the same, and the old contents are gone at once. */
    bool renamed = false;
    assert_int_equal(dpt_atomic_write_text(path, "second\n", &renamed, err, sizeof err), 0);
    assert_true(renamed);
    assert_string_equal(read_all(path), "second\n");
}

static void an_abort_leaves_the_old_file_and_no_temporary(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "kept.txt");
    assert_int_equal(dpt_atomic_write_text(path, "old\n", NULL, err, sizeof err), 0);
    dpt_atomic a;
    assert_int_equal(dpt_atomic_begin(&a, path, err, sizeof err), 0);
    fputs("half of the new", a.f);
    dpt_atomic_abort(&a);
    assert_string_equal(read_all(path), "old\n");
    assert_int_equal(dpt_test_count_temporaries(dir), 0);
}

/* HDF5 writes its files by name: the stream is closed first, the file fsync'd by name. */
static void a_file_written_by_name_is_committed_too(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "byname.bin");
    dpt_atomic a;
    assert_int_equal(dpt_atomic_begin(&a, path, err, sizeof err), 0);
    dpt_atomic_close_stream(&a);
    FILE *f = fopen(a.tmp, "w");
    assert_non_null(f);
    fputs("by name", f);
    fclose(f);
    assert_int_equal(dpt_atomic_commit(&a, err, sizeof err), 0);
    assert_string_equal(read_all(path), "by name");
}

static void a_failed_rename_names_the_file_and_keeps_what_was_there(void **state) {
    (void)state;
    char err[512] = "";
    const char *path = dpt_test_path(dir, "blocked");
    assert_int_equal(mkdir(path, 0755), 0); /* a directory cannot be replaced by a file */
    bool renamed = true;
    assert_int_equal(dpt_atomic_write_text(path, "x\n", &renamed, err, sizeof err), -1);
    assert_false(renamed);
    assert_non_null(strstr(err, "blocked: cannot write: Is a directory"));
    struct stat st;
    assert_true(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    assert_int_equal(dpt_test_count_temporaries(dir), 0);
}

static void a_missing_directory_names_the_temporary(void **state) {
    (void)state;
    char err[512] = "";
    dpt_atomic a;
    assert_int_equal(dpt_atomic_begin(&a, dpt_test_path(dir, "none/f"), err, sizeof err), -1);
    assert_non_null(strstr(err, "none/f.tmp."));
    assert_non_null(strstr(err, "cannot create: No such file or directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mkdirs_creates_nested_directories_and_accepts_existing_ones),
        cmocka_unit_test(a_committed_file_holds_what_was_written_and_no_temporary_stays),
        cmocka_unit_test(an_abort_leaves_the_old_file_and_no_temporary),
        cmocka_unit_test(a_file_written_by_name_is_committed_too),
        cmocka_unit_test(a_failed_rename_names_the_file_and_keeps_what_was_there),
        cmocka_unit_test(a_missing_directory_names_the_temporary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
