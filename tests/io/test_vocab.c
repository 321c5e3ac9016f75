/* Specification of io/utf8 and io/vocab: strict UTF-8 with the offset of the first bad byte;
 * the tokenizer (char level = one code point per token, word level = letter/digit runs and single
 * punctuation); building, ordering and pruning a vocabulary deterministically; encode/decode
 * round trips with multibyte characters; the HDF5 round trip; and every malformed vocabulary
 * refused with a message naming the dataset or attribute. */
#include "io/utf8.h"
#include "io/vocab.h"
#include "test_import_util.h"

static void utf8_accepts_multibyte_and_names_the_first_bad_byte(void **state) {
    (void)state;
    const char *ok = "a\xC3\xA9\xE2\x80\x94\xE6\x97\xA5\xF0\x9F\x98\x80"; /* a é — 日 😀 */
    assert_int_equal(dpt_utf8_check(ok, strlen(ok)), strlen(ok));
    size_t pos = 1;
    uint32_t cp;
    assert_int_equal(dpt_utf8_next(ok, strlen(ok), &pos, &cp), 0);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(pos, 3);
    /* a lone continuation byte, an overlong '/', a surrogate, a truncated sequence, > U+10FFFF */
    const char *bad[] = {"ab\x80", "ab\xC0\xAF", "ab\xED\xA0\x80", "ab\xE2\x80",
                         "ab\xF4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dpt_utf8_check(bad[i], strlen(bad[i])), 2);
    char out[4];
    assert_int_equal(dpt_utf8_encode(0x65E5, out), 3);
    assert_memory_equal(out, "\xE6\x97\xA5", 3);
    assert_int_equal(dpt_utf8_encode(0xD800, out), 0);
}

/* The tokens of s at level, joined by '|'. */
static const char *tokens(dpt_vocab_level level, const char *s) {
    static char buf[256];
    size_t pos = 0, start, len, n = 0;
    buf[0] = '\0';
    while (dpt_vocab_next_token(level, s, strlen(s), &pos, &start, &len) == 1)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", n ? "|" : "", (int)len, s + start);
    return buf;
}

static void tokenizer_splits_code_points_and_words(void **state) {
    (void)state;
    assert_string_equal(tokens(DPT_VOCAB_CHAR, "é a\n日本"), "é| |a|\n|日|本");
    assert_string_equal(tokens(DPT_VOCAB_WORD, "Don't stop—now, 2 café!\n日本 x"),
                        "Don|'|t|stop—now|,|2|café|!|日本|x");
    size_t pos = 0, start, len;
    const char *bad = "ab \xFF";
    assert_int_equal(dpt_vocab_next_token(DPT_VOCAB_WORD, bad, 4, &pos, &start, &len), 1);
    assert_int_equal(dpt_vocab_next_token(DPT_VOCAB_WORD, bad, 4, &pos, &start, &len), -1);
    assert_int_equal(pos, 3);
}

/* A char vocabulary of text, every code point counted once per occurrence. */
static void build(dpt_vocab *v, const char *text, int max_size) {
    dpt_vocab_init(v, DPT_VOCAB_CHAR, false);
    size_t pos = 0, start, len;
    while (dpt_vocab_next_token(DPT_VOCAB_CHAR, text, strlen(text), &pos, &start, &len) == 1)
        dpt_vocab_add(v, text + start, len, 1);
    dpt_vocab_sort(v, max_size);
}

static void sort_orders_by_count_then_bytes_and_prunes_into_unk(void **state) {
    (void)state;
    dpt_vocab v;
    build(&v, "ccbbaaé—d", 0);
    const char *want[] = {"<pad>", "<unk>", "a", "b", "c", "d", "é", "—"};
    assert_int_equal(v.V, 8);
    for (int i = 0; i < 8; i++) assert_string_equal(v.tokens[i], want[i]);
    assert_int_equal(v.counts[2], 2);
    assert_int_equal(dpt_vocab_find(&v, "é"), 6);
    assert_int_equal(dpt_vocab_find(&v, "x"), -1);
    dpt_vocab_free(&v);
    build(&v, "ccbbaaé—d", 4); /* keeps a, b (ties: bytewise), the rest counts as <unk> */
    assert_int_equal(v.V, 4);
    assert_string_equal(v.tokens[3], "b");
    assert_int_equal(v.counts[DPT_VOCAB_UNK], 5); /* c c d é — */
    assert_int_equal(dpt_vocab_find(&v, "c"), -1);
    dpt_vocab_free(&v);
}

static void encode_decode_round_trip_multibyte_text(void **state) {
    (void)state;
    dpt_vocab v;
    const char *text = "日本 — é!";
    build(&v, text, 0);
    int32_t ids[32];
    int64_t n = dpt_vocab_encode(&v, text, strlen(text), ids, 32, NULL);
    assert_int_equal(n, 7); /* code points, not bytes */
    char out[64];
    assert_int_equal(dpt_vocab_decode(&v, ids, n, out, sizeof out), strlen(text));
    assert_string_equal(out, text);
    int32_t unk[3];
    assert_int_equal(dpt_vocab_encode(&v, "éx", 3, unk, 3, NULL), 2);
    assert_int_equal(unk[1], DPT_VOCAB_UNK);
    int32_t mixed[] = {DPT_VOCAB_PAD, unk[0], DPT_VOCAB_UNK, 999};
    dpt_vocab_decode(&v, mixed, 4, out, sizeof out);
    assert_string_equal(out, "é<unk><unk>");
    assert_int_equal(dpt_vocab_decode(&v, ids, n, out, 4), strlen(text)); /* truncated */
    assert_int_equal(strlen(out), 3);
    size_t bad = 0;
    assert_int_equal(dpt_vocab_encode(&v, "é\xC3", 3, ids, 32, &bad), -1);
    assert_int_equal(bad, 2);
    dpt_vocab_free(&v);
}

static void word_level_joins_with_spaces_and_lowercases(void **state) {
    (void)state;
    dpt_vocab v;
    dpt_vocab_init(&v, DPT_VOCAB_WORD, true);
    v.lowercase = true;
    dpt_vocab_add(&v, "hello", 5, 3);
    dpt_vocab_add(&v, ",", 1, 1);
    int32_t ids[8];
    assert_int_equal(dpt_vocab_encode(&v, "Hello, WORLD", 12, ids, 8, NULL), 3);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[2], DPT_VOCAB_UNK);
    int32_t seq[] = {v.start_id, 4, 5, 4, v.end_id};
    char out[64];
    dpt_vocab_decode(&v, seq, 5, out, sizeof out);
    assert_string_equal(out, "hello , hello");
    dpt_vocab_free(&v);
}

static hid_t create(const char *name) {
    hid_t f = H5Fcreate(spath(name), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void hdf5_round_trip_keeps_every_field(void **state) {
    (void)state;
    dpt_vocab v, r;
    dpt_vocab_init(&v, DPT_VOCAB_CHAR, true);
    for (const char *s = "日本é"; *s;) {
        size_t pos = 0;
        uint32_t cp;
        assert_int_equal(dpt_utf8_next(s, strlen(s), &pos, &cp), 0);
        dpt_vocab_add(&v, s, pos, (int64_t)pos);
        s += pos;
    }
    char err[512];
    hid_t f = create("v.h5"), g = H5Gcreate2(f, "model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_int_equal(dpt_vocab_write(&v, g, err, sizeof err), 0);
    assert_true(dpt_vocab_has(g));
    assert_false(dpt_vocab_has(f));
    assert_int_equal(dpt_vocab_read(&r, g, err, sizeof err), 0);
    assert_int_equal(r.V, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(r.tokens[i], v.tokens[i]);
        assert_int_equal(r.counts[i], v.counts[i]);
    }
    assert_int_equal(r.level, DPT_VOCAB_CHAR);
    assert_int_equal(r.start_id, 2);
    assert_int_equal(r.end_id, 3);
    assert_int_equal(dpt_vocab_find(&r, "本"), 5);
    H5Gclose(g);
    H5Fclose(f);
    dpt_vocab_free(&v);
    dpt_vocab_free(&r);
}

/* A file whose vocabulary is v with one thing broken by `breaker`, read back: the message. */
typedef void (*breaker)(hid_t f);

static const char *read_broken(breaker b) {
    static char err[512];
    dpt_vocab v, r;
    dpt_vocab_init(&v, DPT_VOCAB_CHAR, false);
    dpt_vocab_add(&v, "a", 1, 1);
    dpt_vocab_add(&v, "é", 2, 1);
    hid_t f = create("bad.h5");
    assert_int_equal(dpt_vocab_write(&v, f, err, sizeof err), 0);
    b(f);
    err[0] = '\0';
    assert_int_equal(dpt_vocab_read(&r, f, err, sizeof err), -1);
    H5Fclose(f);
    dpt_vocab_free(&v);
    dpt_vocab_free(&r);
    return err;
}

static void set_int_attr(hid_t f, const char *name, int32_t val) {
    hid_t d = H5Dopen2(f, "vocab", H5P_DEFAULT);
    H5Adelete(d, name);
    hid_t sp = H5Screate(H5S_SCALAR),
          a = H5Acreate2(d, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT32, &val);
    H5Aclose(a), H5Sclose(sp), H5Dclose(d);
}

/* vocab rewritten with these tokens (V = 4). */
static void set_tokens(hid_t f, const char *t2, const char *t3) {
    const char *tok[4] = {"<pad>", "<unk>", t2, t3};
    hid_t d = H5Dopen2(f, "vocab", H5P_DEFAULT), t = H5Dget_type(d);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tok);
    H5Tclose(t), H5Dclose(d);
}

static void bad_pad(hid_t f) {
    set_int_attr(f, "pad_id", 2);
}
static void bad_start(hid_t f) {
    set_int_attr(f, "start_id", 7);
}
static void bad_dup(hid_t f) {
    set_tokens(f, "a", "a");
}
static void bad_utf8(hid_t f) {
    set_tokens(f, "a", "\xC3");
}
static void bad_two_chars(hid_t f) {
    set_tokens(f, "a", "ab");
}
static void bad_counts(hid_t f) {
    H5Ldelete(f, "vocab_counts", H5P_DEFAULT);
    int64_t c[3] = {0};
    dpt_test_h5_put(f, "vocab_counts", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, (hsize_t[]){3}, c);
}
static void bad_level(hid_t f) {
    hid_t d = H5Dopen2(f, "vocab", H5P_DEFAULT);
    H5Adelete(d, "level");
    H5Dclose(d);
}
static void bad_missing(hid_t f) {
    H5Ldelete(f, "vocab", H5P_DEFAULT);
}

static void malformed_vocabularies_are_refused_naming_what_is_wrong(void **state) {
    (void)state;
    assert_msg(read_broken(bad_pad), "bad.h5: dataset 'vocab': attribute 'pad_id' is 2, expected 0",
               "\"<pad>\"", NULL);
    assert_msg(read_broken(bad_start),
               "attribute 'start_id' is 7, expected 2 with token 2 \"<start>\"", NULL);
    assert_msg(read_broken(bad_dup), "token 3 \"a\" is a duplicate of token 2", NULL);
    assert_msg(read_broken(bad_utf8), "token 3 is not valid UTF-8", NULL);
    assert_msg(read_broken(bad_two_chars), "token 3 \"ab\" is not one character", NULL);
    assert_msg(read_broken(bad_counts), "dataset 'vocab_counts': 3 values, expected 4", NULL);
    assert_msg(read_broken(bad_level),
               "attribute 'level': expected the string \"char\" or \"word\"", NULL);
    assert_msg(read_broken(bad_missing), "no dataset 'vocab'", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_accepts_multibyte_and_names_the_first_bad_byte),
        cmocka_unit_test(tokenizer_splits_code_points_and_words),
        cmocka_unit_test(sort_orders_by_count_then_bytes_and_prunes_into_unk),
        cmocka_unit_test(encode_decode_round_trip_multibyte_text),
        cmocka_unit_test(word_level_joins_with_spaces_and_lowercases),
        cmocka_unit_test(hdf5_round_trip_keeps_every_field),
        cmocka_unit_test(malformed_vocabularies_are_refused_naming_what_is_wrong),
    };
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
