/* dpt_mkdata addition / reverse: sequence-to-sequence task data as int32 token ids with a
 * character vocabulary, in both encoder-decoder forms (a fixed-length "repeat" answer, and
 * teacher forcing with <start>/<end>), train and test files disjoint.  See mkdata_seq2seq.h and
 * docs/data.md ("Sequence to sequence"). */
#include "tools/mkdata_seq2seq.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "core/util.h"
#include "io/fs.h"
#include "io/h5file.h"
#include "io/vocab.h"
#include "parallel/dist.h"

typedef struct s2s_opts {
    const char *cmd;
    int64_t n, test_n, digits, min_len, max_len, tokens, seed;
    const char *pos[2];
    int npos;
} s2s_opts;

/* ---- arguments ---- */

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr,
                "dpt_mkdata: %s: expected an integer in [%" PRId64 ", %" PRId64 "], got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_option(s2s_opts *o, const char *name, const char *v) {
    static const struct {
        const char *name, *cmds;
        size_t off;
        int64_t lo, hi;
    } rows[] = {
        {"--n", "addition reverse", offsetof(s2s_opts, n), 1, INT64_C(1) << 26},
        {"--test-n", "addition reverse", offsetof(s2s_opts, test_n), 1, INT64_C(1) << 26},
        {"--seed", "addition reverse", offsetof(s2s_opts, seed), 0, INT64_MAX},
        {"--digits", "addition", offsetof(s2s_opts, digits), 1, 9},
        {"--min-len", "reverse", offsetof(s2s_opts, min_len), 1, 4096},
        {"--max-len", "reverse", offsetof(s2s_opts, max_len), 1, 4096},
        {"--tokens", "reverse", offsetof(s2s_opts, tokens), 2, 26},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (!strcmp(name, rows[i].name) && strstr(rows[i].cmds, o->cmd))
            return parse_i64(name, v, rows[i].lo, rows[i].hi,
                             (int64_t *)(void *)((char *)o + rows[i].off));
    fprintf(stderr, "dpt_mkdata: %s: unknown option '%s'\n", o->cmd, name);
    return -1;
}

static int parse_args(s2s_opts *o, int argc, char **argv) {
    bool add = !strcmp(argv[1], "addition");
    *o = (s2s_opts){.cmd = argv[1],
                    .n = add ? 50000 : 20000,
                    .test_n = add ? 5000 : 2000,
                    .digits = 3,
                    .min_len = 10,
                    .max_len = 40,
                    .tokens = 20,
                    .seed = 1};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0) {
            if (o->npos == 2) return -1;
            o->pos[o->npos++] = a;
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        if (!eq && i + 1 >= argc) {
            fprintf(stderr, "dpt_mkdata: option %s needs a value\n", a);
            return -1;
        }
        if (set_option(o, name, eq ? eq + 1 : argv[++i])) return -1;
    }
    if (o->npos != 2) {
        fprintf(stderr, "dpt_mkdata: %s takes TRAIN.h5 TEST.h5\n", o->cmd);
        return -1;
    }
    if (o->min_len > o->max_len) {
        fprintf(stderr,
                "dpt_mkdata: reverse: --min-len %" PRId64 " is above --max-len %" PRId64 "\n",
                o->min_len, o->max_len);
        return -1;
    }
    return 0;
}

/* ---- random numbers (splitmix64, as dpt_mkdata.c: the data must not change with core's RNG) */

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int64_t rng_below(uint64_t *s, int64_t n) {
    return (int64_t)(rng_next(s) % (uint64_t)n); /* bias < n / 2^64: negligible here */
}

/* ---- distinct examples: a set of fixed-width keys ---- */

typedef struct key_set {
    int64_t *slot; /* (cap) index into keys, -1 empty */
    size_t cap;
    const int32_t *keys; /* (rows, width), owned by the caller */
    int width;
} key_set;

/* An empty set for rows keys of width int32 each (a quarter full at most). */
static key_set set_make(const int32_t *keys, int64_t rows, int width) {
    key_set s = {.keys = keys, .width = width, .cap = 16};
    while (s.cap < (size_t)rows * 4) s.cap *= 2; /* a power of two: probing masks the index */
    s.slot = dpt_calloc(s.cap, sizeof *s.slot);
    for (size_t i = 0; i < s.cap; i++) s.slot[i] = -1;
    return s;
}

/* Adds key row r of s->keys; false when an equal key is there already. */
static bool set_add(key_set *s, int64_t r) {
    const int32_t *k = s->keys + (size_t)r * s->width;
    size_t bytes = (size_t)s->width * sizeof *k, mask = s->cap - 1;
    for (size_t i = (size_t)dpt_fnv1a(DPT_FNV_BASIS, k, bytes) & mask;; i = (i + 1) & mask) {
        if (s->slot[i] < 0) {
            s->slot[i] = r;
            return true;
        }
        if (!memcmp(s->keys + (size_t)s->slot[i] * s->width, k, bytes)) return false;
    }
}

/* ---- the examples ---- */

/* Every dataset of the task, (rows, width) int32 (width 0: (rows)). */
typedef struct s2s_ds {
    const char *name;
    int width;
    int32_t *v;
} s2s_ds;

#define MAXDS 8

typedef struct s2s_data {
    int64_t rows;
    int nds;
    s2s_ds ds[MAXDS];
    dpt_vocab vocab;
} s2s_data;

static int32_t *add_ds(s2s_data *d, const char *name, int width) {
    DPT_ASSERT(d->nds < MAXDS);
    int32_t *v = dpt_calloc((size_t)d->rows * (width ? width : 1), sizeof *v);
    d->ds[d->nds++] = (s2s_ds){name, width, v};
    return v;
}

static void free_data(s2s_data *d) {
    for (int i = 0; i < d->nds; i++) free(d->ds[i].v);
    dpt_vocab_free(&d->vocab);
}

/* The teacher-forcing pair for row r from the answer ids a (n): target_in = <start> a, y = a
 * <end>, both padded with <pad> to width, lengths n + 1. */
static void teacher(s2s_data *d, int64_t r, const int32_t *a, int n, int width) {
    int32_t *tin = d->ds[2].v + (size_t)r * width, *y = d->ds[3].v + (size_t)r * width;
    tin[0] = d->vocab.start_id;
    for (int k = 0; k < n; k++) tin[k + 1] = y[k] = a[k];
    y[n] = d->vocab.end_id;
    d->ds[4].v[r] = d->ds[5].v[r] = n + 1;
}

/* The datasets both tasks share, in this order (teacher() relies on it). */
static void add_common(s2s_data *d, int src_width, int out_width) {
    add_ds(d, "source", src_width);
    add_ds(d, "source_lengths", 0);
    add_ds(d, "target_in", out_width);
    add_ds(d, "y", out_width);
    add_ds(d, "y_lengths", 0);
    add_ds(d, "target_in_lengths", 0);
}

/* An operand as Keras' addition example draws it: 1..D digits, each uniform. */
static int64_t draw_number(uint64_t *s, int64_t D) {
    int64_t len = 1 + rng_below(s, D), v = 0;
    for (int64_t k = 0; k < len; k++) v = 10 * v + rng_below(s, 10);
    return v;
}

static int fill_addition(s2s_data *d, const s2s_opts *o) {
    int D = (int)o->digits, src_w = 2 * D + 1;
    dpt_vocab_init(&d->vocab, DPT_VOCAB_CHAR, true);
    for (const char *c = "0123456789+ "; *c; c++) dpt_vocab_add(&d->vocab, c, 1, 0);
    add_common(d, src_w, D + 2);
    int32_t *answer = add_ds(d, "answer", D + 1), *keys = dpt_calloc((size_t)d->rows * 4, 4);
    key_set set = set_make(keys, d->rows, 4);
    uint64_t s = (uint64_t)o->seed;
    int64_t r = 0, tries = 0;
    for (; r < d->rows && tries < 100 * d->rows + 100000; tries++) {
        int64_t a = draw_number(&s, D), b = draw_number(&s, D), lo = a < b ? a : b;
        int64_t hi = a < b ? b : a; /* a+b and b+a are one question, as in Keras */
        int32_t *k = keys + (size_t)r * 4;
        k[0] = (int32_t)(lo >> 31), k[1] = (int32_t)(lo & 0x7FFFFFFF);
        k[2] = (int32_t)(hi >> 31), k[3] = (int32_t)(hi & 0x7FFFFFFF);
        if (!set_add(&set, r)) continue;
        char q[32], ans[16];
        int qn = snprintf(q, sizeof q, "%" PRId64 "+%" PRId64, a, b);
        int an = snprintf(ans, sizeof ans, "%" PRId64, a + b);
        int32_t ids[16];
        for (int c = 0; c < qn; c++)
            d->ds[0].v[(size_t)r * src_w + c] = dpt_vocab_find_n(&d->vocab, q + c, 1);
        d->ds[1].v[r] = qn;
        for (int c = 0; c <= D; c++)
            answer[(size_t)r * (D + 1) + c] =
                dpt_vocab_find_n(&d->vocab, c < an ? ans + c : " ", 1);
        for (int c = 0; c < an; c++) ids[c] = dpt_vocab_find_n(&d->vocab, ans + c, 1);
        teacher(d, r, ids, an, D + 2);
        r++;
    }
    free(set.slot);
    free(keys);
    if (r == d->rows) return 0;
    fprintf(stderr,
            "dpt_mkdata: addition: cannot draw %" PRId64 " distinct questions with --digits %d "
            "(found %" PRId64 "): lower --n/--test-n or raise --digits\n",
            d->rows, D, r);
    return -1;
}

static int fill_reverse(s2s_data *d, const s2s_opts *o) {
    int L = (int)o->max_len, K = (int)o->tokens;
    dpt_vocab_init(&d->vocab, DPT_VOCAB_CHAR, true);
    for (int k = 0; k < K; k++) dpt_vocab_add(&d->vocab, (const char[]){(char)('a' + k)}, 1, 0);
    add_common(d, L, L + 1);
    key_set set = set_make(d->ds[0].v, d->rows, L);
    uint64_t s = (uint64_t)o->seed;
    int32_t *rev = dpt_calloc((size_t)L, sizeof *rev);
    int64_t r = 0, tries = 0;
    for (; r < d->rows && tries < 100 * d->rows + 100000; tries++) {
        int n = (int)(o->min_len + rng_below(&s, o->max_len - o->min_len + 1));
        int32_t *src = d->ds[0].v + (size_t)r * L;
        memset(src, 0, (size_t)L * sizeof *src);
        for (int k = 0; k < n; k++) src[k] = 4 + (int32_t)rng_below(&s, K); /* after the specials */
        if (!set_add(&set, r)) continue; /* padded with <pad>: equal rows are equal sequences */
        d->ds[1].v[r] = n;
        for (int k = 0; k < n; k++) rev[k] = src[n - 1 - k];
        teacher(d, r, rev, n, L + 1);
        r++;
    }
    free(rev);
    free(set.slot);
    if (r == d->rows) return 0;
    fprintf(stderr,
            "dpt_mkdata: reverse: cannot draw %" PRId64 " distinct sequences (found %" PRId64
            "): lower --n/--test-n or raise --tokens or --max-len\n",
            d->rows, r);
    return -1;
}

/* ---- writing ---- */

/* The vocabulary's counts: the tokens of the training rows' source and y. */
static void count_tokens(s2s_data *d, int64_t rows) {
    for (int64_t r = 0; r < rows; r++) {
        for (int k = 0; k < d->ds[1].v[r]; k++)
            d->vocab.counts[d->ds[0].v[(size_t)r * d->ds[0].width + k]]++;
        for (int k = 0; k < d->ds[4].v[r]; k++)
            d->vocab.counts[d->ds[3].v[(size_t)r * d->ds[3].width + k]]++;
    }
}

/* Rows [r0, r0 + n) of every dataset, and the vocabulary, to path (atomically). */
static int write_split(const s2s_data *d, int64_t r0, int64_t n, const char *path,
                       const char *desc) {
    char err[1024];
    dpt_h5w w;
    if (dpt_mkdirs_for(path, err, sizeof err) || dpt_h5w_begin(&w, path, err, sizeof err)) {
        fprintf(stderr, "dpt_mkdata: error: %s\n", err);
        return -1;
    }
    dpt_h5w_string(&w, w.file, "dpt_mkdata", desc, 1);
    for (int i = 0; i < d->nds; i++) {
        const s2s_ds *ds = &d->ds[i];
        int width = ds->width ? ds->width : 1;
        hsize_t dims[2] = {(hsize_t)n, (hsize_t)ds->width};
        dpt_h5w_array(&w, w.file, ds->name, H5T_STD_I32LE, H5T_NATIVE_INT32, ds->width ? 2 : 1,
                      dims, ds->v + (size_t)r0 * width);
    }
    if (!w.failed && dpt_vocab_write(&d->vocab, w.file, err, sizeof err)) w.failed = 1;
    if (dpt_h5w_finish(&w)) {
        fprintf(stderr, "dpt_mkdata: error: %s\n", err);
        return -1;
    }
    return 0;
}

bool dpt_mkdata_is_seq2seq(const char *cmd) {
    return !strcmp(cmd, "addition") || !strcmp(cmd, "reverse");
}

/* "dpt_mkdata addition --n 50000 ...": the command line, recorded in the files. */
static void describe(char *buf, size_t len, int argc, char **argv) {
    int n = snprintf(buf, len, "dpt_mkdata");
    for (int i = 1; i < argc && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, " %s", argv[i]);
}

int dpt_mkdata_seq2seq(int argc, char **argv) {
    s2s_opts o;
    if (parse_args(&o, argc, argv)) {
        fputs("usage:\n" DPT_MKDATA_SEQ2SEQ_USAGE, stderr);
        return DPT_EXIT_USAGE;
    }
    s2s_data d = {.rows = o.n + o.test_n};
    int rc = !strcmp(o.cmd, "addition") ? fill_addition(&d, &o) : fill_reverse(&d, &o);
    char desc[1024];
    describe(desc, sizeof desc, argc, argv);
    if (!rc) count_tokens(&d, o.n);
    if (!rc) rc = write_split(&d, 0, o.n, o.pos[0], desc);
    if (!rc) rc = write_split(&d, o.n, o.test_n, o.pos[1], desc);
    free_data(&d);
    return rc ? DPT_EXIT_ERROR : DPT_EXIT_OK;
}
