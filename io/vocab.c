/* Token vocabularies: building (add, sort, prune), the tokenizer, encoding and decoding, and the
 * HDF5 datasets `vocab` / `vocab_counts` with every field checked on reading.  See io/vocab.h. */
#include "io/vocab.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/utf8.h"

static const char *const special_names[4] = {"<pad>", "<unk>", "<start>", "<end>"};

/* ---- the table ---- */

static uint64_t hash_bytes(const char *s, size_t n) {
    return dpt_fnv1a(DPT_FNV_BASIS, s, n);
}

static size_t slot_of(const dpt_vocab *v, const char *tok, size_t len) {
    size_t mask = v->nslots - 1, i = (size_t)hash_bytes(tok, len) & mask;
    for (; v->slots[i] >= 0; i = (i + 1) & mask) {
        const char *t = v->tokens[v->slots[i]];
        if (strlen(t) == len && !memcmp(t, tok, len)) break;
    }
    return i;
}

static void rehash(dpt_vocab *v, size_t nslots) {
    free(v->slots);
    v->nslots = nslots;
    v->slots = dpt_calloc(nslots, sizeof *v->slots);
    for (size_t i = 0; i < nslots; i++) v->slots[i] = -1;
    for (int id = 0; id < v->V; id++)
        v->slots[slot_of(v, v->tokens[id], strlen(v->tokens[id]))] = id;
}

static int push(dpt_vocab *v, const char *tok, size_t len, int64_t count) {
    DPT_ASSERT(v->V < DPT_VOCAB_MAX);
    if (v->V == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        char **t = realloc(v->tokens, (size_t)v->cap * sizeof *t);
        int64_t *c = realloc(v->counts, (size_t)v->cap * sizeof *c);
        DPT_ASSERT(t && c);
        v->tokens = t, v->counts = c;
    }
    char *copy = dpt_calloc(len + 1, 1);
    memcpy(copy, tok, len);
    v->tokens[v->V] = copy;
    v->counts[v->V] = count;
    if ((size_t)(v->V + 1) * 2 > v->nslots) {
        v->V++;
        rehash(v, v->nslots ? 2 * v->nslots : 128);
    } else {
        v->slots[slot_of(v, tok, len)] = v->V++;
    }
    return v->V - 1;
}

void dpt_vocab_init(dpt_vocab *v, dpt_vocab_level level, bool start_end) {
    *v = (dpt_vocab){.level = level,
                     .pad_id = DPT_VOCAB_PAD,
                     .unk_id = DPT_VOCAB_UNK,
                     .start_id = -1,
                     .end_id = -1};
    for (int k = 0; k < (start_end ? 4 : 2); k++)
        push(v, special_names[k], strlen(special_names[k]), 0);
    if (start_end) v->start_id = 2, v->end_id = 3;
}

void dpt_vocab_free(dpt_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->V; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->counts);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

int dpt_vocab_find_n(const dpt_vocab *v, const char *tok, size_t len) {
    if (!v->nslots) return -1;
    return v->slots[slot_of(v, tok, len)];
}

int dpt_vocab_find(const dpt_vocab *v, const char *token) {
    return dpt_vocab_find_n(v, token, strlen(token));
}

int dpt_vocab_add(dpt_vocab *v, const char *tok, size_t len, int64_t count) {
    int id = dpt_vocab_find_n(v, tok, len);
    if (id < 0) return push(v, tok, len, count);
    v->counts[id] += count;
    return id;
}

static int nspecials(const dpt_vocab *v) {
    return v->end_id >= 0 ? 4 : 2;
}

typedef struct tok_count {
    char *tok;
    int64_t count;
} tok_count;

static int by_count(const void *a, const void *b) {
    const tok_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->tok, y->tok);
}

void dpt_vocab_sort(dpt_vocab *v, int max_size) {
    int s = nspecials(v), n = v->V - s;
    tok_count *tc = dpt_calloc((size_t)n + 1, sizeof *tc);
    for (int i = 0; i < n; i++) tc[i] = (tok_count){v->tokens[s + i], v->counts[s + i]};
    qsort(tc, (size_t)n, sizeof *tc, by_count);
    int keep = max_size > 0 && max_size - s < n ? (max_size - s > 0 ? max_size - s : 0) : n;
    for (int i = 0; i < n; i++) {
        if (i < keep) {
            v->tokens[s + i] = tc[i].tok;
            v->counts[s + i] = tc[i].count;
        } else {
            v->counts[v->unk_id] += tc[i].count;
            free(tc[i].tok);
        }
    }
    free(tc);
    v->V = s + keep;
    rehash(v, v->nslots);
}

/* ---- names ---- */

const char *dpt_vocab_level_name(dpt_vocab_level level) {
    return level == DPT_VOCAB_WORD ? "word" : "char";
}

int dpt_vocab_parse_level(const char *name, dpt_vocab_level *out) {
    if (!strcmp(name, "char"))
        *out = DPT_VOCAB_CHAR;
    else if (!strcmp(name, "word"))
        *out = DPT_VOCAB_WORD;
    else
        return -1;
    return 0;
}

void dpt_vocab_lower(char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z') s[i] = (char)(s[i] - 'A' + 'a');
}

/* ---- tokenizer, encoding, decoding ---- */

static bool is_space(uint32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_word(uint32_t c) {
    return c > 127 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int dpt_vocab_next_token(dpt_vocab_level level, const char *s, size_t n, size_t *pos, size_t *start,
                         size_t *len) {
    uint32_t c;
    size_t p = *pos;
    if (level == DPT_VOCAB_WORD)
        while (p < n && (unsigned char)s[p] < 0x80 && is_space((unsigned char)s[p])) p++;
    if (p >= n) {
        *pos = p;
        return 0;
    }
    *start = p;
    if (dpt_utf8_next(s, n, &p, &c)) {
        *pos = p;
        return -1;
    }
    if (level == DPT_VOCAB_WORD && is_word(c)) {
        for (size_t q = p; q < n; p = q) {
            if (dpt_utf8_next(s, n, &q, &c)) {
                *pos = q;
                return -1;
            }
            if (!is_word(c)) break;
        }
    }
    *len = p - *start;
    *pos = p;
    return 1;
}

int64_t dpt_vocab_encode(const dpt_vocab *v, const char *text, size_t n, int32_t *ids, int64_t cap,
                         size_t *bad) {
    char *low = NULL;
    if (v->lowercase) {
        low = dpt_calloc(n + 1, 1);
        memcpy(low, text, n);
        dpt_vocab_lower(low, n);
        text = low;
    }
    int64_t count = 0;
    size_t pos = 0, start = 0, len = 0;
    int rc;
    while ((rc = dpt_vocab_next_token(v->level, text, n, &pos, &start, &len)) == 1) {
        int id = dpt_vocab_find_n(v, text + start, len);
        if (count < cap) ids[count] = id < 0 ? v->unk_id : id;
        count++;
    }
    free(low);
    if (rc < 0 && bad) *bad = pos;
    return rc < 0 ? -1 : count;
}

/* Appends s at out + *need (as far as outlen allows); *need grows by its length. */
static void put(char *out, size_t outlen, size_t *need, const char *s) {
    for (; *s; s++, (*need)++)
        if (*need + 1 < outlen) out[*need] = *s;
}

size_t dpt_vocab_decode(const dpt_vocab *v, const int32_t *ids, int64_t n, char *out,
                        size_t outlen) {
    size_t need = 0;
    bool first = true;
    for (int64_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id == v->pad_id || id == v->start_id || id == v->end_id) continue;
        if (v->level == DPT_VOCAB_WORD && !first) put(out, outlen, &need, " ");
        put(out, outlen, &need,
            id >= 0 && id < v->V ? v->tokens[id] : special_names[DPT_VOCAB_UNK]);
        first = false;
    }
    if (outlen) out[need < outlen ? need : outlen - 1] = '\0';
    return need;
}

/* ---- HDF5 ---- */

/* "file.h5" or "file.h5:/group" for messages about loc. */
static const char *where(hid_t loc, char *buf, size_t len) {
    char file[512] = "?", obj[256] = "/";
    if (H5Fget_name(loc, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
    if (H5Iget_name(loc, obj, sizeof obj) < 0) snprintf(obj, sizeof obj, "/");
    snprintf(buf, len, "%s%s%s", file, strcmp(obj, "/") ? ":" : "", strcmp(obj, "/") ? obj : "");
    return buf;
}

static hid_t vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static herr_t write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *val) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : H5Awrite(a, mtype, val);
    if (a >= 0 && H5Aclose(a) < 0) st = -1;
    H5Sclose(sp);
    return st;
}

static herr_t write_vocab_attrs(const dpt_vocab *v, hid_t d) {
    hid_t t = vlen_utf8();
    const char *level = dpt_vocab_level_name(v->level);
    herr_t st = write_attr(d, "level", t, t, &level);
    H5Tclose(t);
    const char *names[5] = {"pad_id", "unk_id", "start_id", "end_id", "lowercase"};
    int32_t vals[5] = {v->pad_id, v->unk_id, v->start_id, v->end_id, v->lowercase};
    for (int k = 0; k < 5 && st >= 0; k++)
        st = write_attr(d, names[k], H5T_STD_I32LE, H5T_NATIVE_INT32, &vals[k]);
    return st;
}

int dpt_vocab_write(const dpt_vocab *v, hid_t loc, char *err, size_t errlen) {
    hsize_t n = (hsize_t)v->V;
    hid_t t = vlen_utf8(), sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(loc, "vocab", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->tokens);
    if (st >= 0) st = write_vocab_attrs(v, d);
    if (d >= 0 && H5Dclose(d) < 0) st = -1;
    H5Tclose(t);
    const char *what = "vocab";
    if (st >= 0) {
        what = "vocab_counts";
        d = H5Dcreate2(loc, "vocab_counts", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
        st = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->counts);
        if (d >= 0 && H5Dclose(d) < 0) st = -1;
    }
    H5Sclose(sp);
    char buf[800];
    if (st < 0)
        return dpt_err(err, errlen, "%s: cannot write dataset %s", where(loc, buf, sizeof buf),
                       what);
    return 0;
}

bool dpt_vocab_has(hid_t loc) {
    return H5Lexists(loc, "vocab", H5P_DEFAULT) > 0 &&
           H5Lexists(loc, "vocab_counts", H5P_DEFAULT) > 0;
}

/* ---- reading and checking ---- */

typedef struct rd {
    hid_t loc;
    char where[800];
    char *err;
    size_t errlen;
} rd;

/* Dataset name: exists, 1-D; its length into *n.  class: the HDF5 type class expected. */
static hid_t open_1d(rd *r, const char *name, H5T_class_t cls, const char *expected, hsize_t *n) {
    if (H5Lexists(r->loc, name, H5P_DEFAULT) <= 0) {
        dpt_err(r->err, r->errlen, "%s: no dataset '%s' (expected %s)", r->where, name, expected);
        return -1;
    }
    hid_t d = H5Dopen2(r->loc, name, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d), t = d < 0 ? -1 : H5Dget_type(d);
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    bool ok = nd == 1 && t >= 0 && H5Tget_class(t) == cls &&
              (cls != H5T_STRING || H5Tis_variable_str(t) > 0);
    if (ok) H5Sget_simple_extent_dims(sp, n, NULL);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (!ok) {
        if (d >= 0) H5Dclose(d);
        dpt_err(r->err, r->errlen, "%s: dataset '%s': expected %s", r->where, name, expected);
        return -1;
    }
    return d;
}

/* Integer attribute name of dataset d (named dname) into *out. */
static int read_int_attr(rd *r, hid_t d, const char *name, bool optional, int *out) {
    if (H5Aexists(d, name) <= 0) {
        if (optional) return 0;
        return dpt_err(r->err, r->errlen,
                       "%s: dataset 'vocab': no attribute '%s' (expected an integer)", r->where,
                       name);
    }
    hid_t a = H5Aopen(d, name, H5P_DEFAULT), t = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    int32_t v = 0;
    bool ok = t >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1 &&
              H5Aread(a, H5T_NATIVE_INT32, &v) >= 0;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    if (!ok)
        return dpt_err(r->err, r->errlen,
                       "%s: dataset 'vocab': attribute '%s': expected a scalar integer", r->where,
                       name);
    *out = v;
    return 0;
}

/* The string attribute `level` of d, "char" or "word". */
static int read_level(rd *r, hid_t d, dpt_vocab_level *out) {
    char got[64] = "";
    bool ok = false;
    if (H5Aexists(d, "level") > 0) {
        hid_t a = H5Aopen(d, "level", H5P_DEFAULT), ft = H5Aget_type(a);
        if (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
            char *s = NULL;
            hid_t mt = vlen_utf8();
            if (H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(got, sizeof got, "%s", s);
                ok = true;
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else if (H5Tget_class(ft) == H5T_STRING) {
            size_t n = H5Tget_size(ft);
            char *s = dpt_calloc(n + 1, 1);
            ok = H5Aread(a, ft, s) >= 0;
            snprintf(got, sizeof got, "%s", s);
            free(s);
        }
        H5Tclose(ft);
        H5Aclose(a);
    }
    if (ok && !dpt_vocab_parse_level(got, out)) return 0;
    return dpt_err(r->err, r->errlen,
                   "%s: dataset 'vocab': attribute 'level': expected the string \"char\" or "
                   "\"word\"%s%s%s",
                   r->where, ok ? ", got \"" : "", ok ? got : "", ok ? "\"" : "");
}

static int read_tokens(rd *r, dpt_vocab *v) {
    hsize_t n = 0;
    const char *what = "a 1-D dataset of variable-length UTF-8 strings";
    hid_t d = open_1d(r, "vocab", H5T_STRING, what, &n);
    if (d < 0) return -1;
    if (n < 2 || n > DPT_VOCAB_MAX) {
        H5Dclose(d);
        return dpt_err(r->err, r->errlen, "%s: dataset 'vocab': %llu tokens, expected 2 to %d",
                       r->where, (unsigned long long)n, DPT_VOCAB_MAX);
    }
    char **s = dpt_calloc((size_t)n, sizeof *s);
    hid_t mt = vlen_utf8();
    int rc = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0 ? -1 : 0;
    int attrs = rc ? -1 : read_level(r, d, &v->level);
    if (!attrs) attrs = read_int_attr(r, d, "pad_id", false, &v->pad_id);
    if (!attrs) attrs = read_int_attr(r, d, "unk_id", false, &v->unk_id);
    if (!attrs) attrs = read_int_attr(r, d, "start_id", false, &v->start_id);
    if (!attrs) attrs = read_int_attr(r, d, "end_id", false, &v->end_id);
    int low = 0;
    if (!attrs) attrs = read_int_attr(r, d, "lowercase", true, &low);
    v->lowercase = low != 0;
    if (rc)
        dpt_err(r->err, r->errlen, "%s: dataset 'vocab': cannot read (expected %s)", r->where,
                what);
    for (hsize_t i = 0; !rc && i < n; i++) {
        const char *t = s[i] ? s[i] : "";
        size_t len = strlen(t), bad = dpt_utf8_check(t, len);
        if (bad < len || len == 0)
            rc = dpt_err(r->err, r->errlen, "%s: dataset 'vocab': token %llu is %s", r->where,
                         (unsigned long long)i,
                         len ? "not valid UTF-8 (expected UTF-8 text)"
                             : "empty (expected a non-empty string)");
        else if (dpt_vocab_find_n(v, t, len) >= 0)
            rc = dpt_err(r->err, r->errlen,
                         "%s: dataset 'vocab': token %llu \"%s\" is a duplicate of token %d "
                         "(expected every token once)",
                         r->where, (unsigned long long)i, t, dpt_vocab_find_n(v, t, len));
        else
            push(v, t, len, 0);
    }
    hid_t sp = H5Dget_space(d);
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, s);
    H5Sclose(sp);
    free(s);
    H5Tclose(mt);
    H5Dclose(d);
    return rc || attrs ? -1 : 0;
}

static int read_counts(rd *r, dpt_vocab *v) {
    hsize_t n = 0;
    hid_t d = open_1d(r, "vocab_counts", H5T_INTEGER, "a 1-D integer dataset (V) of counts", &n);
    if (d < 0) return -1;
    int rc = 0;
    if (n != (hsize_t)v->V)
        rc = dpt_err(r->err, r->errlen,
                     "%s: dataset 'vocab_counts': %llu values, expected %d (one per token of "
                     "'vocab')",
                     r->where, (unsigned long long)n, v->V);
    else if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->counts) < 0)
        rc = dpt_err(r->err, r->errlen, "%s: dataset 'vocab_counts': cannot read", r->where);
    for (int i = 0; !rc && i < v->V; i++)
        if (v->counts[i] < 0)
            rc = dpt_err(r->err, r->errlen,
                         "%s: dataset 'vocab_counts': value %d is %" PRId64 ", expected >= 0",
                         r->where, i, v->counts[i]);
    H5Dclose(d);
    return rc;
}

/* Attribute name's id: want (or, with optional, -1 too) and the token there special_names[k]. */
static int check_special(rd *r, const dpt_vocab *v, const char *name, int id, int want, int k,
                         bool optional) {
    if ((optional && id == -1) ||
        (id == want && id < v->V && !strcmp(v->tokens[id], special_names[k])))
        return 0;
    return dpt_err(r->err, r->errlen,
                   "%s: dataset 'vocab': attribute '%s' is %d, expected %s%d with token %d "
                   "\"%s\"",
                   r->where, name, id, optional ? "-1 or " : "", want, want, special_names[k]);
}

static int check_tokens(rd *r, const dpt_vocab *v) {
    bool se = v->start_id >= 0 || v->end_id >= 0;
    if (check_special(r, v, "pad_id", v->pad_id, DPT_VOCAB_PAD, 0, false) ||
        check_special(r, v, "unk_id", v->unk_id, DPT_VOCAB_UNK, 1, false) ||
        check_special(r, v, "start_id", v->start_id, 2, 2, !se) ||
        check_special(r, v, "end_id", v->end_id, 3, 3, !se))
        return -1;
    if (v->level != DPT_VOCAB_CHAR) return 0;
    for (int i = nspecials(v); i < v->V; i++) {
        size_t pos = 0, len = strlen(v->tokens[i]);
        uint32_t cp;
        if (dpt_utf8_next(v->tokens[i], len, &pos, &cp) || pos != len)
            return dpt_err(r->err, r->errlen,
                           "%s: dataset 'vocab': token %d \"%s\" is not one character (expected "
                           "one Unicode code point per token at level \"char\")",
                           r->where, i, v->tokens[i]);
    }
    return 0;
}

int dpt_vocab_read(dpt_vocab *v, hid_t loc, char *err, size_t errlen) {
    *v = (dpt_vocab){.start_id = -1, .end_id = -1};
    rd r = {.loc = loc, .err = err, .errlen = errlen};
    where(loc, r.where, sizeof r.where);
    if (read_tokens(&r, v) || read_counts(&r, v) || check_tokens(&r, v)) return -1;
    return 0;
}
