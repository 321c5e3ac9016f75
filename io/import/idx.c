/* IDX files (LeCun's MNIST format, also Fashion-MNIST's): magic 00 00 TYPE NDIM, NDIM big-endian
 * uint32 sizes, then the values big-endian in row-major order; read through zlib, so gzip'd
 * (magic 1f 8b) and plain files both work.  The one IDX reader of the project: `dptrain import
 * idx` and `dpt_mkdata fashion-mnist` use it.  See io/import/idx.h. */
#include "io/import/idx.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- reading ---- */

/* Reads up to len bytes; returns the count read (< len at end of data) or -1 on a gzip error. */
static int64_t gz_read(dpt_idx *f, void *buf, int64_t len) {
    int64_t got = 0;
    while (got < len) {
        int64_t want = len - got > (1 << 24) ? (1 << 24) : len - got;
        int r = gzread(f->g, (char *)buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += r;
    }
    return got;
}

static int gz_error(dpt_idx *f, const char *what, char *err, size_t errlen) {
    int zerr = 0;
    gzerror(f->g, &zerr);
    return dpt_err(err, errlen, "%s: %s: %s", f->path, what,
                   zerr ? "corrupt or truncated gzip data" : "unexpected end of file (truncated)");
}

static uint32_t be32(const unsigned char *h) {
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static int elem_size(int type) {
    switch (type) {
    case 0x08:
    case 0x09:
        return 1;
    case 0x0B:
        return 2;
    case 0x0C:
    case 0x0D:
        return 4;
    case 0x0E:
        return 8;
    default:
        return 0;
    }
}

static int check_magic(dpt_idx *f, const unsigned char *h, uint32_t expect, char *err,
                       size_t errlen) {
    f->magic = be32(h);
    if (expect && f->magic != expect)
        return dpt_err(err, errlen, "%s: bad magic number %" PRIu32 ", expected %" PRIu32, f->path,
                       f->magic, expect);
    f->type = h[2];
    f->ndim = h[3];
    f->elem = elem_size(f->type);
    if (h[0] || h[1] || !f->elem || f->ndim < 1 || f->ndim > 8)
        return dpt_err(err, errlen,
                       "%s: bad magic number: found bytes %02x %02x %02x %02x, expected 00 00 TT "
                       "NN (an IDX file: TT the type 08 ubyte, 09 sbyte, 0b short, 0c int, 0d "
                       "float, 0e double; NN 1 to 8 dimensions)",
                       f->path, h[0], h[1], h[2], h[3]);
    return 0;
}

static int read_dims(dpt_idx *f, char *err, size_t errlen) {
    unsigned char h[4];
    f->row_values = 1;
    for (int i = 0; i < f->ndim; i++) {
        if (gz_read(f, h, 4) != 4) return gz_error(f, "cannot read the IDX header", err, errlen);
        f->dims[i] = be32(h);
        if (i) f->row_values *= f->dims[i];
    }
    if (f->dims[0] == 0) return dpt_err(err, errlen, "%s: the header announces 0 items", f->path);
    if ((double)f->row_values * f->elem > 0x1.0p31)
        return dpt_err(err, errlen, "%s: items of %" PRId64 " values are too large", f->path,
                       f->row_values);
    return 0;
}

int dpt_idx_open(dpt_idx *f, const char *path, uint32_t expect_magic, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    errno = 0;
    f->g = gzopen(path, "rb");
    if (!f->g)
        return dpt_err(err, errlen, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    gzbuffer(f->g, 1 << 18);
    unsigned char h[4];
    int rc = gz_read(f, h, 4) != 4 ? gz_error(f, "cannot read the IDX magic number", err, errlen)
                                   : check_magic(f, h, expect_magic, err, errlen);
    if (!rc) rc = read_dims(f, err, errlen);
    if (rc) dpt_idx_close(f);
    return rc;
}

void dpt_idx_close(dpt_idx *f) {
    if (f->g) gzclose(f->g);
    f->g = NULL;
}

/* Reads the next n rows' bytes into raw. */
static int read_rows(dpt_idx *f, int64_t n, void *raw, char *err, size_t errlen) {
    int64_t row_bytes = f->row_values * f->elem, len = n * row_bytes;
    int64_t got = gz_read(f, raw, len);
    if (got < 0) return gz_error(f, "corrupt data", err, errlen);
    if (got < len) {
        int64_t total = f->dims[0] * row_bytes, have = f->rows_read * row_bytes + got;
        int zerr = 0;
        gzerror(f->g, &zerr);
        return dpt_err(err, errlen,
                       "%s: truncated: expected %" PRId64 " bytes after the header (%" PRId64
                       " items of %" PRId64 " bytes), got %" PRId64 " (%" PRId64
                       " complete items)%s",
                       f->path, total, f->dims[0], row_bytes, have, have / row_bytes,
                       zerr ? "; the gzip stream ends early (file cut short or corrupt)" : "");
    }
    f->rows_read += n;
    return 0;
}

int dpt_idx_check_end(dpt_idx *f, char *err, size_t errlen) {
    unsigned char extra;
    int64_t r = gz_read(f, &extra, 1);
    if (r < 0) return gz_error(f, "corrupt data after the items", err, errlen);
    if (r != 0)
        return dpt_err(err, errlen,
                       "%s: more data than the header announces (%" PRId64 " items of %" PRId64
                       " bytes)",
                       f->path, f->dims[0], f->row_values * f->elem);
    return 0;
}

/* ---- conversion (big-endian values) ---- */

static double value_at(const unsigned char *p, int type) {
    uint32_t u;
    uint64_t u64;
    float fv;
    double dv;
    switch (type) {
    case 0x08:
        return p[0];
    case 0x09:
        return (int8_t)p[0];
    case 0x0B:
        return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C:
        return (int32_t)be32(p);
    case 0x0D:
        u = be32(p);
        memcpy(&fv, &u, 4);
        return fv;
    default:
        u64 = (uint64_t)be32(p) << 32 | be32(p + 4);
        memcpy(&dv, &u64, 8);
        return dv;
    }
}

/* Message for a value that is not finite or does not fit float32. */
static int bad_value(const dpt_idx *f, int64_t k, double v, char *err, size_t errlen) {
    int64_t row = f->rows_read + k / f->row_values, col = k % f->row_values;
    return dpt_err(err, errlen, "%s: item %" PRId64 ", value %" PRId64 ": %s", f->path, row, col,
                   isnan(v)   ? "NaN (non-finite values are refused)"
                   : isinf(v) ? "Inf (non-finite values are refused)"
                              : "outside the float32 range");
}

int dpt_idx_read_f32(dpt_idx *f, int64_t n, double scale, void *raw, float *out, char *err,
                     size_t errlen) {
    int64_t first = f->rows_read;
    if (read_rows(f, n, raw, err, errlen)) return -1;
    const unsigned char *p = raw;
    int64_t nv = n * f->row_values;
    if (f->type == 0x08) { /* the common case: a table of the 256 possible results */
        float lut[256];
        for (int i = 0; i < 256; i++) lut[i] = (float)(i * scale);
        for (int64_t k = 0; k < nv; k++) out[k] = lut[p[k]];
        return 0;
    }
    for (int64_t k = 0; k < nv; k++) {
        double v = value_at(p + k * f->elem, f->type) * scale;
        out[k] = (float)v;
        if (!isfinite(out[k])) {
            f->rows_read = first;
            return bad_value(f, k, v, err, errlen);
        }
    }
    return 0;
}

int dpt_idx_read_u8(dpt_idx *f, int64_t n, uint8_t *out, char *err, size_t errlen) {
    DPT_ASSERT(f->type == 0x08);
    return read_rows(f, n, out, err, errlen);
}

int dpt_idx_read_i32(dpt_idx *f, int64_t n, void *raw, int32_t *out, char *err, size_t errlen) {
    if (f->type == 0x0D || f->type == 0x0E)
        return dpt_err(err, errlen, "%s: expected integer labels, found %s values", f->path,
                       f->type == 0x0D ? "float" : "double");
    if (read_rows(f, n, raw, err, errlen)) return -1;
    const unsigned char *p = raw;
    for (int64_t k = 0; k < n * f->row_values; k++)
        out[k] = (int32_t)value_at(p + k * f->elem, f->type);
    return 0;
}

/* ---- dptrain import idx ---- */

typedef struct idx_job {
    dpt_idx im, lb;
    bool has_labels, float_labels;
    bool u8;       /* X stored as the ubyte values, in raw */
    int xi, yi;    /* writer dataset indices */
    int64_t block; /* rows per read */
    void *raw;     /* (block, row_values x elem) bytes of images */
    void *lraw;    /* (block, elem) bytes of labels */
    float *x;      /* (block, F) or (block, T, F) */
    void *y;       /* (block) int32 or float */
    double scale;
} idx_job;

static int check_shapes(idx_job *j, const dpt_idx_opts *io, char *err, size_t errlen) {
    if (io->seq && j->im.ndim < 3)
        return dpt_err(err, errlen,
                       "%s: --layout seq needs images of at least 3 dimensions (N, rows, "
                       "columns), found %d-D",
                       j->im.path, j->im.ndim);
    if (io->image && j->im.ndim != 3 && j->im.ndim != 4)
        return dpt_err(err, errlen,
                       "%s: --layout image needs images of 3 dimensions (N, H, W) or 4 (N, H, "
                       "W, C), found %d-D",
                       j->im.path, j->im.ndim);
    if (!j->has_labels) return 0;
    if (j->lb.ndim != 1)
        return dpt_err(err, errlen,
                       "%s: expected a 1-D IDX file of labels (N), found %d-D (magic %08" PRIx32
                       ")",
                       j->lb.path, j->lb.ndim, j->lb.magic);
    if (j->lb.dims[0] != j->im.dims[0])
        return dpt_err(err, errlen,
                       "%s has %" PRId64 " labels but %s has %" PRId64
                       " images (expected the same number)",
                       j->lb.path, j->lb.dims[0], j->im.path, j->im.dims[0]);
    return 0;
}

static int open_inputs(idx_job *j, const char *images, const char *labels, const dpt_idx_opts *io,
                       const dpt_import_opts *o, char *err, size_t errlen) {
    if (dpt_idx_open(&j->im, images, 0, err, errlen)) return -1;
    j->has_labels = labels != NULL;
    if (labels && dpt_idx_open(&j->lb, labels, 0, err, errlen)) return -1;
    j->float_labels = labels && (j->lb.type == 0x0D || j->lb.type == 0x0E);
    bool dflt = !(io->scale > 0) || !isfinite(io->scale);
    j->scale = dflt ? (j->im.type == 0x08 ? 1.0 / 255.0 : 1.0) : io->scale;
    j->u8 = o->x_type == DPT_IMPORT_X_U8;
    if (j->u8 && j->im.type != 0x08)
        return dpt_err(err, errlen,
                       "%s: --dtype uint8 needs ubyte values (IDX type 08), found type %02x",
                       j->im.path, j->im.type);
    if (j->u8 && !dflt)
        return dpt_err(err, errlen,
                       "%s: --scale does not apply to --dtype uint8 (dptrain reads uint8 as "
                       "value / 255)",
                       j->im.path);
    return check_shapes(j, io, err, errlen);
}

static int add_datasets(idx_job *j, dpt_impw *iw, const dpt_idx_opts *io,
                        const dpt_import_opts *o) {
    const dpt_idx *m = &j->im;
    int64_t rows[3] = {m->row_values, 1, 1};
    int ndim = 2;
    if (io->seq) rows[0] = m->dims[1], rows[1] = m->row_values / m->dims[1], ndim = 3;
    if (io->image) {
        rows[0] = m->dims[1], rows[1] = m->dims[2], rows[2] = m->ndim == 4 ? m->dims[3] : 1;
        ndim = 4;
    }
    j->xi = dpt_impw_add_typed(iw, o->x_name ? o->x_name : "X", j->u8 ? DPT_IMPW_U8 : DPT_IMPW_F32,
                               ndim, rows, m->dims[0], true);
    j->yi = 0;
    if (j->has_labels)
        j->yi = dpt_impw_add(iw, o->y_name ? o->y_name : "y", !j->float_labels, 1, NULL, m->dims[0],
                             true);
    if (j->xi < 0 || j->yi < 0) return -1;
    j->block = dpt_impw_block_rows(iw, j->xi);
    j->raw = dpt_calloc((size_t)(j->block * m->row_values), (size_t)m->elem);
    j->x = dpt_calloc((size_t)(j->block * m->row_values), sizeof(float));
    j->lraw = dpt_calloc((size_t)j->block, 8);
    j->y = dpt_calloc((size_t)j->block, sizeof(float));
    return 0;
}

/* Labels must be class numbers: >= 0 and at most o->label_max when that is set. */
static int check_labels(const dpt_idx *f, const int32_t *y, int64_t n, int64_t first,
                        const dpt_import_opts *o, char *err, size_t errlen) {
    for (int64_t i = 0; i < n; i++) {
        if (y[i] >= 0 && (o->label_max < 0 || y[i] <= o->label_max)) continue;
        if (o->label_max >= 0)
            return dpt_err(err, errlen,
                           "%s: label %" PRId32 " at item %" PRId64 ", expected 0..%" PRId64,
                           f->path, y[i], first + i, o->label_max);
        return dpt_err(err, errlen,
                       "%s: label %" PRId32 " at item %" PRId64 ": class labels must be >= 0",
                       f->path, y[i], first + i);
    }
    return 0;
}

static int copy_block(idx_job *j, dpt_impw *iw, int64_t n, const dpt_import_opts *o, char *err,
                      size_t errlen) {
    int64_t first = j->im.rows_read;
    int rc = j->u8 ? dpt_idx_read_u8(&j->im, n, j->raw, err, errlen)
                   : dpt_idx_read_f32(&j->im, n, j->scale, j->raw, j->x, err, errlen);
    if (rc || dpt_impw_append(iw, j->xi, j->u8 ? j->raw : (void *)j->x, n)) return -1;
    if (!j->has_labels) return 0;
    rc = j->float_labels ? dpt_idx_read_f32(&j->lb, n, 1.0, j->lraw, j->y, err, errlen)
                         : dpt_idx_read_i32(&j->lb, n, j->lraw, j->y, err, errlen);
    if (!rc && !j->float_labels) rc = check_labels(&j->lb, j->y, n, first, o, err, errlen);
    return rc ? rc : dpt_impw_append(iw, j->yi, j->y, n);
}

static void free_job(idx_job *j) {
    dpt_idx_close(&j->im);
    dpt_idx_close(&j->lb);
    free(j->raw);
    free(j->x);
    free(j->lraw);
    free(j->y);
}

int dpt_import_idx(const char *images, const char *labels, const char *out, const dpt_idx_opts *io,
                   const dpt_import_opts *o, dpt_import_summary *s, char *err, size_t errlen) {
    idx_job j = {0};
    dpt_impw iw;
    int rc = open_inputs(&j, images, labels, io, o, err, errlen);
    if (!rc) rc = dpt_impw_begin(&iw, out, o, err, errlen);
    if (rc) {
        free_job(&j);
        return -1;
    }
    rc = add_datasets(&j, &iw, io, o);
    for (int64_t r = 0; !rc && r < j.im.dims[0]; r += j.block) {
        int64_t n = j.im.dims[0] - r < j.block ? j.im.dims[0] - r : j.block;
        rc = copy_block(&j, &iw, n, o, err, errlen);
    }
    if (!rc) rc = dpt_idx_check_end(&j.im, err, errlen);
    if (!rc && j.has_labels) rc = dpt_idx_check_end(&j.lb, err, errlen);
    free_job(&j);
    if (rc) {
        dpt_impw_abort(&iw);
        return -1;
    }
    return dpt_impw_finish(&iw, s);
}
