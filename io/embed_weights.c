/* Pre-trained embedding vectors: .npy tables read row for row, GloVe / word2vec text files
 * matched by token against the training data's vocabulary.  Only lines whose token is in the
 * vocabulary have their numbers parsed (a 400k-word GloVe file for a 10k vocabulary); every line
 * has its field count checked.  See io/embed_weights.h. */
#include "io/embed_weights.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "core/util.h"
#include "io/h5file.h"
#include "io/npy.h"
#include "parallel/dist.h"

#define NPY_BLOCK_ROWS 4096 /* rows per read of a .npy table */

/* What a layer's `weights` file must fill. */
typedef struct target {
    const char *layer; /* its name, for messages */
    const char *path;  /* the file */
    int V, D;
    float *W; /* (V, D) */
} target;

/* ---- .npy ---- */

static bool has_npy_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[6] = {0};
    bool yes = f && fread(magic, 1, 6, f) == 6 && memcmp(magic, "\x93NUMPY", 6) == 0;
    if (f) fclose(f);
    return yes;
}

/* "(3, 4)", "(5,)" as NumPy shows shapes. */
static const char *shape_text(const dpt_npy *a, char *buf, size_t n) {
    int k = snprintf(buf, n, "(");
    for (int d = 0; d < a->ndim && (size_t)k < n; d++)
        k += snprintf(buf + k, n - (size_t)k, "%s%" PRId64, d ? ", " : "", a->shape[d]);
    if ((size_t)k < n) snprintf(buf + k, n - (size_t)k, a->ndim == 1 ? ",)" : ")");
    return buf;
}

static int load_npy(const target *t, int64_t *found, char *err, size_t errlen) {
    dpt_npy a;
    char msg[512], shape[160];
    if (dpt_npy_open(&a, t->path, msg, sizeof msg)) {
        dpt_npy_close(&a);
        return dpt_err(err, errlen, "%s, for embedding '%s'", msg, t->layer);
    }
    int rc = 0;
    if (a.kind != 'f')
        rc = dpt_err(err, errlen, "%s: embedding '%s': expected float32 or float64 values", t->path,
                     t->layer);
    else if (a.ndim != 2 || a.shape[0] != t->V || a.shape[1] != t->D)
        rc = dpt_err(err, errlen,
                     "%s: embedding '%s': expected a (vocab_size, dim) = (%d, %d) array, found %s",
                     t->path, t->layer, t->V, t->D, shape_text(&a, shape, sizeof shape));
    void *raw = rc ? NULL : dpt_calloc((size_t)NPY_BLOCK_ROWS * (size_t)t->D, (size_t)a.elem);
    for (int64_t r = 0; rc == 0 && r < t->V; r += NPY_BLOCK_ROWS) {
        int64_t n = t->V - r < NPY_BLOCK_ROWS ? t->V - r : NPY_BLOCK_ROWS;
        if (dpt_npy_read_f32(&a, n * t->D, raw, t->W + (size_t)r * t->D, msg, sizeof msg))
            rc = dpt_err(err, errlen, "%s, for embedding '%s'", msg, t->layer);
    }
    free(raw);
    dpt_npy_close(&a);
    *found = rc ? 0 : t->V;
    return rc;
}

/* ---- the vocabulary ---- */

/* The tokens of the data file's vocabulary, id order, with an index sorted by token.  The one
 * place that knows the vocabulary's layout: io/vocab.h's dpt_vocab_read can replace it. */
typedef struct vocab_index {
    int V;
    char **tokens; /* (V) owned */
    int *sorted;   /* (V) ids ordered by strcmp of their tokens */
} vocab_index;

static const vocab_index *sort_vocab; /* qsort has no argument for it */

static int by_token(const void *a, const void *b) {
    return strcmp(sort_vocab->tokens[*(const int *)a], sort_vocab->tokens[*(const int *)b]);
}

static void vocab_free(vocab_index *v) {
    for (int i = 0; v->tokens && i < v->V; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->sorted);
    memset(v, 0, sizeof *v);
}

/* Dataset `vocab` (V) of variable-length strings, copied into v->tokens. */
static int read_tokens(hid_t file, const char *path, vocab_index *v, char *err, size_t errlen) {
    hid_t d = H5Dopen2(file, "vocab", H5P_DEFAULT);
    hid_t ft = d >= 0 ? H5Dget_type(d) : -1, sp = d >= 0 ? H5Dget_space(d) : -1;
    int rc = 0;
    if (d < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) <= 0 ||
        H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_npoints(sp) > INT32_MAX)
        rc =
            dpt_err(err, errlen,
                    "%s: dataset 'vocab': expected a 1-D dataset of variable-length strings", path);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    char **s = NULL;
    if (rc == 0) {
        v->V = (int)H5Sget_simple_extent_npoints(sp);
        s = dpt_calloc((size_t)v->V + 1, sizeof *s);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0)
            rc = dpt_err(err, errlen, "%s: dataset 'vocab': cannot read", path);
    }
    if (rc == 0) {
        v->tokens = dpt_calloc((size_t)v->V + 1, sizeof *v->tokens);
        for (int i = 0; i < v->V; i++) {
            const char *tok = s[i] ? s[i] : "";
            v->tokens[i] = dpt_calloc(strlen(tok) + 1, 1);
            memcpy(v->tokens[i], tok, strlen(tok) + 1);
        }
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, s);
    }
    free(s);
    H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return rc;
}

static int vocab_read(const char *path, vocab_index *v, char *err, size_t errlen) {
    memset(v, 0, sizeof *v);
    hid_t file = dpt_h5r_open(path, err, errlen);
    if (file < 0) return -1;
    int rc = 0;
    if (!dpt_h5r_exists(file, "vocab"))
        rc = dpt_err(err, errlen,
                     "%s: no dataset 'vocab' (the vocabulary the tokens of a text file of vectors "
                     "are matched against; docs/text.md)",
                     path);
    if (rc == 0) rc = read_tokens(file, path, v, err, errlen);
    H5Fclose(file);
    if (rc) {
        vocab_free(v);
        return -1;
    }
    v->sorted = dpt_calloc((size_t)v->V + 1, sizeof *v->sorted);
    for (int i = 0; i < v->V; i++) v->sorted[i] = i;
    sort_vocab = v;
    qsort(v->sorted, (size_t)v->V, sizeof *v->sorted, by_token);
    sort_vocab = NULL;
    return 0;
}

/* The id of token (len bytes), or -1. */
static int vocab_find(const vocab_index *v, const char *token, size_t len) {
    int lo = 0, hi = v->V;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const char *t = v->tokens[v->sorted[mid]];
        int c = strncmp(t, token, len);
        if (c == 0) c = t[len] ? 1 : 0;
        if (c == 0) return v->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- text files ---- */

static bool is_sep(char c) {
    return c == ' ' || c == '\t';
}

/* Fields of s separated by runs of spaces or tabs. */
static int count_fields(const char *s) {
    int n = 0;
    for (const char *p = s; *p;) {
        while (is_sep(*p)) p++;
        if (!*p) break;
        n++;
        while (*p && !is_sep(*p)) p++;
    }
    return n;
}

/* The start of field i (0-based) of s. */
static const char *field(const char *s, int i) {
    const char *p = s;
    for (int k = 0;; k++) {
        while (is_sep(*p)) p++;
        if (k == i) return p;
        while (*p && !is_sep(*p)) p++;
    }
}

static bool is_number(const char *p, long long *as_int) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || (*end && !is_sep(*end)) || errno || !isfinite(v)) return false;
    if (as_int) *as_int = v == floor(v) && fabs(v) < 9e15 ? (long long)v : -1;
    return true;
}

/* The line's D numbers (after the token) into row; -1 with a message. */
static int parse_row(const target *t, const char *nums, long long line, float *row, char *err,
                     size_t errlen) {
    const char *p = nums;
    for (int j = 0; j < t->D; j++) {
        while (is_sep(*p)) p++;
        char *end;
        errno = 0;
        float v = strtof(p, &end);
        if (end == p || (*end && !is_sep(*end)) || errno == ERANGE || !isfinite(v)) {
            int n = 0;
            while (p[n] && !is_sep(p[n]) && n < 40) n++;
            return dpt_err(err, errlen,
                           "%s:%lld: embedding '%s': number %d: expected a finite float32 "
                           "number, got '%.*s'",
                           t->path, line, t->layer, j + 1, n, p);
        }
        row[j] = v;
        p = end;
    }
    return 0;
}

/* word2vec's first line "count dim": 1 (a header, dim checked), 0 (no header), -1 (wrong dim). */
static int header_line(const target *t, const char *s, char *err, size_t errlen) {
    long long count, dim;
    if (count_fields(s) != 2 || !is_number(field(s, 0), &count) || !is_number(field(s, 1), &dim) ||
        count < 0 || dim < 1)
        return 0;
    if (dim != t->D)
        return dpt_err(err, errlen,
                       "%s:1: embedding '%s': the header says %lld-dimensional vectors, expected "
                       "dim %d",
                       t->path, t->layer, dim, t->D);
    return 1;
}

/* One line (trailing newline and spaces removed): its token's row when the vocabulary has it
 * and the file did not give it before. */
static int text_line(const target *t, const vocab_index *v, const char *s, long long line,
                     bool *seen, float *row, int64_t *found, char *err, size_t errlen) {
    int k = count_fields(s);
    if (k == 0) return 0;
    /* A token with spaces (GloVe 840B has some) is every field before the last D; a second
     * field that is a number means the line has the wrong count of numbers. */
    if (k < t->D + 1 || (k > t->D + 1 && is_number(field(s, 1), NULL)))
        return dpt_err(err, errlen,
                       "%s:%lld: embedding '%s': expected a token and dim = %d numbers, found %d "
                       "fields",
                       t->path, line, t->layer, t->D, k);
    const char *tok = field(s, 0), *nums = field(s, k - t->D);
    size_t len = (size_t)(nums - tok);
    while (len > 0 && is_sep(tok[len - 1])) len--;
    int id = vocab_find(v, tok, len);
    if (id < 0 || id >= t->V || seen[id]) return 0;
    if (parse_row(t, nums, line, row, err, errlen)) return -1;
    memcpy(t->W + (size_t)id * t->D, row, (size_t)t->D * sizeof *row);
    seen[id] = true;
    (*found)++;
    return 0;
}

static int load_text(const target *t, const char *vocab_h5, int64_t *found, char *err,
                     size_t errlen) {
    if (!vocab_h5)
        return dpt_err(err, errlen,
                       "%s: embedding '%s': a text file of vectors is matched by token, which "
                       "needs the data file's vocabulary (none given)",
                       t->path, t->layer);
    vocab_index v;
    if (vocab_read(vocab_h5, &v, err, errlen)) return -1;
    if (v.V > t->V) {
        int n = v.V;
        vocab_free(&v);
        return dpt_err(err, errlen,
                       "%s: the vocabulary has %d tokens, but embedding '%s' has vocab_size %d "
                       "(expected vocab_size >= %d)",
                       vocab_h5, n, t->layer, t->V, n);
    }
    FILE *f = fopen(t->path, "r");
    if (!f) {
        vocab_free(&v);
        return dpt_err(err, errlen, "%s: embedding '%s': cannot open: %s", t->path, t->layer,
                       strerror(errno));
    }
    bool *seen = dpt_calloc((size_t)t->V, sizeof *seen);
    float *row = dpt_alloc_floats((size_t)t->D); /* (D) */
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    long long line = 0;
    int rc = 0;
    *found = 0;
    while (rc == 0 && (n = getline(&buf, &cap, f)) >= 0) {
        line++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || is_sep(buf[n - 1]))) n--;
        buf[n] = '\0';
        int h = line == 1 ? header_line(t, buf, err, errlen) : 0;
        if (h < 0) rc = -1;
        if (h == 0 && rc == 0) rc = text_line(t, &v, buf, line, seen, row, found, err, errlen);
    }
    if (rc == 0 && ferror(f))
        rc = dpt_err(err, errlen, "%s: embedding '%s': read failed after line %lld", t->path,
                     t->layer, line);
    fclose(f);
    free(buf);
    free(row);
    free(seen);
    vocab_free(&v);
    return rc;
}

/* ---- layers ---- */

int dpt_embedding_load_layer(dpt_layer *l, const char *path, const char *vocab_h5, int64_t *found,
                             char *err, size_t errlen) {
    DPT_ASSERT(l->ntensors >= 1 && l->tensors[0].ndim == 2);
    target t = {.layer = l->name,
                .path = path,
                .V = l->tensors[0].dim[0],
                .D = l->tensors[0].dim[1],
                .W = l->params};
    *found = 0;
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return dpt_err(err, errlen, "%s: embedding '%s': cannot open: %s", path, l->name,
                       strerror(errno));
    fclose(probe);
    int rc = has_npy_magic(path) ? load_npy(&t, found, err, errlen)
                                 : load_text(&t, vocab_h5, found, err, errlen);
    if (rc) return -1;
    char pad[32];
    dpt_layer_spec_get(&l->spec, "padding_id", pad, sizeof pad);
    long p = pad[0] ? strtol(pad, NULL, 10) : -1;
    if (p >= 0 && p < t.V) memset(t.W + (size_t)p * t.D, 0, (size_t)t.D * sizeof *t.W);
    return 0;
}

/* "9,812" */
static const char *grouped(int64_t v, char *buf, size_t n) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRId64, v), k = 0;
    for (int i = 0; i < len && (size_t)k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0 && digits[i - 1] != '-') buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

int dpt_embedding_load_weights(dpt_model *m, const char *vocab_h5, char *err, size_t errlen) {
    int loaded = 0;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        char path[512], a[32], b[32];
        dpt_layer_spec_get(&l->spec, "weights", path, sizeof path);
        if (!path[0] || l->ntensors < 1 || l->tensors[0].ndim != 2) continue;
        int64_t found;
        if (dpt_embedding_load_layer(l, path, vocab_h5, &found, err, errlen)) return -1;
        dpt_log0("embedding '%s': %s of %s tokens from %s\n", l->name, grouped(found, a, sizeof a),
                 grouped(l->tensors[0].dim[0], b, sizeof b), path);
        loaded++;
    }
    return loaded;
}
