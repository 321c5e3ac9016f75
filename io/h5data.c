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
#include "io/h5file.h"
#include "parallel/sampler.h"

/* An open dataset and what inspection learnt about it. */
typedef struct dset {
    hid_t id; /* -1 when not open */
    int ndim;
    hsize_t dims[H5S_MAX_RANK]; /* (ndim) */
    H5T_class_t cls;
    size_t tsize;   /* bytes per element in the file */
    char type[32];  /* e.g. "float64", "int32", for messages */
    char shape[96]; /* e.g. "3-D (10, 4, 2)", for messages */
} dset;

/* Comma-separated dataset names of the file, for "no such dataset" messages. */
typedef struct listing {
    char text[512];
    size_t used;
} listing;

static herr_t list_one(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    listing *l = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    int is_dataset = H5Iget_type(obj) == H5I_DATASET;
    H5Oclose(obj);
    if (!is_dataset) return 0;
    size_t room = sizeof l->text - l->used;
    int n = snprintf(l->text + l->used, room, "%s%s", l->used ? ", " : "", name);
    if (n < 0 || (size_t)n >= room) {
        strcpy(l->text + sizeof l->text - 5, " ...");
        return 1; /* stop: the list is long enough to be useful */
    }
    l->used += (size_t)n;
    return 0;
}

static void list_datasets(hid_t file, listing *l) {
    l->used = 0;
    strcpy(l->text, "none");
    H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, list_one, l);
}

static void describe_type(hid_t type, char *buf, size_t len) {
    size_t bits = H5Tget_size(type) * 8;
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(buf, len, "%s%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", bits);
        break;
    case H5T_FLOAT:
        snprintf(buf, len, "float%zu", bits);
        break;
    case H5T_STRING:
        snprintf(buf, len, "strings");
        break;
    case H5T_COMPOUND:
        snprintf(buf, len, "compound records");
        break;
    case H5T_ENUM:
        snprintf(buf, len, "enum values");
        break;
    default:
        snprintf(buf, len, "HDF5 type class %d", (int)H5Tget_class(type));
        break;
    }
}

static void describe_shape(dset *d) {
    int n = snprintf(d->shape, sizeof d->shape, "%d-D (", d->ndim);
    for (int i = 0; i < d->ndim && n > 0 && (size_t)n < sizeof d->shape; i++)
        n += snprintf(d->shape + n, sizeof d->shape - (size_t)n, "%s%llu", i ? ", " : "",
                      (unsigned long long)d->dims[i]);
    if (n > 0 && (size_t)n < sizeof d->shape)
        snprintf(d->shape + n, sizeof d->shape - (size_t)n, d->ndim ? ")" : "scalar)");
}

static void close_dset(dset *d) {
    if (d->id >= 0) H5Dclose(d->id);
    d->id = -1;
}

/* The object `name` of file opened when it is a dataset, else -1. */
static hid_t open_if_dataset(hid_t file, const char *name) {
    hid_t obj = H5Lexists(file, name, H5P_DEFAULT) > 0 ? H5Oopen(file, name, H5P_DEFAULT) : -1;
    if (obj >= 0 && H5Iget_type(obj) != H5I_DATASET) {
        H5Oclose(obj);
        obj = -1;
    }
    return obj;
}

/* Opens dataset `name` (configured by `key`) and records its shape and type. */
static int open_dset(dset *d, hid_t file, const char *path, const char *name, const char *key,
                     char *err, size_t errlen) {
    hid_t obj = open_if_dataset(file, name);
    if (obj < 0) {
        listing l;
        list_datasets(file, &l);
        return dpt_err(err, errlen, "%s: no dataset '%s' (%s); datasets in the file: %s", path,
                       name, key, l.text);
    }
    d->id = obj;
    hid_t space = H5Dget_space(obj), type = H5Dget_type(obj);
    d->ndim = H5Sget_simple_extent_dims(space, d->dims, NULL);
    d->cls = H5Tget_class(type);
    d->tsize = H5Tget_size(type);
    describe_type(type, d->type, sizeof d->type);
    describe_shape(d);
    H5Tclose(type);
    H5Sclose(space);
    return 0;
}

static bool is_float(const dset *d) {
    return d->cls == H5T_FLOAT && (d->tsize == 4 || d->tsize == 8);
}

static bool is_int(const dset *d) {
    return d->cls == H5T_INTEGER;
}

/* What the caller asked for: names for opening datasets and for messages. */
typedef struct req {
    const char *path, *xname, *yname;
    const char *lname; /* as given: NULL or "" = the dataset "lengths" when there is one */
    const char *lres;  /* the lengths dataset name actually looked for */
    int nclasses;
    char *err;
    size_t errlen;
} req;

/* The datasets of one file; ndim and dims stay valid after close_all. */
typedef struct dsets {
    dset x, y, l;
} dsets;

static void close_all(dsets *ds) {
    close_dset(&ds->x);
    close_dset(&ds->y);
    close_dset(&ds->l);
}

/* Rows of one chunk of a chunked dataset, else 0. */
static int64_t chunk_rows(hid_t dataset) {
    hid_t dcpl = H5Dget_create_plist(dataset);
    hsize_t dims[H5S_MAX_RANK];
    int64_t rows = 0;
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
        H5Pget_chunk(dcpl, H5S_MAX_RANK, dims) > 0)
        rows = (int64_t)dims[0];
    if (dcpl >= 0) H5Pclose(dcpl);
    return rows;
}

/* X: (N, F) or (N, T, F) floats. */
static int check_x(const dset *d, const req *q, dpt_h5info *info) {
    const char *path = q->path, *name = q->xname;
    if (d->ndim != 2 && d->ndim != 3)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected a 2-D dataset (N, F) or a 3-D dataset "
                       "(N, T, F), found %s",
                       path, name, d->shape);
    if (!is_float(d))
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected float32 or float64 values, found %s", path, name,
                       d->type);
    hsize_t T = d->ndim == 3 ? d->dims[1] : 1, F = d->dims[d->ndim - 1];
    if (T < 1 || T > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected 1 to %d time steps, found %llu", path, name,
                       INT_MAX, (unsigned long long)T);
    if (F < 1 || F > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected 1 to %d feature columns, found %llu", path, name,
                       INT_MAX, (unsigned long long)F);
    if (T * F > INT_MAX) /* layers index a row with int */
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected at most %d values per row, found %llu time "
                       "steps x %llu features",
                       path, name, INT_MAX, (unsigned long long)T, (unsigned long long)F);
    info->n = (int64_t)d->dims[0];
    info->x_chunk_rows = chunk_rows(d->id);
    info->T = (int)T;
    info->F = (int)F;
    info->y_steps = 1;
    return 0;
}

/* y with a time axis: (N, T) labels or (N, T, K) floats, T as in X; with plain vectors X (N, F)
 * the targets' T is the model's output length (one-to-many). */
static int check_y_steps(const dset *d, const dset *x, const req *q, dpt_h5info *info) {
    if (x->ndim == 2) {
        if (d->dims[1] < 1 || d->dims[1] > INT_MAX)
            return dpt_err(q->err, q->errlen,
                           "%s: dataset '%s': expected 1 to %d time steps, "
                           "found %llu",
                           q->path, q->yname, INT_MAX, (unsigned long long)d->dims[1]);
        info->y_steps = (int)d->dims[1];
        return 0;
    }
    if (d->dims[1] != x->dims[1])
        return dpt_err(q->err, q->errlen, "%s: %s has %llu time steps but %s has %llu", q->path,
                       q->yname, (unsigned long long)d->dims[1], q->xname,
                       (unsigned long long)x->dims[1]);
    info->y_steps = info->T;
    return 0;
}

static int check_y(const dset *d, const dset *x, const req *q, dpt_h5info *info) {
    info->has_y = true;
    info->labels = is_int(d) && (d->ndim == 1 || d->ndim == 2);
    bool floats = is_float(d) && d->ndim >= 1 && d->ndim <= 3;
    if (!info->labels && !floats)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected (N) or (N, T) integer labels, or (N, K) or "
                       "(N, T, K) float targets, found %s %s",
                       q->path, q->yname, d->shape, d->type);
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
    if (per_step && check_y_steps(d, x, q, info)) return -1;
    if ((int64_t)info->y_steps * info->K > INT_MAX)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected at most %d values per row, found %d time "
                       "steps x %d columns",
                       q->path, q->yname, INT_MAX, info->y_steps, info->K);
    return 0;
}

static int check_lengths(const dset *d, const dset *x, const req *q, dpt_h5info *info) {
    if (x->ndim != 3)
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s' (data.lengths): sequence lengths need a 3-D %s "
                       "(N, T, F), but %s is %s",
                       q->path, q->lres, q->xname, q->xname, x->shape);
    if (d->ndim != 1 || !is_int(d))
        return dpt_err(q->err, q->errlen,
                       "%s: dataset '%s': expected (N) integer sequence lengths, found %s %s",
                       q->path, q->lres, d->shape, d->type);
    if ((int64_t)d->dims[0] != info->n)
        return dpt_err(q->err, q->errlen, "%s: %s has %" PRId64 " rows but %s has %llu", q->path,
                       q->xname, info->n, q->lres, (unsigned long long)d->dims[0]);
    info->has_lengths = true;
    return 0;
}

/* A named lengths dataset must exist; the default one is used when present and X has steps
 * (for plain vectors a dataset called "lengths" is just another column of the user's). */
static int open_lengths(dset *l, const dset *x, hid_t file, const req *q, dpt_h5info *info) {
    if (!q->lname || !*q->lname) {
        if (x->ndim != 3) return 0;
        hid_t obj = open_if_dataset(file, q->lres);
        if (obj < 0) return 0;
        H5Oclose(obj);
    }
    if (open_dset(l, file, q->path, q->lres, "data.lengths", q->err, q->errlen)) return -1;
    return check_lengths(l, x, q, info);
}

/* Opens and validates X (and y, lengths): they stay open for reading; the caller closes them. */
static int inspect_open(dpt_h5info *info, dsets *ds, hid_t file, const req *q) {
    memset(info, 0, sizeof *info);
    if (open_dset(&ds->x, file, q->path, q->xname, "data.x", q->err, q->errlen) ||
        check_x(&ds->x, q, info))
        return -1;
    if (q->yname && (open_dset(&ds->y, file, q->path, q->yname, "data.y", q->err, q->errlen) ||
                     check_y(&ds->y, &ds->x, q, info)))
        return -1;
    return open_lengths(&ds->l, &ds->x, file, q, info);
}

static hid_t open_mpio(const char *path, MPI_Comm comm, char *err, size_t errlen) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (file < 0) dpt_err(err, errlen, "%s: cannot open as HDF5 (damaged or truncated?)", path);
    return file;
}

static req make_req(const char *path, const char *xname, const char *yname, const char *lname,
                    int nclasses, char *err, size_t errlen) {
    return (req){path,     xname, yname, lname, lname && *lname ? lname : "lengths",
                 nclasses, err,   errlen};
}

int dpt_h5_inspect_seq(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                       const char *lname, MPI_Comm comm, char *err, size_t errlen) {
    req q = make_req(path, xname, yname, lname, 0, err, errlen);
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = open_mpio(path, comm, err, errlen);
    if (file < 0) return -1;
    dsets ds = {.x.id = -1, .y.id = -1, .l.id = -1};
    int rc = inspect_open(info, &ds, file, &q);
    close_all(&ds);
    H5Fclose(file);
    return rc;
}

int dpt_h5_inspect(dpt_h5info *info, const char *path, const char *xname, const char *yname,
                   MPI_Comm comm, char *err, size_t errlen) {
    return dpt_h5_inspect_seq(info, path, xname, yname, NULL, comm, err, errlen);
}

/* Rows [row0, row0 + nrows) of d (all of each row's other dimensions) into buf as memtype.
 * Collective through MPI-IO when `collective`: a rank with no rows still takes part, with empty
 * selections. */
static int read_rows_io(const dset *d, hid_t memtype, int64_t row0, int64_t nrows, void *buf,
                        bool collective) {
    hsize_t start[H5S_MAX_RANK] = {(hsize_t)row0}, count[H5S_MAX_RANK] = {(hsize_t)nrows};
    for (int i = 1; i < d->ndim; i++) count[i] = d->dims[i];
    hid_t fspace = H5Dget_space(d->id), mspace;
    int64_t dummy; /* HDF5 wants a buffer even for an empty selection */
    if (nrows > 0) {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        mspace = H5Screate_simple(d->ndim, count, NULL);
    } else {
        H5Sselect_none(fspace);
        mspace = H5Scopy(fspace);
        buf = &dummy;
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    if (collective) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    herr_t status = H5Dread(d->id, memtype, mspace, fspace, dxpl, buf);
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    return status < 0 ? -1 : 0;
}

static int read_rows(const dset *d, hid_t memtype, int64_t row0, int64_t nrows, void *buf) {
    return read_rows_io(d, memtype, row0, nrows, buf, true);
}

/* float64 values beyond the float32 range arrive here as Inf too, hence the hint. */
static const char *nonfinite_name(float a) {
    if (isnan(a)) return "NaN";
    return a > 0 ? "Inf (or beyond the float32 range)" : "-Inf (or beyond the float32 range)";
}

/* A buffer (rows, steps, cols) as read from a dataset; timed when the dataset has a time axis,
 * so messages name the step, and `col` says what a column is ("feature", "column"). */
typedef struct grid {
    int64_t rows;
    int steps, cols;
    bool timed;
    const char *col;
} grid;

/* Whether n floats are all finite: an exponent of all ones is Inf or NaN.  A branch-free
 * reduction the compiler vectorises; the slow search below runs only when it fails. */
static bool all_finite(const float *v, int64_t n) {
    uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v + i, sizeof u); /* the float's bits */
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad == 0;
}

static int check_finite(const float *v, const grid *g, int64_t row0, const char *name,
                        const req *q) {
    int64_t per_row = (int64_t)g->steps * g->cols;
    if (all_finite(v, g->rows * per_row)) return 0;
    for (int64_t i = 0; i < g->rows * per_row; i++) {
        if (isfinite(v[i])) continue;
        int64_t r = row0 + i / per_row;
        int t = (int)(i % per_row / g->cols), j = (int)(i % g->cols);
        if (g->timed)
            return dpt_err(q->err, q->errlen, "%s: %s row %" PRId64 ", step %d, %s %d: %s", q->path,
                           name, r, t, g->col, j, nonfinite_name(v[i]));
        return dpt_err(q->err, q->errlen, "%s: %s row %" PRId64 ", column %d: %s", q->path, name, r,
                       j, nonfinite_name(v[i]));
    }
    return 0;
}

/* Lengths read as int64 (any integer type converts exactly) narrowed to int32 in [1, T]. */
static int narrow_lengths(dpt_shard *s, const int64_t *raw, const req *q) {
    int T = s->info.T;
    for (int64_t i = 0; i < s->nrows; i++) {
        if (raw[i] < 1 || raw[i] > T)
            return dpt_err(q->err, q->errlen,
                           "%s: %s row %" PRId64 ": %" PRId64 " is outside [1, %d]", q->path,
                           q->lres, s->row0 + i, raw[i], T);
        s->lengths[i] = (int32_t)raw[i];
    }
    return 0;
}

/* Labels (nrows, y_steps) read as int64, narrowed to int32 in [0, nclasses) (or [0, 2^31) when
 * nclasses is 0).  Padded steps may hold anything (-1, -100, ...): they become 0, unchecked. */
static int narrow_labels(dpt_shard *s, const int64_t *raw, bool timed, const req *q) {
    int64_t hi = q->nclasses > 0 ? q->nclasses : (int64_t)INT32_MAX + 1;
    int S = s->info.y_steps;
    for (int64_t i = 0; i < s->nrows; i++) {
        for (int t = 0; t < S; t++) {
            int64_t v = raw[i * S + t];
            bool pad = s->lengths && t >= s->lengths[i];
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

/* Every collective read happens whatever failed before, so no rank is left waiting. */
static int read_data(dpt_shard *s, const dsets *ds, const req *q) {
    const dpt_h5info *in = &s->info;
    int64_t n = s->nrows, ny = n * in->y_steps;
    s->x = dpt_alloc_floats((size_t)(n * in->T * in->F));
    int bad = read_rows(&ds->x, H5T_NATIVE_FLOAT, s->row0, n, s->x);
    int64_t *raw = NULL, *rawlen = NULL; /* (nrows, y_steps) labels, (nrows) lengths as read */
    if (in->has_y && in->labels) {
        raw = dpt_calloc((size_t)ny, sizeof *raw);
        s->labels = dpt_calloc((size_t)ny, sizeof *s->labels);
        bad |= read_rows(&ds->y, H5T_NATIVE_INT64, s->row0, n, raw);
    } else if (in->has_y) {
        s->y = dpt_alloc_floats((size_t)(ny * in->K));
        bad |= read_rows(&ds->y, H5T_NATIVE_FLOAT, s->row0, n, s->y);
    }
    if (in->has_lengths) {
        rawlen = dpt_calloc((size_t)n, sizeof *rawlen);
        s->lengths = dpt_calloc((size_t)n, sizeof *s->lengths);
        bad |= read_rows(&ds->l, H5T_NATIVE_INT64, s->row0, n, rawlen);
    }
    int rc = 0;
    if (bad)
        rc = dpt_err(q->err, q->errlen, "%s: reading rows [%" PRId64 ", %" PRId64 ") failed",
                     q->path, s->row0, s->row0 + n);
    if (rc == 0 && rawlen) rc = narrow_lengths(s, rawlen, q);
    if (rc == 0 && raw) rc = narrow_labels(s, raw, ds->y.ndim == 2, q);
    free(raw);
    free(rawlen);
    return rc;
}

/* Padded steps are checked too: the documented padding is zeros, and a NaN there would poison
 * anything that runs over whole buffers (statistics, BLAS calls over all T steps). */
static int check_values(const dpt_shard *s, const dsets *ds, const req *q) {
    const dpt_h5info *in = &s->info;
    grid gx = {s->nrows, in->T, in->F, ds->x.ndim == 3, "feature"};
    if (check_finite(s->x, &gx, s->row0, q->xname, q)) return -1;
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

int dpt_h5_read_shard_seq(dpt_shard *s, const char *path, const char *xname, const char *yname,
                          const char *lname, int64_t lo, int64_t hi, int nclasses, MPI_Comm comm,
                          char *err, size_t errlen) {
    req q = make_req(path, xname, yname, lname, nclasses, err, errlen);
    memset(s, 0, sizeof *s);
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    hid_t file = open_mpio(path, comm, err, errlen);
    if (file < 0) return -1;
    dsets ds = {.x.id = -1, .y.id = -1, .l.id = -1};
    int rc = read_block(s, &ds, file, lo, hi, comm, &q);
    close_all(&ds);
    H5Fclose(file);
    if (rc == 0) rc = check_values(s, &ds, &q);
    if (rc) dpt_shard_free(s);
    return rc;
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
    int64_t *raw, *rawlen; /* (max_rows, y_steps) labels, (max_rows) lengths as read */
};

int dpt_h5rows_open(dpt_h5rows **out, const char *path, const char *xname, const char *yname,
                    const char *lname, int nclasses, int64_t max_rows, char *err, size_t errlen) {
    *out = NULL;
    if (dpt_h5_check_file(path, err, errlen)) return -1;
    dpt_h5rows *r = dpt_calloc(1, sizeof *r);
    r->q = make_req(path, xname, yname, lname, nclasses, err, errlen);
    r->ds = (dsets){.x.id = -1, .y.id = -1, .l.id = -1};
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
    r->rawlen = dpt_calloc((size_t)max_rows, sizeof *r->rawlen);
    *out = r;
    return 0;
}

const dpt_h5info *dpt_h5rows_info(const dpt_h5rows *r) {
    return &r->info;
}

int dpt_h5rows_read(dpt_h5rows *r, int64_t row0, int64_t n, dpt_shard *s, char *err,
                    size_t errlen) {
    DPT_ASSERT(n > 0 && n <= r->max_rows && row0 >= 0 && row0 + n <= r->info.n);
    req q = r->q;
    q.err = err;
    q.errlen = errlen;
    const dpt_h5info *in = &r->info;
    s->info = *in;
    s->row0 = row0;
    s->nrows = n;
    int bad = read_rows_io(&r->ds.x, H5T_NATIVE_FLOAT, row0, n, s->x, false);
    if (in->has_y && in->labels)
        bad |= read_rows_io(&r->ds.y, H5T_NATIVE_INT64, row0, n, r->raw, false);
    else if (in->has_y)
        bad |= read_rows_io(&r->ds.y, H5T_NATIVE_FLOAT, row0, n, s->y, false);
    if (in->has_lengths) bad |= read_rows_io(&r->ds.l, H5T_NATIVE_INT64, row0, n, r->rawlen, false);
    if (bad)
        return dpt_err(err, errlen, "%s: reading rows [%" PRId64 ", %" PRId64 ") failed", q.path,
                       row0, row0 + n);
    if (in->has_lengths && narrow_lengths(s, r->rawlen, &q)) return -1;
    if (in->has_y && in->labels && narrow_labels(s, r->raw, r->ds.y.ndim == 2, &q)) return -1;
    return check_values(s, &r->ds, &q);
}

void dpt_h5rows_close(dpt_h5rows *r) {
    if (!r) return;
    close_all(&r->ds);
    if (r->file >= 0) H5Fclose(r->file);
    free(r->raw);
    free(r->rawlen);
    free(r);
}

void dpt_shard_free(dpt_shard *s) {
    free(s->x);
    free(s->y);
    free(s->labels);
    free(s->lengths);
    memset(s, 0, sizeof *s);
}
