/* Pre-trained embedding vectors (io/embed_weights.c): a .npy table row for row (float32 and
 * float64), a GloVe / word2vec text file matched by token against the vocabulary of a data file
 * written here (tokens it lacks keep their initialised vectors, the padding row stays zero), and
 * the refusals, each naming the file (and line) and the layer. */
#include <math.h>

#include "core/model.h"
#include "io/embed_weights.h"
#include "test_import_util.h"

enum { V = 6, D = 3 };

/* A data file holding only the vocabulary: `vocab` (n) variable-length UTF-8 strings. */
static const char *vocab_file(const char *name, const char *const *tokens, int n) {
    const char *p = spath(name);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(f, "vocab", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tokens) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    return p;
}

static const char *const TOKENS[V] = {"<pad>", "<unk>", "the", "cat", "new york", "sat"};

static const char *vocab(void) {
    return vocab_file("data.h5", TOKENS, V);
}

/* An .npy file of little-endian values: 10-byte preamble, the dict padded to 64 bytes. */
static const char *npy(const char *name, const char *descr, const char *shape, const void *data,
                       size_t len) {
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    size_t hlen = strlen(dict) + 1;
    hlen += (64 - (10 + hlen) % 64) % 64;
    unsigned char *buf = calloc(10 + hlen + len, 1);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): not a string */
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memset(buf + 10, ' ', hlen);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): not a string */
    memcpy(buf + 10, dict, strlen(dict));
    buf[10 + hlen - 1] = '\n';
    memcpy(buf + 10 + hlen, data, len);
    const char *p = write_bytes(name, buf, 10 + hlen + len);
    free(buf);
    return p;
}

/* A one-layer model "embedding vocab_size=V dim=D name=emb <extra>" for (4) ids, initialised
 * with seed 1. */
static void model(dpt_model *m, const char *extra) {
    char line[1024], err[512];
    snprintf(line, sizeof line, "embedding vocab_size=%d dim=%d name=emb %s", V, D, extra);
    dpt_layer_spec s;
    if (dpt_layer_spec_parse(&s, line, err, sizeof err)) fail_msg("%s: %s", line, err);
    dpt_shape in = dpt_shape_1d(4);
    in.dtype = DPT_I32;
    if (dpt_model_build(m, &s, 1, &in, 2, err, sizeof err)) fail_msg("%s", err);
    dpt_model_init_params(m, 1);
}

static void load_ok(dpt_model *m, const char *vocab_h5, int64_t want_found) {
    char err[1024] = "";
    int64_t found = -1;
    char path[512];
    dpt_layer_spec_get(&m->layers[0].spec, "weights", path, sizeof path);
    if (dpt_embedding_load_layer(&m->layers[0], path, vocab_h5, &found, err, sizeof err))
        fail_msg("refused: %s", err);
    assert_int_equal(found, want_found);
}

/* Loading with `weights: path` fails; the message holds every part (NULL-terminated). */
static void load_bad_parts(const char *path, const char *vocab_h5, const char *const *parts) {
    dpt_model m;
    char extra[600], err[1024] = "";
    snprintf(extra, sizeof extra, "weights=%s", path);
    model(&m, extra);
    assert_int_equal(dpt_embedding_load_weights(&m, vocab_h5, err, sizeof err), -1);
    if (getenv("DPT_TEST_VERBOSE")) printf("    %s\n", err);
    for (; *parts; parts++) assert_contains(err, *parts);
    dpt_model_free(&m);
}
#define load_bad(path, vocab_h5, ...) load_bad_parts(path, vocab_h5, (const char *[]){__VA_ARGS__})

static void test_npy_rows_are_token_ids_and_the_padding_row_stays_zero(void **state) {
    (void)state;
    float w[V * D];
    double w64[V * D];
    for (int i = 0; i < V * D; i++) w[i] = (float)(w64[i] = 0.5 * i - 3.25);
    const char *f32 = npy("w32.npy", "<f4", "(6, 3)", w, sizeof w);
    const char *f64 = npy("w64.npy", "<f8", "(6, 3)", w64, sizeof w64);
    for (int k = 0; k < 2; k++) {
        dpt_model m;
        char extra[600], err[512] = "";
        snprintf(extra, sizeof extra, "padding_id=1 weights=%s", k ? f64 : f32);
        model(&m, extra);
        /* No vocabulary needed: row i is id i.  One layer loaded. */
        assert_int_equal(dpt_embedding_load_weights(&m, NULL, err, sizeof err), 1);
        for (int i = 0; i < V * D; i++) assert_true(m.params[i] == (i / D == 1 ? 0.0f : w[i]));
        dpt_model_free(&m);
    }
    /* A model without a weights file loads nothing and keeps its initialisation. */
    dpt_model m, ref;
    model(&m, "");
    model(&ref, "");
    char err[64];
    assert_int_equal(dpt_embedding_load_weights(&m, NULL, err, sizeof err), 0);
    assert_memory_equal(m.params, ref.params, m.nparams * sizeof(float));
    dpt_model_free(&m);
    dpt_model_free(&ref);
}

static void test_npy_refusals_name_the_file_and_layer(void **state) {
    (void)state;
    float w[V * 4] = {0};
    load_bad(npy("wide.npy", "<f4", "(6, 4)", w, V * 4 * sizeof(float)), NULL, "wide.npy",
             "embedding 'emb'", "expected a (vocab_size, dim) = (6, 3) array, found (6, 4)", NULL);
    load_bad(npy("short.npy", "<f4", "(4, 3)", w, 12 * sizeof(float)), NULL, "found (4, 3)", NULL);
    int32_t ids[V * D] = {0};
    load_bad(npy("ints.npy", "<i4", "(6, 3)", ids, sizeof ids), NULL, "ints.npy",
             "embedding 'emb': expected float32 or float64 values", NULL);
    w[7] = NAN;
    load_bad(npy("nan.npy", "<f4", "(6, 3)", w, V * D * sizeof(float)), NULL, "nan.npy",
             "value [2, 1]: NaN", "embedding 'emb'", NULL);
    load_bad(npy("cut.npy", "<f4", "(6, 3)", w, 10 * sizeof(float)), NULL, "cut.npy",
             "embedding 'emb'", NULL);
    load_bad(spath("absent.npy"), NULL, "absent.npy: embedding 'emb': cannot open", NULL);
}

/* GloVe lines "token v1 v2 v3": tokens of the vocabulary get their vectors, others keep the
 * initialised ones; unknown words are skipped, the first of duplicate lines wins, a token may
 * hold spaces, and the padding token's vector is not taken. */
static void test_text_vectors_are_matched_by_token(void **state) {
    (void)state;
    const char *glove = write_text("glove.txt", "the 1 2 3\n"
                                                "dog 4 5 6\n"
                                                "cat 0.5 -1e-2 7\n"
                                                "new york 8 9 10\n"
                                                "the 11 12 13\n"
                                                "<pad> 1 1 1\r\n");
    dpt_model m, ref;
    char extra[600];
    snprintf(extra, sizeof extra, "padding_id=0 weights=%s", glove);
    model(&m, extra);
    model(&ref, extra);
    load_ok(&m, vocab(), 4); /* the, cat, new york, <pad> */
    const float want[4][D] = {{0, 0, 0}, {1, 2, 3}, {0.5f, -1e-2f, 7}, {8, 9, 10}};
    assert_memory_equal(m.params, want[0], D * sizeof(float));
    assert_memory_equal(m.params + 2 * D, want[1], 3 * D * sizeof(float));
    assert_memory_equal(m.params + 1 * D, ref.params + 1 * D, D * sizeof(float)); /* <unk> */
    assert_memory_equal(m.params + 5 * D, ref.params + 5 * D, D * sizeof(float)); /* sat */
    dpt_model_free(&m);
    dpt_model_free(&ref);
    /* word2vec text: a first line "count dim". */
    const char *w2v = write_text("w2v.txt", "2 3\nsat 1 2 3\ncat 4 5 6\n");
    snprintf(extra, sizeof extra, "weights=%s", w2v);
    model(&m, extra);
    char err[512] = "";
    assert_int_equal(dpt_embedding_load_weights(&m, vocab(), err, sizeof err), 1);
    const float sat[D] = {1, 2, 3};
    assert_memory_equal(m.params + 5 * D, sat, sizeof sat);
    dpt_model_free(&m);
}

static void test_text_refusals_name_the_file_line_and_layer(void **state) {
    (void)state;
    const char *h5 = vocab();
    load_bad(write_text("short.txt", "the 1 2 3\ncat 1 2\n"), h5,
             "short.txt:2: embedding 'emb': expected a token and dim = 3 numbers, found 3 fields",
             NULL);
    load_bad(write_text("long.txt", "the 1 2 3 4\n"), h5, "long.txt:1: embedding 'emb'",
             "found 5 fields", NULL);
    load_bad(write_text("bad.txt", "dog 1 2 3\ncat 1 x 3\n"), h5,
             "bad.txt:2: embedding 'emb': number 2: expected a finite float32 number, got 'x'",
             NULL);
    load_bad(write_text("huge.txt", "cat 1 1e39 3\n"), h5, "huge.txt:1:", "got '1e39'", NULL);
    load_bad(write_text("header.txt", "2 50\nthe 1 2 3\n"), h5,
             "header.txt:1: embedding 'emb': the header says 50-dimensional vectors, expected "
             "dim 3",
             NULL);
    const char *ok = write_text("ok.txt", "the 1 2 3\n");
    load_bad(ok, NULL, "ok.txt: embedding 'emb'", "needs the data file's vocabulary", NULL);
    const char *none = spath("novocab.h5");
    H5Fclose(H5Fcreate(none, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    load_bad(ok, none, "novocab.h5: no dataset 'vocab'", NULL);
    load_bad(ok, spath("missing.h5"), "missing.h5: cannot open", NULL);
    const char *const seven[7] = {"<pad>", "<unk>", "a", "b", "c", "d", "e"};
    load_bad(ok, vocab_file("big.h5", seven, 7), "big.h5: the vocabulary has 7 tokens",
             "embedding 'emb' has vocab_size 6", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_rows_are_token_ids_and_the_padding_row_stays_zero),
        cmocka_unit_test(test_npy_refusals_name_the_file_and_layer),
        cmocka_unit_test(test_text_vectors_are_matched_by_token),
        cmocka_unit_test(test_text_refusals_name_the_file_line_and_layer),
    };
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
