/* Helpers shared by the importer tests (test_import_*.c): a scratch directory, writing input
 * files byte by byte, reading the HDF5 output back, and message checks.  Header-only: each test
 * binary includes it once. */
#ifndef DPT_TEST_IMPORT_UTIL_H
#define DPT_TEST_IMPORT_UTIL_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>

#include "io/import.h"

static char scratch[256]; /* the test's own directory */

static int make_scratch(void **state) {
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/dpt_test_import_XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

static int remove_scratch(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* scratch/name, in one of 32 rotating buffers (enough for the paths one check holds). */
static inline const char *spath(const char *name) {
    static char buf[32][512];
    static int next;
    char *p = buf[next++ % 32];
    snprintf(p, 512, "%s/%s", scratch, name);
    return p;
}

static inline const char *write_bytes(const char *name, const void *data, size_t len) {
    const char *p = spath(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static inline const char *write_text(const char *name, const char *text) {
    return write_bytes(name, text, strlen(text));
}

static inline void assert_contains(const char *msg, const char *part) {
    if (!strstr(msg, part)) fail_msg("message \"%s\" does not contain \"%s\"", msg, part);
}

/* Every part must be in the message; with DPT_TEST_VERBOSE the message is printed to review. */
static inline void assert_msg(const char *err, ...) {
    if (getenv("DPT_TEST_VERBOSE")) printf("    %s\n", err);
    va_list ap;
    va_start(ap, err);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err, part);
    va_end(ap);
}

/* No temporary file (*.tmp.*) is left in the scratch directory. */
static inline void assert_no_temporaries(void) {
    DIR *d = opendir(scratch);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) fail_msg("temporary file left behind: %s", e->d_name);
    closedir(d);
}

/* Default options: X, y, no compression, replace outputs. */
static inline dpt_import_opts opts(void) {
    return (dpt_import_opts){.force = true, .label_max = -1};
}

/* Dataset `name` of file: its dims (returns ndim), and its values as float or int32 when out is
 * given (count values at most). */
static inline int read_ds(const char *file, const char *name, hsize_t *dims, hid_t mtype,
                          void *out) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) fail_msg("%s has no dataset %s", file, name);
    hid_t s = H5Dget_space(d);
    int ndim = H5Sget_simple_extent_dims(s, dims, NULL);
    if (out) assert_true(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return ndim;
}

static inline bool has_ds(const char *file, const char *name) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    bool yes = H5Lexists(f, name, H5P_DEFAULT) > 0;
    H5Fclose(f);
    return yes;
}

/* H5T_INTEGER or H5T_FLOAT, and the size in bytes. */
static inline H5T_class_t ds_class(const char *file, const char *name, size_t *size) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    H5T_class_t c = H5Tget_class(t);
    *size = H5Tget_size(t);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
    return c;
}

static inline void assert_dims(const char *file, const char *name, int ndim, hsize_t d0, hsize_t d1,
                               hsize_t d2) {
    hsize_t dims[8], want[3] = {d0, d1, d2};
    int got = read_ds(file, name, dims, 0, NULL);
    assert_int_equal(got, ndim);
    for (int k = 0; k < ndim; k++) assert_int_equal(dims[k], want[k]);
}

static inline void assert_floats(const char *file, const char *name, const float *want, size_t n) {
    hsize_t dims[8];
    float *got = calloc(n + 1, sizeof *got);
    read_ds(file, name, dims, H5T_NATIVE_FLOAT, got);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("%s[%zu] = %.9g, expected %.9g", name, i, got[i], want[i]);
    free(got);
}

static inline void assert_ints(const char *file, const char *name, const int32_t *want, size_t n) {
    hsize_t dims[8];
    int32_t *got = calloc(n + 1, sizeof *got);
    read_ds(file, name, dims, H5T_NATIVE_INT32, got);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("%s[%zu] = %d, expected %d", name, i, got[i], want[i]);
    free(got);
}

#endif
