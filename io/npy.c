/* NumPy .npy files (format 1.0, 2.0 and 3.0): "\x93NUMPY", version, header length, a Python
 * dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, F), }, then the values in C
 * order.  Little-endian numeric types only; values are decoded byte by byte, so the host's byte
 * order does not matter.  `dptrain import npy` (io/import/npy.c) writes X, y and lengths from
 * them; pre-trained embeddings (io/embed_weights.c) are read with it too.  See io/npy.h. */
#include "io/npy.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"

/* ---- the header dict ---- */

typedef struct cursor {
    const char *p;
} cursor;

static void skip_ws(cursor *c) {
    while (isspace((unsigned char)*c->p)) c->p++;
}

static bool take(cursor *c, char ch) {
    skip_ws(c);
    if (*c->p != ch) return false;
    c->p++;
    return true;
}

/* A quoted string ('...' or "...") into buf. */
static bool parse_str(cursor *c, char *buf, size_t len) {
    skip_ws(c);
    char q = *c->p;
    if (q != '\'' && q != '"') return false;
    const char *end = strchr(c->p + 1, q);
    if (!end || (size_t)(end - c->p - 1) >= len) return false;
    snprintf(buf, len, "%.*s", (int)(end - c->p - 1), c->p + 1);
    c->p = end + 1;
    return true;
}

/* A tuple of non-negative integers: (), (3,), (3, 4). */
static bool parse_shape(cursor *c, dpt_npy *a) {
    if (!take(c, '(')) return false;
    a->ndim = 0;
    for (;;) {
        if (take(c, ')')) return true;
        skip_ws(c);
        if (!isdigit((unsigned char)*c->p) || a->ndim == 8) return false;
        char *end;
        errno = 0;
        long long v = strtoll(c->p, &end, 10);
        if (errno) return false;
        a->shape[a->ndim++] = v;
        c->p = end;
        if (!take(c, ',')) return take(c, ')');
    }
}

static int parse_descr(dpt_npy *a, const char *d, const char *path, char *err, size_t errlen) {
    char order = d[0];
    a->kind = order ? d[1] : 0;
    a->elem = order && a->kind ? atoi(d + 2) : 0;
    bool known = (a->kind == 'f' && (a->elem == 4 || a->elem == 8)) ||
                 ((a->kind == 'i' || a->kind == 'u') &&
                  (a->elem == 1 || a->elem == 2 || a->elem == 4 || a->elem == 8)) ||
                 (a->kind == 'b' && a->elem == 1);
    if (a->kind == 'O')
        return dpt_err(err, errlen,
                       "%s: dtype '%s' is an object array (Python objects, pickled): only "
                       "numeric arrays can be imported",
                       path, d);
    if (!known || !strchr("<>|=", order))
        return dpt_err(err, errlen,
                       "%s: dtype '%s' is not supported: expected one of <f4 <f8 |i1 <i2 <i4 <i8 "
                       "|u1 <u2 <u4 <u8 |b1 (convert with arr.astype('<f4'))",
                       path, d);
    if (order == '>' && a->elem > 1)
        return dpt_err(err, errlen,
                       "%s: dtype '%s' is big-endian: expected little-endian ('<'); convert with "
                       "arr.astype(arr.dtype.newbyteorder('<'))",
                       path, d);
    return 0;
}

/* One "key: value" of the dict; *seen gets a bit per key. */
static int parse_item(cursor *c, dpt_npy *a, int *seen, char *err, size_t errlen) {
    char key[32], descr[64];
    if (!parse_str(c, key, sizeof key) || !take(c, ':'))
        return dpt_err(err, errlen, "%s: malformed header: expected 'key': value at \"%.20s\"",
                       a->path, c->p);
    if (!strcmp(key, "descr")) {
        skip_ws(c);
        if (*c->p == '[')
            return dpt_err(err, errlen,
                           "%s: structured dtype (a list of fields): only plain "
                           "numeric arrays can be imported",
                           a->path);
        if (!parse_str(c, descr, sizeof descr))
            return dpt_err(err, errlen, "%s: malformed header: 'descr' is not a string", a->path);
        *seen |= 1;
        return parse_descr(a, descr, a->path, err, errlen);
    }
    if (!strcmp(key, "fortran_order")) {
        skip_ws(c);
        bool t = !strncmp(c->p, "True", 4), f = !strncmp(c->p, "False", 5);
        if (!t && !f)
            return dpt_err(err, errlen,
                           "%s: malformed header: 'fortran_order' is not True or "
                           "False",
                           a->path);
        if (t)
            return dpt_err(err, errlen,
                           "%s: fortran_order is True (column-major data): save it "
                           "in C order, np.save(path, np.ascontiguousarray(arr))",
                           a->path);
        c->p += 5;
        *seen |= 2;
        return 0;
    }
    if (!strcmp(key, "shape")) {
        if (!parse_shape(c, a))
            return dpt_err(err, errlen,
                           "%s: malformed header: 'shape' is not a tuple of "
                           "non-negative integers (at most 8)",
                           a->path);
        *seen |= 4;
        return 0;
    }
    return dpt_err(err, errlen, "%s: malformed header: unknown key '%s'", a->path, key);
}

int dpt_npy_parse_header(dpt_npy *a, const char *text, char *err, size_t errlen) {
    cursor c = {text};
    int seen = 0;
    if (!take(&c, '{'))
        return dpt_err(err, errlen, "%s: malformed header: expected a dict '{...}'", a->path);
    while (!take(&c, '}')) {
        if (parse_item(&c, a, &seen, err, errlen)) return -1;
        if (!take(&c, ',') && !(skip_ws(&c), *c.p == '}'))
            return dpt_err(err, errlen, "%s: malformed header: expected ',' or '}' at \"%.20s\"",
                           a->path, c.p);
    }
    if (seen != 7)
        return dpt_err(err, errlen, "%s: malformed header: missing %s", a->path,
                       !(seen & 1)   ? "'descr'"
                       : !(seen & 2) ? "'fortran_order'"
                                     : "'shape'");
    double count = 1;
    for (int i = 0; i < a->ndim; i++) count *= (double)a->shape[i];
    if (count > 0x1.0p52) return dpt_err(err, errlen, "%s: shape too large", a->path);
    a->count = (int64_t)count;
    return 0;
}

/* ---- the file ---- */

static uint64_t le_bytes(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Magic, version and header length; *hlen the dict's length, *offset where data starts. */
static int read_preamble(dpt_npy *a, uint32_t *hlen, long *offset, char *err, size_t errlen) {
    unsigned char m[12];
    size_t got = fread(m, 1, 10, a->f);
    if (got >= 4 && !memcmp(m, "PK\x03\x04", 4))
        return dpt_err(err, errlen,
                       "%s: this is an .npz (zip) archive, not an .npy file: "
                       "save each array with np.save",
                       a->path);
    if (got < 10 || memcmp(m, "\x93NUMPY", 6))
        return dpt_err(err, errlen, "%s: not an .npy file (expected the magic \\x93NUMPY)",
                       a->path);
    a->major = m[6];
    if (a->major < 1 || a->major > 3)
        return dpt_err(err, errlen,
                       "%s: .npy format version %d.%d is not supported (1.0, 2.0 "
                       "and 3.0 are)",
                       a->path, m[6], m[7]);
    if (a->major == 1) {
        *hlen = (uint32_t)le_bytes(m + 8, 2);
        *offset = 10;
        return 0;
    }
    if (fread(m + 10, 1, 2, a->f) != 2)
        return dpt_err(err, errlen, "%s: truncated header", a->path);
    *hlen = (uint32_t)le_bytes(m + 8, 4);
    *offset = 12;
    return 0;
}

static int read_header(dpt_npy *a, char *err, size_t errlen) {
    uint32_t hlen = 0;
    long offset = 0;
    if (read_preamble(a, &hlen, &offset, err, errlen)) return -1;
    if (hlen > (1u << 24)) return dpt_err(err, errlen, "%s: header too long", a->path);
    char *text = dpt_calloc(hlen + 1, 1);
    int rc = 0;
    if (fread(text, 1, hlen, a->f) != hlen)
        rc = dpt_err(err, errlen, "%s: truncated header (expected %" PRIu32 " bytes)", a->path,
                     hlen);
    if (!rc) rc = dpt_npy_parse_header(a, text, err, errlen);
    free(text);
    if (rc) return -1;
    struct stat st;
    if (fstat(fileno(a->f), &st) != 0)
        return dpt_err(err, errlen, "%s: cannot stat: %s", a->path, strerror(errno));
    int64_t want = a->count * a->elem, have = (int64_t)st.st_size - offset - hlen;
    if (have < want)
        return dpt_err(err, errlen,
                       "%s: truncated: the header announces %" PRId64 " values of %d "
                       "bytes (%" PRId64 " bytes of data), the file has %" PRId64,
                       a->path, a->count, a->elem, want, have);
    if (have > want)
        return dpt_err(err, errlen,
                       "%s: %" PRId64 " bytes of data but the header's shape "
                       "announces %" PRId64,
                       a->path, have, want);
    return 0;
}

int dpt_npy_open(dpt_npy *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    a->path = path;
    a->f = fopen(path, "rb");
    if (!a->f) return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return read_header(a, err, errlen);
}

void dpt_npy_close(dpt_npy *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
}

/* ---- values ---- */

static int read_raw(dpt_npy *a, int64_t n, void *raw, char *err, size_t errlen) {
    if (fread(raw, (size_t)a->elem, (size_t)n, a->f) != (size_t)n)
        return dpt_err(err, errlen, "%s: read failed at value %" PRId64 "%s%s", a->path, a->read,
                       ferror(a->f) ? ": " : " (file shrank?)",
                       ferror(a->f) ? strerror(errno) : "");
    return 0;
}

/* "[3, 1]": the index of flat value k in the array's shape. */
static const char *where(const dpt_npy *a, int64_t k, char *buf, size_t len) {
    int64_t idx[8];
    for (int d = a->ndim - 1; d >= 0; d--) {
        int64_t s = a->shape[d] > 0 ? a->shape[d] : 1;
        idx[d] = k % s;
        k /= s;
    }
    int n = snprintf(buf, len, "[");
    for (int d = 0; d < a->ndim && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%s%" PRId64, d ? ", " : "", idx[d]);
    if ((size_t)n < len) snprintf(buf + n, len - (size_t)n, "]");
    return buf;
}

/* Signed or unsigned integer of elem bytes (and bool). */
static int64_t int_at(const unsigned char *p, char kind, int elem) {
    uint64_t u = le_bytes(p, elem);
    if (kind != 'i' || elem == 8) return (int64_t)u;
    uint64_t sign = UINT64_C(1) << (8 * elem - 1);
    return (int64_t)((u ^ sign) - sign);
}

static double float_at(const unsigned char *p, int elem) {
    uint64_t u = le_bytes(p, elem);
    if (elem == 8) {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    uint32_t u32 = (uint32_t)u;
    float f;
    memcpy(&f, &u32, 4);
    return f;
}

int dpt_npy_read_f32(dpt_npy *a, int64_t n, void *raw, float *out, char *err, size_t errlen) {
    if (read_raw(a, n, raw, err, errlen)) return -1;
    const unsigned char *p = raw;
    for (int64_t k = 0; k < n; k++, p += a->elem) {
        double v = a->kind == 'f'                   ? float_at(p, a->elem)
                   : a->kind == 'u' && a->elem == 8 ? (double)(uint64_t)int_at(p, 'u', 8)
                                                    : (double)int_at(p, a->kind, a->elem);
        if (isfinite(v) && fabs(v) <= FLT_MAX) {
            out[k] = (float)v;
            continue;
        }
        char at[96];
        return dpt_err(err, errlen, "%s: value %s: %s", a->path,
                       where(a, a->read + k, at, sizeof at),
                       isnan(v)   ? "NaN (non-finite values are refused)"
                       : isinf(v) ? "Inf (non-finite values are refused)"
                                  : "outside the float32 range (|v| > 3.4e38)");
    }
    a->read += n;
    return 0;
}

int dpt_npy_read_raw(dpt_npy *a, int64_t n, void *out, char *err, size_t errlen) {
    if (read_raw(a, n, out, err, errlen)) return -1;
    a->read += n;
    return 0;
}

int dpt_npy_read_i32(dpt_npy *a, int64_t n, void *raw, int32_t *out, char *err, size_t errlen) {
    DPT_ASSERT(a->kind != 'f');
    if (read_raw(a, n, raw, err, errlen)) return -1;
    const unsigned char *p = raw;
    for (int64_t k = 0; k < n; k++, p += a->elem) {
        int64_t v = int_at(p, a->kind, a->elem);
        bool huge = a->kind == 'u' && a->elem == 8 && (uint64_t)v > INT32_MAX;
        if (!huge && v >= INT32_MIN && v <= INT32_MAX) {
            out[k] = (int32_t)v;
            continue;
        }
        char at[96];
        return dpt_err(err, errlen, "%s: value %s: %s%" PRIu64 " does not fit int32", a->path,
                       where(a, a->read + k, at, sizeof at), huge || v >= 0 ? "" : "-",
                       huge || v >= 0 ? (uint64_t)v : (uint64_t)0 - (uint64_t)v);
    }
    a->read += n;
    return 0;
}
