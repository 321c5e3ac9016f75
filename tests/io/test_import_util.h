/* Helpers shared by the importer tests (test_import_*.c): a scratch directory (tests/support),
 * writing input files byte by byte, reading the HDF5 output back, and message checks.
 * Header-only: each test binary includes it once. */
#ifndef DPT_TEST_IMPORT_UTIL_H
#define DPT_TEST_IMPORT_UTIL_H

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

#include "h5fixture.h"
#include "io/import/csv.h"
#include "io/import/idx.h"
#include "io/import/npy.h"
#include "scratch.h"

static char scratch[256]; /* the test's own directory */

static int make_scratch(void **state) {
    (void)state;
    return dpt_test_scratch_make(scratch, sizeof scratch, "dpt_test_import_");
}

static int remove_scratch(void **state) {
    (void)state;
    return dpt_test_scratch_remove(scratch);
}

/* scratch/name (tests/support: rotating buffers). */
static inline const char *spath(const char *name) {
    return dpt_test_path(scratch, name);
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
    int n = dpt_test_count_temporaries(scratch);
    if (n != 0) fail_msg("%d temporary files left behind in %s", n, scratch);
}

/* Default options: X, y, no compression, replace outputs. */
static inline dpt_import_opts opts(void) {
    return (dpt_import_opts){.force = true, .label_max = -1};
}

/* Dataset `name` of file: its dims (returns ndim), and its values as float or int32 when out is
 * given (count values at most). */
static inline int read_ds(const char *file, const char *name, hsize_t *dims, hid_t mtype,
                          void *out) {
    int ndim = dpt_test_h5_read(file, name, dims, mtype, out);
    if (ndim < 0) fail_msg("%s: cannot read dataset %s", file, name);
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
