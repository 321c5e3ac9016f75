/* Specification of the IDX importer (io/import/idx.c): every IDX value type decoded from
 * big-endian, plain and gzip'd files alike, the flat and sequence layouts, the default scale
 * (1/255 for ubyte, else 1), labels to int32, and the refusals (bad magic, count mismatch,
 * truncated, trailing data, corrupt gzip, negative labels). */
#include <zlib.h>

#include "test_import_util.h"

/* An IDX file: 00 00 type ndim, big-endian sizes, then len bytes of (already big-endian)
 * values; gzip'd when name ends in .gz. */
static const char *idx(const char *name, int type, int ndim, const uint32_t *dims, const void *data,
                       size_t len) {
    unsigned char *buf = calloc(4 + 4 * (size_t)ndim + len, 1), *p = buf;
    *p++ = 0, *p++ = 0, *p++ = (unsigned char)type, *p++ = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int b = 3; b >= 0; b--) *p++ = (unsigned char)(dims[i] >> (8 * b));
    if (len) memcpy(p, data, len);
    size_t total = (size_t)(p - buf) + len;
    const char *path = spath(name);
    if (strstr(name, ".gz")) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, buf, (unsigned)total), (int)total);
        gzclose(g);
    } else {
        write_bytes(name, buf, total);
    }
    free(buf);
    return path;
}

/* 3 images of 2 x 3 pixels, values 0, 10, ..., 170; labels 7, 0, 2. */
static const unsigned char pixels[18] = {0,  10,  20,  30,  40,  50,  60,  70,  80,
                                         90, 100, 110, 120, 130, 140, 150, 160, 170};
static const unsigned char labels[3] = {7, 0, 2};

static const char *images_file(const char *name) {
    return idx(name, 0x08, 3, (uint32_t[]){3, 2, 3}, pixels, sizeof pixels);
}

static const char *labels_file(const char *name) {
    return idx(name, 0x08, 1, (uint32_t[]){3}, labels, sizeof labels);
}

static int import(const char *im, const char *lb, bool seq, double scale, const char *out,
                  dpt_import_opts *o, char *err, size_t errlen) {
    dpt_idx_opts xo = {.seq = seq, .scale = scale};
    return dpt_import_idx(im, lb, out, &xo, o, NULL, err, errlen);
}

static void import_ok(const char *im, const char *lb, bool seq, double scale, const char *out) {
    char err[1024] = "";
    dpt_import_opts o = opts();
    if (import(im, lb, seq, scale, out, &o, err, sizeof err)) fail_msg("rejected: %s", err);
}

static void import_bad(const char *im, const char *lb, ...) {
    char err[1024] = "";
    const char *out = spath("bad.h5");
    dpt_import_opts o = opts();
    unlink(out);
    if (import(im, lb, false, 0, out, &o, err, sizeof err) == 0) fail_msg("accepted %s", im);
    if (getenv("DPT_TEST_VERBOSE")) printf("    %s\n", err);
    va_list ap;
    va_start(ap, lb);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err, part);
    va_end(ap);
    assert_int_equal(access(out, F_OK), -1);
    assert_no_temporaries();
}

static void ubyte_images_are_scaled_to_unit_range(void **state) {
    (void)state;
    const char *out = spath("a.h5");
    import_ok(images_file("im"), labels_file("lb"), false, 0, out);
    assert_dims(out, "X", 2, 3, 6, 0);
    float want[18];
    for (int i = 0; i < 18; i++) want[i] = (float)pixels[i] / 255.0f;
    assert_floats(out, "X", want, 18);
    assert_dims(out, "y", 1, 3, 0, 0);
    size_t size;
    assert_int_equal(ds_class(out, "y", &size), H5T_INTEGER);
    assert_ints(out, "y", (int32_t[]){7, 0, 2}, 3);
}

static void gzip_and_seq_layout_give_the_same_values(void **state) {
    (void)state;
    const char *flat = spath("f.h5"), *seq = spath("s.h5");
    import_ok(images_file("im.gz"), labels_file("lb.gz"), false, 1.0, flat);
    import_ok(images_file("im2.gz"), labels_file("lb2"), true, 1.0, seq);
    assert_dims(seq, "X", 3, 3, 2, 3); /* image rows as time steps */
    float want[18];
    for (int i = 0; i < 18; i++) want[i] = pixels[i]; /* --scale 1 */
    assert_floats(flat, "X", want, 18);
    assert_floats(seq, "X", want, 18);
}

/* Types other than ubyte keep their values (scale 1) unless told otherwise. */
static void every_value_type_is_decoded_big_endian(void **state) {
    (void)state;
    const char *out = spath("t.h5");
    unsigned char sb[2] = {0xfb, 0x05}; /* -5, 5 */
    import_ok(idx("sb", 0x09, 1, (uint32_t[]){2}, sb, 2), NULL, false, 0, out);
    assert_dims(out, "X", 2, 2, 1, 0);
    assert_floats(out, "X", (float[]){-5, 5}, 2);
    assert_false(has_ds(out, "y"));
    unsigned char sh[4] = {0xfe, 0xd4, 0x01, 0x00}; /* -300, 256 */
    import_ok(idx("sh", 0x0B, 2, (uint32_t[]){1, 2}, sh, 4), NULL, false, 0, out);
    assert_floats(out, "X", (float[]){-300, 256}, 2);
    unsigned char in[8] = {0xff, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x00, 0x00}; /* -2, 65536 */
    import_ok(idx("in", 0x0C, 2, (uint32_t[]){2, 1}, in, 8), NULL, false, 0.5, out);
    assert_floats(out, "X", (float[]){-1, 32768}, 2);
    unsigned char fl[8] = {0x3f, 0xc0, 0, 0, 0xc1, 0x20, 0, 0}; /* 1.5, -10 */
    import_ok(idx("fl", 0x0D, 1, (uint32_t[]){2}, fl, 8), NULL, false, 0, out);
    assert_floats(out, "X", (float[]){1.5f, -10}, 2);
    unsigned char db[8] = {0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a}; /* 0.1 */
    import_ok(idx("db", 0x0E, 1, (uint32_t[]){1}, db, 8), NULL, false, 0, out);
    assert_floats(out, "X", (float[]){0.1f}, 1);
}

/* --layout image: (N, H, W) -> X (N, H, W, 1); with --dtype uint8 the bytes as they are. */
static void image_layout_and_uint8_pixels(void **state) {
    (void)state;
    const char *out = spath("img.h5");
    dpt_idx_opts xo = {.image = true};
    dpt_import_opts o = opts();
    char err[512];
    assert_int_equal(
        dpt_import_idx(images_file("ii"), labels_file("il"), out, &xo, &o, NULL, err, sizeof err),
        0);
    hsize_t dims[4];
    assert_int_equal(read_ds(out, "X", dims, 0, NULL), 4);
    assert_int_equal(dims[0], 3);
    assert_int_equal(dims[1], 2);
    assert_int_equal(dims[2], 3);
    assert_int_equal(dims[3], 1);
    float want[18];
    for (int i = 0; i < 18; i++) want[i] = (float)pixels[i] / 255.0f;
    assert_floats(out, "X", want, 18);
    o.x_type = DPT_IMPORT_X_U8;
    dpt_import_summary s;
    assert_int_equal(
        dpt_import_idx(images_file("iu"), labels_file("lu"), out, &xo, &o, &s, err, sizeof err), 0);
    assert_true(s.ds[0].is_u8);
    size_t size;
    assert_int_equal(ds_class(out, "X", &size), H5T_INTEGER);
    assert_int_equal(size, 1);
    uint8_t got[18];
    read_ds(out, "X", dims, H5T_NATIVE_UINT8, got);
    assert_memory_equal(got, pixels, 18);
    assert_ints(out, "y", (int32_t[]){7, 0, 2}, 3);
    /* flat uint8 too, and a 4-D IDX file keeps its channels */
    xo.image = false;
    assert_int_equal(dpt_import_idx(images_file("iu2"), NULL, out, &xo, &o, NULL, err, sizeof err),
                     0);
    assert_dims(out, "X", 2, 3, 6, 0);
    xo.image = true;
    const char *four = idx("i4", 0x08, 4, (uint32_t[]){1, 3, 2, 3}, pixels, 18);
    assert_int_equal(dpt_import_idx(four, NULL, out, &xo, &o, NULL, err, sizeof err), 0);
    assert_int_equal(read_ds(out, "X", dims, 0, NULL), 4);
    assert_int_equal(dims[3], 3);
}

static void image_layout_and_uint8_refusals(void **state) {
    (void)state;
    char err[512];
    dpt_idx_opts xo = {.image = true};
    dpt_import_opts o = opts();
    unsigned char sb[2] = {1, 2};
    const char *flat = idx("flat", 0x08, 2, (uint32_t[]){1, 2}, sb, 2);
    assert_int_equal(dpt_import_idx(flat, NULL, spath("r.h5"), &xo, &o, NULL, err, sizeof err), -1);
    assert_msg(err, "flat: --layout image needs images of 3 dimensions (N, H, W) or 4", "2-D",
               NULL);
    xo.image = false;
    o.x_type = DPT_IMPORT_X_U8;
    const char *sbyte = idx("sbyte", 0x09, 2, (uint32_t[]){1, 2}, sb, 2);
    assert_int_equal(dpt_import_idx(sbyte, NULL, spath("r.h5"), &xo, &o, NULL, err, sizeof err),
                     -1);
    assert_msg(err, "sbyte: --dtype uint8 needs ubyte values (IDX type 08), found type 09", NULL);
    xo.scale = 2;
    assert_int_equal(dpt_import_idx(flat, NULL, spath("r.h5"), &xo, &o, NULL, err, sizeof err), -1);
    assert_msg(err, "--scale does not apply to --dtype uint8", NULL);
    assert_int_equal(access(spath("r.h5"), F_OK), -1);
    assert_no_temporaries();
}

static void reader_api_reads_rows_and_header(void **state) {
    (void)state;
    dpt_idx f;
    char err[256];
    assert_int_equal(dpt_idx_open(&f, images_file("r.gz"), 0x00000803, err, sizeof err), 0);
    assert_int_equal(f.type, 0x08);
    assert_int_equal(f.ndim, 3);
    assert_int_equal(f.dims[0], 3);
    assert_int_equal(f.row_values, 6);
    unsigned char raw[12];
    float x[12];
    assert_int_equal(dpt_idx_read_f32(&f, 2, 2.0, raw, x, err, sizeof err), 0);
    assert_true(x[7] == 140.0f);
    assert_int_equal(dpt_idx_check_end(&f, err, sizeof err), -1); /* a row is left */
    dpt_idx_close(&f);
    assert_int_equal(dpt_idx_open(&f, spath("r.gz"), 2049, err, sizeof err), -1);
    assert_msg(err, "bad magic number 2051, expected 2049", NULL);
}

static void bad_magic_says_what_was_found(void **state) {
    (void)state;
    import_bad(write_text("pk", "PK\x03\x04 not idx at all"), NULL, "pk", "bad magic number",
               "found bytes 50 4b 03 04", "expected 00 00 TT NN", NULL);
    import_bad(idx("t07", 0x07, 1, (uint32_t[]){1}, "x", 1), NULL, "t07", "found bytes 00 00 07 01",
               NULL);
    import_bad(images_file("i3"), images_file("l3"), "l3", "expected a 1-D IDX file of labels",
               "3-D", NULL);
}

static void counts_must_match(void **state) {
    (void)state;
    unsigned char four[4] = {1, 2, 3, 4};
    import_bad(images_file("cm-im"), idx("cm-lb", 0x08, 1, (uint32_t[]){4}, four, 4),
               "cm-lb has 4 labels but", "cm-im has 3 images", NULL);
}

static void truncated_and_overlong_files(void **state) {
    (void)state;
    const char *tr = idx("tr.gz", 0x08, 3, (uint32_t[]){3, 2, 3}, pixels, 14);
    import_bad(tr, NULL, "tr.gz", "truncated", "expected 18 bytes", "3 items of 6 bytes", "got 14",
               "2 complete items", NULL);
    const char *ol = idx("ol", 0x08, 3, (uint32_t[]){2, 2, 3}, pixels, 13);
    import_bad(ol, NULL, "ol", "more data than the header announces", NULL);
    import_bad(write_bytes("hd", "\0\0\x08\x03\0\0\0\x03\0\0", 10), NULL, "hd",
               "cannot read the IDX header", NULL); /* 3 sizes announced, 1.5 there */
}

/* A gzip stream with damaged deflate data or cut short is reported as such. */
static void corrupt_gzip_is_reported(void **state) {
    (void)state;
    unsigned char big[6000];
    for (int i = 0; i < 6000; i++) big[i] = (unsigned char)(i * 7 % 251);
    const char *p = idx("cg.gz", 0x08, 2, (uint32_t[]){100, 60}, big, sizeof big);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    for (int i = 0; i < 16; i++) fputc(0xAA ^ i, f); /* damage the middle */
    fclose(f);
    import_bad(p, NULL, "cg.gz", "corrupt", NULL);
    const char *q = idx("cut.gz", 0x08, 2, (uint32_t[]){100, 60}, big, sizeof big);
    assert_int_equal(truncate(q, size / 2), 0);
    import_bad(q, NULL, "cut.gz", "truncated", "gzip stream ends early", NULL);
}

static void labels_must_be_class_numbers(void **state) {
    (void)state;
    unsigned char neg[3] = {1, 0xff, 2}; /* sbyte -1 */
    import_bad(images_file("nl-im"), idx("nl-lb", 0x09, 1, (uint32_t[]){3}, neg, 3), "nl-lb",
               "label -1 at item 1", ">= 0", NULL);
    char err[512];
    dpt_import_opts o = opts();
    o.label_max = 5; /* as dpt_mkdata fashion-mnist sets 9 */
    assert_int_equal(import(images_file("lm-im"), labels_file("lm-lb"), false, 0, spath("lm.h5"),
                            &o, err, sizeof err),
                     -1);
    assert_msg(err, "lm-lb", "label 7 at item 0", "expected 0..5", NULL);
}

static void read_all(const char *file, float *x, int32_t *y) {
    hsize_t dims[4];
    read_ds(file, "X", dims, H5T_NATIVE_FLOAT, x);
    read_ds(file, "y", dims, H5T_NATIVE_INT32, y);
}

/* Compressed chunks are deflated by dptrain itself (several per block, the last one padded):
 * the file must read back exactly like the uncompressed one, with HDF5's deflate filter. */
static void compressed_equals_uncompressed(void **state) {
    (void)state;
    enum { N = 1000, F = 600 }; /* 436 rows per 1 MiB chunk: 2 whole chunks and a partial one */
    unsigned char *px = malloc(N * F), lb[N];
    for (int i = 0; i < N * F; i++) px[i] = (unsigned char)(i * 7 + i / 600);
    for (int i = 0; i < N; i++) lb[i] = (unsigned char)(i % 10);
    const char *im = idx("cz-im.gz", 0x08, 2, (uint32_t[]){N, F}, px, N * F);
    const char *lp = idx("cz-lb", 0x08, 1, (uint32_t[]){N}, lb, N);
    char err[512];
    dpt_import_opts o = opts();
    assert_int_equal(import(im, lp, false, 0, spath("plain.h5"), &o, err, sizeof err), 0);
    o.compress = 6;
    assert_int_equal(import(im, lp, false, 0, spath("z.h5"), &o, err, sizeof err), 0);
    float *a = malloc(sizeof(float) * N * F), *b = malloc(sizeof(float) * N * F);
    int32_t ya[N], yb[N];
    read_all(spath("plain.h5"), a, ya);
    read_all(spath("z.h5"), b, yb);
    assert_memory_equal(a, b, sizeof(float) * N * F);
    assert_memory_equal(ya, yb, sizeof ya);
    assert_true(a[999 * F + 599] == (float)px[999 * F + 599] / 255.0f);
    hid_t f = H5Fopen(spath("z.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "X", H5P_DEFAULT), p = H5Dget_create_plist(d);
    hsize_t chunk[2];
    H5Pget_chunk(p, 2, chunk);
    assert_int_equal(chunk[0], 436);
    assert_int_equal(H5Pget_nfilters(p), 1);
    assert_true(H5Dget_storage_size(d) < (hsize_t)N * F * 4 / 2); /* it did compress */
    H5Pclose(p);
    H5Dclose(d);
    H5Fclose(f);
    free(a);
    free(b);
    free(px);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ubyte_images_are_scaled_to_unit_range),
        cmocka_unit_test(gzip_and_seq_layout_give_the_same_values),
        cmocka_unit_test(every_value_type_is_decoded_big_endian),
        cmocka_unit_test(image_layout_and_uint8_pixels),
        cmocka_unit_test(image_layout_and_uint8_refusals),
        cmocka_unit_test(reader_api_reads_rows_and_header),
        cmocka_unit_test(bad_magic_says_what_was_found),
        cmocka_unit_test(counts_must_match),
        cmocka_unit_test(truncated_and_overlong_files),
        cmocka_unit_test(corrupt_gzip_is_reported),
        cmocka_unit_test(labels_must_be_class_numbers),
        cmocka_unit_test(compressed_equals_uncompressed),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
