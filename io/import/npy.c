/* `dptrain import npy`: X, y and lengths from NumPy .npy files (read with io/npy.h) into
 * dptrain's HDF5 layout.  See io/import/npy.h. */
#include "io/import/npy.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* ---- dptrain import npy ---- */

typedef struct npy_job {
    dpt_npy x, y, len;
    bool has_y, has_len, y_int;
    bool u8;               /* X kept as uint8 (|u1 values as they are) */
    int xi, yi, li;        /* writer dataset indices */
    int64_t n, xrow, yrow; /* rows; values per row of X and of Y */
    int64_t block;         /* rows per read */
    void *raw;             /* scratch: (block, max(xrow, yrow)) values of 8 bytes */
    float *xb;             /* (block, xrow); unused for u8 X, which is read into raw */
    void *yb;              /* (block, yrow) int32 or float */
    int32_t *lb;           /* (block) */
} npy_job;

static const char *shape_str(const dpt_npy *a, char *buf, size_t len) {
    int n = snprintf(buf, len, "(");
    for (int d = 0; d < a->ndim && (size_t)n < len; d++)
        n += snprintf(buf + n, len - (size_t)n, "%s%" PRId64, d ? ", " : "", a->shape[d]);
    if ((size_t)n < len) snprintf(buf + n, len - (size_t)n, a->ndim == 1 ? ",)" : ")");
    return buf;
}

static int64_t row_values(const dpt_npy *a) {
    int64_t v = 1;
    for (int d = 1; d < a->ndim; d++) v *= a->shape[d];
    return v;
}

static int check_x(npy_job *j, char *err, size_t errlen) {
    char s[128];
    if (j->x.ndim < 1 || j->x.ndim > 4)
        return dpt_err(err, errlen,
                       "%s: shape %s: expected 1-D (N), 2-D (N, F), 3-D (N, T, F) or 4-D (N, H, "
                       "W, C)",
                       j->x.path, shape_str(&j->x, s, sizeof s));
    if (j->x.count == 0)
        return dpt_err(err, errlen, "%s: shape %s holds no values", j->x.path,
                       shape_str(&j->x, s, sizeof s));
    j->n = j->x.shape[0];
    j->xrow = row_values(&j->x);
    if (j->u8 && (j->x.kind != 'u' || j->x.elem != 1))
        return dpt_err(err, errlen, "%s: --dtype uint8 needs dtype |u1 (uint8), found %c%d",
                       j->x.path, j->x.kind, j->x.elem);
    return 0;
}

/* Same number of rows as X, naming both files and shapes. */
static int check_rows(const npy_job *j, const dpt_npy *a, char *err, size_t errlen) {
    char s1[128], s2[128];
    if (a->ndim >= 1 && a->shape[0] == j->n) return 0;
    return dpt_err(err, errlen,
                   "%s has shape %s but %s has shape %s: expected the same number "
                   "of rows (first dimension)",
                   a->path, shape_str(a, s1, sizeof s1), j->x.path,
                   shape_str(&j->x, s2, sizeof s2));
}

static int check_y(npy_job *j, const dpt_npy_opts *no, char *err, size_t errlen) {
    char s[128];
    if (check_rows(j, &j->y, err, errlen)) return -1;
    if (j->y.ndim > 3)
        return dpt_err(err, errlen, "%s: shape %s: expected (N), (N, K), (N, T) or (N, T, K)",
                       j->y.path, shape_str(&j->y, s, sizeof s));
    if (j->y.count == 0)
        return dpt_err(err, errlen, "%s: shape %s holds no values", j->y.path,
                       shape_str(&j->y, s, sizeof s));
    j->y_int = j->y.kind != 'f' && !no->float_targets;
    j->yrow = row_values(&j->y);
    return 0;
}

static int check_len(npy_job *j, char *err, size_t errlen) {
    char s[128];
    if (check_rows(j, &j->len, err, errlen)) return -1;
    if (j->len.ndim != 1 || j->len.kind == 'f')
        return dpt_err(err, errlen,
                       "%s: shape %s, dtype kind '%c': expected 1-D integer "
                       "lengths (N)",
                       j->len.path, shape_str(&j->len, s, sizeof s), j->len.kind);
    if (j->x.ndim != 3)
        return dpt_err(err, errlen,
                       "%s: lengths need sequences, but %s has shape %s (expected "
                       "(N, T, F))",
                       j->len.path, j->x.path, shape_str(&j->x, s, sizeof s));
    return 0;
}

static int open_all(npy_job *j, const char *x, const dpt_npy_opts *no, const dpt_import_opts *o,
                    char *err, size_t errlen) {
    j->u8 = o->x_type == DPT_IMPORT_X_U8;
    if (dpt_npy_open(&j->x, x, err, errlen) || check_x(j, err, errlen)) return -1;
    j->has_y = no->y != NULL;
    j->has_len = no->lengths != NULL;
    if (j->has_y && (dpt_npy_open(&j->y, no->y, err, errlen) || check_y(j, no, err, errlen)))
        return -1;
    if (j->has_len &&
        (dpt_npy_open(&j->len, no->lengths, err, errlen) || check_len(j, err, errlen)))
        return -1;
    return 0;
}

static int add_all(npy_job *j, dpt_impw *iw, const dpt_import_opts *o) {
    int64_t xr[3] = {j->xrow, 1, 1}, yr[2] = {1, 1};
    if (j->x.ndim >= 3)
        for (int d = 1; d < j->x.ndim; d++) xr[d - 1] = j->x.shape[d];
    for (int d = 1; d < j->y.ndim; d++) yr[d - 1] = j->y.shape[d];
    j->xi = dpt_impw_add_typed(iw, o->x_name ? o->x_name : "X", j->u8 ? DPT_IMPW_U8 : DPT_IMPW_F32,
                               j->x.ndim == 1 ? 2 : j->x.ndim, xr, j->n, true);
    j->yi = j->li = 0;
    if (j->has_y)
        j->yi = dpt_impw_add(iw, o->y_name ? o->y_name : "y", j->y_int, j->y.ndim, yr, j->n, true);
    if (j->has_len) j->li = dpt_impw_add(iw, "lengths", true, 1, NULL, j->n, true);
    if (j->xi < 0 || j->yi < 0 || j->li < 0) return -1;
    j->block = dpt_impw_block_rows(iw, j->xi);
    int64_t w = j->xrow > j->yrow ? j->xrow : j->yrow;
    j->raw = dpt_calloc((size_t)(j->block * w), 8);
    j->xb = dpt_calloc((size_t)(j->block * j->xrow), sizeof(float));
    j->yb = dpt_calloc((size_t)(j->block * (j->yrow > 0 ? j->yrow : 1)), sizeof(float));
    j->lb = dpt_calloc((size_t)j->block, sizeof(int32_t));
    return 0;
}

static int check_lengths(const npy_job *j, int64_t first, int64_t n, char *err, size_t errlen) {
    int64_t T = j->x.shape[1];
    for (int64_t i = 0; i < n; i++)
        if (j->lb[i] < 1 || j->lb[i] > T)
            return dpt_err(err, errlen,
                           "%s: value [%" PRId64 "]: length %" PRId32 " is outside "
                           "[1, %" PRId64 "] (T of %s)",
                           j->len.path, first + i, j->lb[i], T, j->x.path);
    return 0;
}

static int copy_rows(npy_job *j, dpt_impw *iw, int64_t first, int64_t n, char *err, size_t errlen) {
    int rc = j->u8 ? dpt_npy_read_raw(&j->x, n * j->xrow, j->raw, err, errlen)
                   : dpt_npy_read_f32(&j->x, n * j->xrow, j->raw, j->xb, err, errlen);
    if (rc || dpt_impw_append(iw, j->xi, j->u8 ? j->raw : (void *)j->xb, n)) return -1;
    if (j->has_y) {
        rc = j->y_int ? dpt_npy_read_i32(&j->y, n * j->yrow, j->raw, j->yb, err, errlen)
                      : dpt_npy_read_f32(&j->y, n * j->yrow, j->raw, j->yb, err, errlen);
        if (rc || dpt_impw_append(iw, j->yi, j->yb, n)) return -1;
    }
    if (!j->has_len) return 0;
    if (dpt_npy_read_i32(&j->len, n, j->raw, j->lb, err, errlen) ||
        check_lengths(j, first, n, err, errlen))
        return -1;
    return dpt_impw_append(iw, j->li, j->lb, n);
}

static void free_npy_job(npy_job *j) {
    dpt_npy_close(&j->x);
    dpt_npy_close(&j->y);
    dpt_npy_close(&j->len);
    free(j->raw);
    free(j->xb);
    free(j->yb);
    free(j->lb);
}

int dpt_import_npy(const char *x, const char *out, const dpt_npy_opts *no, const dpt_import_opts *o,
                   dpt_import_summary *s, char *err, size_t errlen) {
    npy_job j = {0};
    dpt_impw iw;
    int rc = open_all(&j, x, no, o, err, errlen);
    if (!rc) rc = dpt_impw_begin(&iw, out, o, err, errlen);
    if (rc) {
        free_npy_job(&j);
        return -1;
    }
    rc = add_all(&j, &iw, o);
    for (int64_t r = 0; !rc && r < j.n; r += j.block)
        rc = copy_rows(&j, &iw, r, j.n - r < j.block ? j.n - r : j.block, err, errlen);
    free_npy_job(&j);
    if (rc) {
        dpt_impw_abort(&iw);
        return -1;
    }
    return dpt_impw_finish(&iw, s);
}
