/* Specification of the text importer (io/import/text.c): documents cut by file, line, "%" line
 * or blank line; next-token windows (y is X shifted by one); the held-out split takes whole
 * documents and the vocabulary comes from the training documents only; labelled lines padded
 * with <pad> and their lengths; invalid UTF-8 and empty texts refused naming file and line,
 * leaving no output. */
#include "io/import/text.h"
#include "test_import_util.h"

/* The documents of s as "line:text|line:text". */
static const char *docs(const char *s, dpt_text_docs mode) {
    static char buf[256];
    dpt_text_span sp[16];
    int64_t n = dpt_text_documents(s, strlen(s), mode, sp);
    size_t k = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%d:%.*s", i ? "|" : "", (int)sp[i].line,
                              (int)sp[i].len, s + sp[i].start);
    return buf;
}

static void documents_are_cut_by_file_line_percent_and_blank_lines(void **state) {
    (void)state;
    const char *s = "a b\n\nc\n%\nd\n  \ne\n";
    assert_string_equal(docs(s, DPT_TEXT_DOC_FILE), "1:a b\n\nc\n%\nd\n  \ne");
    assert_string_equal(docs(s, DPT_TEXT_DOC_LINE), "1:a b|3:c|4:%|5:d|6:  |7:e");
    assert_string_equal(docs(s, DPT_TEXT_DOC_PERCENT), "1:a b\n\nc|5:d\n  \ne");
    assert_string_equal(docs(s, DPT_TEXT_DOC_BLANK), "1:a b|3:c\n%\nd|7:e");
    assert_string_equal(docs("\n\n", DPT_TEXT_DOC_FILE), "");
}

static void windows_start_every_stride_and_y_is_x_shifted_by_one(void **state) {
    (void)state;
    assert_int_equal(dpt_text_nwindows(10, 3, 3), 3); /* starts 0, 3, 6: 6 + 3 + 1 <= 10 */
    assert_int_equal(dpt_text_nwindows(10, 9, 1), 1);
    assert_int_equal(dpt_text_nwindows(9, 9, 1), 0);
    assert_int_equal(dpt_text_nwindows(10, 3, 1), 7);
    int32_t ids[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, x[3], y[3];
    dpt_text_window(ids, 2, 3, 3, x, y);
    assert_int_equal(x[0], 6);
    assert_int_equal(y[0], 7);
    assert_int_equal(y[2], 9);
}

static int run(const char *const *files, int n, dpt_text_opts *to, char *err) {
    dpt_import_opts o = opts();
    dpt_import_summary s, s2;
    return dpt_import_text(files, n, spath("out.h5"), to, &o, &s, &s2, err, 512);
}

static void language_model_windows_hold_the_text_and_its_next_characters(void **state) {
    (void)state;
    const char *f[] = {write_text("a.txt", "abcab\n"), write_text("b.txt", "é—c")};
    dpt_text_opts to = {.seq_len = 3, .stride = 2};
    char err[512];
    assert_int_equal(run(f, 2, &to, err), 0);
    /* tokens "abcab\n" "é—c\n" (10); windows at 0, 2, 4 (4 + 3 + 1 <= 10), 6 */
    assert_dims(spath("out.h5"), "X", 2, 4, 3, 0);
    hsize_t dims[2];
    int32_t X[12], Y[12];
    read_ds(spath("out.h5"), "X", dims, H5T_NATIVE_INT32, X);
    read_ds(spath("out.h5"), "y", dims, H5T_NATIVE_INT32, Y);
    for (int w = 0; w < 3; w++) /* overlapping windows: y's row is X's row shifted */
        assert_memory_equal(Y + 3 * w, X + 3 * w + 1, 2 * sizeof *X);
    assert_int_equal(Y[2], X[3 + 1]); /* stride 2: the next window starts 2 later */
    hid_t file = H5Fopen(spath("out.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    dpt_vocab v;
    assert_int_equal(dpt_vocab_read(&v, file, err, sizeof err), 0);
    H5Fclose(file);
    /* counts: a 2, b 2, c 2, \n 2, then é and — once (ties by bytes) */
    assert_string_equal(v.tokens[2], "\n");
    assert_string_equal(v.tokens[3], "a");
    assert_int_equal(v.V, 8); /* pad unk \n a b c é — */
    char text[64];
    dpt_vocab_decode(&v, X, 3, text, sizeof text);
    assert_string_equal(text, "abc");
    dpt_vocab_decode(&v, X + 9, 3, text, sizeof text);
    assert_string_equal(text, "é—c");
    dpt_vocab_free(&v);
}

static void holdout_takes_whole_documents_and_its_characters_may_be_unknown(void **state) {
    (void)state;
    const char *f[] = {write_text("f.txt", "abcd\n%\nefgh\n%\nijkl\n%\nmnop\n%\nqrst\n")};
    dpt_text_opts to = {.seq_len = 4,
                        .documents = DPT_TEXT_DOC_PERCENT,
                        .holdout = 0.2,
                        .holdout_out = spath("ho.h5"),
                        .seed = 5};
    char err[512];
    assert_int_equal(run(f, 1, &to, err), 0);
    /* one document of five is held out: 4 characters and "\n", one window of 4 */
    assert_dims(spath("ho.h5"), "X", 2, 1, 4, 0);
    assert_dims(spath("out.h5"), "X", 2, 4, 4, 0); /* 20 tokens: windows at 0, 4, 8, 12 */
    hsize_t dims[2];
    int32_t X[4];
    read_ds(spath("ho.h5"), "X", dims, H5T_NATIVE_INT32, X);
    hid_t file = H5Fopen(spath("out.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    dpt_vocab v;
    assert_int_equal(dpt_vocab_read(&v, file, err, sizeof err), 0);
    H5Fclose(file);
    char text[64];
    dpt_vocab_decode(&v, X, 4, text, sizeof text);
    /* every document has its own letters: the held-out ones are not in the vocabulary */
    assert_string_equal(text, "<unk><unk><unk><unk>");
    assert_int_equal(v.V, 3 + 16); /* pad, unk, \n and the training documents' letters */
    dpt_vocab_free(&v);
    to.holdout = 0.01; /* rounds to no document */
    assert_int_equal(run(f, 1, &to, err), -1);
    assert_msg(err, "--holdout 0.01 of 5 documents holds out 0", NULL);
}

static void labelled_lines_are_padded_with_lengths_and_sorted_classes(void **state) {
    (void)state;
    const char *f[] = {write_text("l.tsv", "pos\tgood film\nneg\tbad, bad film\n\npos\tgreat\n")};
    dpt_text_opts to = {.labels = true, .level = DPT_VOCAB_WORD};
    char err[512];
    assert_int_equal(run(f, 1, &to, err), 0);
    assert_dims(spath("out.h5"), "X", 2, 3, 4, 0);
    assert_ints(spath("out.h5"), "lengths", (int32_t[]){2, 4, 1}, 3);
    assert_ints(spath("out.h5"), "y", (int32_t[]){1, 0, 1}, 3);
    hsize_t dims[2];
    int32_t X[12];
    read_ds(spath("out.h5"), "X", dims, H5T_NATIVE_INT32, X);
    assert_int_equal(X[2], 0); /* padding */
    assert_int_equal(X[3], 0);
    assert_int_equal(X[9], 0);
    to.seq_len = 2; /* truncates the 4-token text */
    assert_int_equal(run(f, 1, &to, err), 0);
    assert_ints(spath("out.h5"), "lengths", (int32_t[]){2, 2, 1}, 3);
    f[0] = write_text("e.tsv", "pos\tgood\nneg\t  \n");
    assert_int_equal(run(f, 1, &to, err), -1);
    assert_msg(err, "e.tsv:2: empty text after the tab", NULL);
    f[0] = write_text("t.tsv", "pos good\n");
    assert_int_equal(run(f, 1, &to, err), -1);
    assert_msg(err, "t.tsv:1: no tab: expected LABEL<TAB>TEXT", NULL);
}

static void invalid_utf8_and_short_text_are_refused_leaving_no_output(void **state) {
    (void)state;
    unlink(spath("out.h5"));
    const char *f[] = {write_text("ok.txt", "fine\n"),
                       write_bytes("bad.txt", "ok\nab\xE9t\xC3\n", 8)};
    dpt_text_opts to = {0};
    char err[512];
    assert_int_equal(run(f, 2, &to, err), -1);
    assert_msg(err, "bad.txt:2: invalid UTF-8 (byte 0xe9 at column 3); expected UTF-8 text", NULL);
    assert_int_equal(run(f, 1, &to, err), -1); /* 5 tokens, T = 100 */
    assert_msg(err,
               "ok.txt: 5 tokens in the 1 training document, but one window of --seq-len 100 "
               "needs 101",
               NULL);
    assert_int_equal(access(spath("out.h5"), F_OK), -1);
    assert_no_temporaries();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(documents_are_cut_by_file_line_percent_and_blank_lines),
        cmocka_unit_test(windows_start_every_stride_and_y_is_x_shifted_by_one),
        cmocka_unit_test(language_model_windows_hold_the_text_and_its_next_characters),
        cmocka_unit_test(holdout_takes_whole_documents_and_its_characters_may_be_unknown),
        cmocka_unit_test(labelled_lines_are_padded_with_lengths_and_sorted_classes),
        cmocka_unit_test(invalid_utf8_and_short_text_are_refused_leaving_no_output),
    };
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
