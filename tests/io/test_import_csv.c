/* Specification of the CSV importer (io/import/csv.c): numbers as strtof reads them (also on
 * the fast path), RFC 4180 quoting, header detection, column selection, integer labels, and
 * every kind of bad input reported with file:line, the column and the offending cell. */
#include <math.h>

#include "test_import_util.h"

static dpt_csv_opts csv_opts(void) {
    return (dpt_csv_opts){.header = DPT_CSV_HEADER_AUTO, .delim = ','};
}

/* Imports text (as t.csv) to t.h5; fails the test when that fails. */
static const char *import_ok(const char *text, const dpt_csv_opts *c) {
    const char *in = write_text("t.csv", text), *out = spath("t.h5");
    char err[1024] = "";
    dpt_import_opts o = opts();
    dpt_import_summary s;
    if (dpt_import_csv(in, out, c, &o, &s, err, sizeof err)) fail_msg("rejected: %s", err);
    return out;
}

/* Imports text expecting failure; checks the message parts and that nothing is left. */
static void import_bad(const char *text, const dpt_csv_opts *c, ...) {
    const char *in = write_text("bad.csv", text), *out = spath("bad.h5");
    char err[1024] = "";
    dpt_import_opts o = opts();
    unlink(out);
    if (dpt_import_csv(in, out, c, &o, NULL, err, sizeof err) == 0) fail_msg("accepted:\n%s", text);
    if (getenv("DPT_TEST_VERBOSE")) printf("    %s\n", err);
    va_list ap;
    va_start(ap, c);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err, part);
    va_end(ap);
    assert_int_equal(access(out, F_OK), -1);
    assert_no_temporaries();
}

/* ---- numbers ---- */

static void numbers_parse_like_strtof(void **state) {
    (void)state;
    float v = 0;
    assert_int_equal(dpt_csv_number("1.5", &v), 0);
    assert_true(v == 1.5f);
    assert_int_equal(dpt_csv_number("  -2e3 ", &v), 0);
    assert_true(v == -2000.0f);
    assert_int_equal(dpt_csv_number("0.1", &v), 0);
    assert_true(v == 0.1f); /* the float nearest 0.1, not (float)0.1 via a double product */
    assert_int_equal(dpt_csv_number("+.5", &v), 0);
    assert_true(v == 0.5f);
    assert_int_equal(dpt_csv_number("3.4e38", &v), 0);
    assert_true(v == 3.4e38f);
    assert_int_equal(dpt_csv_number("1e-50", &v), 0); /* underflows to 0: accepted */
    assert_true(v == 0.0f);
}

static void bad_numbers_are_classified(void **state) {
    (void)state;
    float v = 42;
    assert_int_equal(dpt_csv_number("", &v), 1);
    assert_int_equal(dpt_csv_number("   ", &v), 1);
    assert_int_equal(dpt_csv_number("abc", &v), 1);
    assert_int_equal(dpt_csv_number("1.5x", &v), 1);
    assert_int_equal(dpt_csv_number("1,5", &v), 1);
    assert_int_equal(dpt_csv_number("1e", &v), 1);
    assert_int_equal(dpt_csv_number("nan", &v), 2);
    assert_int_equal(dpt_csv_number("-inf", &v), 3);
    assert_int_equal(dpt_csv_number("Infinity", &v), 3);
    assert_int_equal(dpt_csv_number("1e39", &v), 4);
    assert_int_equal(dpt_csv_number("-3.5e38", &v), 4);
    assert_true(v == 42); /* untouched */
}

/* The fast path (m x 10^e with m <= 2^24, |e| <= 10) must give strtof's bits exactly; try
 * numbers on both sides of its limits. */
static void fast_path_matches_strtof_bitwise(void **state) {
    (void)state;
    uint64_t s = 12345;
    char buf[64];
    for (int i = 0; i < 200000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t m = (s >> 20) % (i % 2 ? 16777300u : 100000000u);
        int e = (int)((s >> 50) % 27) - 13, dot = (int)((s >> 8) % 10);
        if (i % 3 == 0)
            snprintf(buf, sizeof buf, "%s%llue%d", s & 1 ? "-" : "", (unsigned long long)m, e);
        else
            snprintf(buf, sizeof buf, "%s%llu.%0*llu", s & 1 ? "-" : "",
                     (unsigned long long)(m / 1000), dot, (unsigned long long)(m % 1000));
        float got, want = strtof(buf, NULL);
        int rc = dpt_csv_number(buf, &got);
        if (isinf(want)) continue;
        /* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison): bitwise on purpose */
        if (rc != 0 || memcmp(&got, &want, sizeof got) != 0)
            fail_msg("'%s': got %.9g (rc %d), strtof %.9g", buf, got, rc, want);
    }
}

/* ---- splitting and quotes ---- */

static void split_follows_rfc4180_quotes(void **state) {
    (void)state;
    char rec[] = "a,\"b,c\",  \"d\"\"e\" ,,\"\",f";
    char *cells[8], err[128];
    int n = dpt_csv_split(rec, ',', cells, 8, err, sizeof err);
    assert_int_equal(n, 6);
    assert_string_equal(cells[0], "a");
    assert_string_equal(cells[1], "b,c");
    assert_string_equal(cells[2], "d\"e");
    assert_string_equal(cells[3], "");
    assert_string_equal(cells[4], "");
    assert_string_equal(cells[5], "f");
    char tsv[] = "1\t\"2\t3\"\t4";
    assert_int_equal(dpt_csv_split(tsv, '\t', cells, 8, err, sizeof err), 3);
    assert_string_equal(cells[1], "2\t3");
    char many[] = "1,2,3,4,5";
    assert_int_equal(dpt_csv_split(many, ',', cells, 2, err, sizeof err), 5); /* counts all */
}

static void split_refuses_broken_quotes(void **state) {
    (void)state;
    char *cells[4], err[128];
    char open[] = "1,\"2,3";
    assert_int_equal(dpt_csv_split(open, ',', cells, 4, err, sizeof err), -1);
    assert_msg(err, "no closing quote", NULL);
    char after[] = "1,\"2\"x,3";
    assert_int_equal(dpt_csv_split(after, ',', cells, 4, err, sizeof err), -1);
    assert_msg(err, "after the closing quote", NULL);
}

/* ---- whole files ---- */

static void header_is_detected_and_last_column_is_the_target(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    const char *out = import_ok("a,b,y\n1,2.5,10\n-3,4e-1,20\n", &c);
    assert_dims(out, "X", 2, 2, 2, 0);
    assert_floats(out, "X", (float[]){1, 2.5f, -3, 0.4f}, 4);
    assert_dims(out, "y", 2, 2, 1, 0);
    assert_floats(out, "y", (float[]){10, 20}, 2);
    size_t size;
    assert_int_equal(ds_class(out, "X", &size), H5T_FLOAT);
    assert_int_equal(size, 4);
}

static void all_numeric_first_row_is_data(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    const char *out = import_ok("1,2,3\n4,5,6\n", &c);
    assert_dims(out, "X", 2, 2, 2, 0);
    assert_floats(out, "X", (float[]){1, 2, 4, 5}, 4);
    c.header = DPT_CSV_HEADER_YES; /* forced: the first row names the columns */
    out = import_ok("1,2,3\n4,5,6\n", &c);
    assert_dims(out, "X", 2, 1, 2, 0);
    c.target = "3"; /* a header named "3" is matched by name before index */
    out = import_ok("1,2,3\n4,5,6\n", &c);
    assert_floats(out, "y", (float[]){6}, 1);
}

static void quoted_numbers_and_header_names(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    c.features = "size";
    c.target = "2";
    const char *out = import_ok("\"size\",\"colour, name\",\"price\"\n\"1.5\",red,\"7\"\n"
                                "2,\"dark \"\"blue\"\"\",8\n",
                                &c);
    assert_dims(out, "X", 2, 2, 1, 0);
    assert_floats(out, "X", (float[]){1.5f, 2}, 2);
    assert_floats(out, "y", (float[]){7, 8}, 2);
    c.target = "price";
    c.features = "size";
    out = import_ok("\"size\",\"colour, name\",\"price\"\n1,red,7\n", &c);
    assert_floats(out, "y", (float[]){7}, 1);
}

static void comments_blank_lines_bom_crlf(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    const char *out = import_ok("\xEF\xBB\xBFx,y\r\n# a comment\r\n\r\n1,2\r\n   \n3,4\r\n", &c);
    assert_floats(out, "X", (float[]){1, 3}, 2);
    assert_floats(out, "y", (float[]){2, 4}, 2);
}

static void labels_become_int32(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    c.labels = true;
    c.target = "0";
    const char *out = import_ok("label,p1,p2\n3,0,1\n0,1,0\n9.0,1,1\n", &c);
    assert_dims(out, "y", 1, 3, 0, 0);
    size_t size;
    assert_int_equal(ds_class(out, "y", &size), H5T_INTEGER);
    assert_int_equal(size, 4);
    assert_ints(out, "y", (int32_t[]){3, 0, 9}, 3);
    assert_floats(out, "X", (float[]){0, 1, 1, 0, 1, 1}, 6);
}

static void several_targets_and_no_target(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    c.target = "y2,0";
    const char *out = import_ok("a,b,y2\n1,2,3\n4,5,6\n", &c);
    assert_dims(out, "y", 2, 2, 2, 0);
    assert_floats(out, "y", (float[]){3, 1, 6, 4}, 4); /* in the order named */
    assert_floats(out, "X", (float[]){2, 5}, 2);
    c = csv_opts();
    c.no_target = true;
    out = import_ok("a,b\n1,2\n", &c);
    assert_dims(out, "X", 2, 1, 2, 0);
    assert_false(has_ds(out, "y"));
}

static void tab_delimiter(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    c.delim = '\t';
    const char *out = import_ok("a\tb\n1.25\t-2\n", &c);
    assert_floats(out, "X", (float[]){1.25f}, 1);
    assert_floats(out, "y", (float[]){-2}, 1);
}

/* More rows than one chunk: blocks are appended in order. */
static void many_rows_span_several_chunks(void **state) {
    (void)state;
    size_t n = 300000, cap = n * 16 + 64, used = 0; /* chunks of 131072 rows */
    char *text = malloc(cap);
    used += (size_t)snprintf(text, cap, "a,b,y\n");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%zu,%zu,%zu\n", i, i % 7, i % 3);
    dpt_csv_opts c = csv_opts();
    c.labels = true;
    const char *in = write_text("many.csv", text), *out = spath("many.h5");
    free(text);
    char err[512];
    dpt_import_opts o = opts();
    for (o.compress = 0; o.compress <= 1; o.compress++) { /* deflated whole chunks + the rest */
        assert_int_equal(dpt_import_csv(in, out, &c, &o, NULL, err, sizeof err), 0);
        assert_dims(out, "X", 2, n, 2, 0);
        float *x = malloc(n * 2 * sizeof *x);
        int32_t *y = malloc(n * sizeof *y);
        hsize_t dims[4];
        read_ds(out, "X", dims, H5T_NATIVE_FLOAT, x);
        read_ds(out, "y", dims, H5T_NATIVE_INT32, y);
        for (size_t i = 0; i < n; i++)
            if (x[2 * i] != (float)i || x[2 * i + 1] != (float)(i % 7) || y[i] != (int)(i % 3))
                fail_msg("row %zu wrong (compress %d)", i, o.compress);
        free(x);
        free(y);
    }
}

static void a_thousand_columns(void **state) {
    (void)state;
    char *text = malloc(20000);
    size_t used = 0;
    for (int row = 0; row < 2; row++)
        for (int i = 0; i < 1000; i++)
            used += (size_t)snprintf(text + used, 20000 - used, "%d%c", row * 1000 + i,
                                     i == 999 ? '\n' : ',');
    dpt_csv_opts c = csv_opts();
    const char *out = import_ok(text, &c);
    free(text);
    assert_dims(out, "X", 2, 2, 999, 0);
    assert_floats(out, "y", (float[]){999, 1999}, 2);
}

/* ---- bad input: file:line, column and cell ---- */

static void ragged_rows_name_the_line(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    import_bad("a,b,c\n1,2,3\n# note\n\n4,5\n", &c, "bad.csv:5:", "expected 3 cells",
               "as in line 2", "found 2", NULL);
    import_bad("1,2\n3,4,5\n", &c, "bad.csv:2:", "expected 2 cells", "found 3", NULL);
}

static void non_numeric_cells_are_quoted(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    import_bad("x,y\n1,2\n3,abc\n", &c, "bad.csv:3:", "column 1 ('y')", "'abc'", "not a number",
               NULL);
    import_bad("x,y\n\"1,5\",2\n", &c, "bad.csv:2:", "column 0 ('x')", "'1,5'", "decimal point",
               NULL);
    import_bad("1,2\n3,\n", &c, "bad.csv:2:", "column 1", "empty cell", NULL);
    /* a quoted field spanning lines: the record's first line is named, later lines count */
    import_bad("x,y\n\"a\nb\",2\n5,6\n", &c, "bad.csv:2:", "'a\nb'", NULL);
    import_bad("x,y\n\"1\n\",2\n5,z\n", &c, "bad.csv:4:", "'z'", NULL);
    import_bad("x,\"y\n1,2\n", &c, "bad.csv:1:", "no closing quote", NULL);
}

static void non_finite_values_are_refused(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    import_bad("x,y\n1,2\nnan,3\n", &c, "bad.csv:3:", "column 0 ('x')", "NaN", NULL);
    import_bad("x,y\n1,inf\n", &c, "bad.csv:2:", "Inf", NULL);
    import_bad("x,y\n1,1e39\n", &c, "bad.csv:2:", "outside the float32 range", NULL);
}

static void bad_labels_are_refused(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    c.labels = true;
    import_bad("x,y\n1,2\n1,1.5\n", &c, "bad.csv:3:", "column 1 ('y')", "'1.5'", "not an integer",
               NULL);
    import_bad("x,y\n1,-1\n", &c, "bad.csv:2:", "'-1'", "negative", NULL);
    import_bad("x,y\n1,2147483648\n", &c, "bad.csv:2:", "too large", NULL);
    c.target = NULL;
    const char *out = import_ok("x,y\n1,2147483647\n2,16777217\n", &c); /* exact, not float */
    assert_ints(out, "y", (int32_t[]){2147483647, 16777217}, 2);
    c.target = "x,y";
    import_bad("x,y,z\n1,2,3\n", &c, "--labels needs exactly one target column", NULL);
}

static void bad_columns_and_empty_files(void **state) {
    (void)state;
    dpt_csv_opts c = csv_opts();
    import_bad("", &c, "bad.csv", "empty file", NULL);
    import_bad("# only a comment\n\n", &c, "empty file", NULL);
    import_bad("a,b\n", &c, "bad.csv", "no data rows after the header", NULL);
    c.target = "price";
    import_bad("a,b\n1,2\n", &c, "--target", "unknown column 'price'", "'a', 'b'", NULL);
    import_bad("1,2\n", &c, "'price' is not a column index", "no header row", NULL);
    c.target = "5";
    import_bad("a,b\n1,2\n", &c, "column index 5 is out of range", "2 columns", NULL);
    c.target = "b";
    c.features = "a,b";
    import_bad("a,b\n1,2\n", &c, "column 1 ('b') is both a feature and a target", NULL);
    c.features = "a,a";
    import_bad("a,b\n1,2\n", &c, "--features", "named twice", NULL);
}

static void existing_output_needs_force(void **state) {
    (void)state;
    const char *in = write_text("e.csv", "1,2\n"), *out = spath("e.h5");
    dpt_csv_opts c = csv_opts();
    dpt_import_opts o = opts();
    char err[512];
    assert_int_equal(dpt_import_csv(in, out, &c, &o, NULL, err, sizeof err), 0);
    o.force = false;
    assert_int_equal(dpt_import_csv(in, out, &c, &o, NULL, err, sizeof err), -1);
    assert_msg(err, "e.h5", "already exists", "--force", NULL);
    o.force = true;
    write_text("e.csv", "7,8\n");
    assert_int_equal(dpt_import_csv(in, out, &c, &o, NULL, err, sizeof err), 0);
    assert_floats(out, "X", (float[]){7}, 1);
}

/* Small files get small chunks: the chunk is capped by the rows the file can hold. */
static void compression_and_chunks(void **state) {
    (void)state;
    const char *in = write_text("z.csv", "a,b\n1,2\n3,4\n5,6\n"), *out = spath("z.h5");
    dpt_csv_opts c = csv_opts();
    dpt_import_opts o = opts();
    o.compress = 4;
    char err[512];
    assert_int_equal(dpt_import_csv(in, out, &c, &o, NULL, err, sizeof err), 0);
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "X", H5P_DEFAULT), p = H5Dget_create_plist(d);
    hsize_t chunk[2];
    assert_int_equal(H5Pget_chunk(p, 2, chunk), 2);
    assert_int_equal(chunk[0], 5); /* 16 bytes / (2 bytes x 2 columns) + 1 rows at most */
    assert_int_equal(chunk[1], 1);
    assert_int_equal(H5Pget_nfilters(p), 1);
    unsigned flags, cd[4];
    size_t ncd = 4;
    assert_int_equal(H5Pget_filter2(p, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
    assert_int_equal(cd[0], 4);
    H5Pclose(p);
    H5Dclose(d);
    H5Fclose(f);
    assert_floats(out, "X", (float[]){1, 3, 5}, 3);
}

int main(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers_parse_like_strtof),
        cmocka_unit_test(bad_numbers_are_classified),
        cmocka_unit_test(fast_path_matches_strtof_bitwise),
        cmocka_unit_test(split_follows_rfc4180_quotes),
        cmocka_unit_test(split_refuses_broken_quotes),
        cmocka_unit_test(header_is_detected_and_last_column_is_the_target),
        cmocka_unit_test(all_numeric_first_row_is_data),
        cmocka_unit_test(quoted_numbers_and_header_names),
        cmocka_unit_test(comments_blank_lines_bom_crlf),
        cmocka_unit_test(labels_become_int32),
        cmocka_unit_test(several_targets_and_no_target),
        cmocka_unit_test(tab_delimiter),
        cmocka_unit_test(many_rows_span_several_chunks),
        cmocka_unit_test(a_thousand_columns),
        cmocka_unit_test(ragged_rows_name_the_line),
        cmocka_unit_test(non_numeric_cells_are_quoted),
        cmocka_unit_test(non_finite_values_are_refused),
        cmocka_unit_test(bad_labels_are_refused),
        cmocka_unit_test(bad_columns_and_empty_files),
        cmocka_unit_test(existing_output_needs_force),
        cmocka_unit_test(compression_and_chunks),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
