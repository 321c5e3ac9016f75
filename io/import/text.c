/* `dptrain import text FILE... OUT.h5`: UTF-8 text to token ids.  Every input is read whole,
 * checked (UTF-8, labels), cut into documents and split into training and held-out documents;
 * the vocabulary is built from the training documents (or read from --vocab); then each split
 * is encoded and written: next-token windows, or padded labelled texts.  See io/import/text.h. */
#include "io/import/text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/util.h"
#include "io/h5file.h"
#include "io/utf8.h"

/* ---- documents and windows ---- */

/* The span [a, b) of s with its trailing newlines trimmed, when not empty. */
static void emit(const char *s, size_t a, size_t b, int64_t line, dpt_text_span *out, int64_t *n) {
    while (b > a && s[b - 1] == '\n') b--;
    if (b == a) return;
    if (out) out[*n] = (dpt_text_span){a, b - a, line};
    ++*n;
}

static bool is_blank(const char *s, size_t a, size_t b) {
    for (size_t i = a; i < b; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

int64_t dpt_text_documents(const char *s, size_t n, dpt_text_docs mode, dpt_text_span *out) {
    int64_t count = 0;
    if (mode == DPT_TEXT_DOC_FILE) {
        emit(s, 0, n, 1, out, &count);
        return count;
    }
    size_t doc = 0;
    int64_t doc_line = 1, line = 1;
    for (size_t ls = 0; ls < n; line++) {
        const char *nl = memchr(s + ls, '\n', n - ls);
        size_t le = nl ? (size_t)(nl - s) : n, next = nl ? le + 1 : n;
        bool sep = mode == DPT_TEXT_DOC_LINE      ? true
                   : mode == DPT_TEXT_DOC_PERCENT ? le - ls == 1 && s[ls] == '%'
                                                  : is_blank(s, ls, le);
        if (mode == DPT_TEXT_DOC_LINE)
            emit(s, ls, le, line, out, &count);
        else if (sep)
            emit(s, doc, ls, doc_line, out, &count);
        if (sep) doc = next, doc_line = line + 1;
        ls = next;
    }
    if (mode != DPT_TEXT_DOC_LINE) emit(s, doc, n, doc_line, out, &count);
    return count;
}

int64_t dpt_text_nwindows(int64_t ntok, int T, int stride) {
    return ntok <= T ? 0 : (ntok - T - 1) / stride + 1;
}

void dpt_text_window(const int32_t *ids, int64_t w, int T, int stride, int32_t *x, int32_t *y) {
    const int32_t *p = ids + w * stride;
    memcpy(x, p, (size_t)T * sizeof *x);
    memcpy(y, p + 1, (size_t)T * sizeof *y);
}

/* ---- reading the inputs ---- */

typedef struct txt_file {
    const char *path;
    char *buf; /* the text, UTF-8 checked, CRLF as LF, lowercased when asked */
    size_t len;
} txt_file;

typedef struct txt_doc {
    int file;
    dpt_text_span sp;
    bool held; /* in the held-out split */
    int label; /* --labels: class id; the text is after the tab */
} txt_doc;

typedef struct txt_job {
    const dpt_text_opts *to;
    int T, stride;
    txt_file *files;
    int nfiles;
    txt_doc *docs;
    int64_t ndocs, nheld;
    dpt_vocab v;
    char **classes; /* (nclass) sorted, --labels */
    int nclass;
} txt_job;

static int read_whole(txt_file *f, char *err, size_t errlen) {
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return dpt_err(err, errlen, "%s: cannot open: %s", f->path, strerror(errno));
    size_t cap = 1 << 16;
    f->buf = dpt_calloc(cap + 1, 1);
    for (size_t got; (got = fread(f->buf + f->len, 1, cap - f->len, fp)) > 0;) {
        f->len += got;
        if (f->len == cap) {
            if ((int64_t)cap >= DPT_TEXT_MAX_FILE) break;
            char *grown = realloc(f->buf, 2 * cap + 1);
            DPT_ASSERT(grown);
            f->buf = grown, cap *= 2;
        }
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return dpt_err(err, errlen, "%s: cannot read: %s", f->path, strerror(errno));
    if ((int64_t)f->len >= DPT_TEXT_MAX_FILE)
        return dpt_err(err, errlen, "%s: larger than %" PRId64 " bytes (split the file)", f->path,
                       DPT_TEXT_MAX_FILE);
    f->buf[f->len] = '\0';
    return 0;
}

/* Line (1-based) and column (in characters, 1-based) of byte offset off of s. */
static void line_col(const char *s, size_t off, int64_t *line, int64_t *col) {
    size_t start = 0;
    *line = 1;
    for (size_t i = 0; i < off; i++)
        if (s[i] == '\n') ++*line, start = i + 1;
    *col = 1;
    for (size_t i = start; i < off; i++) *col += ((unsigned char)s[i] & 0xC0) != 0x80;
}

static int check_utf8(const txt_file *f, char *err, size_t errlen) {
    size_t bad = dpt_utf8_check(f->buf, f->len);
    if (bad == f->len) return 0;
    int64_t line, col;
    line_col(f->buf, bad, &line, &col);
    return dpt_err(err, errlen,
                   "%s:%" PRId64 ": invalid UTF-8 (byte 0x%02x at column %" PRId64
                   "); expected UTF-8 text",
                   f->path, line, (unsigned char)f->buf[bad], col);
}

/* Drops a byte-order mark and the CR of CRLF line ends (line numbers stay). */
static void normalise(txt_file *f, bool lowercase) {
    size_t skip = f->len >= 3 && !memcmp(f->buf, "\xEF\xBB\xBF", 3) ? 3 : 0, o = 0;
    for (size_t i = skip; i < f->len; i++)
        if (!(f->buf[i] == '\r' && i + 1 < f->len && f->buf[i + 1] == '\n'))
            f->buf[o++] = f->buf[i];
    f->len = o;
    f->buf[o] = '\0';
    if (lowercase) dpt_vocab_lower(f->buf, f->len);
}

static int read_inputs(txt_job *j, const char *const *paths, bool lowercase, char *err,
                       size_t errlen) {
    j->files = dpt_calloc((size_t)j->nfiles, sizeof *j->files);
    for (int i = 0; i < j->nfiles; i++) {
        j->files[i].path = paths[i];
        if (read_whole(&j->files[i], err, errlen) || check_utf8(&j->files[i], err, errlen))
            return -1;
        normalise(&j->files[i], lowercase);
    }
    return 0;
}

static int cut_documents(txt_job *j, char *err, size_t errlen) {
    dpt_text_docs mode = j->to->labels ? DPT_TEXT_DOC_LINE : j->to->documents;
    int64_t n = 0;
    for (int i = 0; i < j->nfiles; i++)
        n += dpt_text_documents(j->files[i].buf, j->files[i].len, mode, NULL);
    if (n == 0)
        return dpt_err(err, errlen, "%s%s: no text (expected at least one non-empty %s)",
                       j->files[0].path, j->nfiles > 1 ? " ..." : "",
                       j->to->labels ? "line LABEL<TAB>TEXT" : "document");
    j->docs = dpt_calloc((size_t)n, sizeof *j->docs);
    dpt_text_span *sp = dpt_calloc((size_t)n, sizeof *sp);
    for (int i = 0; i < j->nfiles; i++) {
        int64_t k = dpt_text_documents(j->files[i].buf, j->files[i].len, mode, sp);
        for (int64_t d = 0; d < k; d++) j->docs[j->ndocs++] = (txt_doc){.file = i, .sp = sp[d]};
    }
    free(sp);
    return 0;
}

/* Whole documents to the held-out split: the first of a Fisher-Yates permutation drawn from the
 * seed (the same on every machine). */
static int split_documents(txt_job *j, char *err, size_t errlen) {
    if (j->to->holdout <= 0) return 0;
    int64_t n = j->ndocs, h = (int64_t)llround(j->to->holdout * (double)n);
    if (h < 1 || h >= n)
        return dpt_err(err, errlen,
                       "--holdout %g of %" PRId64 " %s holds out %" PRId64
                       ": expected at least one for each file (more documents, or another "
                       "--documents or --holdout)",
                       j->to->holdout, n, j->to->labels ? "lines" : "documents", h);
    int64_t *perm = dpt_calloc((size_t)n, sizeof *perm);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    dpt_rng rng;
    dpt_rng_seed(&rng, j->to->seed, 0);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t k = (int64_t)dpt_rng_below(&rng, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[k], perm[k] = t;
    }
    for (int64_t i = 0; i < h; i++) j->docs[perm[i]].held = true;
    j->nheld = h;
    free(perm);
    return 0;
}

/* The text of document d: after the tab with --labels. */
static const char *doc_text(const txt_job *j, const txt_doc *d, size_t *len) {
    const char *s = j->files[d->file].buf + d->sp.start;
    *len = d->sp.len;
    if (!j->to->labels) return s;
    const char *tab = memchr(s, '\t', *len);
    *len -= (size_t)(tab - s) + 1;
    return tab + 1;
}

/* ---- labels ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int doc_error(const txt_job *j, const txt_doc *d, char *err, size_t errlen,
                     const char *what) {
    return dpt_err(err, errlen, "%s:%" PRId64 ": %s", j->files[d->file].path, d->sp.line, what);
}

/* Every line has a tab after a non-empty label; the sorted distinct labels, unless they came
 * from --vocab's file. */
static int collect_classes(txt_job *j, char *err, size_t errlen) {
    char **names = dpt_calloc((size_t)j->ndocs, sizeof *names);
    int64_t n = 0;
    int rc = 0;
    for (int64_t i = 0; !rc && i < j->ndocs; i++) {
        const txt_doc *d = &j->docs[i];
        const char *s = j->files[d->file].buf + d->sp.start, *tab = memchr(s, '\t', d->sp.len);
        if (!tab)
            rc = doc_error(j, d, err, errlen, "no tab: expected LABEL<TAB>TEXT");
        else if (tab == s)
            rc =
                doc_error(j, d, err, errlen, "empty label before the tab: expected LABEL<TAB>TEXT");
        else
            names[n++] = strndup(s, (size_t)(tab - s));
    }
    if (!rc && !j->classes) {
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        j->classes = dpt_calloc((size_t)n, sizeof *j->classes);
        for (int64_t i = 0; i < n; i++)
            if (!j->nclass || strcmp(names[i], j->classes[j->nclass - 1]))
                j->classes[j->nclass++] = strdup(names[i]);
    }
    for (int64_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int assign_labels(txt_job *j, char *err, size_t errlen) {
    for (int64_t i = 0; i < j->ndocs; i++) {
        txt_doc *d = &j->docs[i];
        const char *s = j->files[d->file].buf + d->sp.start, *tab = memchr(s, '\t', d->sp.len);
        char *name = strndup(s, (size_t)(tab - s));
        char **hit = bsearch(&name, j->classes, (size_t)j->nclass, sizeof *j->classes, cmp_str);
        if (!hit) {
            char what[512];
            snprintf(what, sizeof what,
                     "label '%.200s' is not one of the %d classes of %s (its class_names)", name,
                     j->nclass, j->to->vocab_from);
            free(name);
            return doc_error(j, d, err, errlen, what);
        }
        free(name);
        d->label = (int)(hit - j->classes);
    }
    return 0;
}

/* class_names of file (variable-length strings), when it has them. */
static int read_class_names(txt_job *j, hid_t file, char *err, size_t errlen) {
    if (H5Lexists(file, "class_names", H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(file, "class_names", H5P_DEFAULT), sp = H5Dget_space(d);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    char **s = dpt_calloc((size_t)(n > 0 ? n : 1), sizeof *s);
    int rc = n > 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0 ? 0 : -1;
    if (rc)
        dpt_err(err, errlen, "%s: dataset 'class_names': expected variable-length strings",
                j->to->vocab_from);
    j->classes = dpt_calloc((size_t)(n > 0 ? n : 1), sizeof *j->classes);
    for (hssize_t i = 0; !rc && i < n; i++) {
        j->classes[i] = strdup(s[i] ? s[i] : "");
        if (i && strcmp(j->classes[i - 1], j->classes[i]) >= 0)
            rc = dpt_err(err, errlen, "%s: dataset 'class_names': expected sorted distinct names",
                         j->to->vocab_from);
        j->nclass = (int)i + 1;
    }
    if (n > 0) H5Dvlen_reclaim(t, sp, H5P_DEFAULT, s);
    free(s);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* ---- the vocabulary ---- */

static int load_vocab(txt_job *j, char *err, size_t errlen) {
    const dpt_text_opts *to = j->to;
    hid_t f = dpt_h5r_open(to->vocab_from, err, errlen);
    if (f < 0) return -1;
    int rc = 0;
    if (!dpt_vocab_has(f))
        rc = dpt_err(err, errlen,
                     "%s: no vocabulary (expected the datasets vocab and vocab_counts, as "
                     "dptrain import text writes them)",
                     to->vocab_from);
    if (!rc) rc = dpt_vocab_read(&j->v, f, err, errlen);
    if (!rc && to->level_set && to->level != j->v.level)
        rc = dpt_err(err, errlen, "%s: the vocabulary's level is %s, but --level %s was given",
                     to->vocab_from, dpt_vocab_level_name(j->v.level),
                     dpt_vocab_level_name(to->level));
    if (!rc && to->labels) rc = read_class_names(j, f, err, errlen);
    H5Fclose(f);
    return rc;
}

/* From the training documents: every token counted; char level counts the "\n" that follows
 * each document too. */
static void build_vocab(txt_job *j) {
    dpt_vocab_init(&j->v, j->to->level, false);
    j->v.lowercase = j->to->lowercase;
    for (int64_t i = 0; i < j->ndocs; i++) {
        if (j->docs[i].held) continue;
        size_t len, pos = 0, start, tl;
        const char *s = doc_text(j, &j->docs[i], &len);
        while (dpt_vocab_next_token(j->v.level, s, len, &pos, &start, &tl) == 1)
            dpt_vocab_add(&j->v, s + start, tl, 1);
        if (!j->to->labels && j->v.level == DPT_VOCAB_CHAR) dpt_vocab_add(&j->v, "\n", 1, 1);
    }
    dpt_vocab_sort(&j->v, j->to->max_vocab);
}

/* ---- encoding and writing a split ---- */

typedef struct txt_split {
    bool held;
    int64_t ndocs;
    int32_t *ids; /* (ntok) language model: the documents' tokens, each followed by "\n" */
    int64_t ntok, nunk;
    int64_t N;         /* rows */
    int64_t truncated; /* --labels: texts longer than T */
} txt_split;

static const char *split_name(const txt_split *sp) {
    return sp->held ? "held-out" : "training";
}

static int encode_lm(txt_job *j, txt_split *sp, char *err, size_t errlen) {
    size_t cap = 0, len;
    for (int64_t i = 0; i < j->ndocs; i++)
        if (j->docs[i].held == sp->held) cap += j->docs[i].sp.len + 1, sp->ndocs++;
    sp->ids = dpt_calloc(cap, sizeof *sp->ids);
    int nl = dpt_vocab_find(&j->v, "\n");
    for (int64_t i = 0; i < j->ndocs; i++) {
        if (j->docs[i].held != sp->held) continue;
        const char *s = doc_text(j, &j->docs[i], &len);
        int64_t n =
            dpt_vocab_encode(&j->v, s, len, sp->ids + sp->ntok, (int64_t)cap - sp->ntok, NULL);
        DPT_ASSERT(n >= 0 && sp->ntok + n < (int64_t)cap); /* checked UTF-8; a token >= 1 byte */
        sp->ntok += n;
        if (j->v.level == DPT_VOCAB_CHAR) sp->ids[sp->ntok++] = nl < 0 ? j->v.unk_id : nl;
    }
    for (int64_t i = 0; i < sp->ntok; i++) sp->nunk += sp->ids[i] == j->v.unk_id;
    sp->N = dpt_text_nwindows(sp->ntok, j->T, j->stride);
    if (sp->N > 0) return 0;
    return dpt_err(err, errlen,
                   "%s%s: %" PRId64 " tokens in the %" PRId64 " %s document%s, but one window of "
                   "--seq-len %d needs %d (inputs and their next-token targets): lower --seq-len "
                   "or give more text",
                   j->files[0].path, j->nfiles > 1 ? " ..." : "", sp->ntok, sp->ndocs,
                   split_name(sp), sp->ndocs == 1 ? "" : "s", j->T, j->T + 1);
}

/* --labels: every text has a token; T is the longest (capped by --seq-len). */
static int measure_texts(txt_job *j, char *err, size_t errlen) {
    int64_t longest = 0;
    for (int64_t i = 0; i < j->ndocs; i++) {
        size_t len;
        const char *s = doc_text(j, &j->docs[i], &len);
        int64_t n = dpt_vocab_encode(&j->v, s, len, NULL, 0, NULL);
        if (n <= 0)
            return doc_error(j, &j->docs[i], err, errlen,
                             "empty text after the tab: expected LABEL<TAB>TEXT with at least one "
                             "token");
        if (n > longest) longest = n;
    }
    if (longest > INT32_MAX) longest = INT32_MAX;
    j->T = j->to->seq_len > 0 && j->to->seq_len < longest ? j->to->seq_len : (int)longest;
    return 0;
}

static int write_vocab(dpt_impw *iw, const dpt_vocab *v, char *err, size_t errlen) {
    if (iw->w.failed) return -1;
    if (!dpt_vocab_write(v, iw->w.file, err, errlen)) return 0;
    iw->w.failed = 1; /* the message is in err */
    return -1;
}

static int write_windows(txt_job *j, const txt_split *sp, dpt_impw *iw, const dpt_import_opts *o) {
    int64_t row[1] = {j->T};
    int xi = dpt_impw_add(iw, o->x_name ? o->x_name : "X", true, 2, row, sp->N, true);
    int yi = dpt_impw_add(iw, o->y_name ? o->y_name : "y", true, 2, row, sp->N, true);
    if (xi < 0 || yi < 0) return -1;
    int64_t block = dpt_impw_block_rows(iw, xi);
    int32_t *x = dpt_calloc((size_t)block * j->T, sizeof *x); /* (block, T) */
    int32_t *y = dpt_calloc((size_t)block * j->T, sizeof *y); /* (block, T) */
    int rc = 0;
    for (int64_t r = 0; !rc && r < sp->N; r += block) {
        int64_t n = sp->N - r < block ? sp->N - r : block;
        for (int64_t w = 0; w < n; w++)
            dpt_text_window(sp->ids, r + w, j->T, j->stride, x + (size_t)w * j->T,
                            y + (size_t)w * j->T);
        rc = dpt_impw_append(iw, xi, x, n) || dpt_impw_append(iw, yi, y, n) ? -1 : 0;
    }
    free(x);
    free(y);
    return rc;
}

typedef struct lab_buf {
    int32_t *x;   /* (block, T) */
    int32_t *y;   /* (block) */
    int32_t *len; /* (block) */
    int32_t *tmp; /* (longest text) */
} lab_buf;

static int write_labelled(txt_job *j, txt_split *sp, dpt_impw *iw, const dpt_import_opts *o) {
    int64_t row[1] = {j->T}, longest = 0;
    for (int64_t i = 0; i < j->ndocs; i++) {
        if (j->docs[i].held != sp->held) continue;
        sp->N++;
        if ((int64_t)j->docs[i].sp.len > longest) longest = (int64_t)j->docs[i].sp.len;
    }
    int xi = dpt_impw_add(iw, o->x_name ? o->x_name : "X", true, 2, row, sp->N, true);
    int yi = dpt_impw_add(iw, o->y_name ? o->y_name : "y", true, 1, NULL, sp->N, true);
    int li = dpt_impw_add(iw, "lengths", true, 1, NULL, sp->N, true);
    if (xi < 0 || yi < 0 || li < 0) return -1;
    int64_t block = dpt_impw_block_rows(iw, xi), r = 0;
    lab_buf b = {dpt_calloc((size_t)block * j->T, sizeof *b.x), dpt_calloc((size_t)block, 4),
                 dpt_calloc((size_t)block, 4), dpt_calloc((size_t)longest + 1, 4)};
    int rc = 0;
    for (int64_t i = 0; !rc && i < j->ndocs; i++) {
        if (j->docs[i].held != sp->held) continue;
        size_t len;
        const char *s = doc_text(j, &j->docs[i], &len);
        int64_t n = dpt_vocab_encode(&j->v, s, len, b.tmp, longest + 1, NULL), k = r % block;
        int32_t *x = b.x + (size_t)k * j->T;
        memset(x, 0, (size_t)j->T * sizeof *x); /* <pad> is 0 */
        memcpy(x, b.tmp, (size_t)(n < j->T ? n : j->T) * sizeof *x);
        b.len[k] = (int32_t)(n < j->T ? n : j->T);
        b.y[k] = j->docs[i].label;
        sp->truncated += n > j->T;
        if (++r % block == 0 || r == sp->N)
            rc = dpt_impw_append(iw, xi, b.x, k + 1) || dpt_impw_append(iw, yi, b.y, k + 1) ||
                         dpt_impw_append(iw, li, b.len, k + 1)
                     ? -1
                     : 0;
    }
    free(b.x), free(b.y), free(b.len), free(b.tmp);
    return rc;
}

static void write_class_names(dpt_impw *iw, const txt_job *j) {
    hsize_t k = (hsize_t)j->nclass;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    dpt_h5w_array(&iw->w, iw->w.file, "class_names", t, t, 1, &k, j->classes);
    H5Tclose(t);
}

/* "3 documents, 5120 tokens (2 <unk>), vocabulary 61 (char)"; with --labels "2 classes [a, b],
 * vocabulary 61 (char), 3 texts truncated to 50 tokens". */
static void describe(const txt_job *j, const txt_split *sp, dpt_import_summary *s) {
    size_t len = sizeof s->note;
    int n = 0;
    if (!j->to->labels) {
        n = snprintf(s->note, len, "%" PRId64 " document%s, %" PRId64 " tokens (%" PRId64 " <unk>)",
                     sp->ndocs, sp->ndocs == 1 ? "" : "s", sp->ntok, sp->nunk);
    } else {
        n = snprintf(s->note, len, "%d class%s [", j->nclass, j->nclass == 1 ? "" : "es");
        for (int k = 0; k < j->nclass && (size_t)n < len - 96; k++)
            n += snprintf(s->note + n, len - (size_t)n, "%s%s", k ? ", " : "", j->classes[k]);
        if ((size_t)n >= len - 96) n += snprintf(s->note + n, len - (size_t)n, ", ...");
        n += snprintf(s->note + n, len - (size_t)n, "]");
    }
    n += snprintf(s->note + n, len - (size_t)n, ", vocabulary %d (%s)", j->v.V,
                  dpt_vocab_level_name(j->v.level));
    if (sp->truncated)
        snprintf(s->note + n, len - (size_t)n, ", %" PRId64 " text%s truncated to %d tokens",
                 sp->truncated, sp->truncated == 1 ? "" : "s", j->T);
}

static int write_split(txt_job *j, txt_split *sp, const char *out, const dpt_import_opts *o,
                       dpt_import_summary *s, char *err, size_t errlen) {
    dpt_impw iw;
    if (dpt_impw_begin(&iw, out, o, err, errlen)) return -1;
    int rc = j->to->labels ? write_labelled(j, sp, &iw, o) : write_windows(j, sp, &iw, o);
    if (!rc && j->to->labels) write_class_names(&iw, j);
    if (!rc) rc = write_vocab(&iw, &j->v, err, errlen);
    if (rc) {
        dpt_impw_abort(&iw);
        return -1;
    }
    if (dpt_impw_finish(&iw, s)) return -1;
    if (s) describe(j, sp, s);
    return 0;
}

/* ---- the import ---- */

static void free_job(txt_job *j) {
    for (int i = 0; j->files && i < j->nfiles; i++) free(j->files[i].buf);
    for (int k = 0; k < j->nclass; k++) free(j->classes[k]);
    free(j->classes);
    free(j->files);
    free(j->docs);
    dpt_vocab_free(&j->v);
}

/* Everything before an output is created: inputs, documents, labels, split, vocabulary. */
static int prepare(txt_job *j, const char *const *files, char *err, size_t errlen) {
    const dpt_text_opts *to = j->to;
    if (to->vocab_from && load_vocab(j, err, errlen)) return -1;
    if (read_inputs(j, files, to->vocab_from ? j->v.lowercase : to->lowercase, err, errlen) ||
        cut_documents(j, err, errlen))
        return -1;
    if (to->labels && (collect_classes(j, err, errlen) || assign_labels(j, err, errlen))) return -1;
    if (split_documents(j, err, errlen)) return -1;
    if (!to->vocab_from) build_vocab(j);
    return to->labels ? measure_texts(j, err, errlen) : 0;
}

int dpt_import_text(const char *const *files, int nfiles, const char *out, const dpt_text_opts *to,
                    const dpt_import_opts *o, dpt_import_summary *s, dpt_import_summary *s_holdout,
                    char *err, size_t errlen) {
    txt_job j = {.to = to, .nfiles = nfiles};
    j.T = to->seq_len > 0 ? to->seq_len : DPT_TEXT_SEQ_LEN;
    j.stride = to->stride > 0 ? to->stride : j.T;
    bool hold = to->holdout > 0;
    txt_split tr = {.held = false}, ho = {.held = true};
    int rc = prepare(&j, files, err, errlen);
    if (!rc && !to->labels) rc = encode_lm(&j, &tr, err, errlen);
    if (!rc && !to->labels && hold) rc = encode_lm(&j, &ho, err, errlen);
    if (!rc && hold && !o->force && access(to->holdout_out, F_OK) == 0)
        rc = dpt_err(err, errlen, "%s: already exists (pass --force to replace it)",
                     to->holdout_out);
    if (!rc) rc = write_split(&j, &tr, out, o, s, err, errlen);
    if (!rc && hold) rc = write_split(&j, &ho, to->holdout_out, o, s_holdout, err, errlen);
    free(tr.ids);
    free(ho.ids);
    free_job(&j);
    return rc;
}
