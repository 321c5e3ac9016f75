/* Reading training and inference data from HDF5 through MPI-IO: every rank inspects the file,
 * then reads only its own block of rows with one collective hyperslab read per dataset.  HDF5's
 * own error stack is silenced; every problem becomes one message naming file and dataset. */
#include "io/h5data.h"

#include <hdf5.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/h5dset.h"
#include "io/h5file.h"
#include "parallel/sampler.h"

#define DPT_H5_LNAME 96 /* "<input name>_lengths" */

/* What the caller asked for: names for opening datasets and for messages. */
typedef struct req {
    const char *path, *xname, *yname;
    const char *lname;          /* as given: NULL or "" = the dataset "lengths" when there is one */
    const char *lres;           /* the lengths dataset name actually looked for */
    const char *ylname, *ylres; /* the same for y's lengths ("<y>_lengths": "y_lengths") */
    char ylres_auto[DPT_H5_LNAME];
    int nclasses;
    bool y_is_x; /* data.target: input: no y dataset, the targets are X */
    int nin;     /* several named inputs (>= 2), else 0 */
    const char (*inames)[DPT_H5_NAME_MAX];
    char lres1[DPT_H5_LNAME]; /* one named input: "<name>_lengths" */
    char *err;
    size_t errlen;
} req;

/* The datasets of one file; ndim and dims stay valid after close_all. */
typedef struct dsets {
    dpt_h5dset x, y, l, yl;
    dpt_h5dset xin[DPT_H5_MAX_INPUTS],
        lin[DPT_H5_MAX_INPUTS]; /* several inputs: each and its lengths */
} dsets;

static dsets dsets_closed(void) {
    dsets ds;
    memset(&ds, 0, sizeof ds);
    ds.x.id = ds.y.id = ds.l.id = ds.yl.id = -1;
    for (int k = 0; k < DPT_H5_MAX_INPUTS; k++) ds.xin[k].id = ds.lin[k].id = -1;
    return ds;
}

static void close_all(dsets *ds) {
    dpt_h5dset_close(&ds->x);
    dpt_h5dset_close(&ds->y);
    dpt_h5dset_close(&ds->l);
    dpt_h5dset_close(&ds->yl);
    for (int k = 0; k < DPT_H5_MAX_INPUTS; k++)
        dpt_h5dset_close(&ds->xin[k]), dpt_h5dset_close(&ds->lin[k]);
}

/* Whether X has a time axis that lengths can describe: float (N, T, F), integer (N, T) or
 * (N, T, F). */
static bool x_timed(const dpt_h5dset *x) {
    return x->ndim == 3 || (dpt_h5dset_is_int(x) && !dpt_h5dset_is_u8(x) && x->ndim == 2);
}

/* X's per-sample dimensions: each in [1, INT_MAX], at most INT_MAX values per row (layers index
 * a row with int). */
static int check_x_dims(const dpt_h5dset *d, const req *q) {
    const char *path = q->path, *name = q->xname;
    unsigned long long size = 1;
    for (int i = 1; i < d->ndim; i++) {
        hsize_t v = d->dims[i];
        bool last = i == d->ndim - 1;
        if (v < 1 || v > INT_MAX) {
            if (last || d->ndim == 3)
                return dpt_err(
                    q->err, q->errlen, "%s: dataset '%s': expected 1 to %d %s, found %llu", path,
                    name, INT_MAX, last ? "feature columns" : "time steps", (unsigned long long)v);
            return dpt_err(
                q->err, q->errlen,
                "%s: dataset '%s': expected 1 to %d values along dimension %d, found %llu", path,
                name, INT_MAX, i, (unsigned long long)v);
        }
        size *= v;
    }
    if (size <= INT_MAX) return 0;
    if (d->ndim == 3)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected at most %d values per row, found %llu time "
                       "steps x %llu features",
                       path, name, INT_MAX, (unsigned long long)d->dims[1],
                       (unsigned long long)d->dims[2]);
    return dpt_err(q->err, q->errlen,
                   "%s: dataset '%s': expected at most %d values per row, found %s", path, name,
                   INT_MAX, d->shape);
}

/* X: (N, F), (N, T, F) or (N, H, W, C) floats, or integer token ids of rank 2-4. */
static int check_x(const dpt_h5dset *d, const req *q, dpt_h5info *info) {
    const char *path = q->path, *name = q->xname;
    if (d->ndim < 2 || d->ndim > 4)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected a 2-D dataset (N, F), a 3-D dataset (N, T, F) "
                       "or a 4-D dataset (N, H, W, C), found %s",
                       path, name, d->shape);
    if (!dpt_h5dset_is_float(d) && !dpt_h5dset_is_int(d))
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected float32 or float64 values (or integer token "
                       "ids), found %s",
                       path, name, d->type);
    if (check_x_dims(d, q)) return -1;
    dpt_shape *xs = &info->x_shape;
    xs->rank = d->ndim - 1;
    for (int i = 0; i < xs->rank; i++) xs->dim[i] = (int)d->dims[i + 1];
    info->x_u8 = dpt_h5dset_is_u8(d); /* pixels: read as float32 value / 255 */
    xs->dtype = dpt_h5dset_is_int(d) && !info->x_u8 ? DPT_I32 : DPT_F32;
    info->n = (int64_t)d->dims[0];
    info->x_chunk_rows = dpt_h5dset_chunk_rows(d->id);
    bool ids = xs->dtype == DPT_I32 && xs->rank == 1; /* (T) token ids, one per step */
    info->T = ids ? xs->dim[0] : (int)dpt_shape_outer(xs);
    info->F = ids ? 1 : dpt_shape_last(xs);
    info->y_steps = 1;
    return 0;
}

/* y with a time axis: (N, T_out) labels or (N, T_out, K) floats.  T_out is the model's output
 * length: X's T for many-to-many on X's time axis, anything for a new time axis (one-to-many,
 * sequence to sequence); the model check compares it (train/eval.h). */
static int check_y_steps(const dpt_h5dset *d, const req *q, dpt_h5info *info) {
    if (d->dims[1] < 1 || d->dims[1] > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected 1 to %d time steps, "
                       "found %llu",
                       q->path, q->yname, INT_MAX, (unsigned long long)d->dims[1]);
    info->y_steps = (int)d->dims[1];
    return 0;
}

/* Image targets (N, H, W, K) float: one per pixel (a reconstruction, a segmentation map); rows
 * of H x W steps of K values. */
static int check_y_image(const dpt_h5dset *d, const req *q, dpt_h5info *info) {
    if ((int64_t)d->dims[0] != info->n)
        return dpt_err(q->err, q->errlen, "%s: %s has %" PRId64 " rows but %s has %llu", q->path,
                       q->xname, info->n, q->yname, (unsigned long long)d->dims[0]);
    unsigned long long size = 1;
    for (int i = 1; i < 4; i++) {
        if (d->dims[i] < 1 || d->dims[i] > INT_MAX)
            return dpt_err(q->err, q->errlen,
                           "%s: dataset '%s': expected 1 to %d values along dimension %d, found "
                           "%llu",
                           q->path, q->yname, INT_MAX, i, (unsigned long long)d->dims[i]);
        size *= d->dims[i];
    }
    if (size > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected at most %d values per row, found %s", q->path,
                       q->yname, INT_MAX, d->shape);
    info->y_shape = dpt_shape_3d((int)d->dims[1], (int)d->dims[2], (int)d->dims[3]);
    info->y_steps = (int)(d->dims[1] * d->dims[2]);
    info->K = (int)d->dims[3];
    return 0;
}

static int check_y(const dpt_h5dset *d, const req *q, dpt_h5info *info) {
    info->has_y = true;
    info->labels = dpt_h5dset_is_int(d) && (d->ndim == 1 || d->ndim == 2);
    bool floats = dpt_h5dset_is_float(d) && d->ndim >= 1 && d->ndim <= 4;
    if (!info->labels && !floats)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected (N) or (N, T) integer labels, or (N, K), "
                       "(N, T, K) or (N, H, W, K) float targets, found %s %s",
                       q->path, q->yname, d->shape, d->type);
    if (floats && d->ndim == 4) return check_y_image(d, q, info);
    hsize_t K = floats && d->ndim >= 2 ? d->dims[d->ndim - 1] : 1;
    if (K < 1 || K > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected 1 to %d target columns, found %llu", q->path,
                       q->yname, INT_MAX, (unsigned long long)K);
    info->K = (int)K;
    if ((int64_t)d->dims[0] != info->n)
        return dpt_err(q->err, q->errlen, "%s: %s has %" PRId64 " rows but %s has %llu", q->path,
                       q->xname, info->n, q->yname, (unsigned long long)d->dims[0]);
    bool per_step = d->ndim == (info->labels ? 2 : 3);
    if (per_step && check_y_steps(d, q, info)) return -1;
    if ((int64_t)info->y_steps * info->K > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected at most %d values per row, found %d time "
                       "steps x %d columns",
                       q->path, q->yname, INT_MAX, info->y_steps, info->K);
    info->y_shape = per_step ? dpt_shape_2d(info->y_steps, info->K) : dpt_shape_1d(info->K);
    info->y_shape.dtype = info->labels ? DPT_I32 : DPT_F32;
    return 0;
}

static int check_lengths(const dpt_h5dset *d, const dpt_h5dset *x, const req *q, dpt_h5info *info) {
    if (!x_timed(x))
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s' (data.lengths): sequence lengths need a 3-D %s "
                       "(N, T, F), but %s is %s",
                       q->path, q->lres, q->xname, q->xname, x->shape);
    if (d->ndim != 1 || !dpt_h5dset_is_int(d))
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected (N) integer sequence lengths, found %s %s",
                       q->path, q->lres, d->shape, d->type);
    if ((int64_t)d->dims[0] != info->n)
        return dpt_err(q->err, q->errlen, "%s: %s has %" PRId64 " rows but %s has %llu", q->path,
                       q->xname, info->n, q->lres, (unsigned long long)d->dims[0]);
    info->has_lengths = true;
    return 0;
}

/* y's lengths: (N) integer, for per-step y. */
static int check_y_lengths(const dpt_h5dset *d, const req *q, dpt_h5info *info) {
    if (info->y_shape.rank != 2)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s' (data.y_lengths): target lengths need per-step targets "
                       "%s (N, T_out, K) or (N, T_out), but %s is one target per sample",
                       q->path, q->ylres, q->yname, q->yname);
    if (d->ndim != 1 || !dpt_h5dset_is_int(d))
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected (N) integer target lengths, found %s %s",
                       q->path, q->ylres, d->shape, d->type);
    if ((int64_t)d->dims[0] != info->n)
        return dpt_err(q->err, q->errlen, "%s: %s has %" PRId64 " rows but %s has %llu", q->path,
                       q->xname, info->n, q->ylres, (unsigned long long)d->dims[0]);
    info->has_y_lengths = true;
    return 0;
}

/* A named lengths dataset must exist; the default one is used when present and X has steps
 * (for plain vectors a dataset called "lengths" is just another column of the user's). */
static int open_lengths(dpt_h5dset *l, const dpt_h5dset *x, hid_t file, const req *q,
                        dpt_h5info *info) {
    if (!q->lname || !*q->lname) {
        if (!x_timed(x)) return 0;
        hid_t obj = dpt_h5_open_if_dataset(file, q->lres);
        if (obj < 0) return 0;
        H5Oclose(obj);
    }
    if (dpt_h5dset_open(l, file, q->path, q->lres, "data.lengths", q->err, q->errlen)) return -1;
    return check_lengths(l, x, q, info);
}

/* The same for y's lengths: the default "<y>_lengths" ("y_lengths" for y) when present and y is
 * per step. */
static int open_y_lengths(dpt_h5dset *l, hid_t file, const req *q, dpt_h5info *info) {
    if (!q->ylname || !*q->ylname) {
        if (info->y_shape.rank != 2) return 0;
        hid_t obj = dpt_h5_open_if_dataset(file, q->ylres);
        if (obj < 0) return 0;
        H5Oclose(obj);
    }
    if (dpt_h5dset_open(l, file, q->path, q->ylres, "data.y_lengths", q->err, q->errlen)) return -1;
    return check_y_lengths(l, q, info);
}

/* data.target: input: the targets are X's rows, (T, F) per sample, read from X (no dataset). */
static void target_input(dpt_h5info *info) {
    info->y_is_x = true;
    info->K = info->F;
    info->y_steps = info->T;
    info->y_shape = info->x_shape;
}

/* Input k of several: its dataset checked like X, and its lengths dataset when present. */
static int inspect_input(dpt_h5info *info, dsets *ds, hid_t file, const req *q, int k) {
    req qk = *q;
    dpt_h5info one;
    char lname[DPT_H5_LNAME];
    memset(&one, 0, sizeof one);
    qk.xname = q->inames[k];
    snprintf(lname, sizeof lname, "%s_lengths", q->inames[k]);
    qk.lname = lname;
    qk.lres = lname;
    if (dpt_h5dset_open(&ds->xin[k], file, q->path, qk.xname, "model.inputs", q->err, q->errlen) ||
        check_x(&ds->xin[k], &qk, &one))
        return -1;
    if (k > 0 && one.n != info->n)
        return dpt_err(q->err, q->errlen, "%s: %s has %" PRId64 " rows but %s has %" PRId64,
                       q->path, q->inames[0], info->n, qk.xname, one.n);
    info->n = one.n;
    info->in_shapes[k] = one.x_shape;
    info->in_u8[k] = one.x_u8;
    hid_t obj = x_timed(&ds->xin[k]) ? dpt_h5_open_if_dataset(file, lname) : -1;
    if (obj < 0) return 0;
    H5Oclose(obj);
    one.n = info->n;
    if (dpt_h5dset_open(&ds->lin[k], file, q->path, lname, "model.inputs", q->err, q->errlen) ||
        check_lengths(&ds->lin[k], &ds->xin[k], &qk, &one))
        return -1;
    info->in_lengths[k] = true;
    info->has_lengths = true;
    return 0;
}

/* Several named inputs: each checked, their rows packed into one X row (docs/data.md). */
static int inspect_inputs(dpt_h5info *info, dsets *ds, hid_t file, const req *q) {
    size_t width = 0;
    bool ints = true;
    info->ninputs = q->nin;
    for (int k = 0; k < q->nin; k++) {
        if (inspect_input(info, ds, file, q, k)) return -1;
        width += dpt_shape_size(&info->in_shapes[k]);
        ints = ints && info->in_shapes[k].dtype == DPT_I32;
    }
    if (width > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: the model inputs hold %zu values per row together (expected at most "
                       "%d)",
                       q->path, width, INT_MAX);
    info->x_shape = dpt_shape_1d((int)width);
    info->x_shape.dtype = ints ? DPT_I32 : DPT_F32;
    info->T = 1;
    info->F = (int)width;
    info->y_steps = 1;
    info->x_chunk_rows = dpt_h5dset_chunk_rows(ds->xin[0].id);
    return 0;
}

/* Opens and validates X (and y, lengths): they stay open for reading; the caller closes them. */
static int inspect_open(dpt_h5info *info, dsets *ds, hid_t file, const req *q) {
    memset(info, 0, sizeof *info);
    if (q->nin > 1) {
        if (inspect_inputs(info, ds, file, q)) return -1;
    } else if (dpt_h5dset_open(&ds->x, file, q->path, q->xname,
                               q->inames ? "model.inputs" : "data.x", q->err, q->errlen) ||
               check_x(&ds->x, q, info)) {
        return -1;
    }
    if (q->nin > 1) {
        if (q->y_is_x)
            return dpt_err(q->err, q->errlen,
                           "%s: data.target: input needs one model input, the model has %d",
                           q->path, q->nin);
        return q->yname && (dpt_h5dset_open(&ds->y, file, q->path, q->yname, "data.y", q->err,
                                            q->errlen) ||
                            check_y(&ds->y, q, info) || open_y_lengths(&ds->yl, file, q, info))
                   ? -1
                   : 0;
    }
    if (q->inames) {
        info->ninputs = 1;
        info->in_shapes[0] = info->x_shape;
    }
    if (q->yname &&
        (dpt_h5dset_open(&ds->y, file, q->path, q->yname, "data.y", q->err, q->errlen) ||
         check_y(&ds->y, q, info)))
        return -1;
    if (q->y_is_x) target_input(info);
    if (open_lengths(&ds->l, &ds->x, file, q, info)) return -1;
    return q->yname ? open_y_lengths(&ds->yl, file, q, info) : 0;
}

static hid_t open_mpio(const char *path, MPI_Comm comm, char *err, size_t errlen) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (file < 0) dpt_err(err, errlen, "%s: cannot open as HDF5 (damaged or truncated?)", path);
    return file;
}

/* q->lres (one named input) and q->ylres (automatic) point into q itself: fix them up after
 * every copy of a req. */
static void req_fix(req *q) {
    if (q->nin == 0 && q->inames) q->lres = q->lres1;
    if (!q->ylname || !*q->ylname) q->ylres = q->ylres_auto;
}

static req make_req(const char *path, const dpt_h5names *n, int nclasses, char *err,
                    size_t errlen) {
    const char *l = n->lengths, *yl = n->y_lengths;
    req q = {.path = path,
             .xname = n->x,
             .yname = n->y,
             .lname = l,
             .lres = l && *l ? l : "lengths",
             .ylname = yl,
             .ylres = yl,
             .nclasses = nclasses,
             .y_is_x = n->y_is_x,
             .err = err,
             .errlen = errlen};
    snprintf(q.ylres_auto, sizeof q.ylres_auto, "%s_lengths", n->y ? n->y : "y");
    req_fix(&q);
    if (n->ninputs == 1) { /* one named input: X of that name, lengths "<name>_lengths" */
        q.xname = n->inputs[0];
        q.lname = NULL;
        q.inames = n->inputs;
        snprintf(q.lres1, sizeof q.lres1, "%s_lengths", n->inputs[0]);
        req_fix(&q);
    } else if (n->ninputs > 1) {
        q.nin = n->ninputs;
        q.inames = n->inputs;
        q.xname = n->inputs[0]; /* rows are counted on the first input in messages */
    }
    return q;
}

int dpt_h5_inspect_ds(dpt_h5info *info, const char *path, const dpt_h5names *names, MPI_Comm comm,
                      char *err, size_t errlen) {
    req q = make_req(path, names, 0, err, errlen);
    req_fix(&q); /* q's own buffers, after the copy */
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = open_mpio(path, comm, err, errlen);
    if (file < 0) return -1;
    dsets ds = dsets_closed();
    int rc = inspect_open(info, &ds, file, &q);
    close_all(&ds);
    H5Fclose(file);
    return rc;
}

int dpt_h5_inspect_seq(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                       const char *lname, MPI_Comm comm, char *err, size_t errlen) {
    dpt_h5names n = {.x = xname, .y = yname, .lengths = lname};
    return dpt_h5_inspect_ds(info, path, &n, comm, err, errlen);
}

int dpt_h5_inspect(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                   MPI_Comm comm, char *err, size_t errlen) {
    return dpt_h5_inspect_seq(info, path, xname, yname, NULL, comm, err, errlen);
}

static int read_rows(const dpt_h5dset *d, hid_t memtype, int64_t row0, int64_t nrows, void *buf) {
    return dpt_h5dset_read_rows(d, memtype, row0, nrows, buf, true);
}

/* A buffer (rows, steps, cols) as read from a dataset; timed when the dataset has a time axis,
 * so messages name the step, and `col` says what a column is ("feature", "column"). */
typedef struct grid {
    int64_t rows;
    int steps, cols;
    bool timed;
    const char *col;
} grid;

static int check_finite(const float *v, const grid *g, int64_t row0, const char *name,
                        const req *q) {
    int64_t per_row = (int64_t)g->steps * g->cols;
    if (dpt_h5_all_finite(v, g->rows * per_row)) return 0;
    for (int64_t i = 0; i < g->rows * per_row; i++) {
        if (isfinite(v[i])) continue;
        int64_t r = row0 + i / per_row;
        int t = (int)(i % per_row / g->cols), j = (int)(i % g->cols);
        if (g->timed)
            return dpt_err(q->err, q->errlen, "%s: %s row %" PRId64 ", step %d, %s %d: %s", q->path,
                           name, r, t, g->col, j, dpt_h5_nonfinite_name(v[i]));
        return dpt_err(q->err, q->errlen, "%s: %s row %" PRId64 ", column %d: %s", q->path, name, r,
                       j, dpt_h5_nonfinite_name(v[i]));
    }
    return 0;
}

/* Lengths read as int64 (any integer type converts exactly) narrowed to int32 in [1, hi]
 * (X's T, or y's T_out). */
static int narrow_lengths(int32_t *out, const int64_t *raw, const dpt_shard *s, int hi,
                          const char *name, const req *q) {
    for (int64_t i = 0; i < s->nrows; i++) {
        if (raw[i] < 1 || raw[i] > hi)
            return dpt_err(q->err, q->errlen,
                           "%s: %s row %" PRId64 ": %" PRId64 " is outside [1, %d]", q->path, name,
                           s->row0 + i, raw[i], hi);
        out[i] = (int32_t)raw[i];
    }
    return 0;
}

const int32_t *dpt_shard_y_step_lengths(const dpt_shard *s) {
    if (s->y_lengths) return s->y_lengths;
    bool same_axis = s->info.y_shape.rank == 2 && s->info.y_steps == s->info.T;
    return same_axis ? s->lengths : NULL;
}

/* Labels (nrows, y_steps) read as int64, narrowed to int32 in [0, nclasses) (or [0, 2^31) when
 * nclasses is 0).  Padded steps may hold anything (-1, -100, ...): they become 0, unchecked. */
static int narrow_labels(dpt_shard *s, const int64_t *raw, bool timed, const req *q) {
    int64_t hi = q->nclasses > 0 ? q->nclasses : (int64_t)INT32_MAX + 1;
    int S = s->info.y_steps;
    const int32_t *len = dpt_shard_y_step_lengths(s);
    for (int64_t i = 0; i < s->nrows; i++) {
        for (int t = 0; t < S; t++) {
            int64_t v = raw[i * S + t];
            bool pad = len && t >= len[i];
            if (!pad && (v < 0 || v >= hi)) {
                if (timed)
                    return dpt_err(q->err, q->errlen,
                                   "%s: %s row %" PRId64 ", step %d: label %" PRId64
                                   " out of range [0, %" PRId64 ")",
                                   q->path, q->yname, s->row0 + i, t, v, hi);
                return dpt_err(q->err, q->errlen,
                               "%s: %s row %" PRId64 ": label %" PRId64 " out of range [0, %" PRId64
                               ")",
                               q->path, q->yname, s->row0 + i, v, hi);
            }
            s->labels[i * S + t] = pad ? 0 : (int32_t)v;
        }
    }
    return 0;
}

/* Lengths as read (int64), before narrowing. */
typedef struct raw_lengths {
    int64_t *x, *y; /* (nrows) each, NULL when the data has none */
} raw_lengths;

/* Narrows both lengths datasets (X's first: labels at padded steps depend on them). */
static int narrow_all_lengths(dpt_shard *s, const raw_lengths *rl, const req *q) {
    if (rl->x && narrow_lengths(s->lengths, rl->x, s, s->info.T, q->lres, q)) return -1;
    if (rl->y && narrow_lengths(s->y_lengths, rl->y, s, s->info.y_steps, q->ylres, q)) return -1;
    return 0;
}

/* uint8 X: the pixel values as read (0..255, exact in float32) divided by 255 in float32, the
 * same bits as a float32 file holding np.float32(X) / np.float32(255). */
static void scale_u8(float *x, const dpt_h5info *in, int64_t nrows) {
    if (!in->x_u8) return;
    size_t n = (size_t)nrows * dpt_h5info_x_width(in);
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = x[i] / 255.0f;
}

static hid_t x_memtype(const dpt_h5info *in) {
    return dpt_h5info_x_ids(in) ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
}

/* Several inputs (io/h5inputs.h): their layout in the packed rows, and a shard's rows. */
static dpt_h5in_layout layout_of(const dpt_h5info *in, const char (*names)[DPT_H5_NAME_MAX]) {
    return (dpt_h5in_layout){.n = in->ninputs,
                             .shapes = in->in_shapes,
                             .has_lengths = in->in_lengths,
                             .u8 = in->in_u8,
                             .names = names,
                             .width = dpt_h5info_x_width(in)};
}

static dpt_h5in_rows rows_of(const dpt_shard *s) {
    return (dpt_h5in_rows){.x = s->x, .lengths = s->lengths, .row0 = s->row0, .nrows = s->nrows};
}

static int finish_inputs(dpt_shard *s, const int64_t *raw, const req *q) {
    dpt_h5in_layout lay = layout_of(&s->info, q->inames);
    dpt_h5in_rows rows = rows_of(s);
    return dpt_h5in_finish(&lay, &rows, raw, q->path, q->err, q->errlen);
}

/* Every collective read happens whatever failed before, so no rank is left waiting. */
static int read_data(dpt_shard *s, const dsets *ds, const req *q) {
    const dpt_h5info *in = &s->info;
    int64_t n = s->nrows, ny = n * in->y_steps;
    s->x = dpt_alloc_floats((size_t)n * dpt_h5info_x_width(in)); /* int32 ids: same 4 bytes */
    int64_t *raw = NULL; /* (nrows, y_steps) labels as read */
    raw_lengths rl = {NULL, NULL};
    int multi = in->ninputs > 1, bad = 0;
    if (multi) {
        rl.x = dpt_calloc((size_t)(n * in->ninputs + 1), sizeof *rl.x);
        s->lengths = dpt_calloc((size_t)(n * in->ninputs + 1), sizeof *s->lengths);
        dpt_h5in_layout lay = layout_of(in, q->inames);
        bad = dpt_h5in_read(ds->xin, ds->lin, &lay, s->row0, n, s->x, rl.x, true);
    } else {
        bad = read_rows(&ds->x, x_memtype(in), s->row0, n, s->x);
    }
    if (in->has_y && in->labels) {
        raw = dpt_calloc((size_t)ny, sizeof *raw);
        s->labels = dpt_calloc((size_t)ny, sizeof *s->labels);
        bad |= read_rows(&ds->y, H5T_NATIVE_INT64, s->row0, n, raw);
    } else if (in->has_y) {
        s->y = dpt_alloc_floats((size_t)(ny * in->K));
        bad |= read_rows(&ds->y, H5T_NATIVE_FLOAT, s->row0, n, s->y);
    }
    if (in->has_lengths && !multi) {
        rl.x = dpt_calloc((size_t)n, sizeof *rl.x);
        s->lengths = dpt_calloc((size_t)n, sizeof *s->lengths);
        bad |= read_rows(&ds->l, H5T_NATIVE_INT64, s->row0, n, rl.x);
    }
    if (in->has_y_lengths) {
        rl.y = dpt_calloc((size_t)n, sizeof *rl.y);
        s->y_lengths = dpt_calloc((size_t)n, sizeof *s->y_lengths);
        bad |= read_rows(&ds->yl, H5T_NATIVE_INT64, s->row0, n, rl.y);
    }
    int rc = 0;
    if (bad)
        rc = dpt_err(q->err, q->errlen, "%s: reading rows [%" PRId64 ", %" PRId64 ") failed",
                     q->path, s->row0, s->row0 + n);
    if (rc == 0 && multi) rc = finish_inputs(s, rl.x, q);
    if (rc == 0 && !multi) scale_u8(s->x, in, n);
    if (rc == 0) rc = narrow_all_lengths(s, &(raw_lengths){multi ? NULL : rl.x, rl.y}, q);
    if (rc == 0 && raw) rc = narrow_labels(s, raw, ds->y.ndim == 2, q);
    free(raw);
    free(rl.x);
    free(rl.y);
    return rc;
}

/* Token ids must be >= 0 (their upper bound is the model's vocabulary). */
static int check_ids(const dpt_shard *s, const req *q) {
    const int32_t *ids = dpt_shard_x_ids(s);
    size_t w = dpt_h5info_x_width(&s->info);
    for (size_t i = 0; i < (size_t)s->nrows * w; i++)
        if (ids[i] < 0)
            return dpt_err(q->err, q->errlen,
                           "%s: %s row %" PRId64 ", position %zu: token id %d is negative, "
                           "expected >= 0",
                           q->path, q->xname, s->row0 + (int64_t)(i / w), i % w, ids[i]);
    return 0;
}

/* Padded steps are checked too: the documented padding is zeros, and a NaN there would poison
 * anything that runs over whole buffers (statistics, BLAS calls over all T steps). */
static int check_values(const dpt_shard *s, const dsets *ds, const req *q) {
    const dpt_h5info *in = &s->info;
    grid gx = {s->nrows, in->T, in->F, ds->x.ndim == 3, "feature"};
    if (in->ninputs > 1) {
        dpt_h5in_layout lay = layout_of(in, q->inames);
        dpt_h5in_rows rows = rows_of(s);
        if (dpt_h5in_check(&lay, &rows, q->path, q->err, q->errlen)) return -1;
    } else if (dpt_h5info_x_ids(in) ? check_ids(s, q)
                                    : check_finite(s->x, &gx, s->row0, q->xname, q)) {
        return -1;
    }
    if (!s->y) return 0;
    grid gy = {s->nrows, in->y_steps, in->K, ds->y.ndim == 3, "column"};
    return check_finite(s->y, &gy, s->row0, q->yname, q);
}

/* This rank's block of rows [lo, hi), read and narrowed; values not yet checked. */
static int read_block(dpt_shard *s, dsets *ds, hid_t file, int64_t lo, int64_t hi, MPI_Comm comm,
                      const req *q) {
    if (inspect_open(&s->info, ds, file, q)) return -1;
    if (lo < 0 || lo > hi || hi > s->info.n)
        return dpt_err(q->err, q->errlen,
                       "%s: rows [%" PRId64 ", %" PRId64 ") requested, the file has %" PRId64,
                       q->path, lo, hi, s->info.n);
    int P, r;
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &r);
    s->row0 = lo + dpt_split_lo(hi - lo, P, r);
    s->nrows = lo + dpt_split_lo(hi - lo, P, r + 1) - s->row0;
    return read_data(s, ds, q);
}

int dpt_h5_read_shard_ds(dpt_shard *s, const char *path, const dpt_h5names *names, int64_t lo,
                         int64_t hi, int nclasses, MPI_Comm comm, char *err, size_t errlen) {
    req q = make_req(path, names, nclasses, err, errlen);
    req_fix(&q); /* q's own buffers, after the copy */
    memset(s, 0, sizeof *s);
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = open_mpio(path, comm, err, errlen);
    if (file < 0) return -1;
    dsets ds = dsets_closed();
    int rc = read_block(s, &ds, file, lo, hi, comm, &q);
    close_all(&ds);
    H5Fclose(file);
    if (rc == 0) rc = check_values(s, &ds, &q);
    if (rc) dpt_shard_free(s);
    return rc;
}

int dpt_h5_read_shard_seq(dpt_shard *s, const char *path, const char *xname, const char *yname,
                          const char *lname, int64_t lo, int64_t hi, int nclasses, MPI_Comm comm,
                          char *err, size_t errlen) {
    dpt_h5names n = {.x = xname, .y = yname, .lengths = lname};
    return dpt_h5_read_shard_ds(s, path, &n, lo, hi, nclasses, comm, err, errlen);
}

int dpt_h5_read_shard(dpt_shard *s, const char *path, const char *xname, const char *yname,
                      int64_t lo, int64_t hi, int nclasses, MPI_Comm comm, char *err,
                      size_t errlen) {
    return dpt_h5_read_shard_seq(s, path, xname, yname, NULL, lo, hi, nclasses, comm, err, errlen);
}

/* ---- serial reading of row ranges (streaming) ---- */

struct dpt_h5rows {
    hid_t file;
    dsets ds;
    req q;
    dpt_h5info info;
    int64_t max_rows;
    int64_t *raw;   /* (max_rows, y_steps) labels as read */
    raw_lengths rl; /* (max_rows) each, as read */
};

int dpt_h5rows_open_ds(dpt_h5rows **out, const char *path, const dpt_h5names *names, int nclasses,
                       int64_t max_rows, char *err, size_t errlen) {
    *out = NULL;
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    dpt_h5rows *r = dpt_calloc(1, sizeof *r);
    r->q = make_req(path, names, nclasses, err, errlen);
    req_fix(&r->q);
    r->ds = dsets_closed();
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = r->file < 0
                 ? dpt_err(err, errlen, "%s: cannot open as HDF5 (damaged or truncated?)", path)
                 : inspect_open(&r->info, &r->ds, r->file, &r->q);
    if (rc) {
        dpt_h5rows_close(r);
        return -1;
    }
    r->max_rows = max_rows;
    r->raw = dpt_calloc((size_t)(max_rows * r->info.y_steps), sizeof *r->raw);
    r->rl.x = dpt_calloc((size_t)(max_rows * dpt_h5info_len_width(&r->info)), sizeof *r->rl.x);
    r->rl.y = dpt_calloc((size_t)max_rows, sizeof *r->rl.y);
    *out = r;
    return 0;
}

int dpt_h5rows_open(dpt_h5rows **out, const char *path, const char *xname, const char *yname,
                    const char *lname, int nclasses, int64_t max_rows, char *err, size_t errlen) {
    dpt_h5names n = {.x = xname, .y = yname, .lengths = lname};
    return dpt_h5rows_open_ds(out, path, &n, nclasses, max_rows, err, errlen);
}

const dpt_h5info *dpt_h5rows_info(const dpt_h5rows *r) {
    return &r->info;
}

int dpt_h5rows_read(dpt_h5rows *r, int64_t row0, int64_t n, dpt_shard *s, char *err,
                    size_t errlen) {
    DPT_ASSERT(n > 0 && n <= r->max_rows && row0 >= 0 && row0 + n <= r->info.n);
    req q = r->q;
    req_fix(&q);
    q.err = err;
    q.errlen = errlen;
    const dpt_h5info *in = &r->info;
    s->info = *in;
    s->row0 = row0;
    s->nrows = n;
    bool multi = in->ninputs > 1;
    dpt_h5in_layout lay = layout_of(in, q.inames);
    int bad = multi ? dpt_h5in_read(r->ds.xin, r->ds.lin, &lay, row0, n, s->x, r->rl.x, false)
                    : dpt_h5dset_read_rows(&r->ds.x, x_memtype(in), row0, n, s->x, false);
    if (in->has_y && in->labels)
        bad |= dpt_h5dset_read_rows(&r->ds.y, H5T_NATIVE_INT64, row0, n, r->raw, false);
    else if (in->has_y)
        bad |= dpt_h5dset_read_rows(&r->ds.y, H5T_NATIVE_FLOAT, row0, n, s->y, false);
    if (in->has_lengths && !multi)
        bad |= dpt_h5dset_read_rows(&r->ds.l, H5T_NATIVE_INT64, row0, n, r->rl.x, false);
    if (in->has_y_lengths)
        bad |= dpt_h5dset_read_rows(&r->ds.yl, H5T_NATIVE_INT64, row0, n, r->rl.y, false);
    if (bad)
        return dpt_err(err, errlen, "%s: reading rows [%" PRId64 ", %" PRId64 ") failed", q.path,
                       row0, row0 + n);
    if (multi && finish_inputs(s, r->rl.x, &q)) return -1;
    if (!multi) scale_u8(s->x, in, n);
    raw_lengths rl = {in->has_lengths && !multi ? r->rl.x : NULL,
                      in->has_y_lengths ? r->rl.y : NULL};
    if (narrow_all_lengths(s, &rl, &q)) return -1;
    if (in->has_y && in->labels && narrow_labels(s, r->raw, r->ds.y.ndim == 2, &q)) return -1;
    return check_values(s, &r->ds, &q);
}

void dpt_h5rows_close(dpt_h5rows *r) {
    if (!r) return;
    close_all(&r->ds);
    if (r->file >= 0) H5Fclose(r->file);
    free(r->raw);
    free(r->rl.x);
    free(r->rl.y);
    free(r);
}

void dpt_shard_free(dpt_shard *s) {
    free(s->x);
    free(s->y);
    free(s->labels);
    free(s->lengths);
    free(s->y_lengths);
    memset(s, 0, sizeof *s);
}
