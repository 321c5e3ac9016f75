/* Specification of the .npy importer (io/import/npy.c): the header dict of format versions
 * 1.0-3.0, dtype conversions to float32 X and int32 / float32 y, shapes (N) / (N, F) /
 * (N, T, F), lengths, and the refusals (Fortran order, big-endian, objects, shape mismatches,
 * truncation, overflow).  Files are written byte by byte here; numpy is not needed. */
#include <math.h>

#include "test_import_util.h"

/* An .npy file: magic, version, header length, the dict padded with spaces and a newline so the
 * data starts at a multiple of 64 (as numpy writes it), then len bytes of data. */
static const char *npy(const char *name, int major, const char *dict, const void *data,
                       size_t len) {
    size_t pre = major == 1 ? 10 : 12, hlen = strlen(dict) + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    unsigned char *buf = calloc(pre + hlen + len, 1);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): not a string */
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memset(buf + pre, ' ', hlen);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): not a string */
    memcpy(buf + pre, dict, strlen(dict));
    buf[pre + hlen - 1] = '\n';
    if (len) memcpy(buf + pre + hlen, data, len);
    const char *p = write_bytes(name, buf, pre + hlen + len);
    free(buf);
    return p;
}

static const char *dict(const char *descr, const char *shape) {
    static char buf[2][256];
    static int next;
    char *b = buf[next++ % 2];
    snprintf(b, 256, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    return b;
}

static int import(const char *x, const char *y, const char *len, bool float_targets,
                  const char *out, char *err, size_t errlen) {
    dpt_npy_opts no = {.y = y, .lengths = len, .float_targets = float_targets};
    dpt_import_opts o = opts();
    return dpt_import_npy(x, out, &no, &o, NULL, err, errlen);
}

static void import_ok(const char *x, const char *y, const char *len, bool float_targets,
                      const char *out) {
    char err[1024] = "";
    if (import(x, y, len, float_targets, out, err, sizeof err)) fail_msg("rejected: %s", err);
}

/* Expects failure; the message must name every given part; no output is left. */
static void import_bad(const char *x, const char *y, const char *len, ...) {
    char err[1024] = "";
    const char *out = spath("bad.h5");
    unlink(out);
    if (import(x, y, len, false, out, err, sizeof err) == 0) fail_msg("accepted %s", x);
    if (getenv("DPT_TEST_VERBOSE")) printf("    %s\n", err);
    va_list ap;
    va_start(ap, len);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err, part);
    va_end(ap);
    assert_int_equal(access(out, F_OK), -1);
    assert_no_temporaries();
}

/* ---- the header ---- */

static void header_dicts_parse(void **state) {
    (void)state;
    char err[256];
    dpt_npy a = {.path = "h.npy"};
    assert_int_equal(dpt_npy_parse_header(&a,
                                          "{'descr': '<f4', 'fortran_order': False, "
                                          "'shape': (3, 4), }   \n",
                                          err, sizeof err),
                     0);
    assert_int_equal(a.kind, 'f');
    assert_int_equal(a.elem, 4);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 3);
    assert_int_equal(a.shape[1], 4);
    assert_int_equal(a.count, 12);
    /* any key order, double quotes, 1-tuples, no trailing comma */
    assert_int_equal(dpt_npy_parse_header(&a,
                                          "{\"shape\":(7,),\"fortran_order\":False,"
                                          "\"descr\":\"|u1\"}",
                                          err, sizeof err),
                     0);
    assert_int_equal(a.kind, 'u');
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.count, 7);
    assert_int_equal(dpt_npy_parse_header(&a,
                                          "{'descr': '<i8', 'fortran_order': False, "
                                          "'shape': (), }",
                                          err, sizeof err),
                     0);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.count, 1);
}

static void malformed_headers_are_refused(void **state) {
    (void)state;
    char err[256];
    dpt_npy a = {.path = "h.npy"};
    assert_int_equal(dpt_npy_parse_header(&a, "{'descr': '<f4', 'shape': (3,), }", err, sizeof err),
                     -1);
    assert_msg(err, "h.npy", "missing 'fortran_order'", NULL);
    assert_int_equal(dpt_npy_parse_header(&a,
                                          "{'descr': '<f4', 'fortran_order': False, "
                                          "'shape': (3, x), }",
                                          err, sizeof err),
                     -1);
    assert_msg(err, "'shape' is not a tuple", NULL);
    assert_int_equal(dpt_npy_parse_header(&a,
                                          "{'descr': [('a', '<f4')], 'fortran_order': "
                                          "False, 'shape': (3,), }",
                                          err, sizeof err),
                     -1);
    assert_msg(err, "structured dtype", NULL);
    assert_int_equal(dpt_npy_parse_header(&a,
                                          "{'descr': '<f2', 'fortran_order': False, "
                                          "'shape': (3,), }",
                                          err, sizeof err),
                     -1);
    assert_msg(err, "'<f2' is not supported", "<f4 <f8", NULL);
}

/* ---- conversions ---- */

static void float32_matrix_with_int64_labels(void **state) {
    (void)state;
    float x[6] = {1, -2, 3.5f, 4, 5, 6e-3f};
    int64_t y[3] = {2, 0, 1};
    const char *out = spath("a.h5");
    import_ok(npy("x.npy", 1, dict("<f4", "(3, 2)"), x, sizeof x),
              npy("y.npy", 1, dict("<i8", "(3,)"), y, sizeof y), NULL, false, out);
    assert_dims(out, "X", 2, 3, 2, 0);
    assert_floats(out, "X", x, 6);
    assert_dims(out, "y", 1, 3, 0, 0);
    size_t size;
    assert_int_equal(ds_class(out, "y", &size), H5T_INTEGER);
    assert_int_equal(size, 4);
    assert_ints(out, "y", (int32_t[]){2, 0, 1}, 3);
    import_ok(spath("x.npy"), spath("y.npy"), NULL, true, out); /* --float-targets */
    assert_int_equal(ds_class(out, "y", &size), H5T_FLOAT);
    assert_floats(out, "y", (float[]){2, 0, 1}, 3);
}

/* Little-endian bytes whatever the host: int16 -300 is d4 fe. */
static void integer_types_become_float32_x(void **state) {
    (void)state;
    const char *out = spath("b.h5");
    unsigned char i2[6] = {0xd4, 0xfe, 0x07, 0x00, 0xff, 0x7f}; /* -300, 7, 32767 */
    import_ok(npy("i2.npy", 2, dict("<i2", "(3,)"), i2, sizeof i2), NULL, NULL, false, out);
    assert_dims(out, "X", 2, 3, 1, 0); /* 1-D X becomes (N, 1) */
    assert_floats(out, "X", (float[]){-300, 7, 32767}, 3);
    unsigned char u1[4] = {0, 1, 200, 255};
    import_ok(npy("u1.npy", 1, dict("|u1", "(2, 2)"), u1, sizeof u1), NULL, NULL, false, out);
    assert_floats(out, "X", (float[]){0, 1, 200, 255}, 4);
    unsigned char u4[8] = {0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}; /* 4294967295, 1 */
    import_ok(npy("u4.npy", 1, dict("<u4", "(2,)"), u4, sizeof u4), NULL, NULL, false, out);
    assert_floats(out, "X", (float[]){4294967296.0f, 1}, 2);
    unsigned char b1[3] = {1, 0, 1};
    int8_t i1[3] = {-5, 0, 127};
    import_ok(npy("i1.npy", 1, dict("|i1", "(3,)"), i1, sizeof i1),
              npy("b1.npy", 1, dict("|b1", "(3,)"), b1, sizeof b1), NULL, false, out);
    assert_floats(out, "X", (float[]){-5, 0, 127}, 3);
    assert_ints(out, "y", (int32_t[]){1, 0, 1}, 3);
}

/* float64 is rounded to the nearest float32, as numpy's astype(np.float32) does. */
static void float64_rounds_to_float32_in_a_v3_file(void **state) {
    (void)state;
    double x[4] = {0.1, -1e-3, 3.4e38, 1.0 / 3.0};
    double y[4] = {0.5, 1.5, 2.5, 1e30};
    const char *out = spath("c.h5");
    import_ok(npy("f8.npy", 3, dict("<f8", "(2, 2)"), x, sizeof x),
              npy("yf8.npy", 1, dict("<f8", "(2, 2)"), y, sizeof y), NULL, false, out);
    assert_floats(out, "X", (float[]){0.1f, -1e-3f, 3.4e38f, 1.0f / 3.0f}, 4);
    assert_dims(out, "y", 2, 2, 2, 0);
    assert_floats(out, "y", (float[]){0.5f, 1.5f, 2.5f, 1e30f}, 4);
}

static void sequences_with_lengths(void **state) {
    (void)state;
    float x[2 * 3 * 2];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    int32_t len[2] = {3, 1};
    int32_t y[2 * 3] = {0, 1, 2, 2, -100, -100}; /* per-step labels with padding */
    const char *out = spath("d.h5");
    import_ok(npy("sx.npy", 1, dict("<f4", "(2, 3, 2)"), x, sizeof x),
              npy("sy.npy", 1, dict("<i4", "(2, 3)"), y, sizeof y),
              npy("sl.npy", 1, dict("<i4", "(2,)"), len, sizeof len), false, out);
    assert_dims(out, "X", 3, 2, 3, 2);
    assert_floats(out, "X", x, 12);
    assert_dims(out, "y", 2, 2, 3, 0);
    assert_ints(out, "y", y, 6);
    assert_dims(out, "lengths", 1, 2, 0, 0);
    assert_ints(out, "lengths", len, 2);
}

/* (N, H, W, C) images stay 4-D; --dtype uint8 keeps |u1 values as they are and refuses other
 * dtypes. */
static void images_4d_as_float32_or_uint8(void **state) {
    (void)state;
    uint8_t px[2 * 2 * 3 * 1];
    for (int i = 0; i < 12; i++) px[i] = (uint8_t)(i * 20);
    const char *x = npy("im.npy", 1, dict("|u1", "(2, 2, 3, 1)"), px, sizeof px);
    const char *out = spath("im.h5");
    import_ok(x, NULL, NULL, false, out);
    hsize_t dims[4];
    assert_int_equal(read_ds(out, "X", dims, 0, NULL), 4);
    assert_int_equal(dims[1], 2);
    assert_int_equal(dims[2], 3);
    assert_int_equal(dims[3], 1);
    float want[12];
    for (int i = 0; i < 12; i++) want[i] = (float)(i * 20); /* npy values are not scaled */
    assert_floats(out, "X", want, 12);
    char err[512];
    dpt_npy_opts no = {0};
    dpt_import_opts o = opts();
    o.x_type = DPT_IMPORT_X_U8;
    assert_int_equal(dpt_import_npy(x, out, &no, &o, NULL, err, sizeof err), 0);
    size_t size;
    assert_int_equal(ds_class(out, "X", &size), H5T_INTEGER);
    assert_int_equal(size, 1);
    uint8_t got[12];
    read_ds(out, "X", dims, H5T_NATIVE_UINT8, got);
    assert_memory_equal(got, px, sizeof px);
    float f[2] = {1, 2};
    const char *xf = npy("f.npy", 1, dict("<f4", "(2,)"), f, sizeof f);
    assert_int_equal(dpt_import_npy(xf, out, &no, &o, NULL, err, sizeof err), -1);
    assert_msg(err, "f.npy: --dtype uint8 needs dtype |u1 (uint8), found f4", NULL);
}

/* ---- refusals ---- */

static void layout_and_dtype_refusals(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4};
    import_bad(
        npy("fo.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", x, sizeof x),
        NULL, NULL, "fo.npy", "fortran_order is True", "np.ascontiguousarray", NULL);
    import_bad(npy("be.npy", 1, dict(">f4", "(2, 2)"), x, sizeof x), NULL, NULL, "be.npy",
               "'>f4' is big-endian", NULL);
    import_bad(npy("obj.npy", 1, dict("|O", "(2,)"), x, 16), NULL, NULL, "obj.npy", "object array",
               NULL);
    import_bad(npy("s.npy", 1, dict("<U3", "(1,)"), x, 12), NULL, NULL, "s.npy",
               "'<U3' is not supported", NULL);
    import_bad(npy("x5.npy", 1, dict("<f4", "(1, 1, 1, 2, 2)"), x, sizeof x), NULL, NULL, "x5.npy",
               "shape (1, 1, 1, 2, 2)", "expected 1-D (N), 2-D (N, F), 3-D (N, T, F) or 4-D", NULL);
    import_bad(write_text("not.npy", "hello, world"), NULL, NULL, "not.npy", "not an .npy", NULL);
    import_bad(write_text("z.npz", "PK\x03\x04 zip"), NULL, NULL, "z.npz", ".npz", NULL);
}

static void shape_mismatches_name_both_files(void **state) {
    (void)state;
    float x[8] = {0};
    int32_t y[3] = {0}, len[4] = {1, 1, 1, 1};
    const char *xp = npy("mx.npy", 1, dict("<f4", "(4, 2)"), x, sizeof x);
    import_bad(xp, npy("my.npy", 1, dict("<i4", "(3,)"), y, sizeof y), NULL, "my.npy", "shape (3,)",
               "mx.npy", "shape (4, 2)", "same number of rows", NULL);
    import_bad(xp, NULL, npy("ml.npy", 1, dict("<i4", "(4,)"), len, sizeof len), "ml.npy",
               "lengths need sequences", "(4, 2)", NULL);
    const char *x3 = npy("m3.npy", 1, dict("<f4", "(2, 2, 2)"), x, sizeof x);
    int32_t bad_len[2] = {2, 3};
    import_bad(x3, NULL, npy("bl.npy", 1, dict("<i4", "(2,)"), bad_len, sizeof bad_len), "bl.npy",
               "value [1]", "length 3 is outside [1, 2]", NULL);
}

static void truncated_and_overlong_data(void **state) {
    (void)state;
    float x[5] = {1, 2, 3, 4, 5};
    import_bad(npy("tr.npy", 1, dict("<f4", "(3, 2)"), x, 20), NULL, NULL, "tr.npy", "truncated",
               "24 bytes of data", "has 20", NULL);
    import_bad(npy("ol.npy", 1, dict("<f4", "(2, 2)"), x, 20), NULL, NULL, "ol.npy",
               "20 bytes of data", "announces 16", NULL);
}

static void non_finite_and_overflowing_values(void **state) {
    (void)state;
    double x[4] = {1, 2, NAN, 4};
    import_bad(npy("nan.npy", 1, dict("<f8", "(2, 2)"), x, sizeof x), NULL, NULL, "nan.npy",
               "value [1, 0]", "NaN", NULL);
    x[2] = 3, x[3] = 1e39;
    import_bad(npy("ovf.npy", 1, dict("<f8", "(2, 2)"), x, sizeof x), NULL, NULL, "ovf.npy",
               "value [1, 1]", "outside the float32 range", NULL);
    float xf[2] = {1, 2};
    int64_t y[2] = {1, INT64_C(5000000000)};
    import_bad(npy("ox.npy", 1, dict("<f4", "(2,)"), xf, sizeof xf),
               npy("oy.npy", 1, dict("<i8", "(2,)"), y, sizeof y), NULL, "oy.npy", "value [1]",
               "5000000000 does not fit int32", NULL);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_dicts_parse),
        cmocka_unit_test(malformed_headers_are_refused),
        cmocka_unit_test(float32_matrix_with_int64_labels),
        cmocka_unit_test(integer_types_become_float32_x),
        cmocka_unit_test(float64_rounds_to_float32_in_a_v3_file),
        cmocka_unit_test(sequences_with_lengths),
        cmocka_unit_test(images_4d_as_float32_or_uint8),
        cmocka_unit_test(layout_and_dtype_refusals),
        cmocka_unit_test(shape_mismatches_name_both_files),
        cmocka_unit_test(truncated_and_overlong_data),
        cmocka_unit_test(non_finite_and_overflowing_values),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
