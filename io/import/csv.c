/* CSV files: one record per line (a quoted field may span lines), cells split on a delimiter,
 * quotes per RFC 4180 ("1.5", "a,b", "say ""hi"""), an optional header row naming the columns.
 * Blank lines and lines starting with '#' are skipped; a UTF-8 byte-order mark and CRLF line
 * ends are accepted.  Numbers are parsed with strtof (C locale: '.' decimal point), so every
 * value is the correctly rounded float32.  See io/import/csv.h and docs/data.md. */
#include "io/import/csv.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"

/* ---- cells ---- */

static bool is_blank(char c, char delim) {
    return (c == ' ' || c == '\t') && c != delim;
}

/* A quoted field starting at q (the opening quote), unquoted in place; *next is where the
 * delimiter or the end of the record is. */
static int unquote(char *q, char delim, char **next, char *err, size_t errlen) {
    char *w = q, *s = q + 1;
    for (;;) {
        if (*s == '\0') return dpt_err(err, errlen, "a quoted field has no closing quote");
        if (*s == '"' && s[1] == '"') {
            *w++ = '"', s += 2;
        } else if (*s == '"') {
            s++;
            break;
        } else {
            *w++ = *s++;
        }
    }
    while (is_blank(*s, delim)) s++;
    if (*s != delim && *s != '\0')
        return dpt_err(err, errlen, "text after the closing quote of a quoted field");
    *w = '\0'; /* w < s: the quotes took at least two characters */
    *next = s;
    return 0;
}

int dpt_csv_split(char *rec, char delim, char **cells, int max, char *err, size_t errlen) {
    int n = 0;
    for (char *p = rec;;) {
        char *q = p;
        while (is_blank(*q, delim)) q++;
        char *end = NULL;
        if (*q == '"') {
            if (unquote(q, delim, &end, err, errlen)) return -1;
            p = q;
        } else {
            end = strchr(p, delim);
            if (!end) end = p + strlen(p);
        }
        if (n < max) cells[n] = p;
        n++;
        if (*end == '\0') return n;
        *end = '\0';
        p = end + 1;
    }
}

static bool is_digit(char c) {
    return (unsigned)(c - '0') < 10u;
}

/* Clinger's fast path in float32: a decimal m x 10^e with m <= 2^24 and |e| <= 10 is one
 * correctly rounded IEEE multiplication or division of two exact floats, so the result equals
 * strtof's.  Most CSV numbers ("%.6f" of moderate values) qualify; false sends the rest to
 * strtof (3x slower).  *end is where the number stops. */
static bool fast_float(const char *s, const char **end, float *out) {
#if FLT_EVAL_METHOD == 0
    static const float p10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    bool neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    uint64_t m = 0;
    int digits = 0, e = 0;
    for (; is_digit(*s); s++, digits++) m = m * 10 + (uint64_t)(*s - '0');
    if (*s == '.')
        for (s++; is_digit(*s); s++, digits++, e--) m = m * 10 + (uint64_t)(*s - '0');
    if (digits == 0 || digits > 18) return false;
    if (*s == 'e' || *s == 'E') {
        bool eneg = s[1] == '-';
        s += s[1] == '-' || s[1] == '+' ? 2 : 1;
        int x = 0, n = 0;
        for (; is_digit(*s) && n < 4; s++, n++) x = x * 10 + (*s - '0');
        if (n == 0 || n == 4) return false;
        e += eneg ? -x : x;
    }
    if (m > (UINT64_C(1) << 24) || e < -10 || e > 10) return false;
    float v = e < 0 ? (float)m / p10[-e] : (float)m * p10[e];
    *out = neg ? -v : v;
    *end = s;
    return true;
#else
    (void)s, (void)end, (void)out;
    return false;
#endif
}

int dpt_csv_number(const char *cell, float *out) {
    const char *p = cell, *fend;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return 1;
    float v;
    if (fast_float(p, &fend, &v)) {
        while (isspace((unsigned char)*fend)) fend++;
        if (!*fend) return *out = v, 0;
    }
    char *end;
    errno = 0;
    v = strtof(p, &end);
    if (end == p) return 1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return 1;
    if (isnan(v)) return 2;
    if (isinf(v)) return errno == ERANGE ? 4 : 3;
    *out = v;
    return 0;
}

/* ---- records ---- */

typedef struct csv_in {
    FILE *f;
    const char *path;
    char delim;
    char *line; /* getline's buffer */
    size_t cap;
    char *rec; /* a record spanning lines, joined */
    size_t reccap;
    int64_t lineno;  /* physical lines read */
    int64_t recline; /* where the current record starts */
    char **cells;    /* (maxcells) into line or rec */
    int maxcells, ncells;
} csv_in;

static bool odd_quotes(const char *s, size_t len) {
    size_t n = 0;
    for (const char *p = s; (p = memchr(p, '"', len - (size_t)(p - s))); p++) n++;
    return n % 2;
}

/* The next physical line without its line end; -1 at end of file. */
static ssize_t next_line(csv_in *r) {
    ssize_t len = getline(&r->line, &r->cap, r->f);
    if (len < 0) return -1;
    r->lineno++;
    if (len > 0 && r->line[len - 1] == '\n') r->line[--len] = '\0';
    if (len > 0 && r->line[len - 1] == '\r') r->line[--len] = '\0';
    if (r->lineno == 1 && len >= 3 && !memcmp(r->line, "\xEF\xBB\xBF", 3)) {
        memmove(r->line, r->line + 3, (size_t)len - 2);
        len -= 3;
    }
    return len;
}

static bool skip_line(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0' || *s == '#';
}

/* Appends physical lines to line while a quoted field is open; returns the record. */
static char *join_lines(csv_in *r, size_t len, char *err, size_t errlen) {
    size_t used = 0;
    for (;;) {
        if (used + len + 2 > r->reccap) {
            r->reccap = 2 * (used + len + 2);
            char *grown = realloc(r->rec, r->reccap);
            DPT_ASSERT(grown);
            r->rec = grown;
        }
        memcpy(r->rec + used, r->line, len + 1);
        used += len;
        if (!odd_quotes(r->rec, used)) return r->rec;
        ssize_t more = next_line(r);
        if (more < 0) {
            dpt_err(err, errlen, "%s:%" PRId64 ": a quoted field has no closing quote", r->path,
                    r->recline);
            return NULL;
        }
        r->rec[used++] = '\n';
        len = (size_t)more;
    }
}

/* Room for as many cells as rec has delimiters + 1 (quoted ones included: an upper bound).
 * Later records with more cells are ragged anyway. */
static void grow_cells(csv_in *r, const char *rec) {
    int n = 1;
    for (const char *p = rec; (p = strchr(p, r->delim)); p++) n++;
    r->maxcells = n;
    r->cells = dpt_calloc((size_t)n, sizeof(char *));
}

/* Reads and splits the next record: 1, 0 at end of file, -1 on error. */
static int next_record(csv_in *r, char *err, size_t errlen) {
    ssize_t len;
    do {
        if ((len = next_line(r)) < 0)
            return ferror(r->f)
                       ? dpt_err(err, errlen, "%s: read error: %s", r->path, strerror(errno))
                       : 0;
    } while (skip_line(r->line));
    r->recline = r->lineno;
    char *rec =
        odd_quotes(r->line, (size_t)len) ? join_lines(r, (size_t)len, err, errlen) : r->line;
    if (!rec) return -1;
    if (!r->cells) grow_cells(r, rec); /* the first record: room for all its cells */
    char why[256];
    r->ncells = dpt_csv_split(rec, r->delim, r->cells, r->maxcells, why, sizeof why);
    if (r->ncells < 0) return dpt_err(err, errlen, "%s:%" PRId64 ": %s", r->path, r->recline, why);
    return 1;
}

/* ---- columns ---- */

typedef struct csv_cols {
    int ncols;
    char **names;  /* (ncols) header names, or NULL */
    int64_t first; /* line of the first row, for ragged-row messages */
    int F, K;
    int *feat; /* (F) column of each feature */
    int *targ; /* (K) column of each target */
} csv_cols;

static void cols_free(csv_cols *c) {
    for (int i = 0; c->names && i < c->ncols; i++) free(c->names[i]);
    free(c->names);
    free(c->feat);
    free(c->targ);
}

/* "column 3 ('price')" or "column 3". */
static const char *col_label(const csv_cols *c, int col, char *buf, size_t len) {
    if (c->names)
        snprintf(buf, len, "column %d ('%.60s')", col, c->names[col]);
    else
        snprintf(buf, len, "column %d", col);
    return buf;
}

static int find_col(const csv_cols *c, const char *tok, const char *opt, const char *path,
                    char *err, size_t errlen) {
    for (int i = 0; c->names && i < c->ncols; i++)
        if (!strcmp(c->names[i], tok)) return i;
    char *end;
    long v = strtol(tok, &end, 10);
    if (*tok && isdigit((unsigned char)*tok) && !*end) {
        if (v < c->ncols) return (int)v;
        return dpt_err(err, errlen,
                       "%s: column index %ld is out of range: %s has %d columns "
                       "(0..%d)",
                       opt, v, path, c->ncols, c->ncols - 1);
    }
    if (!c->names)
        return dpt_err(err, errlen,
                       "%s: '%s' is not a column index, and %s has no header row "
                       "(name columns by 0-based index, or pass --header yes)",
                       opt, tok, path);
    char list[256] = "";
    for (int i = 0; i < c->ncols && strlen(list) < 200; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%.40s'", i ? ", " : "",
                 c->names[i]);
    return dpt_err(err, errlen, "%s: unknown column '%s' in %s (columns: %s%s)", opt, tok, path,
                   list, strlen(list) >= 200 ? ", ..." : "");
}

/* Comma-separated names or indices into out (at most ncols); returns the count or -1. */
static int parse_cols(const csv_cols *c, const char *spec, const char *opt, const char *path,
                      int *out, char *err, size_t errlen) {
    char *copy = strdup(spec), *save = NULL;
    int n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t)) t++;
        for (size_t l = strlen(t); l > 0 && isspace((unsigned char)t[l - 1]); l--) t[l - 1] = 0;
        int col = find_col(c, t, opt, path, err, errlen);
        for (int i = 0; col >= 0 && i < n; i++)
            if (out[i] == col) col = dpt_err(err, errlen, "%s: column '%s' is named twice", opt, t);
        if (col < 0 || n == c->ncols) {
            free(copy);
            return -1;
        }
        out[n++] = col;
    }
    free(copy);
    if (n == 0) return dpt_err(err, errlen, "%s: no columns given", opt);
    return n;
}

static int pick_targets(csv_cols *c, const dpt_csv_opts *o, const char *path, char *err,
                        size_t errlen) {
    c->targ = dpt_calloc((size_t)c->ncols, sizeof(int));
    c->K = 0;
    if (!o->no_target && o->target)
        c->K = parse_cols(c, o->target, "--target", path, c->targ, err, errlen);
    else if (!o->no_target)
        c->targ[c->K++] = c->ncols - 1;
    if (c->K < 0) return -1;
    if (o->labels && c->K != 1)
        return dpt_err(err, errlen, "--labels needs exactly one target column, %s %d",
                       o->no_target ? "--no-target gives" : "--target names", c->K);
    return 0;
}

static bool is_target(const csv_cols *c, int col) {
    for (int k = 0; k < c->K; k++)
        if (c->targ[k] == col) return true;
    return false;
}

static int pick_features(csv_cols *c, const dpt_csv_opts *o, const char *path, char *err,
                         size_t errlen) {
    c->feat = dpt_calloc((size_t)c->ncols, sizeof(int));
    c->F = 0;
    if (o->features)
        c->F = parse_cols(c, o->features, "--features", path, c->feat, err, errlen);
    else
        for (int i = 0; i < c->ncols; i++)
            if (!is_target(c, i)) c->feat[c->F++] = i;
    if (c->F < 0) return -1;
    if (c->F == 0)
        return dpt_err(err, errlen, "%s: no feature columns left (%d columns, all targets)", path,
                       c->ncols);
    char lab[128];
    for (int j = 0; j < c->F; j++)
        if (is_target(c, c->feat[j]))
            return dpt_err(err, errlen, "%s: %s is both a feature and a target", path,
                           col_label(c, c->feat[j], lab, sizeof lab));
    return 0;
}

/* ---- rows ---- */

typedef struct csv_job {
    csv_in in;
    csv_cols c;
    bool labels;
    int64_t label_max; /* < 0: no limit */
    int xi, yi;        /* writer dataset indices */
    int64_t block, fill;
    float *xb; /* (block, F) */
    void *yb;  /* (block, K) float, or (block) int32 labels */
} csv_job;

/* "'abc'" quoted and cut to 40 characters. */
static const char *quoted(const char *cell, char *buf, size_t len) {
    snprintf(buf, len, "'%.40s%s'", cell, strlen(cell) > 40 ? "..." : "");
    return buf;
}

static int cell_error(const csv_job *j, int col, const char *cell, int why, char *err,
                      size_t errlen) {
    static const char *const text[] = {"", "is not a number", "is NaN", "is Inf",
                                       "is outside the float32 range"};
    char lab[128], q[64];
    bool comma = why == 1 && strchr(cell, ',') && isdigit((unsigned char)cell[0]);
    bool empty = why == 1 && strspn(cell, " \t") == strlen(cell);
    return dpt_err(err, errlen, "%s:%" PRId64 ": %s: %s %s%s", j->in.path, j->in.recline,
                   col_label(&j->c, col, lab, sizeof lab),
                   empty ? "empty cell" : quoted(cell, q, sizeof q),
                   empty ? "(a number is expected)" : text[why],
                   why == 2 || why == 3 ? " (non-finite values are refused)"
                   : comma              ? " (the decimal point must be '.')"
                                        : "");
}

static int parse_label(const csv_job *j, int col, const char *cell, int32_t *out, char *err,
                       size_t errlen) {
    float f;
    int why = dpt_csv_number(cell, &f);
    if (why) return cell_error(j, col, cell, why, err, errlen);
    double v = strtod(cell, NULL); /* a number (checked above); exact for integers < 2^53 */
    char lab[128], q[64];
    const char *problem = v != floor(v)   ? "is not an integer class label"
                          : v < 0         ? "is negative: class labels must be >= 0"
                          : v > INT32_MAX ? "is too large for a class label"
                          : j->label_max >= 0 && v > (double)j->label_max
                              ? "is above the largest allowed label"
                              : NULL;
    if (problem)
        return dpt_err(err, errlen, "%s:%" PRId64 ": %s: label %s %s", j->in.path, j->in.recline,
                       col_label(&j->c, col, lab, sizeof lab), quoted(cell, q, sizeof q), problem);
    *out = (int32_t)v;
    return 0;
}

/* The current record into row `fill` of the block. */
static int parse_row(csv_job *j, char *err, size_t errlen) {
    const csv_cols *c = &j->c;
    char **cells = j->in.cells;
    if (j->in.ncells != c->ncols)
        return dpt_err(err, errlen,
                       "%s:%" PRId64 ": expected %d cells (as in line %" PRId64 "), found %d",
                       j->in.path, j->in.recline, c->ncols, c->first, j->in.ncells);
    float *x = j->xb + j->fill * c->F;
    for (int f = 0; f < c->F; f++) {
        int why = dpt_csv_number(cells[c->feat[f]], &x[f]);
        if (why) return cell_error(j, c->feat[f], cells[c->feat[f]], why, err, errlen);
    }
    if (j->labels)
        return parse_label(j, c->targ[0], cells[c->targ[0]], (int32_t *)j->yb + j->fill, err,
                           errlen);
    float *y = (float *)j->yb + j->fill * c->K;
    for (int k = 0; k < c->K; k++) {
        int why = dpt_csv_number(cells[c->targ[k]], &y[k]);
        if (why) return cell_error(j, c->targ[k], cells[c->targ[k]], why, err, errlen);
    }
    return 0;
}

static int flush_block(csv_job *j, dpt_impw *iw) {
    int rc = dpt_impw_append(iw, j->xi, j->xb, j->fill);
    if (!rc && j->c.K) rc = dpt_impw_append(iw, j->yi, j->yb, j->fill);
    j->fill = 0;
    return rc;
}

/* Parses the current record and every one after it. */
static int copy_rows(csv_job *j, dpt_impw *iw, char *err, size_t errlen) {
    int more = 1;
    while (more > 0) {
        if (parse_row(j, err, errlen)) return -1;
        if (++j->fill == j->block && flush_block(j, iw)) return -1;
        more = next_record(&j->in, err, errlen);
    }
    if (more < 0) return -1;
    return j->fill ? flush_block(j, iw) : 0;
}

/* ---- header and set-up ---- */

static bool looks_like_header(char **cells, int n) {
    float v;
    for (int i = 0; i < n; i++)
        if (dpt_csv_number(cells[i], &v) == 1) return true;
    return false;
}

/* Reads the first record and, when it is a header, the names and the first data record. */
static int read_head(csv_job *j, int header, char *err, size_t errlen) {
    int rc = next_record(&j->in, err, errlen);
    if (rc <= 0) return rc ? -1 : dpt_err(err, errlen, "%s: empty file (no rows)", j->in.path);
    csv_cols *c = &j->c;
    c->ncols = j->in.ncells;
    c->first = j->in.recline;
    bool is_header = header == DPT_CSV_HEADER_YES ||
                     (header == DPT_CSV_HEADER_AUTO && looks_like_header(j->in.cells, c->ncols));
    if (!is_header) return 0;
    c->names = dpt_calloc((size_t)c->ncols, sizeof(char *));
    for (int i = 0; i < c->ncols; i++) c->names[i] = strdup(j->in.cells[i]);
    rc = next_record(&j->in, err, errlen);
    if (rc <= 0)
        return rc ? -1 : dpt_err(err, errlen, "%s: no data rows after the header", j->in.path);
    c->first = j->in.recline;
    return 0;
}

static int open_csv(csv_job *j, const char *in, const dpt_csv_opts *o, char *err, size_t errlen) {
    j->in = (csv_in){.path = in, .delim = o->delim ? o->delim : ','};
    j->in.f = fopen(in, "rb");
    if (!j->in.f) return dpt_err(err, errlen, "%s: cannot open: %s", in, strerror(errno));
    if (read_head(j, o->header, err, errlen) || pick_targets(&j->c, o, in, err, errlen) ||
        pick_features(&j->c, o, in, err, errlen))
        return -1;
    j->labels = o->labels;
    return 0;
}

static int add_csv_datasets(csv_job *j, dpt_impw *iw, const dpt_import_opts *o) {
    struct stat st;
    /* Every row takes at least 2 bytes per column (a character and a delimiter or line end);
     * the rows of a pipe are not known (0: no cap). */
    bool sized = fstat(fileno(j->in.f), &st) == 0 && S_ISREG(st.st_mode);
    int64_t hint = sized ? st.st_size / (2 * j->c.ncols) + 1 : 0;
    int64_t xr[1] = {j->c.F}, yr[1] = {j->c.K};
    j->xi = dpt_impw_add(iw, o->x_name ? o->x_name : "X", false, 2, xr, hint, false);
    j->yi = 0;
    if (j->c.K)
        j->yi = dpt_impw_add(iw, o->y_name ? o->y_name : "y", j->labels, j->labels ? 1 : 2, yr,
                             hint, false);
    if (j->xi < 0 || j->yi < 0) return -1;
    j->block = dpt_impw_block_rows(iw, j->xi);
    j->xb = dpt_calloc((size_t)(j->block * j->c.F), sizeof(float));
    j->yb = dpt_calloc((size_t)(j->block * (j->c.K ? j->c.K : 1)), sizeof(float));
    return 0;
}

static void free_csv_job(csv_job *j) {
    if (j->in.f) fclose(j->in.f);
    free(j->in.line);
    free(j->in.rec);
    free(j->in.cells);
    cols_free(&j->c);
    free(j->xb);
    free(j->yb);
}

int dpt_import_csv(const char *in, const char *out, const dpt_csv_opts *c, const dpt_import_opts *o,
                   dpt_import_summary *s, char *err, size_t errlen) {
    csv_job j = {.label_max = o->label_max};
    dpt_impw iw;
    int rc = open_csv(&j, in, c, err, errlen);
    if (!rc) rc = dpt_impw_begin(&iw, out, o, err, errlen);
    if (rc) {
        free_csv_job(&j);
        return -1;
    }
    rc = add_csv_datasets(&j, &iw, o);
    if (!rc) rc = copy_rows(&j, &iw, err, errlen);
    free_csv_job(&j);
    if (rc) {
        dpt_impw_abort(&iw);
        return -1;
    }
    return dpt_impw_finish(&iw, s);
}
